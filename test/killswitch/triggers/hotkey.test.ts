/**
 * The hotkey trigger reading recorded input_event records through FIFOs standing in for /dev/input/event*:
 * records split across writes, combinations, autorepeat, SYN_DROPPED, a device that goes away and comes back,
 * keyboards found through a sysfs fixture tree.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { HotkeyTrigger } from '../../../src/killswitch/triggers/hotkey.js';
import { EV_SYN, encodeInputEvents, InputEventFramer, keyRecords, SYN_DROPPED, type InputEvent } from '../../../src/killswitch/triggers/input-event.js';
import { findKeyDevices, parseKeyBitmap } from '../../../src/killswitch/triggers/keyboards.js';
import { drainReaders, mkfifo, openWriter } from './fifo.js';
import { memoryLogger, recorder } from './record.js';

const CTRL = 29;
const ALT = 56;
const K = 37;
const A = 30;
const COMBO = 'KEY_LEFTCTRL+KEY_LEFTALT+KEY_K';

const dir = mkdtempSync(join(tmpdir(), 'vigil-hotkey-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Ctrl+Alt+K, then A, as a real kernel's evdev wrote them (see record-evdev.ts); EV_MSC scan codes included. */
const RECORDING = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'evdev-ctrl-alt-k.json'), 'utf8')) as { records: string[]; capabilitiesKey: string; device: string };

const keys = (...seq: [number, 0 | 1 | 2][]): Buffer => encodeInputEvents(seq.flatMap(([code, value]) => keyRecords(code, value)));

/** Writes `buf` in pieces of `size` bytes with a pause between, so the reader sees records split across reads. */
async function writeSplit(w: FileHandle, buf: Buffer, size: number): Promise<void> {
  for (let off = 0; off < buf.length; off += size) {
    await w.write(buf.subarray(off, off + size));
    await sleep(5);
  }
}

test('the framer decodes records split at every byte position', () => {
  const recs: Partial<InputEvent>[] = [
    { sec: 1700000000, usec: 123456, type: 1, code: CTRL, value: 1 },
    { sec: 1700000000, usec: 123457, type: 0, code: 0, value: 0 },
    { sec: 2 ** 40, usec: 999999, type: 1, code: K, value: -1 },
  ];
  const bytes = encodeInputEvents(recs);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const f = new InputEventFramer();
    const out = [...f.push(bytes.subarray(0, cut)), ...f.push(bytes.subarray(cut))];
    assert.deepEqual(out, recs, `cut at ${cut}`);
    assert.equal(f.pending, 0);
  }
});

test('a recording from a real kernel: Ctrl+Alt+K fires once, the A after it nothing; KEY_A fires on the A', async () => {
  const bytes = Buffer.from(RECORDING.records.join(''), 'hex');
  const decoded = new InputEventFramer().push(bytes);
  assert.deepEqual(
    decoded.filter((e) => e.type === 1).map((e) => `${e.code}:${e.value}`),
    ['29:1', '56:1', '37:1', '37:0', '56:0', '29:0', '30:1', '30:0'],
    'the layout (timeval of two i64, then u16 type, u16 code, i32 value) matches what the kernel wrote',
  );
  const has = parseKeyBitmap(RECORDING.capabilitiesKey);
  assert.ok([CTRL, ALT, K, A, 88, 125].every(has), 'the real keyboard bitmap has Ctrl, Alt, K, A, F12, Meta');
  assert.ok(!has(0x110), 'and no mouse button');

  const dev = join(dir, 'recorded');
  mkfifo(dev);
  const combo = recorder();
  const single = recorder();
  const t1 = new HotkeyTrigger({ keys: COMBO, action: 'engage', devices: [dev], reopenMs: 50, debounceMs: 0, callback: combo.callback, logger: memoryLogger() });
  const t2 = new HotkeyTrigger({ keys: 'KEY_A', action: 'release', devices: [dev], reopenMs: 50, debounceMs: 0, callback: single.callback, logger: memoryLogger() });
  // One FIFO, two readers would split the bytes between them: each trigger gets the recording in turn.
  await t1.start();
  let w = await openWriter(dev);
  try {
    await writeSplit(w, bytes, 17);
    await combo.waitFor(1);
    await sleep(100);
    assert.equal(combo.calls.length, 1);
    assert.equal(combo.calls[0]?.kind, 'engage');
  } finally {
    await t1.stop();
    await w.close();
    await drainReaders(dev);
  }
  await t2.start();
  w = await openWriter(dev);
  try {
    await writeSplit(w, bytes, 13);
    await single.waitFor(1);
    await sleep(100);
    assert.equal(single.calls.length, 1);
  } finally {
    await t2.stop();
    await w.close();
    await drainReaders(dev);
  }
});

