/** Every CLI command, in the order `dinov2 --help` lists them. */
import type { Command } from 'commander';
import { registerInfo } from './info.js';

export const COMMANDS: readonly ((program: Command) => void)[] = [registerInfo];
