/**
 * Vigil's host configuration (`config.yaml` in the config directory). Validated at the edge: unknown fields are
 * refused and every problem is reported with its line and column, the field and the fix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { VigilError } from './errors.js';
import type { VigilPaths } from './paths.js';

const classSchema = z.enum(['dangerous', 'memory-dump', 'privileged', 'safe']);

const conditionSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('arg-prefix'), arg: z.string().min(1), prefixes: z.array(z.string()).min(1) }),
  z.strictObject({ kind: z.literal('arg-in'), arg: z.string().min(1), values: z.array(z.string()).min(1) }),
  z.strictObject({ kind: z.literal('host-path-outside'), keys: z.array(z.string()).min(1), strip: z.string().optional() }),
]);

const ruleSchema = z.strictObject({
  command: z.string().min(1),
  class: classSchema,
  reason: z.string().min(1),
  when: conditionSchema.optional(),
});

/** The schema of config.yaml. */
export const configSchema = z.strictObject({
  qmp: z
    .strictObject({
      /** Rules tried before Vigil's defaults. */
      rules: z.array(ruleSchema).default([]),
    })
    .default({ rules: [] }),
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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col}: ${e.message}`;
    });
    throw new VigilError('VIGIL_CONFIG_INVALID', `config is not valid YAML:\n${lines.join('\n')}`, { context: { file } });
  }
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const node = doc.getIn(issue.path as (string | number)[], true) as { range?: [number, number, number] } | undefined;
    const pos = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
    const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
    const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    return `${where}: ${field}: ${issue.message}`;
  });
  throw new VigilError('VIGIL_CONFIG_INVALID', `config has ${lines.length} problem(s):\n${lines.join('\n')}`, { context: { file } });
}
