/** Runs the real vigild (or another Vigil process, such as the guardian) from source and reads its JSON log lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/daemon/main.ts', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A Vigil process started from source, with its log lines as they arrive. */
export interface LoggedProcess {
  process: ChildProcess;
  logs: LogLine[];
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(predicate: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export type Vigild = LoggedProcess;

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Starts `main` (a TypeScript entry point) through tsx with `env`; `label` names it in errors. */
export function startLoggedProcess(main: string, env: Record<string, string>, label: string): LoggedProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, VIGIL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
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
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      for (const w of [...waiters]) w();
      resolve(code);
    }),
  );
  return {
    process: child,
    logs,
    exited,
    waitForLog(predicate, timeoutMs = 60000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${label} log line not seen within ${timeoutMs} ms; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-10))}`));
        }, timeoutMs);
        const check = (): void => {
          const hit = logs.find(predicate);
          if (hit) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hit);
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`${label} exited (${child.exitCode}) before the log line; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-10))}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Starts vigild with the given environment (VIGIL_HOME at least). */
export function startVigild(env: Record<string, string>): Vigild {
  return startLoggedProcess(MAIN, env, 'vigild');
}
