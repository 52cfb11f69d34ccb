/** `dinov2 info <checkpoint|hub name|HF id>`: prints `checkpointInfo` or `modelInfo` (apps/info.ts). */
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { checkpointInfo, modelInfo, type CheckpointInfo, type HubModelInfo } from '../../apps/info.js';
import { addArchitectureOptions, architectureFromCli } from '../modelOptions.js';

interface InfoCliOptions {
  json?: boolean;
  offline?: boolean;
  numHeads?: number;
  interpolateOffset?: number;
  interpolateAntialias?: boolean;
}

const mb = (bytes: number): string => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);

function checkpointRows(info: CheckpointInfo): [string, string][] {
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
  return rows;
}

function modelRows(info: HubModelInfo): [string, string][] {
  return [
    ['model', info.name],
    ['architecture', info.architecture],
    ['hub model', info.hubModel ?? '(not a released model)'],
    ['embed dim / depth', `${info.embedDim} / ${info.depth}`],
    ['heads', String(info.heads)],
    ['ffn', info.ffn],
    ['registers', String(info.registers)],
    ['patch size', String(info.patchSize)],
    ['parameters', info.parameters.toLocaleString('en-US')],
    ['download', `${mb(info.downloadBytes)} (float32 weights)`],
    ['licence', info.licence],
    ...info.sources.map((s, i): [string, string] => [i === 0 ? 'source' : '', s]),
    ['ImageNet-1k top-1', info.imagenet ? `k-NN ${info.imagenet.knn.toFixed(1)} %, linear ${info.imagenet.linear.toFixed(1)} % (paper / model card)` : '(not reported)'],
  ];
}

export function registerInfo(program: Command): void {
  const cmd = program.command('info');
  addArchitectureOptions(cmd);
  cmd
    .description('show the architecture, registers, parameter count, dtype and format of a checkpoint — or of a hub model / Hugging Face repo without downloading its weights')
    .argument('<model>', '.pth, .safetensors or Hugging Face folder; hub name (dinov2_vits14 …); Hugging Face repo id (facebook/dinov2-small)')
    .option('--json', 'print JSON instead of a table')
    .option('--offline', 'never download (an HF repo other than the released ones needs its config.json)')
    .addHelpText('after', '\nExamples:\n  $ dinov2 info dinov2_vits14_pretrain.pth\n  $ dinov2 info dinov2_vitb14_reg\n  $ dinov2 info facebook/dinov2-small --json')
    .action(async (model: string, opts: InfoCliOptions) => {
      const isLocal = await stat(model).then(
        () => true,
        () => false,
      );
      const config = architectureFromCli(opts);
      const info = isLocal ? await checkpointInfo(model, Object.keys(config).length ? { config } : {}) : await modelInfo(model, opts.offline ? { offline: true } : {});
      if (opts.json) {
        console.log(JSON.stringify(info, null, 2));
        return;
      }
      const rows = isLocal ? checkpointRows(info as CheckpointInfo) : modelRows(info as HubModelInfo);
      for (const [k, v] of rows) console.log(`${k.padEnd(26)} ${v}`);
    });
}
