/** What each page gets from the app shell. */
import type { EventStream } from './events.js';
import type { Session } from './session.js';

/** The shell's services for a page. */
export interface PageContext {
  session: Session;
  events: EventStream;
  /** Registers cleanup to run when the page is left (timers, sockets, subscriptions). */
  onLeave(fn: () => void): void;
}

/** A page renders into `main`; `params` are the route's parts. */
export type Page = (main: HTMLElement, ctx: PageContext, params: string[]) => void | Promise<void>;
