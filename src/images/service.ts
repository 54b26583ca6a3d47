/**
 * The image service: list, inspect, create, convert and remove disk images in the images directory, refusing to
 * touch an image a running VM uses (its disks, their backing chains, snapshot overlays).
 */
import { existsSync, mkdirSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { VigilError } from '../core/errors.js';
import type { Vm, VmService } from '../vm/service.js';
import { diskFormat } from '../vm/argv/disks.js';
import { checkImageName } from './dir.js';
import { canonicalPath, imagesInUse, vmsNaming } from './in-use.js';
import { WRITABLE_FORMATS, convertImage, createImage, imageInfo, type QemuImgInfo, type WritableFormat } from './qemu-img.js';

/** An image as Vigil reports it. */
export interface Image {
  name: string;
  path: string;
  format?: string;
  virtualSize?: number;
  actualSize?: number;
  /** The backing file as the image's header names it (absent: none). */
  backingFile?: string;
  /** Backing files, nearest first. */
  backingChain: { file: string; format?: string }[];
  /** Running VMs that use it (directly or as a backing file). */
  usedBy: string[];
  /** VMs whose definitions name it as a disk. */
  definedIn: string[];
  /** Internal snapshots (qcow2). */
  snapshots?: { name: string; vmStateSize: number; date: string }[];
  /** Why qemu-img could not read it. */
  error?: string;
}

/** Options of `create`. */
export interface CreateImageOptions {
  format: WritableFormat;
  /** Bytes; optional with a backing image (the new image takes its size). */
  size?: number;
  /** Another image in the directory, below the new one. */
  backing?: string;
}

/** Parses a size: bytes, or a number with K, M, G, T (powers of 1024). */
export function parseSize(text: string, field = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?$/i.exec(text.trim());
  if (!m) throw new VigilError('VIGIL_INVALID_INPUT', `${field} '${text}' is not a size; write e.g. 10G, 512M or a number of bytes`, { context: { field } });
  const unit = (m[2] ?? 'B').toUpperCase()[0]!;
  const scale = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[unit] ?? 1;
  const bytes = Math.round(Number(m[1]) * scale);
  if (bytes <= 0) throw new VigilError('VIGIL_INVALID_INPUT', `${field} must be more than 0 bytes`, { context: { field } });
  return bytes;
}

function checkFormat(format: string, field = 'format'): WritableFormat {
  if (!(WRITABLE_FORMATS as readonly string[]).includes(format)) {
    throw new VigilError('VIGIL_INVALID_INPUT', `${field} '${format}' is not supported; use ${WRITABLE_FORMATS.join(' or ')}`, { context: { field } });
  }
  return format as WritableFormat;
}

/** Image operations over one directory. */
export class ImageService {
  constructor(
    readonly dir: string,
    private readonly vms: VmService,
    /** Files beyond the definitions that running VMs hold (external snapshot overlays). */
    private readonly extraInUse: (vm: Vm) => string[] = () => [],
  ) {}

  /** The path of image `name` (checked to stay inside the directory). */
  path(name: string, field = 'name'): string {
    return join(this.dir, checkImageName(name, field));
  }

  /** Every regular file in the directory, with what qemu-img says of it. */
  async list(): Promise<Image[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => !n.startsWith('.') && statSync(join(this.dir, n)).isFile());
    } catch {
      return [];
    }
    const vms = this.vms.list();
    const used = await imagesInUse(vms, this.extraInUse);
    return Promise.all(names.sort().map((n) => this.describe(n, vms, used)));
  }

  /** One image with its backing chain and snapshots (VIGIL_NOT_FOUND if absent). */
  async info(name: string): Promise<Image> {
    this.requireExists(name);
    const vms = this.vms.list();
    return this.describe(name, vms, await imagesInUse(vms, this.extraInUse));
  }

  /** Creates an image (VIGIL_INVALID_INPUT if one of that name exists). */
  async create(name: string, options: CreateImageOptions): Promise<Image> {
    const path = this.path(name);
    const format = checkFormat(options.format);
    if (existsSync(path)) throw new VigilError('VIGIL_INVALID_INPUT', `an image named '${name}' already exists; pick another name or remove it first`, { context: { field: 'name' } });
    if (options.size === undefined && options.backing === undefined) throw new VigilError('VIGIL_INVALID_INPUT', 'give a size (e.g. --size 10G) or a backing image', { context: { field: 'size' } });
    let backingFormat: string | undefined;
    if (options.backing !== undefined) {
      if (format !== 'qcow2') throw new VigilError('VIGIL_INVALID_INPUT', 'only a qcow2 image can have a backing image; use --format qcow2', { context: { field: 'format' } });
      this.requireExists(options.backing, 'backing');
      backingFormat = this.trustedFormat(this.path(options.backing, 'backing')) ?? (await imageInfo(this.path(options.backing, 'backing'), { chain: false }))[0]?.format;
    }
    // The default directory (<data>/images) does not exist on a fresh host until the first image is made.
    mkdirSync(this.dir, { recursive: true });
    await createImage(path, {
      format,
      ...(options.size !== undefined ? { size: options.size } : {}),
      ...(options.backing !== undefined ? { backing: options.backing, backingFormat: backingFormat ?? 'raw' } : {}),
    });
    return this.info(name);
  }

  /** Converts `src` into a new image `dst` of `format`; refused while a running VM writes `src`. */
  async convert(src: string, dst: string, options: { format: string; onProgress?: (percent: number) => void; signal?: AbortSignal }): Promise<Image> {
    const format = checkFormat(options.format);
    const from = this.path(src, 'src');
    const to = this.path(dst, 'dst');
    this.requireExists(src, 'src');
    if (existsSync(to)) throw new VigilError('VIGIL_INVALID_INPUT', `an image named '${dst}' already exists; pick another name or remove it first`, { context: { field: 'dst' } });
    await this.refuseInUse(from, 'convert');
    const sourceFormat = this.trustedFormat(from);
    try {
      await convertImage(from, to, {
        format,
        ...(sourceFormat ? { sourceFormat } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      rmSync(to, { force: true });
      throw err;
    }
    return this.info(dst);
  }

  /** Deletes an image; refused while a running VM uses it, directly or as a backing file. */
  async remove(name: string): Promise<void> {
    const path = this.path(name);
    this.requireExists(name);
    await this.refuseInUse(path, 'remove');
    rmSync(path);
  }

  /** The running VMs using the file (directly, as a backing file or through a snapshot overlay). */
  async usedBy(path: string): Promise<string[]> {
    const used = await imagesInUse(this.vms.list(), this.extraInUse);
    return used.get(canonicalPath(path)) ?? [];
  }

  /** VMs (running or not) whose definitions name image `name` (API: Owner-only delete). */
  definedIn(name: string): string[] {
    return vmsNaming(this.vms.list(), this.path(name)).map((v) => v.name);
  }

  private async refuseInUse(path: string, verb: string): Promise<void> {
    const users = await this.usedBy(path);
    if (users.length > 0) {
      throw new VigilError('VIGIL_IMAGE_IN_USE', `cannot ${verb} ${path}: running VM${users.length > 1 ? 's' : ''} ${users.map((u) => `'${u}'`).join(', ')} use${users.length > 1 ? '' : 's'} it; stop ${users.length > 1 ? 'them' : 'it'} first`, {
        context: { path, vms: users },
      });
    }
  }

  private requireExists(name: string, field = 'name'): void {
    const path = this.path(name, field);
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new VigilError('VIGIL_NOT_FOUND', `no image named '${name}' in ${this.dir}; 'vigil image ls' lists them`, { context: { field, image: name } });
    }
  }

  /**
   * The format a VM definition declares for the file. A raw disk a guest wrote may carry a qcow2 header naming a
   * host file as its backing file; reading it as raw (never probing) keeps that file out of a conversion.
   */
  private trustedFormat(path: string): string | undefined {
    const vm = vmsNaming(this.vms.list(), path)[0];
    const disk = vm?.definition.disks.find((d) => d.file !== undefined && canonicalPath(d.file) === canonicalPath(path));
    return disk ? diskFormat(disk) : undefined;
  }

  private async describe(name: string, vms: Vm[], used: Map<string, string[]>): Promise<Image> {
    const path = join(this.dir, name);
    const base: Image = { name, path, backingChain: [], usedBy: used.get(canonicalPath(path)) ?? [], definedIn: vmsNaming(vms, path).map((v) => v.name) };
    let chain: QemuImgInfo[];
    try {
      const format = this.trustedFormat(path);
      chain = await imageInfo(path, { chain: true, ...(format ? { format } : {}) });
    } catch (err) {
      return { ...base, error: (err as Error).message };
    }
    const top = chain[0]!;
    return {
      ...base,
      format: top.format,
      virtualSize: top['virtual-size'],
      ...(top['actual-size'] !== undefined ? { actualSize: top['actual-size'] } : {}),
      ...(top['backing-filename'] !== undefined ? { backingFile: top['backing-filename'] } : {}),
      backingChain: chain.slice(1).map((c) => ({ file: c.filename, format: c.format })),
      ...(top.snapshots
        ? { snapshots: top.snapshots.map((s) => ({ name: s.name, vmStateSize: s['vm-state-size'], date: new Date(s['date-sec'] * 1000).toISOString() })) }
        : {}),
    };
  }
}
