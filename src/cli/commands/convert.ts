/** `dinov2 convert <in> <out>`: flags → `convertCheckpoint` (apps/convert.ts). */
import { Option, type Command } from 'commander';
import { CONVERT_TARGETS, convertCheckpoint, convertTarget, type ConvertOptions } from '../../apps/convert.js';
import { resolveCheckpoint } from '../../hub/loadModel.js';
import { hubConfig, type HubModelName } from '../../models/config.js';

/** What a hub name fixes beyond the shapes. */
function hubArchitecture(name: string): { num_heads: number; interpolate_antialias: boolean; interpolate_offset: number } {
  const { num_heads, interpolate_antialias, interpolate_offset } = hubConfig(name as HubModelName);
  return { num_heads, interpolate_antialias, interpolate_offset };
}
import { positiveInt } from '../inputs.js';
import { addArchitectureOptions, architectureFromCli, cliWarning } from '../modelOptions.js';

/** The flag combinations `convertCheckpoint` refuses, refused here in terms of flags. */
function checkConvertFlags(output: string, opts: ConvertCliOptions): void {
  let target: string;
  try {
    target = convertTarget(output, opts.to);
  } catch {
    throw new Error(`${output}: cannot tell the format from its extension; use --to ${CONVERT_TARGETS.join('|')}`);
  }
  const fixed = opts.height !== undefined || opts.width !== undefined;
  if (target !== 'onnx' && (fixed || opts.dynamic || opts.outputs !== undefined)) throw new Error('--height, --width, --dynamic and --outputs apply to --to onnx only');
  if (fixed && (opts.height === undefined || opts.width === undefined)) throw new Error('give both --height and --width');
  if (fixed && opts.dynamic) throw new Error('give either --height/--width or --dynamic, not both');
}

interface ConvertCliOptions extends Omit<ConvertOptions, 'config' | 'onWarning'> {
  offline?: boolean;
  numHeads?: number;
  interpolateOffset?: number;
  interpolateAntialias?: boolean;
}

export function registerConvert(program: Command): void {
  const cmd = program
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
    .option('--offline', 'never download <in> when it is a hub model name');
  addArchitectureOptions(cmd)
    .addHelpText(
      'after',
      [
        '',
        'ONNX models take "pixel_values" [batch, 3, H, W] (ImageNet-normalised) and give x_norm_clstoken [B, D],',
        'x_norm_regtokens [B, R, D], x_norm_patchtokens [B, N, D] and x_prenorm [B, 1+R+N, D] (or with --outputs',
        'hidden: last_hidden_state [B, 1+R+N, D] and pooler_output [B, D]). The position-embedding interpolation is',
        'inside the model, so it runs in any onnxruntime. Models over 1 GiB keep their weights in <out>.onnx.data.',
        '',
        'The architecture goes with the weights: .safetensors keep it in __metadata__.dinov2_config, HF folders in',
        'config.json, a .pth in a config.json beside it when its shapes alone would mislead (a head count other than',
        '64-dim heads). A checkpoint that does not state its head count needs --num-heads.',
        '',
        'Examples:',
        '  $ dinov2 convert dinov2_vits14_pretrain.pth vits14.safetensors',
        '  $ dinov2 convert vits14.safetensors ./dinov2-small            # Hugging Face folder',
        '  $ dinov2 convert dinov2_vitb14_reg dinov2_vitb14_reg.onnx --dynamic --dtype f16',
      ].join('\n'),
    )
    .action(async (input: string, output: string, opts: ConvertCliOptions) => {
      const { offline, numHeads, interpolateOffset, interpolateAntialias, ...convert } = opts;
      checkConvertFlags(output, opts);
      const { path, hubName } = await resolveCheckpoint(input, offline ? { offline } : {});
      const config = { ...(hubName ? hubArchitecture(hubName) : {}), ...architectureFromCli({ numHeads, interpolateOffset, interpolateAntialias }) };
      const written = await convertCheckpoint(path, output, { ...convert, ...(Object.keys(config).length ? { config } : {}), onWarning: cliWarning });
      console.error(`wrote ${written} (${convertTarget(output, opts.to)}${opts.dtype ? `, ${opts.dtype}` : ''})`);
    });
}
