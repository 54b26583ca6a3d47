/** The client address a request is rate-limited and audited under. */
import type { FastifyRequest } from 'fastify';

/** The peer's IP; requests over the Unix socket have none and count as local. */
export function clientIp(req: FastifyRequest): string {
  return typeof req.ip === 'string' && req.ip !== '' ? req.ip : '127.0.0.1';
}
