/**
 * The `vmi regs|break|watch|step` verbs run as a child process against a real guest's gdbstub: readable output,
 * --json, the guest running again after each command, bad input with exit status 3.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Guest } from '../../guest/launch.js';
import { resolvePaths, vmQmpSocket } from '../../src/core/paths.js';
import { QmpClient } from '../../src/qmp/client.js';
import { vmFiles } from '../../src/vm/runtime.js';
import { bootGdbGuest } from './guest-gdb.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
let guest: Guest;
let jiffies: bigint;

function vigil(args: string[], timeoutMs = 60_000, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'vmi', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** One QMP command on a short connection (QEMU's QMP socket, like its gdbstub, serves one client at a time). */
async function qmp<T>(command: string): Promise<T> {
  const c = new QmpClient();
  await c.connect({ path: guest.qmpSocket });
  try {
    return await c.execute<T>(command);
  } finally {
    await c.close();
  }
}

/** What QEMU says of the guest's run state. */
function qmpStatus(): Promise<{ running: boolean; status: string }> {
  return qmp('query-status');
}

before(async () => {
  ({ guest, jiffies } = await bootGdbGuest());
});

after(async () => {
  await guest?.stop();
});

test('regs: readable columns and --json for both vCPUs, CR3 non-zero; the guest runs on afterwards', async () => {
  const text = await vigil(['regs', guest.gdbSocket]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^vcpu 0\n/m);
  assert.match(text.stdout, /^vcpu 1\n/m);
  assert.match(text.stdout, /cr3 0x[0-9a-f]{16}/);
  const json = await vigil(['regs', guest.gdbSocket, '--json', '--vcpu', '1', '--all']);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { vcpus: { vcpu: number; registers: Record<string, string> }[] };
  assert.equal(parsed.vcpus.length, 1);
  assert.equal(parsed.vcpus[0]?.vcpu, 1);
  assert.notEqual(BigInt(parsed.vcpus[0]?.registers.cr3 ?? '0'), 0n);
  assert.ok(parsed.vcpus[0]?.registers.xmm15 !== undefined, '--all includes SSE registers');
  assert.equal((await qmpStatus()).running, true, 'the guest runs after the command detached');
});

test('break: two hits at the idle-loop address, as JSON lines and as text', async () => {
  // The RIP of vCPU 0 when it is in the kernel (CS RPL 0): the idle loop, passed again and again.
  let rip = '';
  for (let i = 0; i < 20 && rip === ''; i++) {
    const regs = JSON.parse((await vigil(['regs', guest.gdbSocket, '--json', '--vcpu', '0'])).stdout) as { vcpus: { registers: Record<string, string> }[] };
    const r = regs.vcpus[0]?.registers ?? {};
    if ((BigInt(r.cs ?? '3') & 3n) === 0n) rip = r.rip ?? '';
  }
  assert.notEqual(rip, '', 'vCPU 0 never seen in the kernel');
  const json = await vigil(['break', guest.gdbSocket, rip, '--count', '2', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; address: string; rip: string; vcpu: number; registers: Record<string, string> });
  assert.equal(lines.length, 2);
  for (const l of lines) {
    assert.equal(l.kind, 'breakpoint');
    assert.equal(BigInt(l.address), BigInt(rip));
    assert.equal(BigInt(l.registers.rip ?? '0'), BigInt(rip));
  }
  const text = await vigil(['break', guest.gdbSocket, rip, '--hardware']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^#1 breakpoint at 0x[0-9a-f]{16} on vcpu [01]: rip /);
});

test('watch: a write to jiffies is reported; step: RIP advances', async () => {
  const w = await vigil(['watch', guest.gdbSocket, `0x${jiffies.toString(16)}`, '8', '--write', '--json']);
  assert.equal(w.code, 0, w.stderr);
  const hit = JSON.parse(w.stdout) as { kind: string; access: string; address: string };
  assert.equal(hit.kind, 'watchpoint');
  assert.equal(hit.access, 'write');
  assert.equal(BigInt(hit.address), jiffies);
  const s = await vigil(['step', guest.gdbSocket, '--count', '3', '--json']);
  assert.equal(s.code, 0, s.stderr);
  const st = JSON.parse(s.stdout) as { from: string; rips: string[] };
  assert.equal(st.rips.length, 3);
  assert.notEqual(st.rips[0], st.from);
  const t = await vigil(['step', guest.gdbSocket, '--vcpu', '1']);
  assert.match(t.stdout, /^vcpu 1: 0x[0-9a-f]{16} -> 0x[0-9a-f]{16}/);
  assert.equal((await qmpStatus()).running, true);
});

test('--keep-paused leaves the guest paused; a later command on the socket detaches and it runs again', async () => {
  const r = await vigil(['regs', guest.gdbSocket, '--keep-paused']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await qmpStatus()).running, false, 'still paused after --keep-paused');
  const s = await vigil(['step', guest.gdbSocket]);
  assert.equal(s.code, 0, s.stderr);
  // A socket path carries no VM name, so the CLI cannot ask QMP and detaches: the guest runs again.
  assert.equal((await qmpStatus()).running, true);
});

test('a Vigil VM paused over QMP before the command stays paused; a running one runs on', async () => {
  // A VIGIL_HOME whose runtime directory for VM 'web' points at the test guest's sockets.
  const home = await mkdtemp(join(tmpdir(), 'vigil-gdb-cli-'));
  try {
    const env = { VIGIL_HOME: home };
    const files = vmFiles(resolvePaths(env), 'web');
    await mkdir(files.runtimeDir, { recursive: true, mode: 0o700 });
    await symlink(guest.gdbSocket, files.gdbSocket);
    await symlink(guest.qmpSocket, vmQmpSocket(resolvePaths(env), 'web'));
    try {
      await qmp('stop');
      const r = await vigil(['regs', 'web', '--vcpu', '0'], 60_000, env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /rip 0x/);
      assert.equal((await qmpStatus()).running, false, 'paused before, paused after');
      await qmp('cont');
      const s = await vigil(['step', 'web'], 60_000, env);
      assert.equal(s.code, 0, s.stderr);
      assert.equal((await qmpStatus()).running, true, 'running before, running after');
    } finally {
      await qmp('cont').catch(() => undefined);
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('bad input exits 3 with a message naming the field; an unknown VM exits 8', async () => {
  const bad = await vigil(['break', guest.gdbSocket, 'main+4']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /addr 'main\+4' is not a number.*0x/);
  const vcpu = await vigil(['regs', guest.gdbSocket, '--vcpu', '9']);
  assert.equal(vcpu.code, 3);
  assert.match(vcpu.stderr, /vcpu 9 does not exist/);
  const missing = await vigil(['regs', 'no-such-vm'], 30_000, { VIGIL_HOME: join(tmpdir(), 'vigil-gdb-cli-none') });
  assert.equal(missing.code, 8, missing.stderr);
  assert.match(missing.stderr, /introspection: true/);
});
