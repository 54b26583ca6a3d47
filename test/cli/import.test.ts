import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { vmDefinitionSchema } from '../../src/vm/definition/schema.js';
import { runVigil } from '../helpers/cli.js';

const DESKTOP = fileURLToPath(new URL('../fixtures/libvirt/desktop-q35-uefi.xml', import.meta.url));
const SERVER = fileURLToPath(new URL('../fixtures/libvirt/server-direct-kernel.xml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vigil-import-'));
const env = { VIGIL_HOME: dir };
after(() => rmSync(dir, { recursive: true, force: true }));

test('vigil import libvirt prints the YAML on stdout and the skipped list on stderr', async () => {
  const r = await runVigil(['import', 'libvirt', DESKTOP], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# Imported from .*desktop-q35-uefi\.xml by `vigil import libvirt`/);
  const definition = parse(r.stdout);
  assert.equal(definition.name, 'fedora40');
  assert.ok(vmDefinitionSchema.safeParse(definition).success);
  assert.match(r.stderr, /^vigil: imported .*desktop-q35-uefi\.xml as VM 'fedora40'; not carried over \(\d+\):\n/);
  assert.match(r.stderr, /\n {2}\/domain\/devices\/disk\[2\]: CD-ROM /);
  assert.match(r.stderr, /\n {2}\/domain\/devices\/graphics: SPICE is not supported/);
  assert.ok(!r.stdout.includes('vigil: imported'), 'stdout holds only the YAML');
});

test('--json prints {definition, skipped} on stdout', async () => {
  const r = await runVigil(['import', 'libvirt', SERVER, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { definition: { name: string; vsock?: unknown }; skipped: { path: string; reason: string }[] };
  assert.deepEqual(Object.keys(out), ['definition', 'skipped']);
  assert.equal(out.definition.name, 'db01');
  assert.deepEqual(out.definition.vsock, { cid: 42 });
  assert.ok(out.skipped.some((s) => s.path === '/domain/devices/interface[1]/virtualport'));
});

test('-o writes the file, and refuses to replace it without --force', async () => {
  const out = join(dir, 'db01.yaml');
  const r = await runVigil(['import', 'libvirt', SERVER, '-o', out], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /as VM 'db01' to .*db01\.yaml; not carried over/);
  assert.equal(parse(readFileSync(out, 'utf8')).name, 'db01');
  const again = await runVigil(['import', 'libvirt', SERVER, '-o', out], env);
  assert.equal(again.code, 3);
  assert.match(again.stderr, /exists; pass --force .*\[VIGIL_INVALID_INPUT\]/);
  const forced = await runVigil(['import', 'libvirt', SERVER, '-o', out, '--force'], env);
  assert.equal(forced.code, 0, forced.stderr);
});

test('a missing file exits 8 with VIGIL_NOT_FOUND', async () => {
  const r = await runVigil(['import', 'libvirt', join(dir, 'nope.xml')], env);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /nope\.xml: no such file \[VIGIL_NOT_FOUND\]/);
  assert.equal(r.stdout, '');
});

test('malformed XML exits 3 with VIGIL_INVALID_INPUT naming the line', async () => {
  const bad = join(dir, 'bad.xml');
  writeFileSync(bad, "<domain type='kvm'>\n  <name>x</name>\n  <memory unit='KiB'>1024</memry>\n</domain>\n");
  const r = await runVigil(['import', 'libvirt', bad], env);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /bad\.xml:3:\d+: not well-formed XML: .*memory.*\[VIGIL_INVALID_INPUT\]/);
  assert.equal(r.stdout, '');
});
