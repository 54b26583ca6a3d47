import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileGlob } from './glob.js';

test('** spans segments, * and ? stay within one', () => {
  const all = compileGlob('**');
  assert.ok(all.matches('a') && all.matches('a/b/c') && all.matches('.hidden/x'));
  const yaml = compileGlob('**/*.yaml');
  assert.ok(yaml.matches('x.yaml') && yaml.matches('vms/web.yaml') && yaml.matches('a/b/c.yaml'));
  assert.ok(!yaml.matches('x.yml') && !yaml.matches('x.yaml/y'));
  const one = compileGlob('vms/*.yaml');
  assert.ok(one.matches('vms/a.yaml') && !one.matches('vms/sub/a.yaml'));
  assert.ok(compileGlob('a/**/b').matches('a/b') && compileGlob('a/**/b').matches('a/x/y/b'));
  assert.ok(compileGlob('file?.txt').matches('file1.txt') && !compileGlob('file?.txt').matches('file/.txt'));
});

test('classes, alternatives and literal dots', () => {
  assert.ok(compileGlob('*.{qcow2,raw}').matches('d.raw') && compileGlob('*.{qcow2,raw}').matches('d.qcow2'));
  assert.ok(!compileGlob('*.{qcow2,raw}').matches('d.img'));
  assert.ok(compileGlob('log[0-9]').matches('log7') && !compileGlob('log[!0-9]').matches('log7'));
  assert.ok(!compileGlob('a.b').matches('axb'));
});

test('malformed globs name the field', () => {
  assert.throws(() => compileGlob('a**b', 'host.fim.rules.0.include.0'), /host\.fim\.rules\.0\.include\.0.*whole path segment/);
  assert.throws(() => compileGlob('{a,b', 'f'), /unclosed '\{'/);
  assert.throws(() => compileGlob('[ab', 'f'), /unclosed '\['/);
});
