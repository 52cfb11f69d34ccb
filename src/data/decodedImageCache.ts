/**
 * Decoded images kept in memory across epochs, for training loops that decode the same files again and
 * again: on small images (28-px data sets, thumbnails) decoding costs more than augmenting them. Images are
 * added until the byte budget is full and then kept: with uniformly random sampling every cached image is
 * as likely to come back as any other, so evicting would only trade one hit for another. A file that
 * changes during a run is not read again (the cache serves one run's fixed set of images).
 */
import type { RgbImage } from './image.js';

/** Default budget of a training run's decoded-image cache. */
export const DEFAULT_DECODE_CACHE_BYTES = 256 * 2 ** 20;

export class DecodedImageCache {
  private readonly images = new Map<string, RgbImage>();
  private bytes = 0;

  constructor(readonly maxBytes = DEFAULT_DECODE_CACHE_BYTES) {
    if (!(maxBytes >= 0)) throw new Error(`DecodedImageCache: maxBytes must be ≥ 0, got ${maxBytes}`);
  }

  get(path: string): RgbImage | undefined {
    return this.images.get(path);
  }

  /** Whether another image might still fit (callers skip sending decoded pixels back once it is full). */
  get full(): boolean {
    return this.bytes >= this.maxBytes;
  }

  /** Keeps `img` as the decoding of `path` if it fits in the budget. */
  offer(path: string, img: RgbImage): void {
    if (this.images.has(path) || this.bytes + img.data.byteLength > this.maxBytes) return;
    this.images.set(path, img);
    this.bytes += img.data.byteLength;
  }

  get size(): number {
    return this.images.size;
  }
}
