/**
 * An 8-bit RGB image laid out as PIL's mode 'RGB' exposes it (`np.asarray(img)`): rows top to bottom,
 * pixels left to right, channels interleaved R, G, B. Every preprocessing step works on this one layout so
 * that its arithmetic can follow Pillow's byte for byte.
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** `height * width * 3` bytes, HWC. */
  readonly data: Uint8Array;
}

/** Checks the dimensions against the data (or allocates black pixels) so that bad sizes fail here, not deep in a kernel. */
export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`rgbImage: invalid size ${width}x${height}`);
  }
  const size = width * height * 3;
  if (data === undefined) return { width, height, data: new Uint8Array(size) };
  if (data.length !== size) {
    throw new Error(`rgbImage: ${width}x${height} RGB needs ${size} bytes, got ${data.length}`);
  }
  return { width, height, data };
}
