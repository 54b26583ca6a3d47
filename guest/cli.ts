/**
 * `npx tsx guest/cli.ts build` prebuilds the test guest into the cache (used by make) and prints its paths;
 * `npx tsx guest/cli.ts boot` boots the default guest once and prints how long it took.
 */
import { isVigilError } from '../src/core/errors.js';
import { ensureGuestImage } from './build.js';
import { bootGuest } from './launch.js';

const log = (line: string): void => console.error(`guest: ${line}`);

async function main(cmd: string | undefined): Promise<number> {
  switch (cmd) {
    case 'build': {
      const started = Date.now();
      const image = await ensureGuestImage({ log });
      console.log(`kernel=${image.kernel}`);
      console.log(`initrd=${image.baseInitrd}`);
      console.log(`kernelVersion=${image.kernelVersion}`);
      log(`done in ${Date.now() - started} ms`);
      return 0;
    }
    case 'boot': {
      await ensureGuestImage({ log });
      const guest = await bootGuest();
      try {
        console.log(`booted ${guest.name} (pid ${guest.pid}) in ${guest.bootMs} ms`);
      } finally {
        await guest.stop();
      }
      return 0;
    }
    default:
      console.error('usage: guest/cli.ts build | boot');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(isVigilError(err) ? `${err.code}: ${err.message}` : err);
    process.exitCode = 1;
  },
);
