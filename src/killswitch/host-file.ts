/**
 * The host's own kill switch settings, `<config>/killswitch.yaml`: per-device hooks (seed 000's `pre_detach` and
 * `post_attach`) and the hot-plug policy. They live in a host file rather than in VM definitions on purpose: any
 * registered API principal may define a VM, and a command in a definition would run on the host as vigild's user.
 * The file is the host administrator's (like seed 000's devices.yaml); the keys follow seed 000's spelling.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { VigilError } from '../core/errors.js';
import type { VigilPaths } from '../core/paths.js';
import { formatProblem, issuesToProblems, parseYamlSource, positionIn, sortProblems } from '../core/yaml-errors.js';

/** The file's name in the config directory. */
export const KILLSWITCH_HOST_FILE = 'killswitch.yaml';

const DEVICE = /^(\*|class:(camera|audio|network|bluetooth|storage|input|display|other)|[a-zA-Z][a-zA-Z0-9_.-]{0,31})$/;
/** A hot-plug rule: a class, a USB vendor:product, a USB port (`port:<bus>-<path>`) or a PCI address. */
export const HOTPLUG_RULE = /^(class:(camera|audio|network|bluetooth|storage|input|display|other)|[0-9a-f]{4}:[0-9a-f]{4}|port:\d+-\d+(\.\d+)*|pci:[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/;

const hookSchema = z
  .strictObject({
    /** The VM (its name), or `*` for every VM. */
    vm: z.string().min(1).default('*'),
    /** A device id of the VM's definition, a `class:<class>` selector, or `*`. */
    device: z.string().regex(DEVICE, 'write a device id (cam0), a class selector (class:camera) or *'),
    /** Run on the host when the device is cut (in parallel with the cut; see wait_ms). */
    pre_detach: z.string().min(1).optional(),
    /** Run on the host after release put the device back. */
    post_attach: z.string().min(1).optional(),
    /** The hook is killed (its whole process group) after this long. */
    timeout_ms: z.number().int().min(10).max(600000).default(5000),
    /** How long the cut of this device may wait for pre_detach to finish; 0 (default): not at all. */
    wait_ms: z.number().int().min(0).max(1000).default(0),
  })
  .refine((h) => h.pre_detach !== undefined || h.post_attach !== undefined, 'give pre_detach, post_attach or both');

const hotplugSchema = z.strictObject({
  /** USB devices plugged while engaged that match a rule get `authorized=0` (the kernel unbinds every driver). */
  deauthorize: z.boolean().default(true),
  /** At release: keep (blocked devices stay blocked until unblocked) or allow (they are unblocked). */
  on_release: z.enum(['keep', 'allow']).default('keep'),
  /** The sysfs rescan interval (the fallback, and the only source without udevadm). */
  rescan_ms: z.number().int().min(100).max(60000).default(1000),
  /** Follow kernel uevents through `udevadm monitor` when it is installed. */
  udev: z.boolean().default(true),
  /** Rules beyond those derived from the VMs' killswitch sections. */
  rules: z.array(z.string().regex(HOTPLUG_RULE, 'write class:<class>, vendor:product (046d:0825), port:<bus>-<port> (port:1-4.2) or pci:<address>')).default([]),
});

/** The schema of killswitch.yaml. */
export const killswitchHostSchema = z.strictObject({
  hooks: z.array(hookSchema).default([]),
  hotplug: hotplugSchema.default({ deauthorize: true, on_release: 'keep', rescan_ms: 1000, udev: true, rules: [] }),
});

/** The validated file, defaults filled in. */
export type KillswitchHostConfig = z.output<typeof killswitchHostSchema>;
/** One configured hook. */
export type HookSpec = KillswitchHostConfig['hooks'][number];
/** The hot-plug policy. */
export type HotplugPolicy = KillswitchHostConfig['hotplug'];

/** Where the file is. */
export function killswitchHostFile(paths: VigilPaths): string {
  return join(paths.config, KILLSWITCH_HOST_FILE);
}

/** Parses the file's text; VIGIL_CONFIG_INVALID lists every problem at file:line:col. */
export function parseKillswitchHostText(text: string, file: string): KillswitchHostConfig {
  const { source, problems: syntax } = parseYamlSource(text, file);
  if (syntax.length > 0) throw new VigilError('VIGIL_CONFIG_INVALID', `${file} is not valid YAML:\n${syntax.map(formatProblem).join('\n')}`, { context: { file, problems: syntax } });
  const result = killswitchHostSchema.safeParse(source.doc.toJS() ?? {});
  if (result.success) return result.data;
  const problems = sortProblems(issuesToProblems(result.error.issues, killswitchHostSchema, (path, opts) => ({ file, ...positionIn(source, path, opts) })));
  throw new VigilError('VIGIL_CONFIG_INVALID', `${file} has ${problems.length} problem(s):\n${problems.map(formatProblem).join('\n')}`, { context: { file, problems } });
}

/** Reads the file; a missing file means no hooks and the default hot-plug policy. */
export function loadKillswitchHostConfig(paths: VigilPaths): KillswitchHostConfig {
  const file = killswitchHostFile(paths);
  if (!existsSync(file)) return killswitchHostSchema.parse({});
  return parseKillswitchHostText(readFileSync(file, 'utf8'), file);
}
