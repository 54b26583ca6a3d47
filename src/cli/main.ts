#!/usr/bin/env node
/** Entry point of the `vigil` executable. */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
