/**
 * The last block's class-token attention of one image as a picture (`dinov2 attention`): one map per head over
 * the image (or one row per head with a tile per register), at the image's size or shrunk to a tile size.
 */
import { Tensor } from '../core/tensor.js';
import { drawText, labelScale } from './viz/text.js';
import type { RgbImage } from '../data/image.js';
import { resize } from '../data/resample.js';
import { denseTransform } from '../data/transforms.js';
import { AttentionMaps } from '../heads/attentionMaps.js';
import { resizeBilinear } from '../heads/resize.js';
import type { Dinov2 } from '../models/dinov2.js';
import { applyColormap, type ColormapName } from './viz/colormap.js';
import { blend, solidTile, tileGrid } from './viz/overlay.js';

export const TILE_GAP = 2;

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

export interface AttentionGridOptions {
  /** Shorter side of the image fed to the model (rounded to the patch size; default 448). */
  size?: number;
  /** Shrink tiles so their longer side is at most this (default: the image size). */
  tileMax?: number;
  /** Opacity of the map over the image (default 0.6). */
  alpha?: number;
  colormap?: ColormapName;
  /** One row per head with each register's attention as an extra tile (register models). */
  showRegisters?: boolean;
}

export interface AttentionGrid {
  image: RgbImage;
  heads: number;
  registers: number;
  tile: [number, number];
}

export async function attentionGrid(backbone: Dinov2, img: RgbImage, opts: AttentionGridOptions = {}): Promise<AttentionGrid> {
  const size = opts.size ?? 448;
  const tileMax = opts.tileMax ?? Infinity;
  const alpha = opts.alpha ?? 0.6;
  const colormap = opts.colormap ?? 'turbo';
  if (!Number.isInteger(size) || size <= 0) throw new Error(`attention: size must be a positive integer, got ${size}`);
  if (!(tileMax > 0)) throw new Error(`attention: tileMax must be positive, got ${tileMax}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`attention: alpha must be between 0 and 1, got ${alpha}`);
  const config = backbone.config;
  const maps = new AttentionMaps(backbone);
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
    // Each tile says what it shows: the head, and for register tiles the register (and its attention).
    const ls = labelScale(tw, th);
    const label = (tile: RgbImage, text: string): RgbImage => drawText(tile, text, 2 * ls, 2 * ls, { scale: ls, colour: [255, 255, 255], background: [0, 0, 0] });
    tiles.push(label(blend(base, applyColormap(up, colormap, lo, hi), alpha), `HEAD ${head}`));
    if (showRegisters) regs.forEach((v, r) => tiles.push(label(solidTile(tw, th, applyColormap([v], colormap, lo, hi)), `H${head} REG ${r}: ${v.toFixed(3)}`)));
  }
  const { cols } = attentionGridLayout(att.heads, R, showRegisters);
  const grid = tileGrid(tiles, cols, TILE_GAP);
  return { image: grid, heads: att.heads, registers: R, tile: [tw, th] };
}
