#!/usr/bin/env node
/** `defib`: the command-line entry. */
import { processEnvironment } from '@defib/platform/config';
import { runCli } from './program.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  env: processEnvironment(),
  write: (text) => process.stdout.write(text),
  writeError: (text) => process.stderr.write(text),
  interactive: process.stdout.isTTY,
});
