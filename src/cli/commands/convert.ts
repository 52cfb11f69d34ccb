/**
 * `dinov2 convert <in> <out>`: checkpoints between .pth, .safetensors and Hugging Face folders (official key
 * names kept; HF names in HF folders), tensor by tensor, optionally cast to float16/bfloat16/float32; or a
 * standalone ONNX model (src/export/onnxExport.ts). Without --dtype the stored bytes are copied unchanged.
 */
import { Option, type Command } from 'commander';
import { extname, resolve } from 'node:path';
import { exportOnnx, type OnnxWeightDtype } from '../../apps/export/onnxExport.js';
import { resolveCheckpoint } from '../../hub/loadModel.js';
import { detectConfig } from '../../models/load.js';
import type { BackboneConfig as HfBackboneConfig } from '../../models/hfConfig.js';
import { writeHfFolder } from '../../formats/hfFolder.js';
import { openWeights } from '../../formats/open.js';
import { writePth } from '../../formats/pthWriter.js';
import { writeSafetensors } from '../../formats/safetensorsWriter.js';
import { encodeFloat32, sourceItems } from '../../formats/tensorItem.js';
import type { StorageDType, TensorEntry, WeightSource } from '../../formats/types.js';
import { positiveInt } from '../inputs.js';

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
  throw new Error(`${out}: cannot tell the format from '${ext}'; use --to ${CONVERT_TARGETS.join('|')}`);
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
  if (target !== 'onnx' && onnxOnly) throw new Error('--height, --width, --dynamic and --outputs apply to --to onnx only');
  const opened = await openWeights(input);
  try {
    if (target === 'onnx') {
      const fixed = opts.height !== undefined || opts.width !== undefined;
      if (fixed && (opts.height === undefined || opts.width === undefined)) throw new Error('give both --height and --width');
      if (fixed && opts.dynamic) throw new Error('give either --height/--width or --dynamic, not both');
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
      await writeHfFolder(output, source, config as HfBackboneConfig);
    }
    return output;
  } finally {
    await opened.close();
  }
}

interface ConvertCliOptions extends ConvertOptions {
  offline?: boolean;
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('convert a checkpoint between .pth, .safetensors and Hugging Face folders, or export a standalone ONNX model')
    .argument('<in>', 'checkpoint (.pth, .safetensors, HF folder) or hub model name')
    .argument('<out>', 'output file or folder (format from the extension, or --to)')
    .addOption(new Option('--to <format>', 'output format (default: from <out>; no extension = HF folder)').choices(CONVERT_TARGETS))
    .addOption(new Option('--dtype <dtype>', 'cast floating-point weights (default: keep)').choices(['f32', 'f16', 'bf16']))
    .addOption(new Option('--height <pixels>', 'ONNX: fixed input height').argParser(positiveInt))
    .addOption(new Option('--width <pixels>', 'ONNX: fixed input width').argParser(positiveInt))
    .option('--dynamic', 'ONNX: any input height and width (the default without --height/--width)')
    .addOption(new Option('--outputs <names>', 'ONNX: features (official forward_features names) or hidden (last_hidden_state, pooler_output)').choices(['features', 'hidden']))
    .option('--offline', 'never download <in> when it is a hub model name')
    .addHelpText(
      'after',
      [
        '',
        'ONNX models take "pixel_values" [batch, 3, H, W] (ImageNet-normalised) and give x_norm_clstoken [B, D],',
        'x_norm_regtokens [B, R, D], x_norm_patchtokens [B, N, D] and x_prenorm [B, 1+R+N, D] (or with --outputs',
        'hidden: last_hidden_state [B, 1+R+N, D] and pooler_output [B, D]). The position-embedding interpolation is',
        'inside the model, so it runs in any onnxruntime. Models over 1 GiB keep their weights in <out>.onnx.data.',
        '',
        'Examples:',
        '  $ dinov2 convert dinov2_vits14_pretrain.pth vits14.safetensors',
        '  $ dinov2 convert vits14.safetensors ./dinov2-small            # Hugging Face folder',
        '  $ dinov2 convert dinov2_vitb14_reg dinov2_vitb14_reg.onnx --dynamic --dtype f16',
      ].join('\n'),
    )
    .action(async (input: string, output: string, opts: ConvertCliOptions) => {
      const { offline, ...convert } = opts;
      const { path } = await resolveCheckpoint(input, offline ? { offline } : {});
      const written = await convertCheckpoint(path, output, convert);
      console.error(`wrote ${written} (${convertTarget(output, opts.to)}${opts.dtype ? `, ${opts.dtype}` : ''})`);
    });
}
