/** What a checkpoint holds, without running it (`dinov2 info`). */
import { detectConfigInfo, type ConfigSource } from '../models/load.js';
import type { BackboneConfig } from '../models/config.js';
import { backboneStateDictShapes, parameterCount } from '../models/stateDictShapes.js';
import { HUB_MODELS, hubConfig } from '../models/config.js';
import { openWeights } from '../formats/open.js';

export interface CheckpointInfo {
  path: string;
  format: string;
  architecture: string;
  hubModel: string | null;
  embedDim: number;
  depth: number;
  heads: number;
  /** True when the file does not state its head count and 64-dim heads are assumed. */
  headsAssumed: boolean;
  /** Where the architecture came from: the file's own statement, or its tensor shapes. */
  configSource: ConfigSource;
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

export async function checkpointInfo(path: string, opts: { config?: Partial<BackboneConfig> } = {}): Promise<CheckpointInfo> {
  const source = await openWeights(path);
  try {
    const { config: cfg, assumed, source: configSource } = detectConfigInfo(source, opts.config);
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
      headsAssumed: assumed.includes('num_heads'),
      configSource,
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

