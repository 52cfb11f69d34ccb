/** `dinov2 attention <image>`: the last block's class-token attention, one tile per head over the image. */
import type { Command } from 'commander';
import { AttentionMaps } from '../../heads/attentionMaps.js';
import { decodeImage } from '../../data/decode.js';
import type { RgbImage } from '../../data/image.js';
import { resize } from '../../data/resample.js';
import { denseTransform } from '../../data/transforms.js';
import { resizeBilinear } from '../../heads/resize.js';
import { loadModelByNameOrPath } from '../../hub/loadModel.js';
import { Tensor } from '../../core/tensor.js';
import { applyColormap, COLORMAPS, isColormapName } from '../../apps/viz/colormap.js';
import { blend, solidTile, tileGrid } from '../../apps/viz/overlay.js';
import { writeRgbPng } from '../../formats/png.js';
import { addBackboneOptions, backboneLoadOptions, type BackboneCliOptions } from '../backboneOptions.js';

export const TILE_GAP = 2;

interface AttentionOptions extends BackboneCliOptions {
  out: string;
  size: string;
  tile?: string;
  alpha: string;
  colormap: string;
  showRegisters?: boolean;
  numHeads?: string;
}

/**
 * The grid's layout. Without registers: one tile per head, ⌈√heads⌉ columns. With registers shown: one row per
 * head, the map then one tile per register filled with that register's attention (same colour scale as the
 * map of that head). Tiles are the image's size (or --tile on the longer side), 2 px apart.
 */
export function attentionGridLayout(heads: number, registers: number, showRegisters: boolean): { cols: number; rows: number } {
  if (showRegisters && registers > 0) return { cols: 1 + registers, rows: heads };
  const cols = Math.ceil(Math.sqrt(heads));
  return { cols, rows: Math.ceil(heads / cols) };
}

export async function runAttention(image: string, opts: AttentionOptions): Promise<{ width: number; height: number; heads: number; registers: number; tile: [number, number] }> {
  if (!isColormapName(opts.colormap)) throw new Error(`--colormap '${opts.colormap}' is not one of ${COLORMAPS.join(', ')}`);
  const alpha = Number(opts.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`--alpha must be between 0 and 1, got '${opts.alpha}'`);
  const size = Number(opts.size);
  if (!Number.isInteger(size) || size <= 0) throw new Error(`--size must be a positive integer, got '${opts.size}'`);
  const numHeads = opts.numHeads === undefined ? undefined : Number(opts.numHeads);
  if (numHeads !== undefined && !(Number.isInteger(numHeads) && numHeads > 0)) throw new Error(`--num-heads must be a positive integer, got '${opts.numHeads}'`);
  // Tiles: the image's own size, or scaled down so the longer side is --tile.
  const tileMax = opts.tile === undefined ? Infinity : Number(opts.tile);
  if (!(tileMax > 0)) throw new Error(`--tile must be a positive integer, got '${opts.tile}'`);
  const img = await decodeImage(image);
  const backbone = await loadModelByNameOrPath(opts.model, { ...backboneLoadOptions(opts), ...(numHeads ? { config: { num_heads: numHeads } } : {}) });
  const config = backbone.config;
  const maps = new AttentionMaps(backbone);
  try {
    const x = denseTransform(img, { shorterSide: size, patchSize: config.patch_size });
    const att = await maps.clsAttention(x.reshape([1, ...x.shape]));
    const [h, w] = att.grid;
    const R = config.num_register_tokens;
    const showRegisters = !!opts.showRegisters && R > 0;
    const scale = Math.min(1, tileMax / Math.max(img.width, img.height));
    const tw = Math.max(1, Math.round(img.width * scale));
    const th = Math.max(1, Math.round(img.height * scale));
    const base: RgbImage = tw === img.width && th === img.height ? img : resize(img, tw, th, 'bicubic');
    const tiles: RgbImage[] = [];
    for (let head = 0; head < att.heads; head++) {
      const map = Tensor.float32(att.patches.data.slice(head * h * w, (head + 1) * h * w), [1, 1, h, w]);
      const regs = att.registers.data.subarray(head * R, (head + 1) * R);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of map.data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      if (showRegisters) for (const v of regs) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      const up = resizeBilinear(map, th, tw, false).data;
      tiles.push(blend(base, applyColormap(up, opts.colormap, lo, hi), alpha));
      if (showRegisters) for (const v of regs) tiles.push(solidTile(tw, th, applyColormap([v], opts.colormap, lo, hi)));
    }
    const { cols } = attentionGridLayout(att.heads, R, showRegisters);
    const grid = tileGrid(tiles, cols, TILE_GAP);
    await writeRgbPng(opts.out, grid);
    return { width: grid.width, height: grid.height, heads: att.heads, registers: R, tile: [tw, th] };
  } finally {
    await backbone.dispose();
  }
}

export function registerAttention(program: Command): void {
  addBackboneOptions(
    program
      .command('attention')
      .description("the last block's class-token attention per head, as a grid of maps over the image")
      .argument('<image>', 'image file'),
  )
    .requiredOption('--out <file.png>', 'the grid: ⌈√heads⌉ tiles per row, each tile the image size (see --tile), 2 px apart')
    .option('--size <pixels>', 'shorter side of the image fed to the model (rounded to the patch size)', '448')
    .option('--tile <pixels>', 'shrink tiles so their longer side is at most this (default: the image size)')
    .option('--alpha <a>', 'opacity of the map over the image', '0.6')
    .option('--colormap <name>', `colour map: ${COLORMAPS.join(', ')}`, 'turbo')
    .option('--num-heads <n>', 'attention heads of a checkpoint that does not state them (hub models and HF folders do; else 64-dim heads are assumed)')
    .option('--show-registers', 'one row per head, with each register\'s attention as an extra tile (register models)')
    .option('--offline', 'never download the backbone')
    .addHelpText('after', '\nExamples:\n  $ dinov2 attention cat.jpg --model dinov2_vits14 --out attn.png\n  $ dinov2 attention cat.jpg --model dinov2_vitb14_reg --show-registers --tile 256 --out attn.png')
    .action(async (image: string, opts: AttentionOptions) => {
      const r = await runAttention(image, opts);
      console.log(`${opts.out}: ${r.width}×${r.height}, ${r.heads} heads${r.registers ? ` (${r.registers} registers${opts.showRegisters ? ' shown' : ' excluded'})` : ''}, tiles ${r.tile[0]}×${r.tile[1]}`);
    });
}
