/**
 * Records the fixture test/killswitch/triggers/fixtures/evdev-ctrl-alt-k.json: real `struct input_event` bytes
 * written by a real Linux kernel's evdev, for the hotkey tests to replay through a FIFO. This host has no
 * /dev/input, so the test guest (Debian's cloud kernel under QEMU TCG) is booted with the kernel package's own
 * evdev.ko, QMP `send-key` presses Ctrl+Alt+K on its i8042 keyboard (and then a lone A), and the guest's
 * `hexdump` of the keyboard's event device comes back on the serial console. The keyboard's
 * capabilities/key bitmap is kept too (a real one, for the auto-detection test).
 *
 * Run: `npx tsx test/killswitch/triggers/record-evdev.ts` (downloads the guest kernel's .deb with apt-get once).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureGuestImage } from '../../../guest/build.js';
import { newcArchive } from '../../../guest/cpio.js';
import { defaultInitScript } from '../../../guest/init-script.js';
import { resolvePaths } from '../../../src/core/paths.js';
import { silentLogger } from '../../../src/core/log.js';
import { QmpClient } from '../../../src/qmp/client.js';
import { Vigil } from '../../../src/vigil.js';
import { readPidfile } from '../../../src/vm/process.js';

const OUT = join(import.meta.dirname, 'fixtures', 'evdev-ctrl-alt-k.json');

// The keyboard is whichever event device names itself a keyboard (i8042's "AT Translated Set 2 keyboard").
const BODY = `insmod /evdev.ko
sleep 1
for e in /sys/class/input/event*; do
  n=\${e##*/}
  if grep -qi keyboard $e/device/name; then
    echo "KBD $n $(cat $e/device/name)"
    echo "CAPS $(cat $e/device/capabilities/key)"
    hexdump -v -e '"EVREC " 24/1 "%02x" "\\n"' /dev/input/$n > /dev/console &
  fi
done
`;

const work = mkdtempSync(join(tmpdir(), 'vigil-evdev-rec-'));
const image = await ensureGuestImage();
const manifest = JSON.parse(readFileSync(join(image.dir, 'manifest.json'), 'utf8')) as { kernelPackage: string; kernelPackageVersion: string; kernelRelease: string };
execFileSync('apt-get', ['download', `${manifest.kernelPackage}=${manifest.kernelPackageVersion}`], { cwd: work, stdio: 'inherit' });
const deb = readdirSync(work).find((f) => f.endsWith('.deb'))!;
execFileSync('dpkg', ['-x', deb, 'x'], { cwd: work });
const evdevKo = readFileSync(join(work, 'x', 'lib', 'modules', manifest.kernelRelease, 'kernel', 'drivers', 'input', 'evdev.ko'));

const base = readFileSync(image.baseInitrd);
const initrd = join(work, 'initrd.img');
writeFileSync(initrd, Buffer.concat([base, Buffer.alloc((4 - (base.length % 4)) % 4), newcArchive([{ name: 'init', perm: 0o755, data: Buffer.from(defaultInitScript(BODY)) }, { name: 'evdev.ko', perm: 0o644, data: evdevKo }])]));

const home = join(work, 'home');
const vigil = Vigil.open({ paths: resolvePaths({ VIGIL_HOME: home }), logger: silentLogger, principal: 'recorder' });
try {
  const yaml = join(work, 'kbd.yaml');
  writeFileSync(yaml, `name: kbd\nmemory: 256M\ncpus: 1\naccel: tcg\nboot:\n  kernel: ${image.kernel}\n  initrd: ${initrd}\n  cmdline: console=ttyS0 panic=-1 quiet cryptomgr.notests\n`);
  vigil.add([yaml]);
  await vigil.start('kbd');
  const log = vigil.vms.files('kbd').serialLog;
  const text = (): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  for (let i = 0; i < 600 && !text().includes('VIGIL-GUEST-READY'); i++) await sleep(200);
  await sleep(1000);
  const qmp = new QmpClient();
  await qmp.connect({ path: vigil.vms.files('kbd').qmpSocket });
  const keys = (...names: string[]): { type: string; data: string }[] => names.map((data) => ({ type: 'qcode', data }));
  await qmp.execute('send-key', { keys: keys('ctrl', 'alt', 'k'), 'hold-time': 150 });
  await sleep(1000);
  await qmp.execute('send-key', { keys: keys('a'), 'hold-time': 50 });
  await sleep(2000);
  await qmp.close();
  const lines = text().split(/\r?\n/);
  const kbd = lines.find((l) => l.startsWith('KBD '));
  const caps = lines.find((l) => l.startsWith('CAPS '));
  const records = lines.filter((l) => /^EVREC [0-9a-f]{48}$/.test(l)).map((l) => l.slice(6));
  if (!kbd || !caps || records.length === 0) throw new Error(`nothing recorded:\n${lines.slice(-30).join('\n')}`);
  writeFileSync(
    OUT,
    JSON.stringify(
      {
        about: 'struct input_event records (24 bytes each, hex) read from a real evdev device; see record-evdev.ts',
        kernel: manifest.kernelRelease,
        device: kbd.slice(4),
        sent: ['send-key ctrl+alt+k (hold 150 ms)', 'send-key a (hold 50 ms)'],
        capabilitiesKey: caps.slice(5),
        records,
      },
      null,
      2,
    ) + '\n',
  );
  process.stdout.write(`recorded ${records.length} records from ${kbd.slice(4)} -> ${OUT}\n`);
} finally {
  const pid = readPidfile(vigil.vms.files('kbd').pidfile);
  if (pid) process.kill(pid, 'SIGKILL');
  vigil.close();
  rmSync(work, { recursive: true, force: true });
}
