/**
 * Checkpoint conversion (`dinov2 convert`): checkpoints between .pth, .safetensors and Hugging Face folders (official key
 * names kept; HF names in HF folders), tensor by tensor, optionally cast to float16/bfloat16/float32; or a
 * standalone ONNX model (apps/export/onnxExport.ts). Without --dtype the stored bytes are copied unchanged.
 */
import { extname, resolve } from 'node:path';
import { exportOnnx, type OnnxWeightDtype } from './export/onnxExport.js';
import { detectConfig } from '../models/load.js';
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
    if (target === 'pth') await writePth(output, sourceItems(source));
    else if (target === 'safetensors') await writeSafetensors(output, sourceItems(source), { format: 'pt' });
    else {
      const config = detectConfig(opened);
      if (config.ffn_layer === 'swiglu') throw new Error(`${input}: an unfused SwiGLU FFN has no Hugging Face equivalent`);
      await writeHfFolder(output, source, backboneConfigToHf(config as HfBackboneConfig));
    }
    return output;
  } finally {
    await opened.close();
  }
}

