/** Runs the real guardian (from source) in a child process and reads its JSON log lines. */
import { fileURLToPath } from 'node:url';
import { startLoggedProcess, type LoggedProcess } from '../../helpers/vigild.js';

const MAIN = fileURLToPath(new URL('../../../src/killswitch/guardian/main.ts', import.meta.url));

/** A running guardian process. */
export type GuardianProcess = LoggedProcess;

/** Starts the guardian with `env` (VIGIL_HOME at least). */
export function startGuardianProcess(env: Record<string, string>): GuardianProcess {
  return startLoggedProcess(MAIN, env, 'guardian');
}
