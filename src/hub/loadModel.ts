/**
 * What the commands mean by `--model X [--weights F]`: X is a hub model name (`dinov2_vits14`, …) or a
 * checkpoint (.pth, .safetensors, Hugging Face folder). With --weights, the weights come from F and a hub name
 * only states the architecture F must have (so a wrong file fails at once, naming both). Without it, a hub
 * name is resolved through the cache (downloaded on first use unless offline).
 */
import { stat } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { positiveInt } from '../cli/inputs.js';
import type { Device } from '../graph/runtime.js';
import { hubConfig, HUB_MODELS, isHubModelName, type BackboneConfig } from '../models/config.js';
import type { Dinov2, ModelOptions } from '../models/dinov2.js';
import { backboneFromSource, detectConfig, loadBackbone, type LoadOptions } from '../models/load.js';
import { openWeights } from '../weights/open.js';
import { resolveBackbone } from './resolve.js';

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
      throw new Error(`--model '${model}' is not a hub model name (${HUB_MODELS.join(', ')}); with --weights, give a hub name or leave --model out`);
    }
    return { path: opts.weights, ...(hubName ? { hubName } : {}) };
  }
  if (model === undefined) throw new Error('no model: give --model (a hub name or a checkpoint path) or --weights');
  if (await isPath(model)) return { path: model };
  if (!hubName) {
    throw new Error(`'${model}' is neither an existing file or folder nor a hub model name (${HUB_MODELS.join(', ')})`);
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

/** The options every model-running command shares, as `loadModelByNameOrPath` understands them. */
export interface ModelCliOptions {
  model?: string;
  weights?: string;
  offline?: boolean;
  device: Device;
  threads?: number;
  precision?: 'fp32' | 'int8' | 'fp16';
}

/** Adds --model, --weights, --offline, --device, --threads and --precision to a command. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('--model <name|path>', `hub model (${HUB_MODELS.join(', ')}) or checkpoint (.pth, .safetensors, HF folder)`)
    .option('--weights <checkpoint>', 'local weights (with a hub --model, they must have its architecture)')
    .option('--offline', 'never download; the model must be cached or local')
    .addOption(new Option('--device <device>', 'onnxruntime execution provider').choices(['cpu', 'webgpu', 'cuda']).default('cpu'))
    .addOption(new Option('--threads <n>', 'intra-op threads (default: one per core)').argParser(positiveInt))
    .addOption(
      new Option('--precision <p>', 'fp32; int8 (int8 Linear layers, CPU, costs accuracy: see bench/RESULTS.md); fp16 (half-precision compute, for GPUs)')
        .choices(['fp32', 'int8', 'fp16'])
        .default('fp32'),
    );
}

/** Model options for a `--precision` value. */
export function precisionOptions(precision: string | undefined): Pick<ModelOptions, 'quantization' | 'precision'> {
  if (precision === 'int8') return { quantization: 'int8' };
  if (precision === 'fp16') return { precision: 'float16' };
  return {};
}

/** `loadModelByNameOrPath` with the parsed command-line options. */
export function loadModelFromCli(opts: ModelCliOptions): Promise<Dinov2> {
  return loadModelByNameOrPath(opts.model, {
    ...(opts.weights !== undefined ? { weights: opts.weights } : {}),
    ...(opts.offline ? { offline: true } : {}),
    device: opts.device,
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...precisionOptions(opts.precision),
  });
}
