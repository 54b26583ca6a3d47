/**
 * The kill switch configuration in the user's own format (seed 000): `devices.yaml` with `audio_devices` and
 * `video_devices` lists (any other `<class>_devices` list is accepted too), and `vms.yaml` with
 * `virtual_machines`. Every problem of both files is collected, each at file:line:col with the field and the fix;
 * entries that are valid survive an invalid neighbour, so `validate` can still cross-check them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar } from 'yaml';
import { z } from 'zod';
import { VigilError } from '../core/errors.js';
import {
  fieldPath,
  formatProblem,
  issuesToProblems,
  parseYamlSource,
  positionIn,
  sortProblems,
  type Problem,
  type ProblemPlace,
  type YamlSource,
} from '../core/yaml-errors.js';

/** The device list file, as seed 000 names it. */
export const DEVICES_FILE = 'devices.yaml';
/** The VM list file, as seed 000 names it. */
export const VMS_FILE = 'vms.yaml';
/** The device lists seed 000 itself shows; other `<class>_devices` lists are accepted with a note. */
export const KNOWN_DEVICE_LISTS: readonly string[] = ['audio_devices', 'video_devices'];

const HEX4 = /^[0-9a-fA-F]{4}$/;
const PCI_ADDRESS = /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const LIST_KEY = /^([a-z][a-z0-9_]*)_devices$/;

/** A problem of a seed file with what to do about it; `severity` is `note` only for accepted-but-unusual input. */
export interface SeedProblem extends Problem {
  severity: 'error' | 'note';
  fix: string;
}

/** One device of devices.yaml, normalized. */
export interface SeedDevice {
  /** What identifies the entry: its `id` when given, else its `name`. */
  key: string;
  type: 'usb' | 'pci';
  /** As written (`00:1f.3` for PCI; a free label such as `usb-video-camera` for USB). */
  id?: string;
  /** The full PCI address (`0000:00:1f.3`), as sysfs writes it. */
  address?: string;
  /** Four lower-case hex digits. */
  vendorId?: string;
  productId?: string;
  name: string;
  targetVm: string;
  /** The list it came from without `_devices`: `audio`, `video`, or the user's own word. */
  class: 'audio' | 'video' | (string & {});
  /** Where the entry starts. */
  at: ProblemPlace;
  /** Where its `name`, `id` and `target_vm` values are (`idAt` is the entry's start when it has no id). */
  nameAt: ProblemPlace;
  idAt: ProblemPlace;
  targetVmAt: ProblemPlace;
}

/** One VM of vms.yaml, normalized. */
export interface SeedVm {
  name: string;
  qmpSocket: string;
  /** Device names (the `name` of devices.yaml entries). */
  devices: string[];
  at: ProblemPlace;
  qmpSocketAt: ProblemPlace;
  /** Where each of `devices` is, index for index. */
  deviceAt: ProblemPlace[];
}

/** Both files, normalized. */
export interface SeedConfig {
  devices: SeedDevice[];
  vms: SeedVm[];
  files: { devices: string; vms: string };
}

/** What was read, whether or not everything was valid: the valid entries and every problem. */
export interface SeedConfigRead {
  config: SeedConfig;
  /** Errors and notes, sorted by file and position. */
  problems: SeedProblem[];
  /**
   * The names of entries left out as invalid: references to them are not reported again as unknown, since the
   * entry's own problem already says what to fix.
   */
  invalidNames: { devices: string[]; vms: string[] };
}

const deviceEntrySchema = z
  .strictObject({
    type: z.enum(['usb', 'pci']),
    id: z.string().min(1).optional(),
    vendor_id: z.string().regex(HEX4, 'write the USB vendor id as 4 hex digits in quotes, e.g. "046d"').optional(),
    product_id: z.string().regex(HEX4, 'write the USB product id as 4 hex digits in quotes, e.g. "0825"').optional(),
    name: z.string().min(1),
    target_vm: z.string().min(1),
  })
  .superRefine((d, ctx) => {
    if (d.type === 'pci') {
      if (d.id === undefined) ctx.addIssue({ code: 'custom', path: ['id'], message: 'required: a PCI device needs "id", its address as lspci shows it ("00:1f.3")' });
      else if (!PCI_ADDRESS.test(d.id)) ctx.addIssue({ code: 'custom', path: ['id'], message: `"${d.id}" is not a PCI address: write it as lspci shows it, "00:1f.3" or "0000:00:1f.3"` });
      for (const f of ['vendor_id', 'product_id'] as const) {
        if (d[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: `a PCI device is found by its address ("id"), not by ${f}: remove it` });
      }
    } else {
      for (const f of ['vendor_id', 'product_id'] as const) {
        if (d[f] === undefined) ctx.addIssue({ code: 'custom', path: [f], message: `required: a USB device needs "${f}" (lsusb shows ID vendor:product, e.g. 046d:0825)` });
      }
    }
  });

const vmEntrySchema = z.strictObject({
  name: z.string().min(1),
  qmp_socket: z.string().min(1),
  devices: z.array(z.string().min(1)).default([]),
});

