/**
 * The hotkey trigger: a key combination held on a keyboard, read straight from evdev (/dev/input/event*), so it
 * works with no desktop session and whatever window has focus. Each device is read on its own; a device that
 * disappears (unplugged, a FIFO whose writer closed) is reopened every `reopenMs`, and with no devices
 * configured the keyboards able to send the combination are looked for again at the same pace.
 *
 * Reads block in libuv's thread pool (Node cannot poll a character device), one pool thread per device while it
 * waits; stop() therefore cannot interrupt a read in progress: the reader closes at its next event or EOF.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../../core/log.js';
import { makeFirer, type Fire, type KillswitchTrigger, type TriggerAction, type TriggerCallback } from './fire.js';
import { EV_KEY, EV_SYN, InputEventFramer, INPUT_EVENT_SIZE, SYN_DROPPED, type InputEvent } from './input-event.js';
import { findKeyDevices } from './keyboards.js';
import { parseCombo } from './keys.js';

/** What a hotkey trigger needs. */
export interface HotkeyTriggerOptions {
  /** KEY_LEFTCTRL+KEY_LEFTALT+KEY_K */
  keys: string;
  action: TriggerAction;
  /** Device paths; undefined: auto-detect under `sysRoot`. */
  devices?: string[];
  reopenMs: number;
  debounceMs: number;
  callback: TriggerCallback;
  logger: Logger;
  name?: string;
  /** Roots for auto-detection (tests use a fixture tree). */
  sysRoot?: string;
  devRoot?: string;
}

/** Device reads in progress in this process (each holds a libuv pool thread). */
let readersOpen = 0;

/** How many devices may be read at once: the pool's size less three threads kept for everything else. */
function readerBudget(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, pool - 3);
}

/** Reads one event device and tracks which keys are held on it. */
class DeviceReader {
  /** A run() is under way (opening or reading): the refresh must not start another. */
  open = false;
  /** The device is open and being read. */
  reading = false;
  private readonly pressed = new Set<number>();
  /** Set when the combination fired; cleared when one of its keys is let go, so a held combo fires once. */
  private latched = false;
  private readonly framer = new InputEventFramer();
  private lastError: string | undefined;

  constructor(
    readonly path: string,
    private readonly combo: number[],
    private readonly onCombo: (path: string) => void,
    private readonly logger: Logger,
    private readonly isRunning: () => boolean,
  ) {}

  /** Opens the device and reads until EOF, an error or stop; never rejects. */
  async run(): Promise<void> {
    this.open = true;
    readersOpen++;
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.path, 'r');
      if (!this.isRunning()) return;
      this.reading = true;
      this.lastError = undefined;
      this.logger.info({ device: this.path }, 'hotkey trigger: reading');
      const buf = Buffer.alloc(INPUT_EVENT_SIZE * 64);
      while (this.isRunning()) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        for (const ev of this.framer.push(buf.subarray(0, bytesRead))) this.onEvent(ev);
      }
      if (this.isRunning()) this.logger.warn({ device: this.path }, 'hotkey trigger: device closed; reopening');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      // Retried every reopenMs: say it once per kind of failure, loudly when it is not just "not plugged in".
      if (this.isRunning() && code !== this.lastError) {
        const level = code === 'ENOENT' || code === 'ENODEV' ? 'info' : 'warn';
        this.logger[level]({ device: this.path, err: err instanceof Error ? err.message : String(err) }, code === 'EACCES' ? 'hotkey trigger: no permission to read the device (run as root or add the user to the input group); will retry' : 'hotkey trigger: device unavailable; will retry');
      }
      this.lastError = code;
    } finally {
      await fh?.close().catch(() => undefined);
      // Keys held on a device that went away are not held any more.
      this.pressed.clear();
      this.latched = false;
      this.framer.reset();
      this.reading = false;
      this.open = false;
      readersOpen--;
    }
  }

  private onEvent(ev: InputEvent): void {
    if (ev.type === EV_SYN && ev.code === SYN_DROPPED) {
      // The kernel's buffer overflowed: what we think is held may be wrong; start over.
      this.pressed.clear();
      this.latched = false;
      return;
    }
    if (ev.type !== EV_KEY) return;
    if (ev.value === 0) {
      this.pressed.delete(ev.code);
      if (this.combo.includes(ev.code)) this.latched = false;
      return;
    }
    // 1 press, 2 autorepeat: a repeat also proves the key is held (its press may have been dropped).
    this.pressed.add(ev.code);
    if (!this.latched && this.combo.includes(ev.code) && this.combo.every((c) => this.pressed.has(c))) {
      this.latched = true;
      this.onCombo(this.path);
    }
  }
}

/** Fires when a key combination is held on any watched keyboard. */
export class HotkeyTrigger implements KillswitchTrigger {
  readonly name: string;
  private readonly combo: number[];
  private readonly fire: Fire;
  private readonly readers = new Map<string, DeviceReader>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private warnedNone = false;
  private warnedBudget = false;

  constructor(private readonly opts: HotkeyTriggerOptions) {
    this.combo = parseCombo(opts.keys);
    this.name = opts.name ?? `hotkey:${opts.keys}`;
    this.fire = makeFirer({ source: 'hotkey', callback: opts.callback, logger: opts.logger, debounceMs: opts.debounceMs });
  }

  /** The devices open and being read now. */
  devices(): string[] {
    return [...this.readers.values()].filter((r) => r.reading).map((r) => r.path);
  }

  /** Opens the devices (or finds them) and keeps them open. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.opts.logger.error({ trigger: this.name, err: String(err) }, 'hotkey trigger: refresh failed'));
    }, this.opts.reopenMs);
  }

  /** Stops reading; a read in progress ends at the device's next event or EOF. */
  stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return Promise.resolve();
  }

  private async refresh(): Promise<void> {
    const paths = this.opts.devices ?? (await findKeyDevices(this.combo, { ...(this.opts.sysRoot ? { sys: this.opts.sysRoot } : {}), ...(this.opts.devRoot ? { dev: this.opts.devRoot } : {}) }));
    if (!this.running) return;
    if (paths.length === 0 && !this.warnedNone) {
      this.warnedNone = true;
      this.opts.logger.warn({ trigger: this.name }, 'hotkey trigger: no input device can send this combination; looking again periodically');
    }
    for (const path of paths) {
      let reader = this.readers.get(path);
      if (!reader && readersOpen >= readerBudget()) {
        // Each read holds one of libuv's pool threads until a key comes: past the budget, reading more devices
        // would starve every other file operation in the process (the kill switch's own included).
        if (!this.warnedBudget) this.opts.logger.warn({ trigger: this.name, device: path, budget: readerBudget() }, 'hotkey trigger: too many input devices for the thread pool; raise UV_THREADPOOL_SIZE (vigild: 32 by default) or name the devices');
        this.warnedBudget = true;
        continue;
      }
      if (!reader) {
        reader = new DeviceReader(path, this.combo, (device) => this.fire(this.opts.action, `${this.opts.keys} on ${device}`), this.opts.logger, () => this.running);
        this.readers.set(path, reader);
      }
      if (!reader.open) void reader.run();
    }
  }
}
