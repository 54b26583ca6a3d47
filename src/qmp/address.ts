/** Where a QMP server listens: a Unix socket path or a TCP host and port. */
import { VigilError } from '../core/errors.js';

/** A QMP endpoint. */
export type QmpAddress = { path: string } | { host: string; port: number };

/**
 * Parses `tcp:HOST:PORT`, `unix:PATH` or a bare path. Throws VIGIL_INVALID_INPUT naming the expected forms.
 */
export function parseQmpAddress(text: string): QmpAddress {
  if (text.startsWith('unix:')) return { path: text.slice('unix:'.length) };
  if (text.startsWith('tcp:')) {
    const rest = text.slice('tcp:'.length);
    const colon = rest.lastIndexOf(':');
    const host = rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(rest.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new VigilError('VIGIL_INVALID_INPUT', `QMP address '${text}' is not valid: write tcp:HOST:PORT (port 1-65535)`, {
        context: { field: 'address', value: text },
      });
    }
    return { host, port };
  }
  if (text.length === 0) {
    throw new VigilError('VIGIL_INVALID_INPUT', 'QMP address is empty: give a socket path, unix:PATH or tcp:HOST:PORT', {
      context: { field: 'address' },
    });
  }
  return { path: text };
}

/** The address as a user would write it. */
export function formatQmpAddress(address: QmpAddress): string {
  return 'path' in address ? address.path : `tcp:${address.host}:${address.port}`;
}