test('the combination fires once when fully held, whatever the order, split records included; repeats do not refire', async () => {
  const dev = join(dir, 'kbd1');
  mkfifo(dev);
  const r = recorder();
  const t = new HotkeyTrigger({ keys: COMBO, action: 'toggle', devices: [dev], reopenMs: 50, debounceMs: 0, callback: r.callback, logger: memoryLogger() });
  await t.start();
  const w = await openWriter(dev);
  try {
    // Not the combination: two of three keys, and an unrelated key.
    await writeSplit(w, keys([CTRL, 1], [ALT, 1], [A, 1], [A, 0], [ALT, 0]), 7);
    await sleep(100);
    assert.equal(r.calls.length, 0);
    // Ctrl is still held: Alt then K complete it, in pieces of 5 bytes.
    await writeSplit(w, keys([ALT, 1], [K, 1]), 5);
    const [first] = await r.waitFor(1);
    assert.equal(first?.kind, 'toggle');
    assert.equal(first?.trigger.source, 'hotkey');
    assert.equal(first?.trigger.detail, `${COMBO} on ${dev}`);
    // Autorepeat while held, and a press of another key, fire nothing more.
    await w.write(keys([K, 2], [K, 2], [K, 2], [A, 1], [A, 0]));
    await sleep(150);
    assert.equal(r.calls.length, 1);
    // Let K go and press it again with Ctrl+Alt still held: a second press.
    await w.write(keys([K, 0], [K, 1]));
    await r.waitFor(2);
    // An overflow (SYN_DROPPED) forgets what was held: K pressed after it alone does not fire.
    await w.write(Buffer.concat([keys([K, 0]), encodeInputEvents([{ type: EV_SYN, code: SYN_DROPPED, value: 0 }]), keys([K, 1])]));
    await sleep(150);
    assert.equal(r.calls.length, 2);
    // Other order: K first, then the modifiers.
    await w.write(keys([K, 0], [CTRL, 0], [ALT, 0], [K, 1], [ALT, 1], [CTRL, 1]));
    await r.waitFor(3);
  } finally {
    await w.close();
    await t.stop();
    await drainReaders(dev);
  }
});

test('a device that goes away is reopened, and one that appears later is picked up', async () => {
  const dev = join(dir, 'kbd2');
  const logger = memoryLogger();
  const r = recorder();
  const t = new HotkeyTrigger({ keys: 'KEY_LEFTCTRL+KEY_K', action: 'engage', devices: [dev], reopenMs: 50, debounceMs: 0, callback: r.callback, logger });
  // Not there at start: start() does not fail, the trigger keeps trying.
  await t.start();
  try {
    assert.deepEqual(t.devices(), []);
    await sleep(120);
    mkfifo(dev);
    let w = await openWriter(dev);
    await w.write(keys([CTRL, 1], [K, 1]));
    await r.waitFor(1);
    assert.equal(r.calls[0]?.kind, 'engage');
    // The device goes away with Ctrl+K held: the held keys are forgotten with it.
    await w.close();
    await sleep(100);
    w = await openWriter(dev);
    await w.write(keys([K, 1]));
    await sleep(150);
    assert.equal(r.calls.length, 1, 'keys held on a vanished device are not held any more');
    await w.write(keys([K, 0], [CTRL, 1], [K, 1]));
    await r.waitFor(2);
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.msg?.includes('reopening')));
    await w.close();
  } finally {
    await t.stop();
    await drainReaders(dev);
  }
});

