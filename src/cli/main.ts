#!/usr/bin/env node
/**
 * The `dinov2` command line. Each command lives in `commands/<name>.ts` and registers itself here; errors
 * print one line (`dinov2 <command>: <message>`) and exit with status 1, usage errors with 2.
 */
import { ArgumentError, flagOf } from '../core/errors.js';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands/index.js';

export function buildProgram(): Command {
  const program = new Command('dinov2')
    .description('DINOv2 vision transformers: features, heads and tools, exact to the official PyTorch code')
    .version('0.1.0')
    .showHelpAfterError("(run 'dinov2 --help' for the commands)")
    .exitOverride();
  for (const register of COMMANDS) register(program);
  // A usage error prints the error and one hint line, not the whole help.
  for (const cmd of program.commands) cmd.showHelpAfterError(`(run 'dinov2 ${cmd.name()} --help' for its options and examples)`);
  return program;
}

export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  // Commands report failure through process.exitCode; start from a clean slate so that an earlier value
  // (e.g. a test runner's) is not mistaken for this command's.
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const cmd = program.args[0] ?? '';
    // Library errors about arguments name them as the API does; say which flags they are.
    const flags = e instanceof ArgumentError ? ` (${e.args.map(flagOf).join(', ')})` : '';
    console.error(`dinov2${cmd ? ` ${cmd}` : ''}: ${(e as Error).message}${flags}`);
    return 1;
  } finally {
    process.exitCode = previous;
  }
}

/** True when this file is the program being run (also through the `dinov2` bin symlink), not an import. */
function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
