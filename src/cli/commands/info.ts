/** `dinov2 info <checkpoint>`: prints `checkpointInfo` (apps/info.ts). */
import type { Command } from 'commander';
import { checkpointInfo } from '../../apps/info.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show the architecture, registers, parameter count, dtype and format of a checkpoint')
    .argument('<checkpoint>', '.pth, .safetensors or Hugging Face folder')
    .option('--json', 'print JSON instead of a table')
    .addHelpText('after', '\nExamples:\n  $ dinov2 info dinov2_vits14_pretrain.pth\n  $ dinov2 info ./dinov2-small --json')
    .action(async (path: string, opts: { json?: boolean }) => {
      const info = await checkpointInfo(path);
      if (opts.json) {
        console.log(JSON.stringify(info, null, 2));
        return;
      }
      const rows: [string, string][] = [
        ['path', info.path],
        ['format', info.format],
        ['architecture', info.architecture],
        ['hub model', info.hubModel ?? '(custom)'],
        ['embed dim / depth / heads', `${info.embedDim} / ${info.depth} / ${info.heads}`],
        ['ffn', info.ffn],
        ['registers', String(info.registers)],
        ['LayerScale', info.layerScale ? 'yes' : 'no'],
        ['patch size / pos grid', `${info.patchSize} / ${info.posEmbedGrid}×${info.posEmbedGrid}`],
        ['parameters', info.parameters.toLocaleString('en-US')],
        ['dtypes', Object.entries(info.dtypes).map(([d, n]) => `${d}×${n}`).join(', ')],
      ];
      if (info.extraKeys.length) rows.push(['other keys', `${info.extraKeys.length} (${info.extraKeys.slice(0, 3).join(', ')}${info.extraKeys.length > 3 ? ', …' : ''})`]);
      for (const [k, v] of rows) console.log(`${k.padEnd(26)} ${v}`);
    });
}
