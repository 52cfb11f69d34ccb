/**
 * What the commands mean by `--model X [--weights F]`: X is a hub model name (`dinov2_vits14`, …) or a
 * checkpoint (.pth, .safetensors, Hugging Face folder). With --weights, the weights come from F and a hub name
 * only states the architecture F must have (so a wrong file fails at once, naming both). Without it, a hub
 * name is resolved through the cache (downloaded on first use unless offline).
 */
import { stat } from 'node:fs/promises';
import { ArgumentError } from '../core/errors.js';
import { hubConfig, HUB_MODELS, isHubModelName, type BackboneConfig } from '../models/config.js';
import { Dinov2 } from '../models/dinov2.js';
import { backboneFromSource, detectConfig, loadBackbone, type LoadOptions } from '../models/load.js';
import { openWeights } from '../formats/open.js';
import { parseHfRepoId, resolveBackbone, resolveHfRepo } from './resolve.js';

export interface LoadModelOptions extends LoadOptions {
  /** A local checkpoint to take the weights from. */
  weights?: string;
  /** Never download (the checkpoint must be cached or local). */
  offline?: boolean;
}

async function isPath(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The local checkpoint `model` / `weights` designate, and the hub name when one was given. */
export async function resolveCheckpoint(model: string | undefined, opts: { weights?: string; offline?: boolean } = {}): Promise<{ path: string; hubName?: string }> {
  const hubName = model !== undefined && isHubModelName(model) ? model : undefined;
  if (opts.weights !== undefined) {
    if (model !== undefined && !hubName) {
      throw new ArgumentError(['model', 'weights'], `model '${model}' is not a hub model name (${HUB_MODELS.join(', ')}); with weights given, the model is a hub name or left out`);
    }
    return { path: opts.weights, ...(hubName ? { hubName } : {}) };
  }
  if (model === undefined) throw new ArgumentError(['model', 'weights'], 'no model: give a model (a hub name or a checkpoint path) or weights');
  if (await isPath(model)) return { path: model };
  // A Hugging Face repo id (facebook/dinov2-small, org/name@rev): downloaded into the HF cache layout.
  if (!hubName && parseHfRepoId(model)) return { path: await resolveHfRepo(model, opts.offline !== undefined ? { offline: opts.offline } : {}) };
  if (!hubName) {
    throw new ArgumentError(['model'], `'${model}' is neither an existing file or folder nor a hub model name (${HUB_MODELS.join(', ')}) or Hugging Face repo id (owner/name[@revision])`);
  }
  return { path: await resolveBackbone(hubName, opts.offline !== undefined ? { offline: opts.offline } : {}), hubName };
}

const ARCH_KEYS = ['embed_dim', 'depth', 'patch_size', 'ffn_layer', 'num_register_tokens'] as const satisfies readonly (keyof BackboneConfig)[];

/** Loads the backbone `model` / `weights` designate (see the module comment). */
export async function loadModelByNameOrPath(model: string | undefined, opts: LoadModelOptions = {}): Promise<Dinov2> {
  const { weights, offline, ...load } = opts;
  const { path, hubName } = await resolveCheckpoint(model, { ...(weights !== undefined ? { weights } : {}), ...(offline !== undefined ? { offline } : {}) });
  if (!hubName) return loadBackbone(path, load);
  // A hub name fixes what the shapes cannot tell (head count, interpolation); the file must agree on the rest.
  const expected = hubConfig(hubName as Parameters<typeof hubConfig>[0]);
  const source = await openWeights(path);
  try {
    const found = detectConfig(source);
    const differ = ARCH_KEYS.filter((k) => found[k] !== expected[k]);
    if (differ.length > 0) {
      const what = differ.map((k) => `${k} ${String(found[k])} (expected ${String(expected[k])})`).join(', ');
      throw new Error(`${path} is not a ${hubName} checkpoint: ${what}`);
    }
    const { num_heads, interpolate_antialias, interpolate_offset } = expected;
    return await backboneFromSource(source, { ...load, config: { num_heads, interpolate_antialias, interpolate_offset, ...load.config } });
  } catch (e) {
    await source.close();
    throw e;
  }
}

// `Dinov2.load` lives here, not in models/: loading by hub name needs the hub (resolve, cache, download), which
// sits above models. The static is declared on the class by module augmentation and defined once, below.
declare module '../models/dinov2.js' {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Dinov2 {
    /**
     * Loads a backbone: a hub name (`'dinov2_vits14'` … `'dinov2_vitg14_reg'`: found in the torch-hub / Hugging
     * Face caches or downloaded), or a checkpoint path — a torch-hub `.pth`, a `.safetensors` file with
     * official keys, or a Hugging Face folder. The architecture is detected from the weights (or config.json).
     */
    function load(nameOrPath: string, opts?: LoadModelOptions): Promise<Dinov2>;
  }
}
Object.defineProperty(Dinov2, 'load', { value: (nameOrPath: string, opts: LoadModelOptions = {}) => loadModelByNameOrPath(nameOrPath, opts), writable: false, enumerable: false });

/** The backbone class with `load` defined: what the package entry exports. */
export { Dinov2 };
