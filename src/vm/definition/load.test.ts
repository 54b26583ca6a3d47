import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isVigilError, type VigilError } from '../../core/errors.js';
import type { Problem } from '../../core/yaml-errors.js';
import { definitionFromObject, definitionProblems, loadDefinitionFiles, parseDefinitionText } from './load.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The VIGIL_CONFIG_INVALID error `fn` throws. */
function invalid(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (err) {
    assert.ok(isVigilError(err, 'VIGIL_CONFIG_INVALID'), String(err));
    return err;
  }
  assert.fail('expected VIGIL_CONFIG_INVALID');
}

function problemAt(err: VigilError, path: string): Problem {
  const p = definitionProblems(err).find((x) => x.path === path);
  assert.ok(p, `no problem at ${path}; got:\n${err.message}`);
  return p;
}

test('a minimal file loads with every default filled in', () => {
  const file = write('min.yaml', 'name: web\n');
  const { definition, files } = loadDefinitionFiles([file]);
  assert.deepEqual(files, [file]);
  assert.equal(definition.name, 'web');
  assert.equal(definition.memory, 512);
  assert.equal(definition.machine, 'q35');
  assert.deepEqual(definition.firmware, { type: 'bios' });
  assert.deepEqual(definition.autostart.restart.policy, 'no');
  assert.equal(definition.serial.log, true);
});

test('files merge in order: maps key by key, lists and scalars replaced whole', () => {
  const base = write(
    'base.yaml',
    ['name: web', 'memory: 1G', 'tags: [a, b]', 'serial:', '  keep: 5', '  maxSize: 20M', 'disks:', '  - file: /img/a.qcow2', '  - file: /img/b.qcow2', ''].join('\n'),
  );
  const over = write('over.yaml', ['memory: 2G', 'tags: [c]', 'serial:', '  keep: 1', 'disks:', '  - file: /img/c.raw', ''].join('\n'));
  const { definition, files } = loadDefinitionFiles([base, over]);
  assert.deepEqual(files, [base, over]);
  assert.equal(definition.memory, 2048);
  assert.deepEqual(definition.tags, ['c']);
  assert.equal(definition.serial.keep, 1);
  assert.equal(definition.serial.maxSize, 20);
  assert.deepEqual(
    definition.disks.map((d) => d.file),
    ['/img/c.raw'],
  );
});

test('every problem is listed at once, each as file:line:col: field: message', () => {
  const file = write(
    'bad.yaml',
    [
      'name: web',
      'memorry: 2G',
      'disks:',
      '  - file: /img/a.qcow2',
      '    cache: fast',
      'nics:',
      '  - type: tap',
      'extraArgs: ["-rtc", "base=utc", "-qmp", "tcp:0:4444"]',
      '',
    ].join('\n'),
  );
  const err = invalid(() => loadDefinitionFiles([file]));
  assert.match(err.message, /has 4 problem\(s\)/);
  // The unknown key at the key itself, with the likely intended name.
  assert.ok(err.message.includes(`${file}:2:1: memorry: unknown field "memorry": did you mean "memory"?`), err.message);
  assert.ok(err.message.includes(`${file}:5:12: disks.0.cache: Invalid option`), err.message);
  // A missing field: at the map that should hold it.
  assert.ok(err.message.includes(`${file}:7:5: nics.0.ifname: a tap NIC needs "ifname"`), err.message);
  assert.ok(err.message.includes(`${file}:8:33: extraArgs.2: "-qmp" is set by Vigil`), err.message);
  assert.deepEqual(problemAt(err, 'nics.0.ifname'), { file, line: 7, col: 5, path: 'nics.0.ifname', message: 'a tap NIC needs "ifname"' });
  assert.deepEqual(err.context.files, [file]);
});

test('a problem is placed in the file that supplied the value; a missing field in the first file', () => {
  const base = write('b1.yaml', ['name: web', 'memory: 1G', 'nics:', '  - type: user', '    forward:', '      - hostPort: 2222', '        guestPort: 22', ''].join('\n'));
  const over = write('o1.yaml', ['memory: lots', 'nics:', '  - type: tap', 'autostart:', '  restart:', '    policy: sometimes', ''].join('\n'));
  const err = invalid(() => loadDefinitionFiles([base, over]));
  assert.deepEqual(
    [problemAt(err, 'memory').file, problemAt(err, 'memory').line, problemAt(err, 'memory').col],
    [over, 1, 9],
  );
  // The NIC list came whole from the override: its missing ifname is there, not in the base's user NIC.
  assert.deepEqual([problemAt(err, 'nics.0.ifname').file, problemAt(err, 'nics.0.ifname').line], [over, 3]);
  assert.deepEqual([problemAt(err, 'autostart.restart.policy').file, problemAt(err, 'autostart.restart.policy').line], [over, 6]);
  assert.ok(!err.message.includes(`${base}:`), 'nothing is blamed on the base');

  const noName = write('noname.yaml', 'memory: 1G\n');
  const more = write('more.yaml', 'cpus: 2\n');
  const missing = problemAt(
    invalid(() => loadDefinitionFiles([noName, more])),
    'name',
  );
  assert.deepEqual([missing.file, missing.line, missing.col], [noName, 1, 1]);
  assert.equal(missing.message, 'required: add "name" (string)');
});

