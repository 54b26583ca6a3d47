/** Runs the host network steps (see plan.ts) with `ip` and `bridge`, in order, stopping at the first failure. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { VigilError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { HostNetStep } from './plan.js';

const run = promisify(execFile);

/** Removes every VLAN of bridge port `dev` except `keep`, as `bridge -j vlan show` lists them. */
async function pruneVlans(dev: string, keep: number): Promise<void> {
  const { stdout } = await run('bridge', ['-j', 'vlan', 'show', 'dev', dev], { timeout: 10_000 });
  const ports = JSON.parse(stdout || '[]') as { ifname?: string; vlans?: { vlan: number; vlanEnd?: number }[] }[];
  for (const port of ports) {
    for (const v of port.vlans ?? []) {
      for (let vid = v.vlan; vid <= (v.vlanEnd ?? v.vlan); vid++) {
        if (vid !== keep) await run('bridge', ['vlan', 'del', 'dev', dev, 'vid', String(vid)], { timeout: 10_000 });
      }
    }
  }
}

/** Fills in each VF's MAC from this boot's MACs and runs every step; throws VIGIL_HOST_NET naming the step. */
export async function applyHostNet(steps: readonly HostNetStep[], macs: Readonly<Record<string, string>>, logger: Logger): Promise<void> {
  for (const step of steps) {
    const argv = step.needsMac ? step.argv.map((a, i) => (step.argv[i - 1] === 'mac' && a === '' ? (macs[step.nic] ?? '') : a)) : step.argv;
    const [cmd, ...args] = argv;
    if (cmd === undefined) continue;
    try {
      if (step.pruneVlans) {
        await pruneVlans(step.pruneVlans.dev, step.pruneVlans.keep);
        continue;
      }
      await run(cmd, args, { timeout: 10_000 });
      logger.info({ nic: step.nic, argv }, step.why);
    } catch (err) {
      const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
      throw new VigilError('VIGIL_HOST_NET', `NIC ${step.nic}: \`${argv.join(' ')}\` failed (${stderr || (err as Error).message}); it was to ${step.why}`, {
        cause: err,
        context: { nic: step.nic, argv },
      });
    }
  }
}
