/** `vigil import libvirt`: turn another tool's VM definition into a Vigil one. */
import { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { VigilError } from '../../core/errors.js';
import { importLibvirtDomain } from '../../vm/import/libvirt.js';
import { printJson } from '../output.js';

interface LibvirtOpts {
  output?: string;
  force?: boolean;
  json?: boolean;
}

function readInput(file: string): string {
  try {
    // `-` reads standard input, so `virsh dumpxml NAME | vigil import libvirt -` works without a temporary file.
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new VigilError('VIGIL_NOT_FOUND', `${file}: no such file`, { cause: err, context: { file } });
    throw new VigilError('VIGIL_INVALID_INPUT', `${file}: cannot read it (${code ?? (err as Error).message})`, { cause: err, context: { file } });
  }
}

function writeOutput(file: string, text: string, force: boolean): void {
  try {
    // An existing definition may hold edits the user made by hand: refuse to replace it unless told to.
    writeFileSync(file, text, { flag: force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' ? 'it exists; pass --force to replace it' : `cannot write it (${code ?? (err as Error).message})`;
    throw new VigilError('VIGIL_INVALID_INPUT', `${file}: ${why}`, { cause: err, context: { file } });
  }
}

/** Builds the `import` command group. */
export function importCommand(): Command {
  const cmd = new Command('import').description('turn a VM defined for another tool into a Vigil definition');

  cmd
    .command('libvirt')
    .description('convert a libvirt domain XML (virsh dumpxml NAME) into a Vigil definition (YAML); what cannot be carried over is listed on stderr')
    .argument('<domain.xml>', 'the domain XML file, or - for standard input')
    .option('-o, --output <file>', 'write the YAML to this file instead of stdout')
    .option('--force', 'replace the output file if it exists')
    .option('--json', 'print {"definition", "skipped"} as JSON on stdout')
    .action((file: string, opts: LibvirtOpts) => {
      const source = file === '-' ? 'stdin' : file;
      const result = importLibvirtDomain(readInput(file), source);
      if (opts.output !== undefined) writeOutput(opts.output, result.yaml, opts.force ?? false);
      if (opts.json) {
        printJson({ definition: result.definition, skipped: result.skipped });
        return;
      }
      if (opts.output === undefined) process.stdout.write(result.yaml);
      const name = String(result.definition.name);
      const where = opts.output !== undefined ? ` to ${opts.output}` : '';
      if (result.skipped.length === 0) {
        process.stderr.write(`vigil: imported ${source} as VM '${name}'${where}; everything was carried over\n`);
        return;
      }
      const lines = result.skipped.map((s) => `  ${s.path}: ${s.reason}\n`).join('');
      process.stderr.write(`vigil: imported ${source} as VM '${name}'${where}; not carried over (${result.skipped.length}):\n${lines}`);
    });

  return cmd;
}
