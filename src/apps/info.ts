/** What a checkpoint holds, without running it (`dinov2 info`). */
import { detectConfigInfo, type ConfigSource } from '../models/load.js';
import type { BackboneConfig } from '../models/config.js';
import { backboneStateDictShapes, parameterCount } from '../models/stateDictShapes.js';
import { HUB_MODELS, hubConfig, isHubModelName, type HubModelName } from '../models/config.js';
import { readFile } from 'node:fs/promises';
import { ArgumentError } from '../core/errors.js';
import { hfConfigToBackboneConfig } from '../models/hfConfig.js';
import { backboneArtifact, hfArtifact, hfRepo } from '../hub/registry.js';
import { artifactUrl, parseHfRepoId, resolveArtifact, type ResolveOptions } from '../hub/resolve.js';
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


/** ImageNet-1k top-1 (%) of the released models: k-NN and linear (README / MODEL_CARD, reference §6.1). */
const IMAGENET_RESULTS: Record<HubModelName, { knn: number; linear: number }> = {
  dinov2_vits14: { knn: 79.0, linear: 81.1 },
  dinov2_vits14_reg: { knn: 79.1, linear: 80.9 },
  dinov2_vitb14: { knn: 82.1, linear: 84.5 },
  dinov2_vitb14_reg: { knn: 82.0, linear: 84.6 },
  dinov2_vitl14: { knn: 83.5, linear: 86.3 },
  dinov2_vitl14_reg: { knn: 83.8, linear: 86.7 },
  dinov2_vitg14: { knn: 83.5, linear: 86.5 },
  dinov2_vitg14_reg: { knn: 83.7, linear: 87.1 },
};

export interface HubModelInfo {
  name: string;
  hubModel: HubModelName | null;
  architecture: string;
  embedDim: number;
  depth: number;
  heads: number;
  ffn: string;
  registers: number;
  patchSize: number;
  parameters: number;
  /** Bytes of the float32 weights to download (the checkpoint is that plus a few KiB of framing). */
  downloadBytes: number;
  licence: string;
  /** Where the weights come from. */
  sources: string[];
  /** ImageNet-1k top-1 (%) reported for the released model, k-NN and linear; null for other models. */
  imagenet: { knn: number; linear: number } | null;
}

function describe(name: string, cfg: BackboneConfig, hub: HubModelName | null, sources: string[], licence: string): HubModelInfo {
  const parameters = parameterCount(backboneStateDictShapes(cfg));
  return {
    name,
    hubModel: hub,
    architecture: `${ARCH_NAMES[cfg.embed_dim] ?? `ViT (D=${cfg.embed_dim})`}${cfg.num_register_tokens ? ` + ${cfg.num_register_tokens} registers` : ''}`,
    embedDim: cfg.embed_dim,
    depth: cfg.depth,
    heads: cfg.num_heads,
    ffn: cfg.ffn_layer,
    registers: cfg.num_register_tokens,
    patchSize: cfg.patch_size,
    parameters,
    downloadBytes: 4 * parameters,
    licence,
    sources,
    imagenet: hub ? IMAGENET_RESULTS[hub] : null,
  };
}

/**
 * What a hub model name (`dinov2_vits14` …) or Hugging Face repo id (`facebook/dinov2-small`, `org/name@rev`)
 * is, without downloading its weights: a hub name needs nothing; an HF id of another repo needs its config.json
 * (a few hundred bytes, found in or downloaded into the HF cache).
 */
export async function modelInfo(name: string, opts: ResolveOptions = {}): Promise<HubModelInfo> {
  const env = opts.env ?? process.env;
  if (isHubModelName(name)) {
    const sources = [artifactUrl(backboneArtifact(name), env), artifactUrl(backboneArtifact(name, { source: 'hf' }), env)];
    return describe(name, hubConfig(name), name, sources, DINOV2_LICENCE);
  }
  const id = parseHfRepoId(name);
  if (!id) throw new ArgumentError(['model'], `'${name}' is neither a checkpoint, a hub model name (${HUB_MODELS.join(', ')}) nor a Hugging Face repo id (owner/name[@revision])`);
  const hub = HUB_MODELS.find((m) => hfRepo(m) === id.repo) ?? null;
  const weights = artifactUrl(hfArtifact(hub ?? HUB_MODELS[0], id.repo, 'model.safetensors', id.revision), env);
  if (hub && id.revision === 'main') return describe(name, hubConfig(hub), hub, [weights], DINOV2_LICENCE);
  const configPath = await resolveArtifact(hfArtifact(hub ?? HUB_MODELS[0], id.repo, 'config.json', id.revision), opts);
  const cfg = hfConfigToBackboneConfig(JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>);
  return describe(name, cfg, hub, [weights], hub ? DINOV2_LICENCE : 'see the model card of the repo');
}

/** The licence of the released DINOv2 code and weights. */
export const DINOV2_LICENCE = 'Apache-2.0';
