/**
 * Loading a backbone from a checkpoint in any supported format: detect (or take) the config, check the
 * state dict against it (every missing, unexpected or mis-shaped key is an error naming the key), and
 * bind the weights lazily.
 */
import { hfConfigToBackboneConfig } from './hfConfig.js';
import { checkStateDict, openWeights } from '../formats/open.js';
import type { WeightSource } from '../formats/types.js';
import { makeConfig, type BackboneConfig } from './config.js';
import { Dinov2, type ModelOptions } from './dinov2.js';
import { inferBackboneConfig } from './inferConfig.js';
import { backboneStateDictShapes } from './stateDictShapes.js';
import { storeFromSource } from './weightStore.js';

export interface LoadOptions extends ModelOptions {
  /** Architecture settings that override what is detected (e.g. a custom interpolation). */
  config?: Partial<BackboneConfig>;
}

/** The config a weight source describes: HF config.json when present, else inferred from shapes. */
export function detectConfig(source: WeightSource, overrides: Partial<BackboneConfig> = {}): BackboneConfig {
  const shapes = new Map(source.keys().map((k) => [k, source.entry(k)!.shape] as const));
  // An HF folder states its architecture in config.json (checked first: it names the file's keys); other formats only have shapes.
  const stated = source.format === 'hf' ? hfConfigToBackboneConfig(source.metadata, `${source.path}/config.json`) : {};
  const inferred = inferBackboneConfig(shapes, source.path);
  return makeConfig({ ...inferred, ...stated, ...overrides }, source.path);
}

export async function backboneFromSource(source: WeightSource, opts: LoadOptions = {}): Promise<Dinov2> {
  const config = detectConfig(source, opts.config);
  const expected = backboneStateDictShapes(config);
  checkStateDict(source, expected, { ignoreUnexpected: (key) => !isBackboneKey(key) });
  return new Dinov2(config, storeFromSource(source, expected.keys()), { name: source.path, onDispose: () => source.close(), ...opts });
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
