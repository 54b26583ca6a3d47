/** `vigil vm stats <vm>` and `vigil vm top`: per-VM numbers (QEMU CPU and RSS, disk I/O, health). */
import type { Command } from 'commander';
import { HealthMonitor } from '../../vm/monitoring/health.js';
import { vmStats, type VmStats } from '../../vm/monitoring/stats.js';
import { Vigil } from '../../vigil.js';
import { printJson } from '../output.js';
import { humanBytes } from './image.js';

function uptime(sec: number | null): string {
  if (sec === null) return '-';
  const s = Math.floor(sec);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : s < 172800 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

function showStats(s: VmStats): string {
  const lines = [
    `vm:        ${s.vm}`,
    `state:     ${s.state}${s.qemuStatus ? ` (QEMU: ${s.qemuStatus})` : ''}`,
    `pid:       ${s.pid ?? '-'}`,
    `uptime:    ${uptime(s.uptimeSec)}`,
    `cpu time:  ${s.process ? `${s.process.cpuSeconds.toFixed(2)} s` : '-'}`,
    `rss:       ${humanBytes(s.process?.rssBytes)}`,
  ];
  for (const d of s.disks) lines.push(`disk ${d.device || d.node}: read ${humanBytes(d.readBytes)} (${d.readOps} ops), written ${humanBytes(d.writeBytes)} (${d.writeOps} ops)`);
  for (const n of s.nics) lines.push(`nic ${n.id} (${n.ifname}): received ${humanBytes(n.guestRxBytes)}, sent ${humanBytes(n.guestTxBytes)}`);
  if (s.health) lines.push(`health:    ${s.health.healthy ? 'healthy' : `UNHEALTHY: ${s.health.reasons.join('; ')}`}`);
  for (const e of s.errors) lines.push(`note:      ${e}`);
  return `${lines.join('\n')}\n`;
}

/** Adds `stats` and `top` to the `vm` command group. */
export function addStatsCommands(vm: Command): void {
  vm.command('stats')
    .description("a VM's numbers: state, uptime, QEMU CPU time and RSS, disk I/O, tap NIC counters, health")
    .argument('<vm>', 'VM name')
    .option('--json', 'print JSON')
    .option('--timeout <ms>', 'how long the monitor may take to answer', '3000')
    .action(async (name: string, opts: { json?: boolean; timeout: string }) => {
      const v = Vigil.open();
      try {
        const timeoutMs = Number(opts.timeout) || 3000;
        const s = await vmStats(v.vms, name, { timeoutMs });
        if (s.state === 'running' || s.state === 'paused') s.health = await new HealthMonitor(v.vms, { qmpTimeoutMs: timeoutMs, record: false }).check(s.vm);
        if (opts.json) printJson(s);
        else process.stdout.write(showStats(s));
      } finally {
        v.close();
      }
    });

  vm.command('top')
    .description('a live table of every running VM: CPU use of its QEMU, RSS, disk I/O (Ctrl-C ends)')
    .option('--interval <sec>', 'seconds between refreshes', '2')
    .option('--once', 'print one table (two samples, one interval apart) and exit')
    .action(async (opts: { interval: string; once?: boolean }) => {
      const v = Vigil.open();
      const intervalMs = Math.max(0.2, Number(opts.interval) || 2) * 1000;
      let last = new Map<string, { cpu: number; at: number; rd: number; wr: number }>();
      let stop = false;
      const onSigint = (): void => {
        stop = true;
      };
      process.on('SIGINT', onSigint);
      try {
        for (let round = 0; !stop; round++) {
          const live = v.vms.list().filter((x) => x.state === 'running' || x.state === 'paused');
          const all = await Promise.all(live.map((x) => vmStats(v.vms, x.name, { timeoutMs: 1000 }).catch(() => undefined)));
          const now = Date.now();
          const rows = [['NAME', 'STATE', 'CPU%', 'RSS', 'UPTIME', 'READ/s', 'WRITE/s']];
          const next = new Map<string, { cpu: number; at: number; rd: number; wr: number }>();
          for (const s of all) {
            if (!s) continue;
            const cpu = s.process?.cpuSeconds ?? 0;
            const rd = s.disks.reduce((a, d) => a + d.readBytes, 0);
            const wr = s.disks.reduce((a, d) => a + d.writeBytes, 0);
            const prev = last.get(s.vm);
            const dt = prev ? (now - prev.at) / 1000 : 0;
            const rate = (a: number, b: number | undefined): string => (prev && dt > 0 ? `${humanBytes(Math.max(0, (a - (b ?? 0)) / dt))}` : '-');
            rows.push([s.vm, s.qemuStatus === undefined && s.errors.length > 0 ? `${s.state}?` : s.state, prev && dt > 0 ? ((100 * (cpu - prev.cpu)) / dt).toFixed(1) : '-', humanBytes(s.process?.rssBytes), uptime(s.uptimeSec), rate(rd, prev?.rd), rate(wr, prev?.wr)]);
            next.set(s.vm, { cpu, at: now, rd, wr });
          }
          last = next;
          const text = `${table(rows)}\n`;
          if (opts.once) {
            if (round === 1) {
              process.stdout.write(text);
              break;
            }
          } else {
            process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${new Date().toLocaleTimeString()}  vigil vm top (Ctrl-C ends)\n${text}` : `${text}\n`);
          }
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      } finally {
        process.off('SIGINT', onSigint);
        v.close();
      }
    });
}
