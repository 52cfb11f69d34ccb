/**
 * A tiny bitmap font (5×7 pixels per glyph, upper case, digits and a little punctuation) for labels drawn
 * straight into RGB images — head numbers on attention tiles, the depth scale, the PCA caption — with no font
 * files or text renderer. Lower case is drawn as upper case; characters without a glyph as a space.
 */
import type { RgbImage } from '../../data/image.js';

/** Each glyph: 7 rows, 5 bits per row (bit 4 = leftmost column). */
const GLYPHS: Record<string, readonly number[]> = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  A: [14, 17, 17, 31, 17, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14], D: [30, 17, 17, 17, 17, 17, 30],
  E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16], G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14], J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14], P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17], S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14], V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 10, 4, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
  '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31], '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14], '6': [6, 8, 16, 30, 17, 17, 14], '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14], '9': [14, 17, 17, 15, 1, 2, 12],
  '.': [0, 0, 0, 0, 0, 12, 12], ',': [0, 0, 0, 0, 12, 4, 8], '-': [0, 0, 0, 31, 0, 0, 0], '+': [0, 4, 4, 31, 4, 4, 0],
  ':': [0, 12, 12, 0, 12, 12, 0], '/': [1, 1, 2, 4, 8, 16, 16], '%': [24, 25, 2, 4, 8, 19, 3], '(': [2, 4, 8, 8, 8, 4, 2],
  ')': [8, 4, 2, 2, 2, 4, 8], '>': [8, 4, 2, 1, 2, 4, 8], '<': [2, 4, 8, 16, 8, 4, 2], '=': [0, 0, 31, 0, 31, 0, 0],
  '#': [10, 10, 31, 10, 31, 10, 10], '×': [0, 17, 10, 4, 10, 17, 0], '→': [0, 4, 2, 31, 2, 4, 0], '_': [0, 0, 0, 0, 0, 0, 31],
};

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;

/** Width in pixels of `text` at `scale` (one pixel of spacing between glyphs). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

export interface TextStyle {
  scale?: number;
  colour?: readonly [number, number, number];
  /** A box behind the text (with `pad` pixels around it); none when undefined. */
  background?: readonly [number, number, number];
  pad?: number;
}

/** A copy of `img` with `text` drawn with its top-left corner at (x, y) (clipped to the image). */
export function drawText(img: RgbImage, text: string, x: number, y: number, style: TextStyle = {}): RgbImage {
  const data = new Uint8Array(img.data);
  drawTextInPlace({ width: img.width, height: img.height, data }, text, x, y, style);
  return { width: img.width, height: img.height, data };
}

/** `drawText` into the image's own buffer. */
export function drawTextInPlace(img: RgbImage, text: string, x: number, y: number, style: TextStyle = {}): void {
  const scale = Math.max(1, Math.round(style.scale ?? 1));
  const colour = style.colour ?? [255, 255, 255];
  const put = (px: number, py: number, c: readonly number[]): void => {
    if (px < 0 || py < 0 || px >= img.width || py >= img.height) return;
    const o = (py * img.width + px) * 3;
    img.data[o] = c[0]!;
    img.data[o + 1] = c[1]!;
    img.data[o + 2] = c[2]!;
  };
  if (style.background) {
    const pad = style.pad ?? scale;
    for (let py = y - pad; py < y + GLYPH_HEIGHT * scale + pad; py++) for (let px = x - pad; px < x + textWidth(text, scale) + pad; px++) put(px, py, style.background);
  }
  [...text.toUpperCase()].forEach((ch, i) => {
    const glyph = GLYPHS[ch] ?? GLYPHS[' ']!;
    const gx = x + i * (GLYPH_WIDTH + 1) * scale;
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (!((glyph[row]! >> (GLYPH_WIDTH - 1 - col)) & 1)) continue;
        for (let sy = 0; sy < scale; sy++) for (let sx = 0; sx < scale; sx++) put(gx + col * scale + sx, y + row * scale + sy, colour);
      }
    }
  });
}

/** A scale that keeps labels readable: about 1/40 of the shorter side, at least 1. */
export function labelScale(width: number, height: number): number {
  return Math.max(1, Math.round(Math.min(width, height) / 160));
}
