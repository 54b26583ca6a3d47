/**
 * Runs a QMP background job (snapshot-save, snapshot-load, snapshot-delete) to its end: follows
 * JOB_STATUS_CHANGE events, polls `query-jobs` for progress, reads the job's error, and dismisses it.
 */
import { VigilError } from '../../core/errors.js';
import type { QmpClient } from '../../qmp/client.js';
import type { GuardedQmp } from '../../qmp/guarded.js';

/** A job as `query-jobs` reports it. */
interface JobInfo {
  id: string;
  type: string;
  status: string;
  'current-progress': number;
  'total-progress': number;
  error?: string;
}

/** Options of `runJob`. */
export interface RunJobOptions {
  /** Called with 0..100 while the job runs. */
  onProgress?: (percent: number) => void;
  timeoutMs?: number;
  pollMs?: number;
}

/**
 * Starts `command` (a job taking `job-id`) through the guarded channel and resolves when it concludes; a job
 * that ends with an error rejects with VIGIL_SNAPSHOT and QEMU's own message.
 */
export async function runJob(qmp: GuardedQmp, client: QmpClient, command: string, args: Record<string, unknown>, options: RunJobOptions = {}): Promise<{ ms: number }> {
  const jobId = String(args['job-id']);
  const timeoutMs = options.timeoutMs ?? 600000;
  const started = Date.now();
  // Subscribed before the command: a fast job may conclude before its reply is read.
  const concluded = client.waitForEvent<{ id: string; status: string }>('JOB_STATUS_CHANGE', (e) => e.data.id === jobId && e.data.status === 'concluded', timeoutMs);
  concluded.catch(() => undefined);
  await qmp.execute(command, args);
  let done = false;
  const poll = (async () => {
    while (!done) {
      const jobs = await client.execute<JobInfo[]>('query-jobs').catch(() => []);
      const job = jobs.find((j) => j.id === jobId);
      if (job && job['total-progress'] > 0) options.onProgress?.(Math.min(100, (100 * job['current-progress']) / job['total-progress']));
      await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
    }
  })();
  try {
    await concluded;
  } finally {
    done = true;
    await poll;
  }
  const jobs = await client.execute<JobInfo[]>('query-jobs');
  const job = jobs.find((j) => j.id === jobId);
  await client.execute('job-dismiss', { id: jobId }).catch(() => undefined);
  if (job?.error !== undefined) {
    throw new VigilError('VIGIL_SNAPSHOT', `${command} failed: ${job.error}`, { context: { command, jobId, error: job.error } });
  }
  options.onProgress?.(100);
  return { ms: Date.now() - started };
}
