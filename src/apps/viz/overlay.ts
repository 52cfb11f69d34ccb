/**
 * Composing result images: colour layers blended over a photo, grids of tiles, and legends. Images are
 * `RgbImage` (8-bit HWC), the layout every decoder and resampler here uses.
 */
import sharp from 'sharp';
import { rgbImage, type RgbImage } from '../../data/image.js';

/** (1 − alpha)·image + alpha·layer, per pixel; `layer` is interleaved RGB of the same size. */
export function blend(image: RgbImage, layer: Uint8Array, alpha: number): RgbImage {
  if (layer.length !== image.data.length) throw new Error(`blend: layer has ${layer.length} bytes, the image ${image.data.length}`);
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round((1 - alpha) * image.data[i]! + alpha * layer[i]!);
  return rgbImage(image.width, image.height, out);
}

/** Label map → interleaved RGB through a palette of RGB triples (labels past the palette are black). */
export function paletteColours(labels: ArrayLike<number>, palette: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels.length * 3);
  const n = palette.length / 3;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l >= 0 && l < n) out.set(palette.subarray(l * 3, l * 3 + 3), i * 3);
  }
  return out;
}

/**
 * Tiles of equal size in a grid, `cols` per row, separated by `gap` pixels of `background`:
 * width = cols·w + (cols − 1)·gap, height = rows·h + (rows − 1)·gap with rows = ⌈tiles / cols⌉.
 */
export function tileGrid(tiles: readonly RgbImage[], cols: number, gap = 0, background: readonly [number, number, number] = [255, 255, 255]): RgbImage {
  const first = tiles[0];
  if (!first) throw new Error('tileGrid: no tiles');
  const { width: w, height: h } = first;
  const rows = Math.ceil(tiles.length / cols);
  const W = cols * w + (cols - 1) * gap;
  const H = rows * h + (rows - 1) * gap;
  const out = rgbImage(W, H);
  for (let i = 0; i < W * H; i++) out.data.set(background, i * 3);
  tiles.forEach((t, k) => {
    if (t.width !== w || t.height !== h) throw new Error(`tileGrid: tile ${k} is ${t.width}×${t.height}, tile 0 is ${w}×${h}`);
    const x0 = (k % cols) * (w + gap);
    const y0 = Math.floor(k / cols) * (h + gap);
    for (let y = 0; y < h; y++) out.data.set(t.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * W + x0) * 3);
  });
  return out;
}

/** A tile filled with one colour. */
export function solidTile(width: number, height: number, colour: ArrayLike<number>): RgbImage {
  const img = rgbImage(width, height);
  for (let i = 0; i < width * height; i++) img.data.set([colour[0]!, colour[1]!, colour[2]!], i * 3);
  return img;
}

export interface LegendEntry {
  name: string;
  colour: readonly [number, number, number];
  /** Share of the image's pixels, 0–1. */
  fraction?: number;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/**
 * A legend as PNG bytes: one row per entry, a colour swatch and the name (and share). Text is drawn by
 * librsvg inside sharp with the system's fonts (fontconfig); where none are installed the names may not
 * show, which is why the commands also write the legend as JSON.
 */
export async function legendPng(entries: readonly LegendEntry[]): Promise<Uint8Array> {
  const row = 24;
  const width = 360;
  const height = Math.max(1, entries.length) * row + 8;
  const items = entries
    .map((e, i) => {
      const y = 4 + i * row;
      const label = e.fraction === undefined ? e.name : `${e.name} (${(100 * e.fraction).toFixed(1)}%)`;
      return (
        `<rect x="4" y="${y + 2}" width="28" height="${row - 4}" fill="rgb(${e.colour.join(',')})" stroke="black" stroke-width="1"/>` +
        `<text x="40" y="${y + row - 7}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="14" fill="black">${escapeXml(label)}</text>`
      );
    })
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>${items}</svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}
