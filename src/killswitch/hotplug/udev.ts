/**
 * Kernel uevents through `udevadm monitor --kernel --property`: Node has no netlink sockets, and udevadm is on
 * every systemd host. Each event is a header line (`KERNEL[4711.123456] add      /devices/... (usb)`) followed by
 * `KEY=value` properties and a blank line. Events only wake the watcher; the sysfs inventory stays the one source
 * of a device's attributes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** One uevent. */
export interface Uevent {
  /** `KERNEL` or `UDEV` (after udev's rules ran). */
  source: string;
  action: string;
  devpath: string;
  subsystem: string;
  properties: Record<string, string>;
}

const HEADER = /^(KERNEL|UDEV)\s*\[[\d.]+\]\s+(\S+)\s+(\S+)\s+\(([^)]+)\)\s*$/;

/** An incremental parser of `udevadm monitor --property` output (chunks split anywhere). */
export class UeventParser {
  private buffer = '';
  private current: Uevent | undefined;

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: string): Uevent[] {
    this.buffer += chunk;
    const out: Uevent[] = [];
    for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.line(line, out);
    }
    // A line without its newline this long is not udevadm's: drop it rather than grow without bound.
    if (this.buffer.length > 65536) this.buffer = '';
    return out;
  }

  /** Ends the stream: an event without its closing blank line still counts. */
  end(): Uevent[] {
    const out: Uevent[] = [];
    if (this.buffer !== '') this.line(this.buffer, out);
    this.buffer = '';
    this.line('', out);
    return out;
  }

  private line(line: string, out: Uevent[]): void {
    const header = HEADER.exec(line);
    if (header) {
      if (this.current) out.push(this.current);
      this.current = { source: header[1]!, action: header[2]!, devpath: header[3]!, subsystem: header[4]!, properties: {} };
      return;
    }
    if (line.trim() === '') {
      if (this.current) out.push(this.current);
      this.current = undefined;
      return;
    }
    const eq = line.indexOf('=');
    // The banner ("monitor will print the received events for:") and anything else that is not a property.
    if (this.current && eq > 0) this.current.properties[line.slice(0, eq)] = line.slice(eq + 1);
  }
}

/** The udevadm binary, or undefined when it is not installed. */
export function findUdevadm(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of [...(env.PATH ?? '').split(delimiter), '/usr/bin', '/bin', '/sbin', '/usr/sbin']) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, 'udevadm'), constants.X_OK);
      return join(dir, 'udevadm');
    } catch {
      // next
    }
  }
  return undefined;
}

/** Follows USB and PCI kernel uevents; `onEvent` for each; `onExit` when udevadm ends. */
export function monitorUevents(udevadm: string, onEvent: (e: Uevent) => void, onExit: (code: number | null) => void): ChildProcess {
  const child = spawn(udevadm, ['monitor', '--kernel', '--subsystem-match=usb', '--subsystem-match=pci', '--property'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const parser = new UeventParser();
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    for (const e of parser.push(d)) onEvent(e);
  });
  child.on('error', () => undefined);
  child.on('close', (code) => {
    for (const e of parser.end()) onEvent(e);
    onExit(code);
  });
  return child;
}