test('a map merged from two files blames each key on the file that wrote it', () => {
  const base = write('b2.yaml', ['name: web', 'autostart:', '  enabled: true', '  order: first', ''].join('\n'));
  const over = write('o2.yaml', ['autostart:', '  after: [web]', '  colour: red', ''].join('\n'));
  const err = invalid(() => loadDefinitionFiles([base, over]));
  assert.deepEqual([problemAt(err, 'autostart.order').file, problemAt(err, 'autostart.order').line], [base, 4]);
  assert.deepEqual([problemAt(err, 'autostart.colour').file, problemAt(err, 'autostart.colour').line, problemAt(err, 'autostart.colour').col], [over, 3, 3]);
  assert.deepEqual([problemAt(err, 'autostart.after').file, problemAt(err, 'autostart.after').line], [over, 2]);
  // Problems come sorted by file, then position.
  const order = definitionProblems(err).map((p) => p.path);
  assert.deepEqual(order, ['autostart.order', 'autostart.after', 'autostart.colour']);
});

test('YAML syntax errors of every file are reported with their positions', () => {
  const a = write('syntax-a.yaml', 'name: web\ndisks: [\n');
  const b = write('syntax-b.yaml', 'name: x\nname: y\n');
  const err = invalid(() => loadDefinitionFiles([a, b]));
  const problems = definitionProblems(err);
  assert.ok(problems.some((p) => p.file === a && p.line !== undefined && /YAML syntax/.test(p.message)), err.message);
  assert.ok(problems.some((p) => p.file === b && p.line === 2 && /unique/i.test(p.message)), err.message);
});

test('a document that is not a map is refused at its position', () => {
  const file = write('list.yaml', '- name: web\n');
  const err = invalid(() => loadDefinitionFiles([file]));
  assert.match(err.message, /list\.yaml:1:1: \(top level\): a VM definition is a map of fields/);
});

test('an empty file contributes nothing', () => {
  const empty = write('empty.yaml', '# nothing yet\n');
  const named = write('named.yaml', 'name: web\n');
  assert.equal(loadDefinitionFiles([empty, named]).definition.name, 'web');
});

test('a missing file is VIGIL_NOT_FOUND; no file at all is VIGIL_INVALID_INPUT', () => {
  assert.throws(() => loadDefinitionFiles([join(dir, 'nope.yaml')]), (err) => isVigilError(err, 'VIGIL_NOT_FOUND') && /nope\.yaml does not exist/.test(err.message));
  assert.throws(() => loadDefinitionFiles([]), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT'));
  assert.throws(() => loadDefinitionFiles([dir]), (err) => isVigilError(err, 'VIGIL_CONFIG_INVALID') && /cannot read/.test(err.message));
});

test('parseDefinitionText reads JSON text with positions too', () => {
  assert.equal(parseDefinitionText('{"name": "web", "cpus": 2}', 'request body').cpus, 2);
  const err = invalid(() => parseDefinitionText('{\n  "name": "web",\n  "cpus": "two"\n}', 'request body'));
  assert.deepEqual(problemAt(err, 'cpus'), { file: 'request body', line: 3, col: 11, path: 'cpus', message: problemAt(err, 'cpus').message });
  assert.match(err.message, /^VM definition request body has 1 problem/);
});

test('definitionFromObject validates parsed JSON; problems name the field but have no position', () => {
  assert.equal(definitionFromObject({ name: 'web' }, 'api').name, 'web');
  const err = invalid(() => definitionFromObject({ name: 'web', nics: [{ type: 'bridge' }], bogus: 1 }, 'api'));
  assert.deepEqual(definitionProblems(err).map((p) => [p.file, p.line, p.col, p.path]).sort(), [
    ['api', undefined, undefined, 'bogus'],
    ['api', undefined, undefined, 'nics.0.bridge'],
  ]);
  assert.match(err.message, /api: nics\.0\.bridge: a bridge NIC needs "bridge"/);
  assert.throws(() => definitionFromObject([1], 'api'), (e) => isVigilError(e, 'VIGIL_CONFIG_INVALID'));
});

test('a __proto__ key is an unknown field, not a prototype', () => {
  const file = write('proto.yaml', 'name: web\n__proto__:\n  polluted: true\n');
  const err = invalid(() => loadDefinitionFiles([file]));
  assert.match(err.message, /proto\.yaml:2:1: __proto__: unknown field "__proto__"/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('cross-field rules are reported alongside field errors, each at its field', () => {
  const file = write(
    'cross.yaml',
    [
      'name: web',
      'machine: "q35,smm=on"',
      'disks:',
      '  - id: data',
      '    file: /img/a.vmdk',
      '  - id: data',
      '    file: /img/b.raw',
      '    bus: sata',
      '    readonly: true',
      '  - id: xhci',
      '    device: /dev/disk/by-uuid/1234',
      'nics:',
      '  - type: user',
      '    vlan: 10',
      '  - type: vf',
      '    address: "0000:03:00.0"',
      '    link: down',
      'pci:',
      '  - address: "03:00.0"',
      'usb:',
      '  - vendor: "046d"',
      '    bus: 1',
      'autostart:',
      '  after: [web]',
      '',
    ].join('\n'),
  );
  const err = invalid(() => loadDefinitionFiles([file]));
  const at = (path: string): number | undefined => problemAt(err, path).line;
  assert.equal(at('machine'), 2);
  assert.equal(at('disks.0.file'), 5);
  assert.match(problemAt(err, 'disks.0.file').message, /format: qcow2/);
  assert.equal(at('disks.1.id'), 6);
  assert.match(problemAt(err, 'disks.1.id').message, /already used by disks\.0/);
  assert.equal(at('disks.1.readonly'), 9);
  assert.match(problemAt(err, 'disks.2.id').message, /Vigil adds itself/);
  assert.equal(at('nics.0.vlan'), 14);
  assert.equal(at('nics.1.link'), 17);
  // The short address and the full one are the same function.
  assert.equal(at('nics.1.address'), 16);
  assert.match(problemAt(err, 'nics.1.address').message, /0000:03:00\.0 is already passed through by pci\.0/);
  assert.equal(at('usb.0'), 21);
  assert.equal(at('autostart.after'), 24);
});
