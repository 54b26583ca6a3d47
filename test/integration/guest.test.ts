/**
 * The test guest itself: one booted guest with a custom init body, its runtime files and permissions, a clean
 * stop, the image cache, and a guest with no OS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { ensureGuestImage } from '../../guest/build.js';
import { defaultInitScript, GUEST_READY_LINE } from '../../guest/init-script.js';
import { bootGuest, type Guest } from '../../guest/launch.js';

const MEMORY_MIB = 128;
let guest: Guest;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The first line QEMU's QMP server sends, read over a raw socket. */
function qmpGreeting(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        sock.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    sock.on('error', reject);
  });
}

before(async () => {
  await ensureGuestImage();
  guest = await bootGuest({ memoryMiB: MEMORY_MIB, initScript: defaultInitScript('echo marker-$((6*7))\n(echo background-ok) &\nwait') });
  console.log(`guest booted in ${guest.bootMs} ms`);
});

after(async () => {
  await guest?.stop();
});

test('the init body ran before the ready line', async () => {
  assert.equal(await guest.waitForSerial(/^marker-\d+$/, 1000), 'marker-42');
  // A background job needs /dev/null for its stdin: this fails when devtmpfs is not mounted.
  assert.equal(await guest.waitForSerial('background-', 1000), 'background-ok');
  const log = guest.readSerial();
  assert.ok(log.indexOf('marker-42') < log.indexOf(GUEST_READY_LINE));
});

test('the runtime directory is private and its sockets are 0600', () => {
  assert.equal(statSync(guest.dir).mode & 0o777, 0o700);
  for (const s of [guest.qmpSocket, guest.gdbSocket, guest.serialSocket]) {
    const st = statSync(s);
    assert.ok(st.isSocket(), `${s} is a socket`);
    assert.equal(st.mode & 0o777, 0o600, s);
  }
});

test('the RAM file holds all of guest memory', () => {
  assert.equal(statSync(guest.ramPath).size, MEMORY_MIB * 1024 * 1024);
});

test('QMP answers on its socket', async () => {
  assert.match(await qmpGreeting(guest.qmpSocket), /"QMP"/);
});

test('waitForSerial rejects with VIGIL_GUEST_BOOT on timeout', async () => {
  await assert.rejects(guest.waitForSerial('never-printed', 100), { code: 'VIGIL_GUEST_BOOT' });
});

test('stop() leaves no QEMU process and no runtime directory', async () => {
  const { pid, dir } = guest;
  assert.ok(alive(pid));
  await guest.stop();
  await guest.stop();
  assert.equal(alive(pid), false);
  assert.equal(existsSync(dir), false);
});

test('a second ensureGuestImage is served from the cache', async () => {
  const started = Date.now();
  const image = await ensureGuestImage();
  const ms = Date.now() - started;
  assert.ok(ms < 2000, `cached ensureGuestImage took ${ms} ms`);
  assert.ok(existsSync(image.kernel) && existsSync(image.baseInitrd));
});

test('a guest with no OS starts and stops', async () => {
  const bare = await bootGuest({ noOs: true, memoryMiB: 64 });
  try {
    assert.match(await qmpGreeting(bare.qmpSocket), /"QMP"/);
    assert.ok(alive(bare.pid));
  } finally {
    await bare.stop();
  }
  assert.equal(alive(bare.pid), false);
  assert.equal(existsSync(bare.dir), false);
});
