/** The OpenAPI 3.1 document, built from the same route specs that register the routes (so it cannot drift). */
import { z } from 'zod';
import { VERSION } from '../version.js';
import type { RouteSpec } from './context.js';

const SIGNED_HEADERS = ['X-Signature', 'X-Recovery-ID', 'X-Timestamp'];

/** Collects routes and renders the document. */
export class OpenApiBuilder {
  private readonly paths: Record<string, Record<string, unknown>> = {};

  /** Adds a route (and its aliases, marked as such). */
  add(spec: RouteSpec<unknown>): void {
    for (const [i, url] of [spec.url, ...(spec.aliases ?? [])].entries()) {
      const path = url.replace(/:([a-zA-Z]+)/g, '{$1}');
      const params = [...url.matchAll(/:([a-zA-Z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      const op: Record<string, unknown> = {
        summary: i === 0 ? spec.summary : `${spec.summary} (seed 003 alias of ${spec.url})`,
        tags: [spec.tag],
        parameters: params,
        responses: {
          [String(spec.status ?? 200)]: { description: 'success' },
          default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      };
      if (spec.auth === 'signed') op.security = [{ signatureV1: [] }, { signatureV2: [] }];
      if (spec.body) {
        op.requestBody = { required: true, content: { 'application/json': { schema: z.toJSONSchema(spec.body, { unrepresentable: 'any', io: 'input' }) } } };
      }
      this.paths[path] ??= {};
      this.paths[path][spec.method.toLowerCase()] = op;
    }
  }

  /** The document. */
  document(): Record<string, unknown> {
    return {
      openapi: '3.1.0',
      info: { title: 'Vigil API', version: VERSION, description: 'Signed REST API of vigild; see docs/API.md for the signature schemes.' },
      paths: {
        ...this.paths,
        '/events': {
          get: {
            summary: 'WebSocket of vm-state, qmp-event and audit events, each sent only to callers who may see its VM (signed upgrade request, or a session)',
            tags: ['events'],
            security: [{ signatureV1: [] }, { signatureV2: [] }],
            responses: { '101': { description: 'switching to the WebSocket protocol' } },
          },
        },
      },
      components: {
        schemas: {
          Error: {
            type: 'object',
            properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
            required: ['error'],
          },
        },
        securitySchemes: {
          signatureV1: { type: 'apiKey', in: 'header', name: 'X-Signature', description: `seed 003 v1: headers ${SIGNED_HEADERS.join(', ')}` },
          signatureV2: { type: 'apiKey', in: 'header', name: 'X-Auth-Version', description: 'Vigil v2: X-Auth-Version: 2, X-Timestamp, X-Nonce, X-Content-SHA256, X-Signer, X-Signature' },
        },
      },
    };
  }
}
