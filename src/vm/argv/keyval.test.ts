import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeValue, keyval, parseKeyval, parseOptionArgument } from './keyval.js';

test('values are escaped; undefined parts are left out; booleans are on/off', () => {
  assert.equal(escapeValue('a,b,,c'), 'a,,b,,,,c');
  assert.equal(keyval('socket', [['id', 'x'], ['path', '/a,b'], ['server', true], ['wait', false], ['logfile', undefined]]), 'socket,id=x,path=/a,,b,server=on,wait=off');
  assert.equal(keyval(undefined, [['unit', 0]]), 'unit=0');
});

test('parsing follows QemuOpts: implied first key, ,, escapes, flags, no- flags', () => {
  assert.deepEqual(parseKeyval('virtio-net-pci,id=a,,b,romfile=', 'driver'), [
    { key: 'driver', value: 'virtio-net-pci', implied: true },
    { key: 'id', value: 'a,b' },
    { key: 'romfile', value: '' },
  ]);
  assert.deepEqual(parseKeyval('share,noprealloc'), [
    { key: 'share', value: 'on' },
    { key: 'prealloc', value: 'off' },
  ]);
  // Only the first part may omit the implied key; names stop at = or , (no escapes in names).
  assert.deepEqual(parseKeyval('x,y', 'driver'), [
    { key: 'driver', value: 'x', implied: true },
    { key: 'y', value: 'on' },
  ]);
  assert.deepEqual(parseKeyval('a,,b=c'), [
    { key: 'a', value: 'on' },
    { key: '', value: 'on' },
    { key: 'b', value: 'c' },
  ]);
  assert.deepEqual(parseKeyval('a=b,'), [{ key: 'a', value: 'b' }]);
  // A round trip through keyval().
  const text = keyval('drv', [['path', '/x,y,,z'], ['n', 3]]);
  assert.deepEqual(parseKeyval(text, 'driver'), [
    { key: 'driver', value: 'drv', implied: true },
    { key: 'path', value: '/x,y,,z' },
    { key: 'n', value: '3' },
  ]);
});

test('the JSON form of -device/-object is flattened with dotted keys', () => {
  assert.deepEqual(parseOptionArgument('{"driver":"x","a":{"b":1},"c":true}', 'driver', true), [
    { key: 'driver', value: 'x' },
    { key: 'a.b', value: '1' },
    { key: 'c', value: 'true' },
  ]);
  assert.deepEqual(parseOptionArgument('{"driver":"x"}', 'driver', false), [{ key: 'driver', value: '{"driver":"x"}', implied: true }]);
  assert.throws(() => parseOptionArgument('{oops', 'driver', true));
});
