import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { loadTargetDescription, parseXml } from './target-description.js';

// The shape QEMU serves: a target.xml that includes an undeclared xi: prefix, a DOCTYPE and comments.
const ANNEXES: Record<string, string> = {
  'target.xml': `<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>i386:x86-64</architecture><xi:include href="core.xml"/><xi:include href="sys.xml"/></target>`,
  'core.xml': `<?xml version="1.0"?>
<!-- a comment with <reg name="fake" bitsize="8"/> inside -->
<feature name="org.gnu.gdb.i386.core">
  <flags id="x" size="4"><field name="CF" start="0" end="0"/></flags>
  <reg name="rax" bitsize="64" type="int64"/>
  <reg name="rip" bitsize="64" type="code_ptr" regnum="16"/>
  <reg name="eflags" bitsize="32" type="x"/>
</feature>`,
  'sys.xml': `<feature name='org.gnu.gdb.i386.sys'><reg name='cr3' bitsize='64' group='system' type='int64'/></feature>`,
};

test('target description: includes followed, regnums implicit and explicit, features and groups kept', async () => {
  const read: string[] = [];
  const desc = await loadTargetDescription((annex) => {
    read.push(annex);
    const text = ANNEXES[annex];
    return text === undefined ? Promise.reject(new Error(`no ${annex}`)) : Promise.resolve(text);
  });
  assert.deepEqual(read, ['target.xml', 'core.xml', 'sys.xml']);
  assert.equal(desc.architecture, 'i386:x86-64');
  assert.deepEqual(desc.features, ['org.gnu.gdb.i386.core', 'org.gnu.gdb.i386.sys']);
  assert.deepEqual(
    desc.registers.map((r) => [r.name, r.regnum, r.bitsize, r.type]),
    [
      ['rax', 0, 64, 'int64'],
      ['rip', 16, 64, 'code_ptr'],
      ['eflags', 17, 32, 'x'],
      ['cr3', 18, 64, 'int64'],
    ],
  );
  assert.equal(desc.registers[3]?.group, 'system');
});

test('target description: malformed XML is a typed error naming the annex', () => {
  assert.throws(() => parseXml('<target><feature></target>', 'bad.xml'), (e) => isVigilError(e, 'VIGIL_GDB_PROTOCOL') && /bad\.xml/.test(e.message));
  assert.throws(() => parseXml('<target>', 'open.xml'), (e) => isVigilError(e, 'VIGIL_GDB_PROTOCOL'));
});