/** What to do about a problem in `field` (the last segment of its path), for problems zod words as a fault only. */
const FIELD_FIX: Readonly<Record<string, string>> = {
  type: 'write type: usb or type: pci',
  id: 'for PCI, the address lspci shows ("00:1f.3"); for USB, any unique label',
  vendor_id: 'copy the vendor id from lsusb ("046d" in "ID 046d:0825"), quoted',
  product_id: 'copy the product id from lsusb ("0825" in "ID 046d:0825"), quoted',
  name: 'give the device a unique, non-empty name (vms.yaml lists devices by it)',
  target_vm: 'write the name of a VM of vms.yaml',
  qmp_socket: 'write the path of the Unix socket QEMU was started with (-qmp unix:PATH,server,nowait)',
  devices: 'list device names from devices.yaml',
};

function fixFor(p: Problem): string {
  if (p.message.startsWith('unknown field')) return p.message.includes('did you mean') ? 'rename the field as suggested' : 'remove the field';
  const segs = p.path.split('.').filter((s) => !/^\d+$/.test(s));
  return FIELD_FIX[segs[segs.length - 1] ?? ''] ?? 'correct the value as the message says';
}

function error(p: Problem, fix?: string): SeedProblem {
  return { ...p, severity: 'error', fix: fix ?? fixFor(p) };
}

/** Reads and parses one file; undefined (with a problem) when it is missing, unreadable or not YAML. */
function readSource(path: string, problems: SeedProblem[], example: string): YamlSource | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    problems.push(
      error(
        { file: path, path: '', message: missing ? 'the file does not exist' : `cannot read the file: ${(err as Error).message}` },
        missing ? `create it, e.g.:\n${example}` : 'make it readable by the user running vigil',
      ),
    );
    return undefined;
  }
  const parsed = parseYamlSource(text, path);
  problems.push(...parsed.problems.map((p) => error(p, 'fix the YAML syntax at this position')));
  return parsed.problems.length > 0 ? undefined : parsed.source;
}

/** The document as plain data; undefined (with a problem) when it cannot be (an alias expanding too far). */
function toData(source: YamlSource, problems: SeedProblem[]): Record<string, unknown> | undefined {
  try {
    return source.doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch (err) {
    problems.push(error({ file: source.file, line: 1, col: 1, path: '', message: `cannot expand the document: ${(err as Error).message}` }, 'write the entries out instead of using YAML aliases'));
    return undefined;
  }
}

const placeOf = (source: YamlSource, path: readonly PropertyKey[], key = false): ProblemPlace => ({ file: source.file, ...positionIn(source, path, { key }) });

/** The top-level keys of a document with their position, or undefined (with a problem) when it is not a map. */
function topLevelKeys(source: YamlSource, problems: SeedProblem[], expected: string): string[] | undefined {
  const contents = source.doc.contents;
  if (contents === null || (isScalar(contents) && (contents.value === null || contents.value === undefined))) {
    problems.push(error({ ...placeOf(source, []), path: '', message: 'the file is empty' }, `write ${expected}`));
    return undefined;
  }
  if (!isMap(contents)) {
    problems.push(error({ ...placeOf(source, []), path: '', message: 'the top level is not a map' }, `write ${expected}`));
    return undefined;
  }
  return contents.items.map((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)));
}

/** Validates each entry of the list at `path` apart, so one bad entry does not hide the others. */
function eachEntry<T>(
  source: YamlSource,
  value: unknown,
  path: readonly (string | number)[],
  schema: z.ZodType<T>,
  problems: SeedProblem[],
  listFix: string,
  invalidNames: string[],
): { entry: T; index: number }[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push(error({ ...placeOf(source, path), path: fieldPath(path), message: 'expected a list of entries (lines starting with "- ")' }, listFix));
    return [];
  }
  const out: { entry: T; index: number }[] = [];
  value.forEach((item: unknown, index) => {
    const result = schema.safeParse(item);
    if (result.success) {
      out.push({ entry: result.data, index });
      return;
    }
    const name: unknown = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).name : undefined;
    if (typeof name === 'string') invalidNames.push(name);
    const prefix = [...path, index];
    const found = issuesToProblems(result.error.issues, schema, (p, opts) => placeOf(source, [...prefix, ...p], opts.key));
    problems.push(...found.map((p) => error({ ...p, path: p.path === '' ? fieldPath(prefix) : `${fieldPath(prefix)}.${p.path}` })));
  });
  return out;
}

const DEVICES_EXAMPLE = `audio_devices:\n  - type: pci\n    id: "00:1f.3"\n    name: "Intel HDA"\n    target_vm: "workstation"`;
const VMS_EXAMPLE = `virtual_machines:\n  - name: "workstation"\n    qmp_socket: "/tmp/qmp-workstation.sock"\n    devices:\n      - "Intel HDA"`;