test('debounce drops a second fire inside the window', async () => {
  const dev = join(dir, 'kbd3');
  mkfifo(dev);
  const r = recorder();
  const t = new HotkeyTrigger({ keys: 'KEY_LEFTCTRL+KEY_K', action: 'toggle', devices: [dev], reopenMs: 50, debounceMs: 400, callback: r.callback, logger: memoryLogger() });
  await t.start();
  const w = await openWriter(dev);
  try {
    await w.write(keys([CTRL, 1], [K, 1], [K, 0], [K, 1], [K, 0]));
    await sleep(150);
    assert.equal(r.calls.length, 1, 'a double press within 400 ms is one toggle');
    await sleep(350);
    await w.write(keys([K, 1]));
    await r.waitFor(2);
  } finally {
    await w.close();
    await t.stop();
    await drainReaders(dev);
  }
});

test('keyboards are found from their key bitmap in sysfs', async () => {
  const sys = join(dir, 'sys');
  const devRoot = join(dir, 'dev');
  // A full keyboard (bits 1..127 and more), a mouse (buttons only: BTN_LEFT 0x110..), a power button (KEY_POWER).
  // Laid out as the kernel does: /sys/class/input/eventN -> ../../devices/.../inputM/eventN, whose `device` link
  // points up to inputM, which holds capabilities/key.
  const board = (name: string, input: string, bitmap: string): void => {
    const inputDir = join(sys, 'devices', 'platform', 'i8042', 'serio0', 'input', input);
    mkdirSync(join(inputDir, 'capabilities'), { recursive: true });
    mkdirSync(join(inputDir, name), { recursive: true });
    writeFileSync(join(inputDir, 'capabilities', 'key'), `${bitmap}\n`);
    symlinkSync('..', join(inputDir, name, 'device'));
    mkdirSync(join(sys, 'class', 'input'), { recursive: true });
    symlinkSync(join('..', '..', 'devices', 'platform', 'i8042', 'serio0', 'input', input, name), join(sys, 'class', 'input', name));
    symlinkSync(join('..', '..', 'devices', 'platform', 'i8042', 'serio0', 'input', input), join(sys, 'class', 'input', input));
  };
  // Bitmaps as the kernel prints them (most significant 64-bit word first): event3 is the recorded AT keyboard's.
  board('event3', 'input3', RECORDING.capabilitiesKey);
  board('event4', 'input4', '1f0000 0 0 0 0');
  board('event5', 'input5', '10000000000000 0');
  mkdirSync(join(devRoot, 'input'), { recursive: true });
  assert.deepEqual(await findKeyDevices([CTRL, ALT, K], { sys, dev: devRoot }), [join(devRoot, 'input', 'event3')]);
  assert.deepEqual(await findKeyDevices([116], { sys, dev: devRoot }), [join(devRoot, 'input', 'event3'), join(devRoot, 'input', 'event5')]);
  const mouse = parseKeyBitmap('1f0000 0 0 0 0');
  assert.ok(mouse(0x110) && mouse(0x114) && !mouse(0x115) && !mouse(K));

  // The trigger reads the device it found: here a FIFO in the fixture's /dev.
  const dev = join(devRoot, 'input', 'event3');
  mkfifo(dev);
  const r = recorder();
  const t = new HotkeyTrigger({ keys: COMBO, action: 'engage', reopenMs: 50, debounceMs: 0, callback: r.callback, logger: memoryLogger(), sysRoot: sys, devRoot });
  await t.start();
  const w = await openWriter(dev);
  try {
    await w.write(keys([CTRL, 1], [ALT, 1], [K, 1]));
    await r.waitFor(1);
    assert.deepEqual(t.devices(), [dev]);
    assert.equal(r.calls[0]?.trigger.detail, `${COMBO} on ${dev}`);
  } finally {
    await w.close();
    await t.stop();
    await drainReaders(dev);
  }
});
