/** Where images live: `VMM_IMAGES_DIR`, else config.yaml's `images.dir`, else `<data>/images`. */
import { join, resolve } from 'node:path';
import type { VigilConfig } from '../core/config.js';
import { VigilError } from '../core/errors.js';
import type { VigilPaths } from '../core/paths.js';

/** The images directory for this host (VMM_IMAGES_DIR wins over config.yaml, as seed 003 names it). */
export function imagesDir(paths: VigilPaths, config: VigilConfig, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.VMM_IMAGES_DIR ?? config.images.dir ?? join(paths.data, 'images'));
}

/** Checks an image name: one plain file name inside the images directory, never a path that leaves it. */
export function checkImageName(name: string, field = 'name'): string {
  if (name.length === 0 || name.length > 255 || name.includes('/') || name.includes('\0') || name === '.' || name === '..' || name.startsWith('.')) {
    throw new VigilError('VIGIL_INVALID_INPUT', `${field} '${name}' must be a file name in the images directory (no '/', not starting with '.')`, {
      context: { field, value: name },
    });
  }
  return name;
}
