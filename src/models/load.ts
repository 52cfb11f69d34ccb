/**
 * Loading a backbone from a checkpoint in any supported format: detect (or take) the config, check the
 * state dict against it (every missing, unexpected or mis-shaped key is an error naming the key), and
 * bind the weights lazily.
 */
import { hfConfigToBackboneConfig } from './hfConfig.js';
import { checkStateDict, openWeights } from '../formats/open.js';
import type { WeightSource } from '../formats/types.js';
import { DEFAULT_CONFIG, makeConfig, type BackboneConfig } from './config.js';
import { SIDECAR_METADATA_KEY } from '../formats/renamed.js';
import { Dinov2, type ModelOptions } from './dinov2.js';
import { inferBackboneConfig } from './inferConfig.js';
import { backboneStateDictShapes } from './stateDictShapes.js';
import { storeFromSource } from './weightStore.js';

export interface LoadOptions extends ModelOptions {
  /** Architecture settings that override what is detected (e.g. a custom interpolation). */
  config?: Partial<BackboneConfig>;
  /**
   * Told when part of the architecture is a guess (the head count of a file that does not state it); by
   * default a process warning. The CLI prints it on stderr.
   */
  onWarning?: (message: string) => void;
}

/**
 * The safetensors `__metadata__` key (a JSON string of the official constructor arguments) under which this
 * project keeps a backbone's architecture with its weights (`convert`, `init`, training exports write it).
 */
export const ARCH_METADATA_KEY = 'dinov2_config';

/** Where a detected config came from: stated by the file (which statement), or inferred from shapes. */
export type ConfigSource = 'hf-config' | 'safetensors-metadata' | 'config-json' | 'shapes';

export interface DetectedConfig {
  config: BackboneConfig;
  source: ConfigSource;
  /** Settings neither stated by the file nor given, that follow the hub's convention (today only `num_heads`). */
  assumed: (keyof BackboneConfig)[];
}

/** Official constructor arguments from a JSON object (an `ARCH_METADATA_KEY` value or an official-style config.json). */
function officialConfigFrom(value: unknown, what: string): Partial<BackboneConfig> {
  let obj = value;
  if (typeof value === 'string') {
    try {
      obj = JSON.parse(value);
    } catch (e) {
      throw new Error(`${what}: not JSON (${(e as Error).message})`);
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`${what}: not a JSON object`);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_CONFIG)) if ((obj as Record<string, unknown>)[key] !== undefined) out[key] = (obj as Record<string, unknown>)[key];
  return out as Partial<BackboneConfig>;
}

/** The architecture the file itself states, if any (HF config.json, safetensors metadata, a config.json beside a .pth). */
function statedConfig(source: WeightSource): { stated: Partial<BackboneConfig>; from: ConfigSource } | null {
  if (source.format === 'hf') return { stated: hfConfigToBackboneConfig(source.metadata, `${source.path}/config.json`), from: 'hf-config' };
  const meta = source.metadata[ARCH_METADATA_KEY];
  if (meta !== undefined) return { stated: officialConfigFrom(meta, `${source.path}: __metadata__.${ARCH_METADATA_KEY}`), from: 'safetensors-metadata' };
  const beside = source.metadata[SIDECAR_METADATA_KEY];
  if (beside !== undefined && typeof beside === 'object' && beside !== null) {
    const cfg = beside as Record<string, unknown>;
    // Only a DINOv2 config counts: an HF one (model_type dinov2*), ours, or official constructor arguments.
    const isHf = typeof cfg.model_type === 'string' && cfg.model_type.startsWith('dinov2');
    if (!isHf && cfg[ARCH_METADATA_KEY] === undefined && (cfg.model_type !== undefined || cfg.embed_dim === undefined)) return null;
    const what = `config.json beside ${source.path}`;
    const stated = isHf ? hfConfigToBackboneConfig(cfg, what) : officialConfigFrom(cfg[ARCH_METADATA_KEY] ?? cfg, what);
    return { stated, from: 'config-json' };
  }
  return null;
}

/** The config a weight source describes, where it came from and what is a guess (see `DetectedConfig`). */
export function detectConfigInfo(source: WeightSource, overrides: Partial<BackboneConfig> = {}): DetectedConfig {
  const shapes = new Map(source.keys().map((k) => [k, source.entry(k)!.shape] as const));
  const inferred = inferBackboneConfig(shapes, source.path);
  const found = statedConfig(source);
  const stated = found?.stated ?? {};
  const config = makeConfig({ ...inferred, ...stated, ...overrides }, source.path);
  const assumed = stated.num_heads === undefined && overrides.num_heads === undefined ? (['num_heads'] as (keyof BackboneConfig)[]) : [];
  return { config, source: found?.from ?? 'shapes', assumed };
}

/** The config a weight source describes: what the file states (see `detectConfigInfo`), else inferred from shapes. */
export function detectConfig(source: WeightSource, overrides: Partial<BackboneConfig> = {}): BackboneConfig {
  return detectConfigInfo(source, overrides).config;
}

/** The warning for a guessed head count, naming the option that fixes it. */
export function assumedHeadsMessage(path: string, config: BackboneConfig): string {
  return `${path} does not state its head count; assuming ${config.num_heads} (head dim 64, the hub's convention) — if that is wrong the features are wrong: pass num_heads (--num-heads)`;
}

export async function backboneFromSource(source: WeightSource, opts: LoadOptions = {}): Promise<Dinov2> {
  const { config: overrides, onWarning, ...modelOpts } = opts;
  const { config, assumed } = detectConfigInfo(source, overrides);
  if (assumed.includes('num_heads')) (onWarning ?? defaultWarning)(assumedHeadsMessage(source.path, config));
  const expected = backboneStateDictShapes(config);
  checkStateDict(source, expected, { ignoreUnexpected: (key) => !isBackboneKey(key) });
  return new Dinov2(config, storeFromSource(source, expected.keys()), { name: source.path, onDispose: () => source.close(), ...modelOpts });
}

/** Keys that belong to heads stored beside a backbone (classifier, DINO head) are not backbone errors. */
function isBackboneKey(key: string): boolean {
  return !/^(classifier|dino_head|ibot_head|head)\./.test(key);
}

export async function loadBackbone(path: string, opts: LoadOptions = {}): Promise<Dinov2> {
  const source = await openWeights(path);
  try {
    return await backboneFromSource(source, opts);
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** Node's process warning, or the console where there is no `process` (the browser entry). */
function defaultWarning(message: string): void {
  if (typeof process !== 'undefined' && typeof process.emitWarning === 'function') process.emitWarning(message);
  else console.warn(message);
}
