/** `dinov2 info <checkpoint>`: prints `checkpointInfo` (apps/info.ts). */
import type { Command } from 'commander';
import { checkpointInfo } from '../../apps/info.js';
import { addArchitectureOptions, architectureFromCli } from '../modelOptions.js';

export function registerInfo(program: Command): void {
  const cmd = program.command('info');
  addArchitectureOptions(cmd);
  cmd
    .description('show the architecture, registers, parameter count, dtype and format of a checkpoint')
    .argument('<checkpoint>', '.pth, .safetensors or Hugging Face folder')
    .option('--json', 'print JSON instead of a table')
    .addHelpText('after', '\nExamples:\n  $ dinov2 info dinov2_vits14_pretrain.pth\n  $ dinov2 info ./dinov2-small --json')
    .action(async (path: string, opts: { json?: boolean; numHeads?: number; interpolateOffset?: number; interpolateAntialias?: boolean }) => {
      const config = architectureFromCli(opts);
      const info = await checkpointInfo(path, Object.keys(config).length ? { config } : {});
      if (opts.json) {
        console.log(JSON.stringify(info, null, 2));
        return;
      }
      const rows: [string, string][] = [
        ['path', info.path],
        ['format', info.format],
        ['architecture', info.architecture],
        ['hub model', info.hubModel ?? '(custom)'],
        ['embed dim / depth', `${info.embedDim} / ${info.depth}`],
        ['heads', info.headsAssumed ? `${info.heads} (assumed: head dim 64; pass --num-heads)` : String(info.heads)],
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
