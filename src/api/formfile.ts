/**
 * Seed 003's `POST /vm/create` carries a Formation formfile (`NAME my-vm\nVCPU 1`). The directives that describe
 * a VM's shape map onto a Vigil definition; build directives (RUN, COPY, ...) have no meaning here and are refused
 * by name, so a client learns exactly what was not carried over.
 */
import { VigilError } from '../core/errors.js';

const MAPPED: Record<string, (value: string, def: Record<string, unknown>) => void> = {
  NAME: (v, d) => (d.name = v),
  VCPU: (v, d) => (d.cpus = Number(v)),
  VCPUS: (v, d) => (d.cpus = Number(v)),
  MEM: (v, d) => (d.memory = /^\d+$/.test(v) ? Number(v) : v),
  MEMORY: (v, d) => (d.memory = /^\d+$/.test(v) ? Number(v) : v),
  DESCRIPTION: (v, d) => (d.description = v),
};

/** A definition object (not yet validated) from a formfile; `name` (the request's) wins over NAME. */
export function formfileToDefinition(formfile: string, name: string | undefined): Record<string, unknown> {
  const def: Record<string, unknown> = {};
  const unsupported: string[] = [];
  for (const [i, raw] of formfile.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [directive = '', ...rest] = line.split(/\s+/);
    const map = MAPPED[directive.toUpperCase()];
    if (map) map(rest.join(' '), def);
    else unsupported.push(`line ${i + 1}: ${directive}`);
  }
  if (unsupported.length > 0) {
    throw new VigilError('VIGIL_INVALID_INPUT', `formfile directives Vigil does not support: ${unsupported.join(', ')}; send a Vigil definition (JSON or YAML) instead`, {
      context: { field: 'formfile', unsupported },
    });
  }
  if (name !== undefined) def.name = name;
  return def;
}
