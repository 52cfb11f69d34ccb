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

/**
 * torchvision `F.crop` on PIL: `img.crop((left, top, left + width, top + height))`. PIL allows the box to
 * leave the image and fills the outside with zeros (black), which is reproduced here.
 */
export function crop(img: RgbImage, top: number, left: number, height: number, width: number): RgbImage {
  for (const v of [top, left, height, width]) {
    if (!Number.isInteger(v)) throw new Error(`crop: box values must be integers, got ${top}, ${left}, ${height}, ${width}`);
  }
  const out = rgbImage(width, height);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + width);
  if (x1 <= x0) return out;
  for (let y = Math.max(0, top); y < Math.min(img.height, top + height); y++) {
    const from = (y * img.width + x0) * 3;
    out.data.set(img.data.subarray(from, from + (x1 - x0) * 3), ((y - top) * width + (x0 - left)) * 3);
  }
  return out;
}
