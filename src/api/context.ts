/** What every route handler gets: the services, the caller, the parsed request. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { AccessControl, Caller } from '../auth/roles.js';
import type { SiweVerifier } from '../auth/siwe.js';
import type { TokenBucketLimiter } from '../auth/rate-limit.js';
import type { SessionRepo } from '../store/session-repo.js';
import type { Logger } from '../core/log.js';
import type { AccessRepo } from '../store/access-repo.js';
import type { Vigil } from '../vigil.js';
import type { VmSupervisor } from '../vm/supervisor.js';
import type { KillswitchEngine } from '../killswitch/engine.js';
import type { LinuxViews } from '../vmi/os/linux/views.js';
import type { EventBus } from './event-bus.js';

/** The services behind the API. */
export interface ApiDeps {
  vigil: Vigil;
  access: AccessControl;
  accessRepo: AccessRepo;
  logger: Logger;
  events: EventBus;
  sessions: SessionRepo;
  siwe: SiweVerifier;
  /** Per-client limit on sign-in challenges (unsigned requests). */
  challengeLimiter: TokenBucketLimiter;
  supervisor?: VmSupervisor | undefined;
  /** Attached Linux kernels of running VMs (introspection views). */
  linux: LinuxViews;
  /** vigild's kill switch, or one over the same store when the API runs without a daemon (tests). */
  killswitch: KillswitchEngine;
  /** Directory listed by GET /images. */
  imagesDir: string;
}

/** One handled request. */
export interface RouteContext<B> {
  req: FastifyRequest;
  reply: FastifyReply;
  /** The session token the request came with, if it used one instead of a signature. */
  sessionToken: string | undefined;
  /** The verified signer (undefined on unsigned routes). */
  caller: Caller | undefined;
  body: B;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  deps: ApiDeps;
}

/** A route: its documentation, its body schema, who may call it, and its handler. */
export interface RouteSpec<B = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** Other paths that reach the same handler (seed 003's). */
  aliases?: string[];
  summary: string;
  tag: string;
  /** `none`: /health and boot_complete only. */
  auth: 'signed' | 'none';
  body?: z.ZodType<B>;
  /** HTTP status of a success (default 200). */
  status?: number;
  // Method syntax on purpose: routes with different body types live in one list.
  handler(ctx: RouteContext<B>): unknown;
}

/** A handler returns `{ [RAW]: text, contentType }` to send text instead of JSON (Prometheus metrics). */
export const RAW = Symbol('raw body');

/** The caller of a signed route (the auth hook guarantees it). */
export function callerOf(ctx: RouteContext<unknown>): Caller {
  if (!ctx.caller) throw new Error('signed route reached without a caller');
  return ctx.caller;
}
