/** A stand-in for vigild's liveness only (pidfile + socket + clean marker on SIGTERM), for the watch's tests. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLiveness } from '../../../src/daemon/liveness.js';

const dir = process.argv[2]!;
writeFileSync(join(dir, 'vigild.pid'), `${process.pid}\n`);
const liveness = await startLiveness(dir);
process.stdout.write('up\n');
process.once('SIGTERM', () => {
  void liveness.markCleanAndClose().then(() => process.exit(0));
});
setInterval(() => undefined, 1000);
