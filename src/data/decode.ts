/**
 * Image files → 8-bit RGB, matching what the official code feeds its transforms: PIL `Image.open(f).convert('RGB')`.
 * sharp (libvips) does the decoding; where libvips' own conversion to 8-bit RGB differs from PIL's, the
 * native samples are fetched and converted with PIL's rules instead (checked against Pillow 9.4):
 * - Embedded ICC profiles are ignored: PIL does not colour-manage on open or convert.
 * - Alpha is dropped, never composited. Grey is replicated to R, G and B.
 * - 16-bit grey without an alpha channel opens in PIL as mode I / I;16, whose conversion to RGB clips at 255
 *   (so most such images turn white); 16-bit grey+alpha, RGB and RGBA keep the high byte (v >> 8).
 * - CMYK uses PIL's naive conversion `R = (255 − K) − C·(255 − K)/255`, not an ICC transform.
 * - GIF: the first frame; transparent pixels take their palette colour, as PIL's palette lookup gives them.
 * - EXIF orientation is ignored unless asked for (PIL does not apply it; `ImageOps.exif_transpose` does).
 * - A pixel limit refuses decompression bombs from the header alone; the default is the size at which PIL
 *   raises DecompressionBombError (2 × MAX_IMAGE_PIXELS).
 * - Truncated files are an error, as in PIL without LOAD_TRUNCATED_IMAGES.
 * Other colour spaces and sample formats (Lab, float TIFF, 16-bit CMYK, high-bit-depth AVIF) go through
 * libvips' conversion to sRGB, which is not guaranteed to match PIL.
 */
import { readRegularFile } from '../core/fileio.js';
import sharp from 'sharp';
import { SharedExclusiveGate } from './decodeGate.js';
import { rgbImage, type RgbImage } from './image.js';

/** PIL's `Image.MAX_IMAGE_PIXELS` (89,478,485) × 2: above it PIL refuses to open an image. */
export const DEFAULT_MAX_PIXELS = 2 * 89_478_485;

export interface DecodeOptions {
  /** Rotate/flip by the EXIF Orientation tag (default false, like PIL). */
  applyExifOrientation?: boolean;
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS; Infinity disables the check). */
  maxPixels?: number;
  /** Names a buffer input in error messages. */
  name?: string;
}

function reason(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim().replace(/\s*\n\s*/g, '; ');
}

/** A failure reported by libvips, whose message may belong to another thread (see decodeGate.ts). */
class VipsFailure extends Error {}

const gate = new SharedExclusiveGate();

/** Image files larger than this are refused before reading (no photo format needs it at the pixel cap). */
const MAX_IMAGE_FILE_BYTES = 1 << 30;

export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const name = typeof input === 'string' ? input : (opts.name ?? '<image buffer>');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new Error(`${name}: maxPixels must be positive, got ${maxPixels}`);

  let bytes: Buffer;
  if (typeof input === 'string') {
    try {
      // A FIFO or device given as an image would block or never end: regular files only, opened non-blocking.
      const read = await readRegularFile(input, MAX_IMAGE_FILE_BYTES);
      bytes = Buffer.from(read.buffer, read.byteOffset, read.byteLength);
    } catch (e) {
      throw new Error(`${name}: cannot read the file (${reason(e)})`);
    }
  } else {
    bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  const decode = () => decodeBytes(bytes, name, maxPixels, opts.applyExifOrientation === true);
  try {
    return await gate.runShared(decode);
  } catch (e) {
    if (!(e instanceof VipsFailure)) throw e;
    // Decoded again alone, so that the message is this image's own.
    return gate.runExclusive(decode);
  }
}

async function decodeBytes(bytes: Buffer, name: string, maxPixels: number, autoOrient: boolean): Promise<RgbImage> {
  const fail = (why: string): never => {
    throw new Error(`${name}: ${why}`);
  };
  const vipsFail = (e: unknown): never => {
    throw new VipsFailure(`${name}: cannot decode the image (${reason(e)})`);
  };
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'truncated' }).metadata();
  } catch (e) {
    return vipsFail(e);
  }
  const width = meta.width;
  const height = meta.pageHeight ?? meta.height;
  if (!width || !height) return fail(`cannot decode the image (no dimensions in the ${meta.format} header)`);
  if (width * height > maxPixels) {
    fail(
      `image is ${width}x${height} = ${width * height} pixels, above the limit of ${maxPixels} ` +
        `(a guard against decompression bombs; raise it with the maxPixels option)`,
    );
  }

  const open = () =>
    sharp(bytes, {
      failOn: 'truncated',
      ignoreIcc: true,
      autoOrient,
      limitInputPixels: Number.isFinite(maxPixels) ? Math.max(1, Math.floor(maxPixels)) : false,
    });
  try {
    if (meta.depth === 'ushort' && (meta.space === 'grey16' || meta.space === 'rgb16')) {
      const { data, info } = await open().toColourspace(meta.space).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const clipGrey = info.channels === 1 || (meta.format === 'png' && pngColourType(bytes) === 0);
      return from16(uint16View(data), info.width, info.height, info.channels, clipGrey);
    }
    if (meta.space === 'cmyk' && meta.depth === 'uchar') {
      const { data, info } = await open().pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      return fromCmyk(data, info.width, info.height, info.channels);
    }
    const { data, info } = await open().raw().toBuffer({ resolveWithObject: true });
    const img = from8(data, info.width, info.height, info.channels);
    if (meta.format === 'gif' && info.channels === 4) {
      const colour = gifTransparentColour(bytes);
      if (colour) paintTransparent(img, data, colour);
    }
    return img;
  } catch (e) {
    return vipsFail(e);
  }
}

