/**
 * Image files → 8-bit RGB in a page, as the Node decoder (src/data/decode.ts) gives them: the browser's
 * decoders via `createImageBitmap` with `colorSpaceConversion: 'none'` (embedded ICC profiles and gamma
 * ignored, as PIL does) and `premultiplyAlpha: 'none'`; pixels are read back unpremultiplied through WebGL2
 * (exact for any alpha) or, where WebGL2 is missing, a 2D canvas (exact for opaque images); alpha is
 * dropped, never composited. The result feeds the same resize and transforms as Node (src/data).
 *
 * Differences from Node that a browser imposes: the decoders are the browser's (libjpeg-turbo, libpng,
 * libwebp in Chromium; a JPEG's IDCT or chroma upsampling may differ from libvips'), EXIF orientation is
 * ignored only where the browser honours `imageOrientation: 'none'`, and the pixel limit is checked after
 * decoding (browsers do not expose the header alone).
 */
import { rgbImage, type RgbImage } from '../data/image.js';

/** PIL's `Image.MAX_IMAGE_PIXELS` × 2, as in Node. */
export const DEFAULT_MAX_PIXELS = 2 * 89_478_485;

export interface WebDecodeOptions {
  /** Names the input in error messages (default: the File's name, or '<image>'). */
  name?: string;
  maxPixels?: number;
}

export type WebImageInput = Blob | ArrayBuffer | Uint8Array | ImageBitmap;

/**
 * One WebGL2 context for every read-back, made on first use: creating a context costs more than reading an
 * image (tens of ms on a software GL), and pages that decode many images would otherwise hit the browser's
 * limit on live contexts. A lost context is replaced on the next call.
 */
let glContext: WebGL2RenderingContext | null | undefined;

function readbackContext(): WebGL2RenderingContext | null {
  if (glContext === undefined || glContext?.isContextLost()) {
    glContext = new OffscreenCanvas(1, 1).getContext('webgl2', { antialias: false, premultipliedAlpha: false, preserveDrawingBuffer: true });
    if (glContext) {
      glContext.pixelStorei(glContext.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
      glContext.pixelStorei(glContext.UNPACK_COLORSPACE_CONVERSION_WEBGL, glContext.NONE);
      glContext.pixelStorei(glContext.UNPACK_FLIP_Y_WEBGL, false);
      glContext.pixelStorei(glContext.PACK_ALIGNMENT, 1);
    }
  }
  return glContext;
}

function pixelsWebGL(bitmap: ImageBitmap): Uint8Array | null {
  const { width, height } = bitmap;
  const gl = readbackContext();
  if (!gl) return null;
  // Error flags left by an earlier image must not be read as this one's.
  for (let i = 0; i < 8 && gl.getError() !== gl.NO_ERROR; i++);
  const texture = gl.createTexture();
  const fb = gl.createFramebuffer();
  try {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const rgba = new Uint8Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    return gl.getError() === gl.NO_ERROR ? rgba : null;
  } finally {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.bindTexture(gl.TEXTURE_2D, null);
    gl.deleteFramebuffer(fb);
    gl.deleteTexture(texture);
  }
}

function pixelsCanvas(bitmap: ImageBitmap): Uint8Array {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
  if (!ctx) throw new Error('no 2D canvas context');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height, { colorSpace: 'srgb' }).data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** RGBA (rows top to bottom) → RGB, alpha dropped. */
function dropAlpha(rgba: Uint8Array, width: number, height: number): RgbImage {
  const out = rgbImage(width, height);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    out.data[j] = rgba[i]!;
    out.data[j + 1] = rgba[i + 1]!;
    out.data[j + 2] = rgba[i + 2]!;
  }
  return out;
}

/** Decodes an image file (a File, Blob or bytes) or reads an ImageBitmap into 8-bit RGB. */
export async function decodeImage(input: WebImageInput, opts: WebDecodeOptions = {}): Promise<RgbImage> {
  const name = opts.name ?? ((input as File).name || '<image>');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  let bitmap: ImageBitmap;
  if (input instanceof ImageBitmap) {
    bitmap = input;
  } else {
    const blob = input instanceof Blob ? input : new Blob([input as BlobPart]);
    if (blob.size === 0) throw new Error(`${name}: cannot decode the image (the file is empty)`);
    try {
      bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'none' as ImageOrientation });
    } catch (e) {
      throw new Error(`${name}: cannot decode the image (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  try {
    const { width, height } = bitmap;
    if (!width || !height) throw new Error(`${name}: cannot decode the image (no dimensions)`);
    if (width * height > maxPixels) {
      throw new Error(`${name}: image is ${width}x${height} = ${width * height} pixels, above the limit of ${maxPixels} (a guard against decompression bombs; raise it with the maxPixels option)`);
    }
    return dropAlpha(pixelsWebGL(bitmap) ?? pixelsCanvas(bitmap), width, height);
  } finally {
    if (!(input instanceof ImageBitmap)) bitmap.close();
  }
}
