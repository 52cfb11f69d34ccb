/** A generated segmentation dataset: coloured shapes on textured backgrounds, with their masks. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { rgbImage, type RgbImage } from '../../../src/data/image.js';
import type { SegSample } from '../../../src/eval/segmentationTrain.js';
import { encodePng } from '../../../src/formats/png.js';
import { vocPalette } from '../../../src/heads/segmentation/palettes.js';
import { uniform } from '../depth/helpers.js';

export const CLASSES = ['background', 'disc', 'square'] as const;

/**
 * Image i: a greenish noisy background (class 0), a red disc (class 1) and a blue square (class 2) at
 * seeded positions and sizes; a few pixels on the disc's rim are labelled 255 (ignore), as VOC does.
 */
export function makeSample(i: number, size: number): SegSample {
  const img = rgbImage(size, size);
  const labels = new Uint16Array(size * size);
  const r = uniform(8, 1000 + i).map((v) => (v + 1) / 2);
  const noise = uniform(size * size * 3, 2000 + i);
  const radius = size * (0.15 + 0.1 * r[0]!);
  const cx = radius + r[1]! * (size - 2 * radius);
  const cy = radius + r[2]! * (size - 2 * radius);
  const side = Math.round(size * (0.2 + 0.15 * r[3]!));
  const sx = Math.floor(r[4]! * (size - side));
  const sy = Math.floor(r[5]! * (size - side));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      let rgb = [60, 140, 70];
      let label = 0;
      if (x >= sx && x < sx + side && y >= sy && y < sy + side) {
        rgb = [40, 60, 210];
        label = 2;
      }
      const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
      if (d < radius) {
        rgb = [220, 50, 40];
        label = Math.abs(d - radius) < 0.5 ? 255 : 1;
      }
      for (let c = 0; c < 3; c++) img.data[p * 3 + c] = Math.max(0, Math.min(255, Math.round(rgb[c]! + 25 * noise[p * 3 + c]!)));
      labels[p] = label;
    }
  }
  return { name: `img${i}`, image: img, labels };
}

/** Writes n samples as `images/img<i>.png` (RGB) and `masks/img<i>.png` (palette PNG of class indices). */
export async function writeDataset(dir: string, n: number, size: number): Promise<SegSample[]> {
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'masks'), { recursive: true });
  const samples: SegSample[] = [];
  for (let i = 0; i < n; i++) {
    const s = makeSample(i, size);
    samples.push(s);
    await writeImage(join(dir, 'images', `${s.name}.png`), s.image);
    const indices = Uint8Array.from(s.labels);
    await writeFile(join(dir, 'masks', `${s.name}.png`), encodePng({ width: size, height: size, channels: 1, data: indices, palette: vocPalette(256) }));
  }
  return samples;
}

export async function writeImage(path: string, img: RgbImage): Promise<void> {
  await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(path);
}
