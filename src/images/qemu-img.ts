/**
 * A thin wrapper over `qemu-img` (Debian qemu-utils): info with the backing chain, create, convert with
 * progress. Every call names the tool's own error message when it fails; `-U` lets info read images a running
 * QEMU holds locked.
 */
import { execFile, spawn } from 'node:child_process';
import { VigilError } from '../core/errors.js';
import { ProgressParser } from './progress.js';

/** Formats Vigil creates and converts to. */
export const WRITABLE_FORMATS = ['raw', 'qcow2'] as const;
/** A format Vigil writes. */
export type WritableFormat = (typeof WRITABLE_FORMATS)[number];

/** One image of a chain, as `qemu-img info --output=json` reports it. */
export interface QemuImgInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'dirty-flag'?: boolean;
  snapshots?: QemuImgSnapshot[];
}

/** An internal snapshot stored in a qcow2 image. */
export interface QemuImgSnapshot {
  id: string;
  name: string;
  'vm-state-size': number;
  'date-sec': number;
  'date-nsec': number;
  'vm-clock-sec': number;
  'vm-clock-nsec': number;
}

let binary = 'qemu-img';

/** Uses another qemu-img (tests, odd installs). */
export function setQemuImgBinary(path: string): void {
  binary = path;
}

function toolError(args: string[], err: unknown, stderr = ''): VigilError {
  const e = err as NodeJS.ErrnoException & { stderr?: string };
  if (e.code === 'ENOENT') {
    return new VigilError('VIGIL_QEMU_IMG', 'qemu-img was not found; install qemu-utils', { cause: err, context: { args } });
  }
  const said = (stderr || e.stderr || e.message).trim().split('\n').filter(Boolean).slice(-3).join('; ');
  return new VigilError('VIGIL_QEMU_IMG', `qemu-img ${args[0] ?? ''} failed: ${said}`, { cause: err, context: { args } });
}

/** Runs qemu-img to completion and returns its standard output. */
export function qemuImg(args: string[], timeoutMs = 60000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(toolError(args, err, stderr));
      else resolve(stdout);
    });
  });
}

/** The image and, with `chain`, every backing file below it (top first). `format` skips probing the top. */
export async function imageInfo(path: string, options: { chain?: boolean; format?: string } = {}): Promise<QemuImgInfo[]> {
  const args = ['info', '--output=json', '-U', ...(options.chain === false ? [] : ['--backing-chain']), ...(options.format ? ['-f', options.format] : []), path];
  const out = JSON.parse(await qemuImg(args)) as QemuImgInfo | QemuImgInfo[];
  return Array.isArray(out) ? out : [out];
}

/** Creates an image; a backing file is named relative to the new image's directory (qemu-img's rule). */
export async function createImage(path: string, options: { format: WritableFormat; size?: number; backing?: string; backingFormat?: string }): Promise<void> {
  const args = ['create', '-q', '-f', options.format];
  if (options.backing !== undefined) args.push('-b', options.backing, '-F', options.backingFormat ?? 'raw');
  args.push(path);
  if (options.size !== undefined) args.push(String(options.size));
  await qemuImg(args);
}

/** Options of `convertImage`. */
export interface ConvertOptions {
  format: WritableFormat;
  /** The source's format (never probed when given). */
  sourceFormat?: string;
  /** Called with each new percentage qemu-img reports. */
  onProgress?: (percent: number) => void;
  signal?: AbortSignal;
}

/** Converts `src` into a new image `dst`, reporting progress; a cancelled or failed conversion leaves no `dst`. */
export function convertImage(src: string, dst: string, options: ConvertOptions): Promise<void> {
  const args = ['convert', '-p', ...(options.sourceFormat ? ['-f', options.sourceFormat] : []), '-O', options.format, src, dst];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.signal ? { signal: options.signal } : {}) });
    const parser = new ProgressParser((p) => options.onProgress?.(p));
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => parser.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-4096);
    });
    child.on('error', (err) => {
      if (options.signal?.aborted) reject(new VigilError('VIGIL_ABORTED', `conversion of ${src} cancelled`, { cause: err }));
      else reject(toolError(args, err, stderr));
    });
    child.on('close', (code, sig) => {
      if (code === 0) resolve();
      else if (!options.signal?.aborted) reject(toolError(args, new Error(`exit ${code ?? sig}`), stderr));
    });
  });
}
