/** `dinov2 depth <image>`: flags → `loadDepther` (hub/loadHead.ts) and `depthImage` (apps/depth.ts). */
import type { Command } from 'commander';
import { depthImage, writeDepthPng, writeRawDepth } from '../../apps/depth.js';
import { COLORMAPS, isColormapName } from '../../apps/viz/colormap.js';
import { decodeImage } from '../../data/decode.js';
import { DEPTH_HEAD_PRESETS, loadDepther, resolveHeadFile } from '../../hub/loadHead.js';
import { loadModelByNameOrPath } from '../../hub/loadModel.js';
import { addModelOptions, modelLoadOptions, modelNameFromCli, type ModelCliOptions } from '../modelOptions.js';

interface DepthOptions extends ModelCliOptions {
  json?: boolean;
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
  // The head first: a missing head fails before the backbone is read or downloaded.
  const { path: headPath } = await resolveHeadFile(opts.head, modelNameFromCli(opts), DEPTH_HEAD_PRESETS, opts.offline !== undefined ? { offline: opts.offline } : {});
  const backbone = await loadModelByNameOrPath(modelNameFromCli(opts), modelLoadOptions(opts));
  try {
    const range = { ...(minDepth !== undefined ? { minDepth } : {}), ...(maxDepth !== undefined ? { maxDepth } : {}) };
    const { depther, path } = await loadDepther(headPath, backbone, { ...(modelNameFromCli(opts) !== undefined ? { model: modelNameFromCli(opts)! } : {}), ...(opts.offline !== undefined ? { offline: opts.offline } : {}), range });
    try {
      const d = await depthImage(depther, img, { size });
      await writeDepthPng(opts.out, d, opts.colormap);
      if (opts.raw) await writeRawDepth(opts.raw, d, { head: path });
      return { width: d.width, height: d.height, min: d.min, max: d.max };
    } finally {
      await depther.dispose();
    }
  } finally {
    await backbone.dispose();
  }
}

export function registerDepth(program: Command): void {
  addModelOptions(
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
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 depth room.jpg --model dinov2_vitb14 --head nyu-linear4 --out depth.png --raw depth.npy\n' +
        '  $ dinov2 depth street.png --model dinov2_vitl14 --head kitti-dpt --out depth.png\n' +
        '  $ dinov2 depth img.png --model my_vits14.pth --head dinov2_vits14_nyu_linear_head.pth --out d.png',
    )
    .action(async (image: string, opts: DepthOptions) => {
      const r = await runDepth(image, opts);
      if (opts.json) console.log(JSON.stringify({ out: opts.out, ...(opts.raw ? { raw: opts.raw } : {}), ...r }));
      else console.log(`${opts.out}: ${r.width}×${r.height}, depth ${r.min.toFixed(3)}–${r.max.toFixed(3)} m${opts.raw ? `; raw values in ${opts.raw}` : ''}`);
    });
}
