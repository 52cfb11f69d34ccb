/** Every CLI command, in the order `dinov2 --help` lists them. */
import type { Command } from 'commander';
import { registerInfo } from './info.js';
import { registerEmbed } from './embed.js';
import { registerPca } from './pca.js';
import { registerConvert } from './convert.js';

export const COMMANDS: readonly ((program: Command) => void)[] = [registerInfo, registerEmbed, registerPca, registerConvert];
