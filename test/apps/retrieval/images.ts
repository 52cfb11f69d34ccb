/** Generated test images: distinct synthetic scenes and edited copies of them (re-encoded, resized, cropped, flipped). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { uniform } from '../../eval/synthetic.js';

/** A W×H RGB scene: a two-colour gradient background, stripes and a few discs, all drawn from `seed`. */
export function scene(seed: number, W = 160, H = 120): Buffer {
  const u = uniform(seed * 7919 + 17);
  const colour = () => [u() * 255, u() * 255, u() * 255];
  const [c0, c1, stripe] = [colour(), colour(), colour()];
  const angle = u() * Math.PI;
  const freq = 0.03 + u() * 0.15;
  const discs = Array.from({ length: 1 + Math.floor(u() * 4) }, () => ({ x: u() * W, y: u() * H, r: 8 + u() * 30, c: colour() }));
  const buf = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const t = x / W;
      let c = c0.map((v, i) => v * (1 - t) + c1[i]! * t);
      if (Math.sin((x * Math.cos(angle) + y * Math.sin(angle)) * freq * 2 * Math.PI) > 0.3) c = c.map((v, i) => 0.5 * v + 0.5 * stripe[i]!);
      for (const d of discs) if ((x - d.x) ** 2 + (y - d.y) ** 2 < d.r ** 2) c = d.c;
      buf.set(c.map((v) => Math.round(v)), (y * W + x) * 3);
    }
  }
  return buf;
}

const raw = (W: number, H: number) => ({ raw: { width: W, height: H, channels: 3 as const } });

export async function writeScene(path: string, seed: number, W = 160, H = 120): Promise<void> {
  const img = sharp(scene(seed, W, H), raw(W, H));
  await writeFile(path, path.endsWith('.png') ? await img.png().toBuffer() : await img.jpeg({ quality: 92 }).toBuffer());
}

/** `<dir>/images/img0.jpg … img5.png`: six scenes of different sizes, JPEG and PNG alternating (for training runs). */
export async function writeTrainingImages(dir: string): Promise<string> {
  const images = join(dir, 'images');
  await mkdir(images, { recursive: true });
  for (let k = 0; k < 6; k++) await writeScene(join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`), k + 1, 60 + 7 * k, 50 + 5 * k);
  return images;
}

export type Edit = 'reencode' | 'resize' | 'crop5' | 'flip';

/** An edited copy of an image file. */
export async function writeEdited(src: string, dst: string, edit: Edit): Promise<void> {
  const img = sharp(src);
  const { width = 0, height = 0 } = await img.metadata();
  let out: sharp.Sharp;
  if (edit === 'reencode') out = img.jpeg({ quality: 60 });
  else if (edit === 'resize') out = img.resize(Math.round(width * 0.7), Math.round(height * 0.7)).jpeg({ quality: 90 });
  else if (edit === 'crop5') {
    const dx = Math.round(width * 0.05);
    const dy = Math.round(height * 0.05);
    out = img.extract({ left: dx, top: dy, width: width - dx, height: height - dy }).png();
  } else out = img.flop().png();
  await writeFile(dst, await out.toBuffer());
}

/** HSV (h in turns, s, v in [0, 1]) → RGB 0–255. */
function hsv(h: number, s: number, v: number): number[] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return 255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1)));
  };
  return [f(5), f(3), f(1)];
}

/**
 * Clearly different images for models with random weights, whose CLS tokens mostly see colour and coarse
 * layout: image i of n has its own hue (i/n of the colour wheel), alternately bright and dark, a smooth left-to-right gradient and
 * one large disc of the opposite hue whose place depends on i. Smooth content keeps re-encoding, resizing
 * and 5% crops from changing what such a model sees.
 */
export function distinctScene(i: number, n: number, W = 160, H = 120): Buffer {
  const hue = i / n;
  const v = i % 2 === 0 ? 0.9 : 0.45;
  const left = hsv(hue, 0.85, v);
  const right = hsv((hue + 0.08) % 1, 0.85, Math.min(1, v + 0.15));
  const disc = hsv((hue + 0.5) % 1, 0.7, 0.95);
  const cx = W * (0.25 + 0.5 * ((i * 0.7548) % 1));
  const cy = H * (0.3 + 0.4 * ((i * 0.5698) % 1));
  const r = H * 0.28;
  const buf = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const t = x / (W - 1);
      const c = (x - cx) ** 2 + (y - cy) ** 2 < r * r ? disc : left.map((l, k) => l * (1 - t) + right[k]! * t);
      buf.set(c.map((q) => Math.round(q)), (y * W + x) * 3);
    }
  }
  return buf;
}

export async function writeDistinct(path: string, i: number, n: number, W = 160, H = 120): Promise<void> {
  const img = sharp(distinctScene(i, n, W, H), raw(W, H));
  await writeFile(path, path.endsWith('.png') ? await img.png().toBuffer() : await img.jpeg({ quality: 92 }).toBuffer());
}
