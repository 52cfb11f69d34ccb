/**
 * The options of every command that loads a backbone — one set, one default model: --model, --weights, the
 * architecture settings a checkpoint may not state (--num-heads, --interpolate-offset, --interpolate-antialias),
 * --offline, --device, --threads, --precision, --quiet — and their translation into `loadModelByNameOrPath`.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { checkDevice, type Device, type RuntimeOptions } from '../graph/runtime.js';
import { loadModelByNameOrPath, type LoadModelOptions } from '../hub/loadModel.js';
import { HUB_MODELS, type BackboneConfig } from '../models/config.js';
import type { Dinov2, ModelOptions } from '../models/dinov2.js';
import { positiveInt } from './inputs.js';

/** The model of every command when neither --model nor --weights names one. */
export const DEFAULT_MODEL = 'dinov2_vits14';

/** The options every model-loading command shares, as commander parses them. */
export interface ModelCliOptions {
  model?: string;
  weights?: string;
  numHeads?: number;
  interpolateOffset?: number;
  interpolateAntialias?: boolean;
  offline?: boolean;
  device: Device;
  threads?: number;
  precision?: 'fp32' | 'int8' | 'fp16';
  quiet?: boolean;
}

function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`'${value}' is not a non-negative number`);
  return n;
}

/** Adds --device and --threads (the onnxruntime options) to a command. */
export function addRuntimeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--device <device>', 'onnxruntime execution provider').choices(['cpu', 'webgpu', 'cuda']).default('cpu'))
    .addOption(new Option('--threads <n>', 'intra-op threads (default: one per core)').argParser(positiveInt));
}

/** Adds --num-heads, --interpolate-offset and --interpolate-antialias: what a bare checkpoint may not state. */
export function addArchitectureOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--num-heads <n>', 'attention heads, for a checkpoint that does not state them (hub models, HF folders and our .safetensors do; else 64-dim heads are assumed, with a warning)').argParser(positiveInt),
    )
    .addOption(new Option('--interpolate-offset <x>', 'position-embedding interpolation offset (official: 0.1; 0 for register models)').argParser(finiteNumber))
    .option('--interpolate-antialias', 'antialiased position-embedding interpolation (official for register models)')
    .option('--no-interpolate-antialias', 'no antialias in the position-embedding interpolation');
}

export interface AddModelOptionsSettings {
  /** What --offline keeps from downloading (default: the model). */
  offlineHelp?: string;
  /** Help of --quiet (default: no progress). */
  quietHelp?: string;
}

/** Adds the model options (see the module comment) to a command. */
export function addModelOptions(cmd: Command, settings: AddModelOptionsSettings = {}): Command {
  const withModel = cmd
    .option('--model <name|path>', `hub model (${HUB_MODELS.join(', ')}), Hugging Face repo id (facebook/dinov2-small[@rev]) or checkpoint (.pth, .safetensors, HF folder) [default: ${DEFAULT_MODEL}]`)
    .option('--weights <checkpoint>', 'local weights (with a hub --model, they must have its architecture)');
  addArchitectureOptions(withModel);
  withModel.option('--offline', settings.offlineHelp ?? 'never download; the model must be cached or local');
  return addRuntimeOptions(withModel)
    .addOption(
      new Option('--precision <p>', 'fp32; int8 (int8 Linear layers, CPU, costs accuracy: see bench/RESULTS.md); fp16 (half-precision compute, for GPUs)')
        .choices(['fp32', 'int8', 'fp16'])
        .default('fp32'),
    )
    .option('--quiet', settings.quietHelp ?? 'no progress output');
}

/** Model options for a `--precision` value. */
export function precisionOptions(precision: string | undefined): Pick<ModelOptions, 'quantization' | 'precision'> {
  if (precision === 'int8') return { quantization: 'int8' };
  if (precision === 'fp16') return { precision: 'float16' };
  return {};
}

/** The onnxruntime options (--device, --threads) of a command. */
export function runtimeFromCli(opts: Pick<ModelCliOptions, 'device' | 'threads'>): Pick<RuntimeOptions, 'device' | 'threads'> {
  return { device: opts.device ?? 'cpu', ...(opts.threads ? { threads: opts.threads } : {}) };
}

/**
 * Fails at once, naming --device, when the device cannot run graphs here (no GPU adapter, no CUDA
 * libraries): long commands (train, distill) call it before reading any image.
 */
export async function checkDeviceFromCli(device: Device = 'cpu'): Promise<void> {
  try {
    await checkDevice(device);
  } catch (e) {
    throw new Error(`--device ${device}: ${(e as Error).message}\nRun on a machine with a GPU and its driver, or use --device cpu.`);
  }
}

/** The architecture settings given on the command line (--num-heads …), as config overrides. */
export function architectureFromCli(opts: Pick<ModelCliOptions, 'numHeads' | 'interpolateOffset' | 'interpolateAntialias'>): Partial<BackboneConfig> {
  return {
    ...(opts.numHeads !== undefined ? { num_heads: opts.numHeads } : {}),
    ...(opts.interpolateOffset !== undefined ? { interpolate_offset: opts.interpolateOffset } : {}),
    ...(opts.interpolateAntialias !== undefined ? { interpolate_antialias: opts.interpolateAntialias } : {}),
  };
}

/** Prints a library warning (e.g. a guessed head count) on stderr, one line. */
export function cliWarning(message: string): void {
  console.error(`warning: ${message}`);
}

/** The model the options name: --model, else (without --weights) DEFAULT_MODEL. */
export function modelNameFromCli(opts: Pick<ModelCliOptions, 'model' | 'weights'>): string | undefined {
  return opts.model ?? (opts.weights ? undefined : DEFAULT_MODEL);
}

/** `loadModelByNameOrPath`'s options for the parsed command-line options. */
export function modelLoadOptions(opts: Partial<ModelCliOptions>): LoadModelOptions {
  const config = architectureFromCli(opts);
  return {
    ...(opts.weights !== undefined ? { weights: opts.weights } : {}),
    ...(opts.offline ? { offline: true } : {}),
    ...runtimeFromCli({ device: opts.device ?? 'cpu', ...(opts.threads ? { threads: opts.threads } : {}) }),
    ...precisionOptions(opts.precision),
    ...(Object.keys(config).length ? { config } : {}),
    onWarning: cliWarning,
  };
}

/** Loads the model the parsed options name (DEFAULT_MODEL when none is). */
export function loadModelFromCli(opts: ModelCliOptions): Promise<Dinov2> {
  return loadModelByNameOrPath(modelNameFromCli(opts), modelLoadOptions(opts));
}
