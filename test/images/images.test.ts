/**
 * Images with the real qemu-img: create raw, qcow2 and an overlay on a backing image; info of each (and of a
 * vmdk); convert with progress; and, with a real QEMU guest using an overlay, refusal to remove or convert the
 * overlay or its backing file until the VM stops. The library and the CLI (VMM_IMAGES_DIR) are both exercised.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { ImageService } from '../../src/images/service.js';
import { Vigil } from '../../src/vigil.js';
import { runVigil } from '../helpers/cli.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let dir: string;
let env: Record<string, string>;

before(async () => {
  h = await testHome();
  dir = join(h.home, 'images');
  mkdirSync(dir);
  mkdirSync(h.paths.config, { recursive: true });
  writeFileSync(join(h.paths.config, 'config.yaml'), `images:\n  dir: ${dir}\n`);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  env = { ...h.env, VMM_IMAGES_DIR: dir };
});

after(() => {
  vigil?.close();
  h?.killAll();
});

function firstByte(file: string, offset = 0): number {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(1);
  readSync(fd, buf, 0, 1, offset);
  closeSync(fd);
  return buf[0]!;
}

test('the images directory comes from config.yaml; VMM_IMAGES_DIR wins', async () => {
  assert.equal(vigil.images.dir, dir);
  const other = join(h.home, 'other');
  mkdirSync(other);
  const r = await runVigil(['image', 'ls', '--json'], { ...h.env, VMM_IMAGES_DIR: other });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { dir: string }).dir, other);
});

test('create raw, qcow2 and a backing chain; info reads format, sizes and the chain; vmdk is read too', async () => {
  const raw = await vigil.images.create('base.raw', { format: 'raw', size: 16 * 1024 * 1024 });
  assert.equal(raw.format, 'raw');
  assert.equal(raw.virtualSize, 16 * 1024 * 1024);

  let r = await runVigil(['image', 'create', 'base.qcow2', '--size', '32M', '--format', 'qcow2'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /base\.qcow2: created \(qcow2, 32M\)/);
  // Data in the base, so a conversion has something to carry.
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 1M', join(dir, 'base.qcow2')], { stdio: 'ignore' });

  r = await runVigil(['image', 'create', 'top.qcow2', '--format', 'qcow2', '--backing', 'base.qcow2', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const top = JSON.parse(r.stdout) as { format: string; virtualSize: number; backingChain: { file: string; format: string }[] };
  assert.equal(top.format, 'qcow2');
  assert.equal(top.virtualSize, 32 * 1024 * 1024, 'an overlay takes the size of its backing image');
  assert.deepEqual(top.backingChain.map((b) => [b.file, b.format]), [[join(dir, 'base.qcow2'), 'qcow2']]);

  execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', join(dir, 'disk.vmdk'), '8M']);
  const vmdk = await vigil.images.info('disk.vmdk');
  assert.equal(vmdk.format, 'vmdk');
  assert.equal(vmdk.virtualSize, 8 * 1024 * 1024);

  r = await runVigil(['image', 'ls'], env);
  assert.equal(r.code, 0, r.stderr);
  for (const n of ['base.raw', 'base.qcow2', 'top.qcow2', 'disk.vmdk']) assert.match(r.stdout, new RegExp(n.replace('.', '\\.')));
  assert.match(r.stdout, /top\.qcow2\s+qcow2\s+32M\s+\S+\s+\S*\/base\.qcow2/);
});

test('the first image creates the images directory (the default <data>/images does not exist on a fresh host)', async () => {
  const fresh = new ImageService(join(h.home, 'fresh', 'images'), vigil.vms);
  const img = await fresh.create('first.qcow2', { format: 'qcow2', size: 1024 * 1024 });
  assert.equal(img.format, 'qcow2');
  assert.ok(existsSync(join(h.home, 'fresh', 'images', 'first.qcow2')));
});

test('bad input names the field and the fix', async () => {
  await assert.rejects(vigil.images.create('../escape.raw', { format: 'raw', size: 1024 }), (e) => isVigilError(e, 'VIGIL_INVALID_INPUT') && /images directory/.test(e.message));
  await assert.rejects(vigil.images.create('x.vdi', { format: 'vdi' as 'raw', size: 1024 }), (e) => isVigilError(e, 'VIGIL_INVALID_INPUT') && /raw or qcow2/.test(e.message));
  await assert.rejects(vigil.images.create('base.raw', { format: 'raw', size: 1024 }), (e) => isVigilError(e, 'VIGIL_INVALID_INPUT') && /already exists/.test(e.message));
  await assert.rejects(vigil.images.info('missing.qcow2'), (e) => isVigilError(e, 'VIGIL_NOT_FOUND'));
  const r = await runVigil(['image', 'create', 'y.raw', '--size', 'ten', '--format', 'raw'], env);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /size 'ten' is not a size/);
});

test('convert qcow2 (with its backing chain) to raw, reporting progress; the data comes along', async () => {
  const seen: number[] = [];
  const out = await vigil.images.convert('top.qcow2', 'flat.raw', { format: 'raw', onProgress: (p) => seen.push(p) });
  assert.equal(out.format, 'raw');
  assert.equal(out.backingChain.length, 0);
  assert.equal(seen.at(-1), 100);
  assert.ok(seen.every((p, i) => i === 0 || p >= seen[i - 1]!), 'progress only grows');
  assert.equal(firstByte(join(dir, 'flat.raw')), 0xab, 'the backing image data is in the converted image');
  const r = await runVigil(['image', 'convert', 'flat.raw', 'back.qcow2', '--format', 'qcow2'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /back\.qcow2: converted from flat\.raw \(qcow2/);
});

test('on a terminal, convert draws a progress bar', () => {
  // script(1) gives the CLI a pseudo-terminal, as a user's shell would.
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const cmd = [process.execPath, '--import', 'tsx', main, 'image', 'convert', 'flat.raw', 'tty.qcow2', '--format', 'qcow2'].map((a) => `'${a}'`).join(' ');
  const out = execFileSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000 });
  assert.match(out, /\r\[#{30}\] 100\.0%/);
  assert.match(out, /tty\.qcow2: converted from flat\.raw/);
});

test('an image a running VM uses (directly or as a backing file) is neither removed nor converted', async () => {
  vigil.add([h.write('user.yaml', guestYaml(h, 'user', `disks:\n  - file: ${join(dir, 'top.qcow2')}\n`))]);
  await vigil.start('user');
  try {
    const base = await vigil.images.info('base.qcow2');
    assert.deepEqual(base.usedBy, ['user'], 'a backing file counts as used');
    assert.deepEqual((await vigil.images.info('top.qcow2')).definedIn, ['user']);
    await assert.rejects(vigil.images.remove('base.qcow2'), (e) => isVigilError(e, 'VIGIL_IMAGE_IN_USE') && /'user'/.test(e.message));
    await assert.rejects(vigil.images.convert('top.qcow2', 'copy.raw', { format: 'raw' }), (e) => isVigilError(e, 'VIGIL_IMAGE_IN_USE'));
    assert.equal(existsSync(join(dir, 'copy.raw')), false);
    const r = await runVigil(['image', 'rm', 'top.qcow2'], env);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /running VM 'user' uses it; stop it first/);
    assert.ok(existsSync(join(dir, 'top.qcow2')));
  } finally {
    await vigil.stop('user', { force: true });
  }
  await vigil.images.remove('top.qcow2');
  const r = await runVigil(['image', 'rm', 'base.qcow2'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(join(dir, 'base.qcow2')), false);
});
