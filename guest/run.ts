/**
 * Runs the host tools the guest build needs (apt-get, dpkg, cpio, gzip). Output is collected so a failure can
 * quote the tool's own words.
 */
import { spawn } from 'node:child_process';

/** What a finished command printed. */
export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Options of `run`. */
export interface RunOptions {
  cwd?: string;
  /** Written to the command's stdin (cpio reads its file list there). */
  input?: string;
}

/** Runs `cmd args`, resolving with its output on exit 0 and rejecting with an Error quoting stderr otherwise. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      // apt and dpkg translate their messages; the parsers below expect English.
      env: { ...process.env, LC_ALL: 'C' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const res = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (code === 0) resolve(res);
      else {
        const why = signal === null ? `exit ${String(code)}` : `signal ${signal}`;
        reject(new Error(`${cmd} ${args.join(' ')} failed (${why}): ${res.stderr.trim() || res.stdout.trim()}`));
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
