/**
 * The GPIO trigger: a button or switch on a GPIO line, watched by a `gpiomon` child process (see gpiomon.ts).
 * gpiomon is restarted when it exits (chip missing, line busy, killed), after `restartMs`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../../core/log.js';
import { makeFirer, type Fire, type KillswitchTrigger, type TriggerCallback } from './fire.js';
import { gpiomonArgs, parseGpiomonLine, parseGpiomonVersion, type GpiomonWatch } from './gpiomon.js';

/** What a GPIO trigger needs. */
export interface GpioTriggerOptions {
  chip: string;
  line: number;
  rising: 'engage' | 'release' | 'toggle' | 'none';
  falling: 'engage' | 'release' | 'toggle' | 'none';
  activeLow: boolean;
  bias?: GpiomonWatch['bias'];
  debounceMs: number;
  command: string;
  restartMs: number;
  callback: TriggerCallback;
  logger: Logger;
  name?: string;
}

/** Asks gpiomon its version; 1 when it does not say (v1 is what Debian 12 ships). */
function gpiomonVersion(command: string): Promise<number> {
  return new Promise((resolve) => {
    execFile(command, ['--version'], { timeout: 5000 }, (_err, stdout) => resolve(parseGpiomonVersion(String(stdout)) ?? 1));
  });
}

/** Watches one GPIO line. */
export class GpioTrigger implements KillswitchTrigger {
  readonly name: string;
  private readonly fire: Fire;
  private settle: NodeJS.Timeout | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private running = false;
  private version: number | undefined;

  constructor(private readonly opts: GpioTriggerOptions) {
    this.name = opts.name ?? `gpio:${opts.chip}:${opts.line}`;
    // Debounced here, on the line (trailing: the last edge once it has settled), not per action in the firer:
    // a bouncing switch must end in the state it was thrown to, never in whichever action happened to pass last.
    this.fire = makeFirer({ source: 'gpio', callback: opts.callback, logger: opts.logger, debounceMs: 0 });
  }

  /** The running gpiomon's pid (for tests and listings). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts gpiomon. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.version ??= await gpiomonVersion(this.opts.command);
    if (this.running) this.spawn();
  }

  /** Stops gpiomon and any pending restart. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.settle) clearTimeout(this.settle);
    this.settle = undefined;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.child?.kill('SIGTERM');
    await this.exited;
  }

  private spawn(): void {
    const { rising, falling } = this.opts;
    const edges = rising !== 'none' && falling !== 'none' ? 'both' : rising !== 'none' ? 'rising' : 'falling';
    const args = gpiomonArgs(this.version ?? 1, { chip: this.opts.chip, line: this.opts.line, edges, activeLow: this.opts.activeLow, ...(this.opts.bias ? { bias: this.opts.bias } : {}) });
    const child = spawn(this.opts.command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    this.exited = new Promise((resolve) => {
      let spawnError: string | undefined;
      child.on('error', (err: NodeJS.ErrnoException) => {
        spawnError = err.code === 'ENOENT' ? `${this.opts.command} not found; install libgpiod's tools (Debian: apt-get install gpiod)` : err.message;
      });
      child.on('close', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (this.running) {
          this.opts.logger.error(
            { trigger: this.name, code, signal, stderr: stderr.trim(), ...(spawnError ? { err: spawnError } : {}) },
            `gpio trigger: gpiomon exited; restarting in ${this.opts.restartMs} ms`,
          );
          this.restartTimer = setTimeout(() => {
            this.restartTimer = undefined;
            if (this.running) this.spawn();
          }, this.opts.restartMs);
        }
        resolve();
      });
    });
    this.opts.logger.info({ trigger: this.name, command: this.opts.command, args }, 'gpio trigger: gpiomon started');
  }

  private onLine(line: string): void {
    try {
      const ev = parseGpiomonLine(line);
      if (!ev) {
        if (line.trim() !== '') this.opts.logger.debug({ trigger: this.name, line }, 'gpio trigger: not an event line');
        return;
      }
      if (ev.offset !== undefined && ev.offset !== this.opts.line) return;
      const action = ev.edge === 'rising' ? this.opts.rising : this.opts.falling;
      const detail = `${ev.edge} edge on ${this.opts.chip} line ${this.opts.line} at ${ev.timestamp}`;
      // Every edge restarts the settling time, an edge with no action included: only the last one counts.
      if (this.settle) clearTimeout(this.settle);
      this.settle = undefined;
      if (this.opts.debounceMs <= 0) {
        if (action !== 'none') this.fire(action, detail);
        return;
      }
      this.settle = setTimeout(() => {
        this.settle = undefined;
        if (action !== 'none' && this.running) this.fire(action, detail);
      }, this.opts.debounceMs);
    } catch (err) {
      this.opts.logger.error({ trigger: this.name, err: String(err) }, 'gpio trigger: event handling failed');
    }
  }
}
