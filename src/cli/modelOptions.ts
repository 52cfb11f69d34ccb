/**
 * The options every model-running command shares (--model, --weights, --offline, --device, --threads,
 * --precision) and their translation into `loadModelByNameOrPath` and runtime options.
 */
import { Option, type Command } from 'commander';
import type { Device, RuntimeOptions } from '../graph/runtime.js';
import { loadModelByNameOrPath } from '../hub/loadModel.js';
import { HUB_MODELS } from '../models/config.js';
import type { Dinov2, ModelOptions } from '../models/dinov2.js';
import { positiveInt } from './inputs.js';

/** The options every model-running command shares, as `loadModelByNameOrPath` understands them. */
export interface ModelCliOptions {
  model?: string;
  weights?: string;
  offline?: boolean;
  device: Device;
  threads?: number;
  precision?: 'fp32' | 'int8' | 'fp16';
}

/** Adds --device and --threads (the onnxruntime options) to a command. */
export function addRuntimeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--device <device>', 'onnxruntime execution provider').choices(['cpu', 'webgpu', 'cuda']).default('cpu'))
    .addOption(new Option('--threads <n>', 'intra-op threads (default: one per core)').argParser(positiveInt));
}

/** Adds --model, --weights, --offline, --device, --threads and --precision to a command. */
export function addModelOptions(cmd: Command): Command {
  const withModel = cmd
    .option('--model <name|path>', `hub model (${HUB_MODELS.join(', ')}) or checkpoint (.pth, .safetensors, HF folder)`)
    .option('--weights <checkpoint>', 'local weights (with a hub --model, they must have its architecture)')
    .option('--offline', 'never download; the model must be cached or local');
  return addRuntimeOptions(withModel).addOption(
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

/** The onnxruntime options (--device, --threads) of a command. */
export function runtimeFromCli(opts: Pick<ModelCliOptions, 'device' | 'threads'>): Pick<RuntimeOptions, 'device' | 'threads'> {
  return { device: opts.device, ...(opts.threads ? { threads: opts.threads } : {}) };
}

/** `loadModelByNameOrPath` with the parsed command-line options. */
export function loadModelFromCli(opts: ModelCliOptions): Promise<Dinov2> {
  return loadModelByNameOrPath(opts.model, {
    ...(opts.weights !== undefined ? { weights: opts.weights } : {}),
    ...(opts.offline ? { offline: true } : {}),
    ...runtimeFromCli(opts),
    ...precisionOptions(opts.precision),
  });
}
