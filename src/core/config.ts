/**
 * Vigil's host configuration (`config.yaml` in the config directory). Validated at the edge: unknown fields are
 * refused and every problem is reported with its line and column, the field and the fix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { VigilError } from './errors.js';
import type { VigilPaths } from './paths.js';
// Type-only: the guard's rule shape is the contract config.yaml is validated against.
import type { RuleCondition } from '../qmp/guard-table.js';
// The kill switch's trigger schema is a leaf module (zod, croner, a key table): config.yaml is validated against it.
import { triggersConfigSchema } from '../killswitch/triggers/config.js';
// The host agent's section is defined beside the agent (as the kill switch's section is beside the engine).
import { defaultHostConfig, hostConfigSchema } from '../host/config.js';
import { formatProblem, issuesToProblems, parseYamlSource, positionIn, sortProblems } from './yaml-errors.js';

const classSchema = z.enum(['dangerous', 'memory-dump', 'privileged', 'safe']);

const regexSchema = z
  .string()
  .min(1)
  .refine(
    (p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'not a valid regular expression' },
  );

const conditionSchema: z.ZodType<RuleCondition> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('arg-prefix'), arg: z.string().min(1), prefixes: z.array(z.string()).min(1) }),
    z.strictObject({ kind: z.literal('arg-in'), arg: z.string().min(1), values: z.array(z.string()).min(1) }),
    z.strictObject({ kind: z.literal('arg-not-in'), arg: z.string().min(1), values: z.array(z.string()).min(1) }),
    z.strictObject({ kind: z.literal('arg-absent'), arg: z.string().min(1) }),
    z
      .strictObject({ kind: z.literal('has-key'), keys: z.array(z.string().min(1)).min(1).optional(), pattern: regexSchema.optional() })
      .refine((c) => c.keys !== undefined || c.pattern !== undefined, { message: 'has-key needs keys or pattern' }),
    z.strictObject({ kind: z.literal('key-match'), keys: z.array(z.string().min(1)).min(1), pattern: regexSchema }),
    z.strictObject({ kind: z.literal('host-path-outside'), keys: z.array(z.string()).min(1), strip: z.string().optional() }),
    z.strictObject({ kind: z.literal('all'), conditions: z.array(conditionSchema).min(1) }),
  ]),
);

const ruleSchema = z.strictObject({
  command: z.string().min(1),
  class: classSchema,
  reason: z.string().min(1),
  when: conditionSchema.optional(),
});

/** The schema of config.yaml. */
export const configSchema = z.strictObject({
  qemu: z
    .strictObject({
      /** The QEMU system emulator (a name searched in PATH, or a path). */
      binary: z.string().min(1).default('qemu-system-x86_64'),
      /** What `accel: auto` means on this host: auto (KVM when /dev/kvm is usable), or force kvm or tcg. */
      accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
    })
    .default({ binary: 'qemu-system-x86_64', accel: 'auto' }),
  api: z
    .strictObject({
      /** Listen address; keep it on loopback unless a reverse proxy fronts vigild. */
      host: z.string().default('127.0.0.1'),
      /** TCP port (VMM_API_PORT and `vigild --port` override it); 0 picks any free port (logged at start). */
      port: z.number().int().min(0).max(65535).default(3003),
      /** Also listen on this Unix socket (0600). */
      socket: z.string().optional(),
      /** Accepted clock skew of X-Timestamp, seconds. */
      windowSec: z.number().int().min(1).max(3600).default(300),
      /** host:port v2 signatures must name; unset disables v2. */
      audience: z.string().optional(),
      /** Refuse v1 signatures on destructive routes (DELETE). */
      requireV2ForDestructive: z.boolean().default(false),
    })
    .default({ host: '127.0.0.1', port: 3003, windowSec: 300, requireV2ForDestructive: false }),
  images: z
    .strictObject({
      /** Listed by GET /images (VMM_IMAGES_DIR overrides it). */
      dir: z.string().optional(),
    })
    .default({}),
  daemon: z
    .strictObject({
      /** Stop every running VM when vigild exits on SIGTERM (default: leave them running, re-adopt on start). */
      stopVmsOnExit: z.boolean().default(false),
      /** How often vigild checks that each running VM's QEMU answers (ms; 0 turns the checks off). */
      healthIntervalMs: z.number().int().min(0).default(10000),
    })
    .default({ stopVmsOnExit: false, healthIntervalMs: 10000 }),
  qmp: z
    .strictObject({
      /** Rules tried before Vigil's defaults. */
      rules: z.array(ruleSchema).default([]),
    })
    .default({ rules: [] }),
  killswitch: z
    .strictObject({
      /** Triggers vigild starts: file, schedule, hotkey, gpio (docs/KILLSWITCH.md). */
      triggers: triggersConfigSchema.optional(),
    })
    .optional(),
  /** The host agent: file integrity, honeypots, canary files, listening ports, lockdowns (all off by default). */
  host: hostConfigSchema.default(() => defaultHostConfig()),
});

/** Validated host configuration. */
export type VigilConfig = z.infer<typeof configSchema>;

/** The config file's path. */
export function configPath(paths: VigilPaths): string {
  return join(paths.config, 'config.yaml');
}

/** Reads and validates config.yaml; a missing file means defaults. */
export function loadConfig(paths: VigilPaths): VigilConfig {
  const file = configPath(paths);
  if (!existsSync(file)) return configSchema.parse({});
  return parseConfigText(readFileSync(file, 'utf8'), file);
}

/** Validates config text; throws VIGIL_CONFIG_INVALID listing every problem with file:line:column. */
export function parseConfigText(text: string, file: string): VigilConfig {
  const { source, problems: syntax } = parseYamlSource(text, file);
  if (syntax.length > 0) {
    throw new VigilError('VIGIL_CONFIG_INVALID', `config is not valid YAML:\n${syntax.map(formatProblem).join('\n')}`, {
      context: { file, problems: syntax },
    });
  }
  const result = configSchema.safeParse(source.doc.toJS() ?? {});
  if (result.success) return result.data;
  const problems = sortProblems(issuesToProblems(result.error.issues, configSchema, (path, opts) => ({ file, ...positionIn(source, path, opts) })));
  throw new VigilError('VIGIL_CONFIG_INVALID', `config has ${problems.length} problem(s):\n${problems.map(formatProblem).join('\n')}`, {
    context: { file, problems },
  });
}
