/**
 * The `host:` section of config.yaml: the host agent's file integrity policy, honeypots, canary files, the
 * listening-port allowlist and named lockdowns. Every monitor is off unless configured.
 */
import { z } from 'zod';

const ATTRIBUTES = ['sha256', 'mode', 'uid', 'gid', 'size', 'mtime', 'inode', 'target'] as const;
/** The attributes a FIM rule can compare. */
export type FimAttribute = (typeof ATTRIBUTES)[number];
/** Every attribute, in report order. */
export const FIM_ATTRIBUTES: readonly FimAttribute[] = ATTRIBUTES;

const absPath = z.string().startsWith('/', 'use an absolute path');
const NAME = /^[a-zA-Z][a-zA-Z0-9_.-]{0,62}$/;
const name = z.string().regex(NAME, 'names start with a letter and use letters, digits, "_", "." or "-"');

/** What an alarm does: log it, POST it, engage the kill switch, pause every VM, or run a named lockdown. */
export const actionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('log') }),
  z.strictObject({
    type: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/, message: 'write an http:// or https:// URL' }),
    timeoutMs: z.number().int().min(100).max(60000).default(5000),
    headers: z.record(z.string(), z.string()).default({}),
  }),
  z.strictObject({ type: z.literal('killswitch') }),
  z.strictObject({ type: z.literal('pause-vms') }),
  z.strictObject({ type: z.literal('api-local-only') }),
  z.strictObject({ type: z.literal('lockdown'), name }),
]);
/** One configured action. */
export type ActionSpec = z.output<typeof actionSchema>;

const actions = z.array(actionSchema).default([{ type: 'log' }]);

/** One FIM rule: a root (file or directory) and what under it is watched, with which attributes. */
export const fimRuleSchema = z.strictObject({
  /** A file or a directory; a directory is walked (symlinks are recorded, never followed). */
  path: absPath,
  /** Globs relative to `path` (`**` any depth, `*` one name, `?`, `[ab]`, `{a,b}`); default everything. */
  include: z.array(z.string().min(1)).default(['**']),
  exclude: z.array(z.string().min(1)).default([]),
  /** Attributes compared (default all); `sha256` off means contents are not read. */
  attributes: z.array(z.enum(ATTRIBUTES)).min(1).default([...ATTRIBUTES]),
  /** Files larger than this are not hashed (their size, mtime and inode still are); 0 = no limit. */
  maxHashBytes: z.number().int().min(0).default(0),
});
/** One validated FIM rule. */
export type FimRule = z.output<typeof fimRuleSchema>;

/** The `host:` section. */
export const hostConfigSchema = z.strictObject({
  fim: z
    .strictObject({
      /** Include Vigil's default policy (config, VM definitions, QEMU, firmware, disk images and backing chains). */
      defaults: z.boolean().default(true),
      /** Hash disk image contents in the default policy (large; off: size, mtime, inode, mode only). */
      hashImages: z.boolean().default(false),
      rules: z.array(fimRuleSchema).default([]),
      /** Watch mode's full rescan period (covers lost inotify events). */
      rescanSec: z.number().int().min(5).max(86400).default(3600),
      /** Files hashed at once: more than libuv's 4 threads, so reads and hashing overlap (bench/fim.ts). */
      concurrency: z.number().int().min(1).max(256).default(16),
      /** `watch` (in vigild's host agent): watch the baseline's paths. */
      watch: z.boolean().default(false),
      actions,
    })
    .default(() => ({ defaults: true, hashImages: false, rules: [], rescanSec: 3600, concurrency: 16, watch: false, actions: [{ type: 'log' as const }] })),
  honeypots: z
    .array(
      z.strictObject({
        name,
        /** Listen address (tests use 127.0.0.1). */
        host: z.string().min(1).default('0.0.0.0'),
        /** TCP port; 0 picks a free one (reported by the agent). */
        port: z.number().int().min(0).max(65535),
        /** Sent on connect, as a real service would (e.g. an SSH version line). */
        banner: z.string().max(1024).optional(),
        /** Bytes of the peer's first data kept. */
        maxBytes: z.number().int().min(0).max(65536).default(512),
        /** How long to wait for the peer's first bytes. */
        readTimeoutMs: z.number().int().min(10).max(60000).default(2000),
        /** Connections recorded per peer address per minute; beyond that, dropped unrecorded. */
        perPeerPerMinute: z.number().int().min(1).max(10000).default(10),
        actions,
      }),
    )
    .default([]),
  canaries: z
    .array(
      z.strictObject({
        name,
        path: absPath,
        /** Create the file with this content when it does not exist. */
        content: z.string().optional(),
        /** Poll period, beside inotify. */
        pollSec: z.number().int().min(1).max(3600).default(30),
        actions,
      }),
    )
    .default([]),
  ports: z
    .strictObject({
      /** Allowed listeners: `tcp:22`, `udp:53`, `tcp:127.0.0.1:3003`, `tcp:*:8080`, or a process `name:sshd`. */
      allow: z.array(z.string().min(1)).default([]),
      /** Watch for new listeners in vigild's host agent. */
      watch: z.boolean().default(false),
      intervalSec: z.number().int().min(1).max(3600).default(10),
      actions,
    })
    .default(() => ({ allow: [], watch: false, intervalSec: 10, actions: [{ type: 'log' as const }] })),
  /** Named sets of actions, run by a monitor (`{type: lockdown, name}`), `vigil host lockdown <name>` or the API. */
  lockdowns: z.record(name, z.array(actionSchema).min(1)).default({}),
});

/** The validated `host:` section. */
export type HostConfig = z.output<typeof hostConfigSchema>;

/** The section with every default (what an absent `host:` means). */
export function defaultHostConfig(): HostConfig {
  return hostConfigSchema.parse({});
}
