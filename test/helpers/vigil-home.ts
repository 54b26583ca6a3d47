/**
 * A throwaway VIGIL_HOME for a test file, with the test guest's kernel and an initrd ready to put in
 * definitions. VMs started by Vigil are daemonized QEMUs (not our children), so this also kills every QEMU
 * whose pidfile lies under the home when the test process exits, whatever the reason.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureGuestImage, makeInitrd } from '../../guest/build.js';
import { defaultInitScript } from '../../guest/init-script.js';
import { resolvePaths, type VigilPaths } from '../../src/core/paths.js';
import { readPidfile } from '../../src/vm/process.js';

export interface TestHome {
  home: string;
  paths: VigilPaths;
  env: Record<string, string>;
  kernel: string;
  initrd: string;
  /** Writes a YAML file in the home and returns its path. */
  write(name: string, text: string): string;
  /** SIGKILLs every QEMU started under this home. */
  killAll(): void;
}

const homes: TestHome[] = [];
const cleanup = (): void => {
  for (const h of homes.splice(0)) {
    h.killAll();
    rmSync(h.home, { recursive: true, force: true });
  }
};
process.on('exit', cleanup);
// Node runs no 'exit' hook when a signal kills it, and these QEMUs are daemonized (not our children).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup();
    process.kill(process.pid, signal);
  });
}

/** Creates the home and the guest initrd (default init unless `initBody` is given). */
export async function testHome(initBody = ''): Promise<TestHome> {
  const home = mkdtempSync(join(tmpdir(), 'vigil-test-'));
  const paths = resolvePaths({ VIGIL_HOME: home });
  const image = await ensureGuestImage();
  const initrd = await makeInitrd(image, defaultInitScript(initBody), join(home, 'initrd.img'));
  const h: TestHome = {
    home,
    paths,
    env: { VIGIL_HOME: home },
    kernel: image.kernel,
    initrd,
    write(name, text) {
      const file = join(home, name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    killAll() {
      const vms = join(paths.runtime, 'vms');
      let names: string[] = [];
      try {
        names = readdirSync(vms);
      } catch {
        return;
      }
      for (const n of names) {
        const pid = readPidfile(join(vms, n, 'qemu.pid'));
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    },
  };
  homes.push(h);
  return h;
}

/** A definition of the test guest (TCG, direct kernel boot) as YAML. */
export function guestYaml(h: TestHome, name: string, extra = ''): string {
  return `name: ${name}
memory: 256M
cpus: 1
accel: tcg
boot:
  kernel: ${h.kernel}
  initrd: ${h.initrd}
  cmdline: console=ttyS0 panic=-1 quiet cryptomgr.notests
${extra}`;
}
