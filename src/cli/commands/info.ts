/** `dinov2 info <checkpoint>`: what a checkpoint holds, without running it. */
import type { Command } from 'commander';
import { detectConfig } from '../../models/load.js';
import { backboneStateDictShapes, parameterCount } from '../../models/stateDictShapes.js';
import { HUB_MODELS, hubConfig } from '../../models/config.js';
import { openWeights } from '../../formats/open.js';

export interface CheckpointInfo {
  path: string;
  format: string;
  architecture: string;
  hubModel: string | null;
  embedDim: number;
  depth: number;
  heads: number;
  ffn: string;
  registers: number;
  layerScale: boolean;
  patchSize: number;
  posEmbedGrid: number;
  parameters: number;
  dtypes: Record<string, number>;
  extraKeys: string[];
}

const ARCH_NAMES: Record<number, string> = { 384: 'ViT-S/14', 768: 'ViT-B/14', 1024: 'ViT-L/14', 1536: 'ViT-g/14' };

export async function checkpointInfo(path: string): Promise<CheckpointInfo> {
  const source = await openWeights(path);
  try {
    const cfg = detectConfig(source);
    const expected = backboneStateDictShapes(cfg);
    const hub = HUB_MODELS.find((name) => JSON.stringify(hubConfig(name)) === JSON.stringify({ ...cfg, layer_norm_eps: 1e-6 })) ?? null;
    const dtypes: Record<string, number> = {};
    for (const key of source.keys()) {
      const dt = source.entry(key)!.dtype;
      dtypes[dt] = (dtypes[dt] ?? 0) + 1;
    }
    return {
      path,
      format: source.format,
      architecture: `${ARCH_NAMES[cfg.embed_dim] ?? `ViT (D=${cfg.embed_dim})`}${cfg.num_register_tokens ? ` + ${cfg.num_register_tokens} registers` : ''}`,
      hubModel: hub,
      embedDim: cfg.embed_dim,
      depth: cfg.depth,
      heads: cfg.num_heads,
      ffn: cfg.ffn_layer,
      registers: cfg.num_register_tokens,
      layerScale: cfg.init_values > 0,
      patchSize: cfg.patch_size,
      posEmbedGrid: Math.round(cfg.img_size / cfg.patch_size),
      parameters: parameterCount(expected),
      dtypes,
      extraKeys: source.keys().filter((k) => !expected.has(k)),
    };
  } finally {
    await source.close();
  }
}

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
