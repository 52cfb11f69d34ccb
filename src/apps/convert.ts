/**
 * Checkpoint conversion (`dinov2 convert`): checkpoints between .pth, .safetensors and Hugging Face folders (official key
 * names kept; HF names in HF folders), tensor by tensor, optionally cast to float16/bfloat16/float32; or a
 * standalone ONNX model (apps/export/onnxExport.ts). Without --dtype the stored bytes are copied unchanged.
 */
import { extname, resolve } from 'node:path';
import { exportOnnx, type OnnxWeightDtype } from './export/onnxExport.js';
import { ARCH_METADATA_KEY, detectConfigInfo, type DetectedConfig } from '../models/load.js';
import type { BackboneConfig } from '../models/config.js';
import { inferBackboneConfig } from '../models/inferConfig.js';
import { writeAtomically } from '../core/fileio.js';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { backboneConfigToHf, type BackboneConfig as HfBackboneConfig } from '../models/hfConfig.js';
import { writeHfFolder } from '../formats/hfFolder.js';
import { openWeights } from '../formats/open.js';
import { writePth } from '../formats/pthWriter.js';
import { writeSafetensors } from '../formats/safetensorsWriter.js';
import { encodeFloat32, sourceItems } from '../formats/tensorItem.js';
import type { StorageDType, TensorEntry, WeightSource } from '../formats/types.js';

export type ConvertTarget = 'pth' | 'safetensors' | 'hf' | 'onnx';
export const CONVERT_TARGETS: readonly ConvertTarget[] = ['pth', 'safetensors', 'hf', 'onnx'];

export interface ConvertOptions {
  /** Output format; default from the output's extension (.pth/.pt/.bin, .safetensors, .onnx; none = HF folder). */
  to?: ConvertTarget;
  /** Cast floating-point tensors (default: keep the stored type). */
  dtype?: OnnxWeightDtype;
  /** ONNX only: fixed input size, or dynamic (the default when no size is given). */
  height?: number;
  width?: number;
  dynamic?: boolean;
  /** ONNX only: official `forward_features` names, or transformers' last_hidden_state/pooler_output. */
  outputs?: 'features' | 'hidden';
  /** Architecture settings the input does not state (e.g. `num_heads` of a bare `.pth`); kept in the output. */
  config?: Partial<BackboneConfig>;
  /** Told when the head count is a guess (see `LoadOptions.onWarning`). */
  onWarning?: (message: string) => void;
}

export function convertTarget(out: string, to?: ConvertTarget): ConvertTarget {
  if (to) return to;
  const ext = extname(out).toLowerCase();
  if (['.pth', '.pt', '.bin'].includes(ext)) return 'pth';
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.onnx') return 'onnx';
  if (ext === '') return 'hf';
  throw new Error(`${out}: cannot tell the format from '${ext}'; give the target format (${CONVERT_TARGETS.join(', ')})`);
}

const STORAGE: Record<OnnxWeightDtype, StorageDType> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };
const FLOATS: readonly StorageDType[] = ['F64', 'F32', 'F16', 'BF16'];

/** A view of `source` with every floating-point tensor cast to `dtype` (integers untouched). */
export function castSource(source: WeightSource, dtype: StorageDType): WeightSource {
  const casts = (key: string): boolean => {
    const e = source.entry(key);
    return !!e && FLOATS.includes(e.dtype) && e.dtype !== dtype;
  };
  return {
    path: source.path,
    format: source.format,
    metadata: source.metadata,
    keys: () => source.keys(),
    entry(key): TensorEntry | undefined {
      const e = source.entry(key);
      if (!e || !casts(key)) return e;
      return { key: e.key, dtype, shape: e.shape };
    },
    async readRaw(key) {
      if (!casts(key)) return source.readRaw(key);
      return encodeFloat32(await source.readFloat32(key), dtype, `${source.path}: '${key}'`);
    },
    readFloat32: (key) => source.readFloat32(key),
    close: () => source.close(),
  };
}