function uint16View(data: Buffer): Uint16Array {
  // sharp's raw output is native-endian; a pooled Buffer may start at an odd offset, which a view cannot.
  const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
  return new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
}

function from8(src: Uint8Array, width: number, height: number, channels: number): RgbImage {
  const img = rgbImage(width, height);
  const n = width * height;
  const grey = channels < 3;
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    img.data[i * 3] = src[s]!;
    img.data[i * 3 + 1] = src[grey ? s : s + 1]!;
    img.data[i * 3 + 2] = src[grey ? s : s + 2]!;
  }
  return img;
}

function from16(src: Uint16Array, width: number, height: number, channels: number, clipGrey: boolean): RgbImage {
  const img = rgbImage(width, height);
  const n = width * height;
  const grey = channels < 3;
  const to8 = clipGrey ? (v: number) => (v > 255 ? 255 : v) : (v: number) => v >> 8;
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    img.data[i * 3] = to8(src[s]!);
    img.data[i * 3 + 1] = to8(src[grey ? s : s + 1]!);
    img.data[i * 3 + 2] = to8(src[grey ? s : s + 2]!);
  }
  return img;
}

function fromCmyk(src: Uint8Array, width: number, height: number, channels: number): RgbImage {
  if (channels < 4) throw new Error(`CMYK image with ${channels} channels`);
  const img = rgbImage(width, height);
  const n = width * height;
  // Pillow's MULDIV255: an exact-rounding a·b/255 in integers.
  const mulDiv255 = (a: number, b: number): number => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    const nk = 255 - src[s + 3]!;
    for (let c = 0; c < 3; c++) img.data[i * 3 + c] = Math.max(0, nk - mulDiv255(src[s + c]!, nk));
  }
  return img;
}

/** The PNG IHDR colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA), or -1. */
function pngColourType(bytes: Uint8Array): number {
  return bytes.length > 25 ? bytes[25]! : -1;
}

function paintTransparent(img: RgbImage, rgba: Uint8Array, colour: readonly [number, number, number]): void {
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    if (rgba[i * 4 + 3] === 0) img.data.set(colour, i * 3);
  }
}

/**
 * The palette colour of the first frame's transparent index, read from the GIF blocks up to the first image
 * descriptor; null when the frame has no transparency or the stream is not understood.
 */
function gifTransparentColour(b: Uint8Array): [number, number, number] | null {
  if (b.length < 13 || String.fromCharCode(b[0]!, b[1]!, b[2]!) !== 'GIF') return null;
  const tableSize = (packed: number) => 3 * (2 << (packed & 7));
  let globalTable: number | null = null;
  let p = 13;
  if (b[10]! & 0x80) {
    globalTable = p;
    p += tableSize(b[10]!);
  }
  let transparent = -1;
  while (p < b.length) {
    const block = b[p]!;
    if (block === 0x21) {
      const label = b[p + 1];
      p += 2;
      if (label === 0xf9 && b[p] === 4) transparent = b[p + 1]! & 1 ? b[p + 4]! : -1;
      while (p < b.length && b[p] !== 0) p += b[p]! + 1;
      p += 1;
    } else if (block === 0x2c) {
      if (transparent < 0 || p + 10 > b.length) return null;
      const packed = b[p + 9]!;
      const table = packed & 0x80 ? p + 10 : globalTable;
      const size = packed & 0x80 ? tableSize(packed) : globalTable !== null ? tableSize(b[10]!) : 0;
      if (table === null || 3 * transparent + 2 >= size) return [0, 0, 0];
      const at = table + 3 * transparent;
      return at + 2 < b.length ? [b[at]!, b[at + 1]!, b[at + 2]!] : null;
    } else {
      return null;
    }
  }
  return null;
}
