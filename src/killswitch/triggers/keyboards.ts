/**
 * Finding the input devices a hotkey can come from: /sys/class/input/event*\/device/capabilities/key is the
 * device's key bitmap, hex words of the kernel's `unsigned long` (64 bits on the 64-bit hosts Vigil runs on),
 * most significant word first.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Parses a capabilities/key bitmap into a membership test. */
export function parseKeyBitmap(text: string): (code: number) => boolean {
  const words = text.trim().split(/\s+/).filter(Boolean).reverse().map((w) => BigInt(`0x${w}`));
  return (code) => {
    const word = words[Math.floor(code / 64)];
    return word !== undefined && ((word >> BigInt(code % 64)) & 1n) === 1n;
  };
}

/** The event devices that can send every one of `codes`, as /dev paths (sorted by event number). */
export async function findKeyDevices(codes: number[], roots: { sys?: string; dev?: string } = {}): Promise<string[]> {
  const sys = roots.sys ?? '/sys';
  const dev = roots.dev ?? '/dev';
  let names: string[];
  try {
    names = await readdir(join(sys, 'class', 'input'));
  } catch {
    return [];
  }
  const events = names.filter((n) => /^event\d+$/.test(n)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  const found: string[] = [];
  for (const name of events) {
    try {
      const has = parseKeyBitmap(await readFile(join(sys, 'class', 'input', name, 'device', 'capabilities', 'key'), 'utf8'));
      if (codes.every(has)) found.push(join(dev, 'input', name));
    } catch {
      // Unplugged while we looked, or not a key device: not a candidate.
    }
  }
  return found;
}
