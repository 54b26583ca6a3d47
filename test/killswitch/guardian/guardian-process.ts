/** Runs the real guardian (from source) in a child process and reads its JSON log lines, like test/helpers/vigild.ts. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LogLine } from '../../helpers/vigild.js';

const MAIN = fileURLToPath(new URL('../../../src/killswitch/guardian/main.ts', import.meta.url));

/** A running guardian process. */
export interface GuardianProcess {
  process: ChildProcess;
  logs: LogLine[];
  waitForLog(predicate: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Starts the guardian with `env` (VIGIL_HOME at least). */
export function startGuardianProcess(env: Record<string, string>): GuardianProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, VIGIL_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      try {
        logs.push(JSON.parse(buf.slice(0, nl)) as LogLine);
      } catch {
        // not a log line
      }
      buf = buf.slice(nl + 1);
    }
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    process: child,
    logs,
    waitForLog(predicate, timeoutMs = 60000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`guardian log line not seen within ${timeoutMs} ms; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-10))}`));
        }, timeoutMs);
        const check = (): void => {
          const hit = logs.find(predicate);
          if (hit) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hit);
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}
