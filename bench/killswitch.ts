/**
 * Kill switch figures: trigger -> every device confirmed cut (DEVICE_DELETED for each USB device, set_link
 * answered for each NIC), over 10 VMs x 5 emulated USB devices + 1 user NIC, p50/p99 over N engage/release
 * rounds; and one VM with no OS whose PCI device is never released: trigger -> paused by escalation.
 * The VMs boot nothing (SeaBIOS only): a USB unplug needs no guest. By default the engine cuts through the monitor
 * connections a supervisor holds open, as in vigild; `--dialled` makes it dial each VM at trigger time, as a CLI
 * run without vigild does. Run: `npx tsx bench/killswitch.ts [--runs N] [--dialled]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/core/log.js';
import { KillswitchEngine } from '../src/killswitch/engine.js';
import { Vigil } from '../src/vigil.js';
import { vmDefinitionSchema } from '../src/vm/definition/schema.js';
import { readPidfile } from '../src/vm/process.js';
import { VmSupervisor } from '../src/vm/supervisor.js';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const VMS = 10;
const home = mkdtempSync(join(tmpdir(), 'vigil-bench-ks-'));
const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });
const DIALLED = process.argv.includes('--dialled');
const supervisor = new VmSupervisor(vigil.vms, { logger: silentLogger, scanIntervalMs: 60_000 });
const engine = new KillswitchEngine({
  db: vigil.db,
  vms: vigil.vms,
  audit: vigil.audit,
  paths: vigil.paths,
  logger: silentLogger,
  ...(DIALLED ? {} : { heldQmp: (vm: string) => supervisor.heldClient(vm) }),
});

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

const usb = ['usb-kbd', 'usb-tablet', 'usb-mouse', 'usb-kbd', 'usb-tablet'];

function define(name: string, extra: Record<string, unknown>): void {
  vigil.define(vmDefinitionSchema.parse({ name, memory: '64M', accel: 'tcg', ...extra }));
}

async function main(): Promise<void> {
  for (let i = 0; i < VMS; i++) {
    define(`ks${i}`, {
      nics: [{ type: 'user' }],
      devices: [{ id: 'usbc', driver: 'qemu-xhci' }, ...usb.map((driver, j) => ({ id: `u${j}`, driver, props: { bus: 'usbc.0' } }))],
      killswitch: { devices: 'all', escalation: ['pause'] },
    });
  }
  define('stubborn', {
    devices: [
      { id: 'rp1', driver: 'pcie-root-port', props: { chassis: 1 } },
      { id: 'rng0', driver: 'virtio-rng-pci', props: { bus: 'rp1' } },
    ],
    killswitch: { devices: 'all', escalation: ['pause'], deadlineMs: 500 },
  });
  const fleetNames = vigil.list().map((v) => v.name).filter((n) => n !== 'stubborn');
  // Started a few at a time: ten TCG QEMUs starting at once on two cores time out their monitors.
  for (let i = 0; i < fleetNames.length; i += 3) await Promise.all(fleetNames.slice(i, i + 3).map((n) => vigil.start(n)));
  // Adopts the running VMs: one held monitor connection each, as vigild has.
  await supervisor.start();

  const cut: number[] = [];
  const stubborn: number[] = [];
  const restore: number[] = [];
  // The stubborn VM is started only after the fleet rounds, so that its deadline does not hide the fleet's figure.
  for (const phase of ['fleet', 'stubborn'] as const) {
    if (phase === 'stubborn') {
      await vigil.start('stubborn');
      await supervisor.scan();
    }
    // Two uncounted rounds first: a daemon's engine is warm (JIT, first connections) when a trigger comes.
    for (let warm = 0; warm < 2; warm++) {
      await engine.engage({ source: 'bench-warmup' });
      await engine.release({ source: 'bench-warmup' });
    }
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      const engaged = await engine.engage({ source: 'bench' });
      const wall = performance.now() - t0;
      const fleet = engaged.vms.filter((v) => v.vmName !== 'stubborn');
      const bad = fleet.filter((v) => !v.safe || v.escalated.length > 0 || v.devices.some((d) => d.outcome !== 'detached' && d.outcome !== 'link-down'));
      if (bad.length > 0) throw new Error(`run ${run}: not every device was confirmed cut: ${JSON.stringify(bad.map((v) => v.vmName))}`);
      if (!DIALLED && fleet.some((v) => v.monitor !== 'held')) throw new Error(`run ${run}: a VM was dialled although its monitor is held`);
      // From the trigger to the last of the fleet's 50 DEVICE_DELETED and 10 set_link replies, persisted and audited.
      if (phase === 'fleet') cut.push(wall);
      const s = engaged.vms.find((v) => v.vmName === 'stubborn')?.escalated.find((e) => e.ok);
      if (phase === 'stubborn') {
        if (!s) throw new Error(`run ${run}: the stubborn VM was not paused`);
        stubborn.push(s.atMs);
      }
      const released = await engine.release({ source: 'bench' });
      if ((released.unrestored ?? []).length > 0) throw new Error(`run ${run}: ${released.unrestored?.join('; ')}`);
      if (phase === 'fleet') restore.push(released.elapsedMs);
    }
  }
  const row = (what: string, xs: number[]): string =>
    `| ${what.padEnd(52)} | ${pct(xs, 50).toFixed(1).padStart(7)} | ${pct(xs, 99).toFixed(1).padStart(7)} | ${Math.max(...xs).toFixed(1).padStart(7)} | ${String(xs.length).padStart(3)} |`;
  process.stdout.write(
    [
      `| kill switch (ms), ${VMS} VMs x ${usb.length} USB + 1 NIC, TCG, SeaBIOS guests, ${DIALLED ? 'dialled' : 'held'} monitors | p50     | p99     | max     | n   |`,
      '|------------------------------------------------------|---------|---------|---------|-----|',
      row('trigger -> all 50 USB detached + 10 links down', cut),
      row('+ no-OS guest, PCI never released: -> paused (500 ms)', stubborn),
      row('release: re-attach 50 USB, links up, resume', restore),
    ].join('\n') + '\n',
  );
}

try {
  await main();
} finally {
  await supervisor.stop();
  for (const vm of vigil.list()) {
    const pid = readPidfile(vigil.vms.files(vm.name).pidfile);
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  vigil.close();
  rmSync(home, { recursive: true, force: true });
}