function readDevices(file: string, problems: SeedProblem[], invalidNames: string[]): SeedDevice[] {
  const source = readSource(file, problems, DEVICES_EXAMPLE);
  if (source === undefined) return [];
  const keys = topLevelKeys(source, problems, 'lists such as audio_devices: and video_devices:');
  if (keys === undefined) return [];
  const data = toData(source, problems);
  if (data === undefined) return [];
  const devices: SeedDevice[] = [];
  for (const listKey of keys) {
    const match = LIST_KEY.exec(listKey);
    if (match === null) {
      problems.push(
        error(
          { ...placeOf(source, [listKey], true), path: listKey, message: `unknown field "${listKey}": devices.yaml holds only <class>_devices lists` },
          `rename it to audio_devices or video_devices (or another <class>_devices list), or remove it`,
        ),
      );
      continue;
    }
    if (!KNOWN_DEVICE_LISTS.includes(listKey)) {
      problems.push({
        ...placeOf(source, [listKey], true),
        path: listKey,
        severity: 'note',
        message: `"${listKey}" is not one of seed 000's lists (${KNOWN_DEVICE_LISTS.join(', ')}); its devices are taken with class "${match[1]!}"`,
        fix: 'nothing to do if that class is meant; otherwise move the entries to audio_devices or video_devices',
      });
    }
    const entries = eachEntry(source, data[listKey], [listKey], deviceEntrySchema, problems, `write ${listKey}: followed by "- type: ..." entries`, invalidNames);
    for (const { entry: d, index } of entries) {
      const usb = d.type === 'usb';
      devices.push({
        key: d.id ?? d.name,
        type: d.type,
        ...(d.id === undefined ? {} : { id: d.id }),
        ...(!usb && d.id !== undefined ? { address: (d.id.length === 7 ? `0000:${d.id}` : d.id).toLowerCase() } : {}),
        ...(usb && d.vendor_id !== undefined ? { vendorId: d.vendor_id.toLowerCase() } : {}),
        ...(usb && d.product_id !== undefined ? { productId: d.product_id.toLowerCase() } : {}),
        name: d.name,
        targetVm: d.target_vm,
        class: match[1]!,
        at: placeOf(source, [listKey, index]),
        nameAt: placeOf(source, [listKey, index, 'name']),
        idAt: placeOf(source, [listKey, index, 'id']),
        targetVmAt: placeOf(source, [listKey, index, 'target_vm']),
      });
    }
  }
  return devices;
}

function readVms(file: string, problems: SeedProblem[], invalidNames: string[]): SeedVm[] {
  const source = readSource(file, problems, VMS_EXAMPLE);
  if (source === undefined) return [];
  const keys = topLevelKeys(source, problems, 'virtual_machines: followed by "- name: ..." entries');
  if (keys === undefined) return [];
  for (const key of keys.filter((k) => k !== 'virtual_machines')) {
    const message = key.toLowerCase() === 'virtual_machines' || key === 'vms' ? `unknown field "${key}": did you mean "virtual_machines"?` : `unknown field "${key}": vms.yaml holds only virtual_machines`;
    problems.push(error({ ...placeOf(source, [key], true), path: key, message }, message.includes('did you mean') ? 'rename it to virtual_machines' : 'remove it'));
  }
  if (!keys.includes('virtual_machines')) {
    problems.push(error({ ...placeOf(source, []), path: 'virtual_machines', message: 'required: add "virtual_machines" (a list of VMs)' }, `write:\n${VMS_EXAMPLE}`));
    return [];
  }
  const data = toData(source, problems);
  if (data === undefined) return [];
  const entries = eachEntry(source, data.virtual_machines, ['virtual_machines'], vmEntrySchema, problems, 'write virtual_machines: followed by "- name: ..." entries', invalidNames);
  return entries.map(({ entry: v, index }) => ({
    name: v.name,
    qmpSocket: v.qmp_socket,
    devices: v.devices,
    at: placeOf(source, ['virtual_machines', index]),
    qmpSocketAt: placeOf(source, ['virtual_machines', index, 'qmp_socket']),
    deviceAt: v.devices.map((_, j) => placeOf(source, ['virtual_machines', index, 'devices', j])),
  }));
}

/** Reads `devices.yaml` and `vms.yaml` under `dir`, keeping every valid entry and every problem (never throws). */
export function readSeedConfig(dir: string): SeedConfigRead {
  const files = { devices: join(dir, DEVICES_FILE), vms: join(dir, VMS_FILE) };
  const problems: SeedProblem[] = [];
  const invalidNames = { devices: [] as string[], vms: [] as string[] };
  const devices = readDevices(files.devices, problems, invalidNames.devices);
  const vms = readVms(files.vms, problems, invalidNames.vms);
  return { config: { devices, vms, files }, problems: sortProblems(problems, [files.devices, files.vms]) as SeedProblem[], invalidNames };
}

/**
 * Loads the seed configuration under `dir`; throws VIGIL_CONFIG_INVALID listing every error of both files
 * (context.problems), so the user fixes them in one pass. Notes do not fail the load.
 */
export function loadSeedConfig(dir: string): SeedConfig {
  const { config, problems } = readSeedConfig(dir);
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length === 0) return config;
  throw new VigilError('VIGIL_CONFIG_INVALID', `kill switch configuration in ${dir} has ${errors.length} problem(s):\n${errors.map(formatProblem).join('\n')}`, {
    context: { dir, problems: errors },
  });
}
