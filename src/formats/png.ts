/**
 * A small PNG codec, so that outputs are exact and masks keep their class indices: sharp/libvips would expand
 * a palette PNG to RGB on reading (losing the indices a VOC-style mask stores) and can only write palettes
 * through lossy quantisation. Writing: 8-bit grey, RGB, RGBA or palette (PLTE), non-interlaced. Reading:
 * every non-interlaced PNG (grey, palette, RGB, with alpha; 1–16 bits), as raw samples.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { crc32 } from '../core/crc32.js';

const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG colour types. */
const COLOUR_TYPE = { grey: 0, rgb: 2, palette: 3, greyAlpha: 4, rgba: 6 } as const;
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export interface PngImage {
  width: number;
  height: number;
  /** Interleaved 8-bit samples, `channels` per pixel (1 for grey and palette indices). */
  data: Uint8Array;
  channels: 1 | 2 | 3 | 4;
  /** RGB triples for a palette image (indices in `data`). */
  palette?: Uint8Array;
}

export function encodePng(img: PngImage): Uint8Array {
  const { width, height, data, channels, palette } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) throw new Error(`encodePng: invalid size ${width}×${height}`);
  if (data.length !== width * height * channels) throw new Error(`encodePng: ${data.length} bytes for ${width}×${height}×${channels}`);
  if (palette && (channels !== 1 || palette.length % 3 !== 0 || palette.length === 0 || palette.length > 768)) {
    throw new Error('encodePng: a palette needs 1 channel of indices and 1–256 RGB entries');
  }
  const colourType = palette ? COLOUR_TYPE.palette : [COLOUR_TYPE.grey, COLOUR_TYPE.greyAlpha, COLOUR_TYPE.rgb, COLOUR_TYPE.rgba][channels - 1]!;
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, colourType, 0, 0, 0], 8);
  // Filter "Up" on every row after the first: cheap, and much smaller output than no filter for smooth maps.
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * stride, (y + 1) * stride);
    const o = y * (stride + 1);
    if (y === 0 || palette) {
      raw.set(row, o + 1);
    } else {
      raw[o] = 2;
      const prev = data.subarray((y - 1) * stride, y * stride);
      for (let i = 0; i < stride; i++) raw[o + 1 + i] = (row[i]! - prev[i]!) & 0xff;
    }
  }
  const parts = [SIGNATURE, chunk('IHDR', ihdr)];
  if (palette) parts.push(chunk('PLTE', palette));
  parts.push(chunk('IDAT', deflateSync(raw, { level: 6 })), chunk('IEND', new Uint8Array(0)));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface DecodedPng {
  width: number;
  height: number;
  colourType: number;
  bitDepth: number;
  channels: number;
  /** Samples as stored (palette indices for colour type 3), one per channel, row-major. */
  samples: Uint16Array;
  palette?: Uint8Array;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(bytes: Uint8Array, name = '<png>'): DecodedPng {
  const fail = (why: string): never => {
    throw new Error(`${name}: ${why}`);
  };
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) fail('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let header: { width: number; height: number; bitDepth: number; colourType: number; interlace: number } | null = null;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (body.length !== length) fail(`truncated ${type} chunk`);
    if (type === 'IHDR') {
      const h = new DataView(body.buffer, body.byteOffset, body.byteLength);
      header = { width: h.getUint32(0), height: h.getUint32(4), bitDepth: body[8]!, colourType: body[9]!, interlace: body[12]! };
    } else if (type === 'PLTE') palette = body.slice();
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (!header) return fail('no IHDR chunk');
  const { width, height, bitDepth, colourType, interlace } = header;
  const channels = CHANNELS[colourType] ?? fail(`unknown colour type ${colourType}`);
  if (interlace !== 0) fail('interlaced PNGs are not supported (re-save without interlacing)');
  if (![1, 2, 4, 8, 16].includes(bitDepth)) fail(`invalid bit depth ${bitDepth}`);
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (e) {
    return fail(`corrupt image data (${(e as Error).message})`);
  }
  const bitsPerPixel = channels * bitDepth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  if (raw.length < height * (stride + 1)) fail('truncated image data');
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = rows.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? rows.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : filter === 4 ? paeth(a, b, c) : fail(`invalid filter type ${filter}`);
      row[i] = (src[i]! + pred) & 0xff;
    }
  }
  const samples = new Uint16Array(width * height * channels);
  const perRow = width * channels;
  for (let y = 0; y < height; y++) {
    const row = rows.subarray(y * stride, (y + 1) * stride);
    for (let i = 0; i < perRow; i++) {
      let v: number;
      if (bitDepth === 8) v = row[i]!;
      else if (bitDepth === 16) v = (row[2 * i]! << 8) | row[2 * i + 1]!;
      else {
        const bit = i * bitDepth;
        v = (row[bit >> 3]! >> (8 - bitDepth - (bit & 7))) & ((1 << bitDepth) - 1);
      }
      samples[y * perRow + i] = v;
    }
  }
  return { width, height, colourType, bitDepth, channels, samples, ...(palette ? { palette } : {}) };
}

/**
 * A label map from a mask PNG: palette indices (VOC-style masks), grey values (ADE20K-style), or the shared
 * value of R = G = B. Colour masks with other colours are refused: their classes would need a palette.
 */
export function decodeLabelPng(bytes: Uint8Array, name = '<mask>'): { width: number; height: number; labels: Uint16Array } {
  const png = decodePng(bytes, name);
  const n = png.width * png.height;
  if (png.channels <= 2) {
    const labels = new Uint16Array(n);
    for (let i = 0; i < n; i++) labels[i] = png.samples[i * png.channels]!;
    return { width: png.width, height: png.height, labels };
  }
  const labels = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const r = png.samples[i * png.channels]!;
    if (png.samples[i * png.channels + 1] !== r || png.samples[i * png.channels + 2] !== r) {
      throw new Error(`${name}: a colour mask (pixel ${i % png.width},${Math.floor(i / png.width)} is not grey); save class indices as a grey or palette PNG`);
    }
    labels[i] = r;
  }
  return { width: png.width, height: png.height, labels };
}

/** Writes an 8-bit RGB image (HWC) as PNG. */
export async function writeRgbPng(path: string, img: { width: number; height: number; data: Uint8Array }): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, encodePng({ width: img.width, height: img.height, channels: 3, data: img.data }));
}
