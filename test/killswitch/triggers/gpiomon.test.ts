/** gpiomon's event lines and command line, for both major versions of libgpiod's tools. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { gpiomonArgs, parseGpiomonLine, parseGpiomonVersion } from '../../../src/killswitch/triggers/gpiomon.js';

test('v1 lines (libgpiod 1.6, Debian 12): event type, offset and timestamp', () => {
  // printf("event: %s offset: %u timestamp: [%8ld.%09ld]\n") with " RISING EDGE" / "FALLING EDGE".
  assert.deepEqual(parseGpiomonLine('event:  RISING EDGE offset: 17 timestamp: [1571331412.135146734]'), { edge: 'rising', offset: 17, timestamp: '1571331412.135146734' });
  assert.deepEqual(parseGpiomonLine('event: FALLING EDGE offset: 3 timestamp: [    4021.000512000]'), { edge: 'falling', offset: 3, timestamp: '4021.000512000' });
});

test('v2 lines: tab-separated timestamp, edge and line id (chip and offset, or a quoted line name)', () => {
  assert.deepEqual(parseGpiomonLine('1571331412.135146734\trising\tgpiochip0 17'), { edge: 'rising', offset: 17, timestamp: '1571331412.135146734' });
  assert.deepEqual(parseGpiomonLine('4021.000512000\tfalling\t"KILL_BTN"'), { edge: 'falling', timestamp: '4021.000512000' });
});

test('anything else is not an event', () => {
  for (const line of ['', 'gpiomon: error waiting for events: No such file or directory', 'event: RISING offset: x', 'Monitoring line 17 on gpiochip0']) {
    assert.equal(parseGpiomonLine(line), undefined, line);
  }
});

test("the installed gpiomon's version is read, and arguments follow its syntax", () => {
  const installed = execFileSync('gpiomon', ['--version'], { encoding: 'utf8' });
  assert.equal(parseGpiomonVersion(installed), 1, installed);
  assert.equal(parseGpiomonVersion('gpiomon (libgpiod) v2.1.3'), 2);
  const w = { chip: 'gpiochip0', line: 17, edges: 'rising' as const, activeLow: true, bias: 'pull-up' as const };
  assert.deepEqual(gpiomonArgs(1, w), ['-b', '-l', '-B', 'pull-up', '-r', 'gpiochip0', '17']);
  assert.deepEqual(gpiomonArgs(1, { ...w, edges: 'both', activeLow: false }), ['-b', '-B', 'pull-up', 'gpiochip0', '17']);
  assert.deepEqual(gpiomonArgs(2, { ...w, edges: 'falling' }), ['--chip', 'gpiochip0', '--edges', 'falling', '--active-low', '--bias', 'pull-up', '17']);
});

test('the installed gpiomon accepts the v1 arguments (it fails only on the missing chip)', () => {
  // No /dev/gpiochip* on this machine and no gpio-sim module: the real tool can go as far as opening the chip.
  let stderr = '';
  try {
    execFileSync('gpiomon', gpiomonArgs(1, { chip: 'gpiochip0', line: 17, edges: 'both', activeLow: true, bias: 'pull-up' }), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  } catch (err) {
    stderr = String((err as { stderr?: string }).stderr);
  }
  assert.match(stderr, /gpiomon: error waiting for events: No such file or directory/);
  assert.doesNotMatch(stderr, /invalid|unrecognized|usage/i);
});
