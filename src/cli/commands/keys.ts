/** `vigil init`, `vigil key new|import|show`, and `vigil api` (a signed request to vigild). */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { keyPath, readKey, writeKey } from '../../auth/keyfile.js';
import { loadConfig } from '../../core/config.js';
import { resolvePaths, storePath } from '../../core/paths.js';
import { AccessRepo } from '../../store/access-repo.js';
import { openStore } from '../../store/db.js';
import { VigilClient } from '../../client/client.js';
import { parseJsonArg, printJson } from '../output.js';

/** Builds `init`, `key` and `api`. */
export function keyCommands(): Command[] {
  const init = new Command('init')
    .description('create this host\'s signing key (0600) and register its address as host admin')
    .action(() => {
      const paths = resolvePaths();
      const path = keyPath(paths);
      let key;
      try {
        key = readKey(path);
      } catch {
        key = writeKey(path);
      }
      const db = openStore(storePath(paths));
      try {
        new AccessRepo(db).upsertPrincipal(key.address, 'admin', 'local admin');
      } finally {
        db.close();
      }
      process.stdout.write(`key: ${path}\naddress: ${key.address} (host admin)\n`);
    });

  const key = new Command('key').description('the local signing key');
  key.command('new')
    .description('create a new key (--force replaces the current one)')
    .option('--force', 'replace an existing key')
    .action((opts: { force?: boolean }) => {
      const k = writeKey(keyPath(resolvePaths()), undefined, opts.force ?? false);
      process.stdout.write(`${k.address}\n`);
    });
  key.command('import')
    .description('import a private key (64 hex digits) from a file, or - for stdin')
    .argument('<file>')
    .option('--force', 'replace an existing key')
    .action((file: string, opts: { force?: boolean }) => {
      const text = readFileSync(file === '-' ? 0 : file, 'utf8');
      const k = writeKey(keyPath(resolvePaths()), text, opts.force ?? false);
      process.stdout.write(`${k.address}\n`);
    });
  key.command('show')
    .description('print the key\'s address')
    .action(() => {
      process.stdout.write(`${readKey(keyPath(resolvePaths())).address}\n`);
    });

  const api = new Command('api')
    .description('send a signed request to vigild and print the JSON reply, e.g. vigil api GET /vms')
    .argument('<method>', 'GET, POST, PUT, PATCH or DELETE')
    .argument('<path>', 'e.g. /vms or /vms/web/start')
    .argument('[json-body]', 'a JSON object')
    .option('--url <url>', 'vigild\'s API (default from config: http://127.0.0.1:3003)')
    .action(async (method: string, path: string, body: string | undefined, opts: { url?: string }) => {
      const paths = resolvePaths();
      const config = loadConfig(paths);
      const port = process.env.VMM_API_PORT ?? String(config.api.port);
      const client = new VigilClient({ url: opts.url ?? `http://${config.api.host}:${port}`, privateKey: readKey(keyPath(paths)).privateKey });
      const reply = await client.request(method.toUpperCase(), path, parseJsonArg(body, 'json-body'));
      // A text reply (GET /metrics: Prometheus text) is printed as it came, not as one JSON string.
      if (typeof reply === 'string') process.stdout.write(reply.endsWith('\n') ? reply : `${reply}\n`);
      else printJson(reply);
    });

  return [init, key, api];
}
