/**
 * Bodies are kept exactly as received: v1 signatures cover a canonical form rebuilt from the raw text, v2
 * signatures its SHA-256. JSON is parsed here once (duplicate keys refused), YAML accepted for definitions.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { pythonJsonDumpsSorted } from '../auth/canonical-json.js';
import { parse as parseYaml } from 'yaml';
import { VigilError } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body text as received ('' when there is none). */
    rawBody: string;
  }
}

/** Parses JSON text, refusing duplicate keys (numbers become plain JS numbers). */
export function parseJsonStrict(text: string): unknown {
  try {
    // The signature canonicalizer is also the strictest JSON checker we have: it refuses every duplicate key.
    pythonJsonDumpsSorted(text);
  } catch (err) {
    throw new VigilError('VIGIL_INVALID_INPUT', `body is not valid JSON: ${(err as Error).message}`, { cause: err, context: { field: 'body' } });
  }
  return JSON.parse(text) as unknown;
}

/** Installs the JSON and YAML body parsers that keep the raw text on `request.rawBody`. */
export function installBodyParsers(app: FastifyInstance, bodyLimit: number): void {
  app.decorateRequest('rawBody', '');
  app.removeAllContentTypeParsers();
  const keep = (req: FastifyRequest, body: string): void => {
    req.rawBody = body;
  };
  app.addContentTypeParser(['application/json'], { parseAs: 'string', bodyLimit }, (req, body: string, done) => {
    keep(req, body);
    if (body.trim() === '') return done(null, undefined);
    try {
      done(null, parseJsonStrict(body));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], { parseAs: 'string', bodyLimit }, (req, body: string, done) => {
    keep(req, body);
    done(null, { yaml: body });
  });
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (req, body: string, done) => {
    keep(req, body);
    if (body.trim() === '') return done(null, undefined);
    done(new VigilError('VIGIL_INVALID_INPUT', `unsupported content type '${req.headers['content-type'] ?? ''}': send application/json (or YAML for definitions)`), undefined);
  });
}

/** Parses a YAML document into a plain object (errors name the position). */
export function yamlToObject(text: string): unknown {
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new VigilError('VIGIL_INVALID_INPUT', `definition is not valid YAML: ${(err as Error).message}`, { cause: err, context: { field: 'body' } });
  }
}