/** Converts a checkpoint; returns the path written (the `.onnx` file for ONNX). */
export async function convertCheckpoint(input: string, output: string, opts: ConvertOptions = {}): Promise<string> {
  const target = convertTarget(output, opts.to);
  if (resolve(input) === resolve(output)) throw new Error(`${output}: the output would overwrite the input`);
  const onnxOnly = opts.height !== undefined || opts.width !== undefined || opts.dynamic || opts.outputs !== undefined;
  if (target !== 'onnx' && onnxOnly) throw new Error('height, width, dynamic and outputs apply to ONNX output only');
  const opened = await openWeights(input);
  try {
    if (target === 'onnx') {
      const fixed = opts.height !== undefined || opts.width !== undefined;
      if (fixed && (opts.height === undefined || opts.width === undefined)) throw new Error('give both height and width');
      if (fixed && opts.dynamic) throw new Error('give either height/width or dynamic, not both');
      return await exportOnnx(opened, output, {
        ...(fixed ? { height: opts.height!, width: opts.width! } : { dynamic: true }),
        ...(opts.dtype ? { dtype: opts.dtype } : {}),
        ...(opts.outputs ? { outputs: opts.outputs } : {}),
      });
    }
    const source = opts.dtype ? castSource(opened, STORAGE[opts.dtype]) : opened;
    // The architecture goes with the weights wherever the format allows it; a file that is not a backbone
    // (e.g. a head) converts without one.
    let detected: DetectedConfig | undefined;
    try {
      detected = detectConfigInfo(opened, opts.config);
    } catch (e) {
      if (target === 'hf' || opts.config) throw e;
    }
    if (detected?.assumed.includes('num_heads')) {
      const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m));
      warn(`${input} does not state its head count; writing ${detected.config.num_heads} (head dim 64, the hub's convention) into ${output} — pass num_heads (--num-heads) if that is wrong`);
    }
    if (target === 'pth') {
      await writePth(output, sourceItems(source));
      if (detected) await writeConfigBeside(output, detected.config, opened);
    } else if (target === 'safetensors') {
      await writeSafetensors(output, sourceItems(source), { format: 'pt', ...(detected ? { [ARCH_METADATA_KEY]: JSON.stringify(detected.config) } : {}) });
    } else {
      const config = detected!.config;
      if (config.ffn_layer === 'swiglu') throw new Error(`${input}: an unfused SwiGLU FFN has no Hugging Face equivalent`);
      await writeHfFolder(output, source, backboneConfigToHf(config as HfBackboneConfig));
    }
    return output;
  } finally {
    await opened.close();
  }
}


/**
 * A `.pth` has no place for metadata: when the shapes alone would give another architecture (a head count
 * other than 64-dim heads, other interpolation), the config goes into `config.json` beside it, which
 * `openWeights` reads. An existing config.json that says something else is not overwritten.
 */
async function writeConfigBeside(output: string, config: BackboneConfig, source: WeightSource): Promise<void> {
  const shapes = new Map(source.keys().map((k) => [k, source.entry(k)!.shape] as const));
  const inferred = inferBackboneConfig(shapes, source.path);
  const keys = ['num_heads', 'interpolate_antialias', 'interpolate_offset', 'layer_norm_eps', 'mlp_ratio'] as const;
  if (keys.every((k) => inferred[k] === config[k])) return;
  const file = join(dirname(resolve(output)), 'config.json');
  const text = JSON.stringify({ [ARCH_METADATA_KEY]: config }, null, 2) + '\n';
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing !== undefined && existing !== text) {
    throw new Error(`${output} needs its architecture (${config.num_heads} heads) in ${file}, which exists and says something else; write the .pth into its own folder or convert to .safetensors`);
  }
  await writeAtomically(file, async (handle) => {
    await handle.writeFile(text);
  });
}
