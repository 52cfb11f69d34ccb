/** `dinov2 depth <image>`: metric depth with a linear or DPT depth head, as a colour-mapped PNG (+ raw values). */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { decodeImage } from '../../data/decode.js';
import { resize } from '../../data/resample.js';
import { normalize, toTensor } from '../../data/transforms.js';
import { openDecodeHead, resolveHeadFile } from '../../heads/headFile.js';
import { Depther, depthHeadFromSource, type DepthRange } from '../../heads/depth/depther.js';
import { resizeBilinear } from '../../heads/resize.js';
import { loadModelByNameOrPath } from '../../hub/loadModel.js';
import type { HeadKind } from '../../hub/registry.js';
import { writeSafetensors } from '../../formats/safetensorsWriter.js';
import { applyColormap, COLORMAPS, finiteRange, isColormapName } from '../../apps/viz/colormap.js';
import { writeRgbPng } from '../../formats/png.js';
import { addBackboneOptions, backboneLoadOptions, type BackboneCliOptions } from '../backboneOptions.js';

/** `--head` short names of the released heads → registry kinds. */
export const DEPTH_HEAD_PRESETS: Readonly<Record<string, HeadKind>> = {
  'nyu-linear4': 'nyu_linear4',
  'nyu-linear': 'nyu_linear',
  'nyu-dpt': 'nyu_dpt',
  'kitti-linear4': 'kitti_linear4',
  'kitti-linear': 'kitti_linear',
  'kitti-dpt': 'kitti_dpt',
};

/**
 * The depth range of a head: linear heads always use the hub's hard-coded 0.001–80 (whatever the dataset);
 * DPT heads the range of their training set (`_get_depth_range`): NYU 10 m, KITTI 80 m. A head file's
 * dataset is guessed from its name (`*_kitti_*`), NYU otherwise.
 */
export function presetRange(head: string, path: string): DepthRange {
  const kitti = /kitti/i.test(head) || /kitti/i.test(path);
  return { minDepth: 0.001, maxDepth: kitti ? 80 : 10 };
}

/** A .npy file (format 1.0) holding float32 values of `shape`. */
export function encodeNpy(values: Float32Array, shape: readonly number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}

interface DepthOptions extends BackboneCliOptions {
  head: string;
  out: string;
  raw?: string;
  size: string;
  colormap: string;
  minDepth?: string;
  maxDepth?: string;
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got '${v}'`);
  return n;
}

export async function runDepth(image: string, opts: DepthOptions): Promise<{ width: number; height: number; min: number; max: number }> {
  if (!isColormapName(opts.colormap)) throw new Error(`--colormap '${opts.colormap}' is not one of ${COLORMAPS.join(', ')}`);
  if (opts.raw && !/\.(npy|safetensors)$/i.test(opts.raw)) throw new Error(`--raw ${opts.raw}: use a .npy or .safetensors file name`);
  const size = positive('--size', opts.size) ?? 0;
  const minDepth = positive('--min-depth', opts.minDepth);
  const maxDepth = positive('--max-depth', opts.maxDepth);
  const img = await decodeImage(image);
  const { path: headPath } = await resolveHeadFile(opts.head, opts.model, DEPTH_HEAD_PRESETS, opts.offline !== undefined ? { offline: opts.offline } : {});
  const backbone = await loadModelByNameOrPath(opts.model, backboneLoadOptions(opts));
  const source = await openDecodeHead(headPath);
  try {
    const dpt = source.keys().some((k) => k.startsWith('decode_head.reassemble_blocks.'));
    const range: DepthRange = dpt ? presetRange(opts.head, headPath) : {};
    if (minDepth !== undefined) range.minDepth = minDepth;
    if (maxDepth !== undefined) range.maxDepth = maxDepth;
    const { head, store } = depthHeadFromSource(source, backbone.embedDim, range);
    const depther = new Depther(backbone, head, store);
    try {
      // Large photos are brought down to `size` on the shorter side (the cost grows with the square of the
      // token count); the depth map is resized back to the photo's own size.
      const short = Math.min(img.width, img.height);
      const scaled = size > 0 && short > size ? resize(img, Math.round((img.width * size) / short), Math.round((img.height * size) / short), 'bicubic') : img;
      const x = normalize(toTensor(scaled)).reshape([1, 3, scaled.height, scaled.width]);
      let depth = await depther.predict(x);
      if (scaled !== img) depth = resizeBilinear(depth, img.height, img.width, false);
      const values = depth.data;
      const [lo, hi] = finiteRange(values);
      await writeRgbPng(opts.out, { width: img.width, height: img.height, data: applyColormap(values, opts.colormap, lo, hi) });
      if (opts.raw) {
        if (/\.npy$/i.test(opts.raw)) await writeFile(opts.raw, encodeNpy(values, [img.height, img.width]));
        else await writeSafetensors(opts.raw, [{ key: 'depth', dtype: 'F32', shape: [img.height, img.width], data: values }], { unit: 'metre', head: headPath });
      }
      return { width: img.width, height: img.height, min: lo, max: hi };
    } finally {
      await depther.dispose();
    }
  } finally {
    await source.close();
    await backbone.dispose();
  }
}

export function registerDepth(program: Command): void {
  addBackboneOptions(
    program
      .command('depth')
      .description('estimate metric depth with a DINOv2 depth head (linear or DPT); writes a colour-mapped PNG of the image size')
      .argument('<image>', 'image file'),
  )
    .requiredOption('--head <name|file>', `depth head: ${Object.keys(DEPTH_HEAD_PRESETS).join(', ')} (released, for hub backbones) or a head file`)
    .requiredOption('--out <file.png>', 'colour-mapped depth (near → far over the map), same size as the image')
    .option('--raw <file>', 'raw depth in metres, [height, width] float32: .npy or .safetensors')
    .option('--size <pixels>', 'shrink the image so its shorter side is at most this before inference (0: never)', '480')
    .option('--colormap <name>', `colour map: ${COLORMAPS.join(', ')}`, 'turbo_r')
    .option('--min-depth <m>', 'clamp range minimum (default: the head\'s, 0.001)')
    .option('--max-depth <m>', 'clamp range maximum (default: 80 for linear heads as the hub hard-codes it; DPT: NYU 10, KITTI 80)')
    .option('--offline', 'never download (heads and backbone must be cached or local)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 depth room.jpg --model dinov2_vitb14 --head nyu-linear4 --out depth.png --raw depth.npy\n' +
        '  $ dinov2 depth street.png --model dinov2_vitl14 --head kitti-dpt --out depth.png\n' +
        '  $ dinov2 depth img.png --model my_vits14.pth --head dinov2_vits14_nyu_linear_head.pth --out d.png',
    )
    .action(async (image: string, opts: DepthOptions) => {
      const r = await runDepth(image, opts);
      console.log(`${opts.out}: ${r.width}×${r.height}, depth ${r.min.toFixed(3)}–${r.max.toFixed(3)} m${opts.raw ? `; raw values in ${opts.raw}` : ''}`);
    });
}
