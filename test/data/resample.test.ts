/**
 * The resampler against a slow, direct float64 statement of PIL's resampling: every input sample weighted by
 * the support-scaled kernel at its distance from the output pixel's centre, normalised, rounded to 8 bits after
 * each pass. The fixed-point code may differ by rounding only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rgbImage, type RgbImage } from '../../src/data/image.js';
import { resize, resizeCropped, type ResampleFilter } from '../../src/data/resample.js';
import { crop } from '../../src/data/image.js';

function keysCubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1;
  if (t < 2) return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a;
  return 0;
}

const triangle = (x: number): number => Math.max(0, 1 - Math.abs(x));

/** Row i: the weights of every input sample for output sample i. */
function weightMatrix(inSize: number, outSize: number, filter: ResampleFilter): number[][] {
  const kernel = filter === 'bicubic' ? keysCubic : triangle;
  const scale = inSize / outSize;
  const stretch = Math.max(1, scale);
  const rows: number[][] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const w = Array.from({ length: inSize }, (_, j) => kernel((j + 0.5 - center) / stretch));
    const sum = w.reduce((s, v) => s + v, 0);
    rows.push(w.map((v) => v / sum));
  }
  return rows;
}

const to8 = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));

function referenceResize(img: RgbImage, width: number, height: number, filter: ResampleFilter): Uint8Array {
  let cur = { w: img.width, h: img.height, px: (x: number, y: number, c: number) => img.data[(y * img.width + x) * 3 + c]! };
  if (width !== img.width) {
    const m = weightMatrix(img.width, width, filter);
    const buf = new Uint8Array(width * cur.h * 3);
    for (let y = 0; y < cur.h; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) buf[(y * width + x) * 3 + c] = to8(m[x]!.reduce((s, k, j) => s + k * cur.px(j, y, c), 0));
    cur = { w: width, h: cur.h, px: (x, y, c) => buf[(y * width + x) * 3 + c]! };
  }
  const out = new Uint8Array(width * height * 3);
  const m = height !== img.height ? weightMatrix(cur.h, height, filter) : null;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++)
        out[(y * width + x) * 3 + c] = m ? to8(m[y]!.reduce((s, k, j) => s + k * cur.px(x, j, c), 0)) : cur.px(x, y, c);
  return out;
}

function randomImage(width: number, height: number, seed: number): RgbImage {
  const img = rgbImage(width, height);
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // Hard 0/255 edges make the cubic kernel overshoot, so clipping is exercised too.
    img.data[i] = i % 5 === 0 ? ((s >>> 16) & 1) * 255 : (s >>> 16) & 255;
  }
  return img;
}

function maxDiff(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

const SIZES: Array<[number, number, number, number]> = [
  [7, 5, 3, 2], // downsample both axes
  [13, 11, 4, 9], // strong downsample in x, mild in y
  [5, 4, 11, 9], // upsample
  [9, 6, 9, 3], // vertical only
  [9, 6, 4, 6], // horizontal only
  [1, 8, 3, 3], // single column
  [20, 3, 7, 1], // to a single row
];

for (const filter of ['bicubic', 'bilinear'] as const) {
  test(`${filter}: matches a float64 direct evaluation within rounding`, () => {
    for (const [w, h, ow, oh] of SIZES) {
      const img = randomImage(w, h, w * 31 + h * 7 + ow);
      const out = resize(img, ow, oh, filter);
      assert.deepEqual([out.width, out.height], [ow, oh]);
      const ref = referenceResize(img, ow, oh, filter);
      const { max, mean } = maxDiff(out.data, ref);
      // One axis: a single rounding, so at most 1. Two axes: a 1-level difference in the intermediate image can
      // be amplified by the second pass's kernel (whose absolute weights sum to more than 1 for bicubic).
      const bound = w !== ow && h !== oh ? 2 : 1;
      assert.ok(max <= bound, `${w}x${h} → ${ow}x${oh}: max diff ${max}`);
      assert.ok(mean <= 0.25, `${w}x${h} → ${ow}x${oh}: mean diff ${mean}`);
    }
  });
}

test('downsampling is antialiased: a 1-pixel checkerboard averages to grey', () => {
  const img = rgbImage(16, 16);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) img.data.fill((x + y) % 2 ? 255 : 0, (y * 16 + x) * 3, (y * 16 + x) * 3 + 3);
  for (const filter of ['bicubic', 'bilinear'] as const) {
    const out = resize(img, 4, 4, filter);
    // Interior pixels see whole periods of the pattern; a point-sampling resize would give 0 or 255 here.
    for (const [x, y] of [[1, 1], [2, 2], [1, 2]] as const) {
      const v = out.data[(y * 4 + x) * 3]!;
      assert.ok(Math.abs(v - 127.5) <= 2, `${filter} (${x},${y}) = ${v}`);
    }
  }
});

test('same size is a copy; a constant image stays constant', () => {
  const img = randomImage(6, 4, 3);
  const same = resize(img, 6, 4);
  assert.deepEqual(same.data, img.data);
  assert.notEqual(same.data, img.data);
  const flat = rgbImage(9, 7, new Uint8Array(9 * 7 * 3).fill(200));
  assert.ok(resize(flat, 4, 11).data.every((v) => v === 200));
  assert.throws(() => resize(img, 0, 3), /invalid target size/);
});

test('resizeCropped is byte-identical to resize then crop, computing only the box', () => {
  let s = 7;
  const rnd = (n: number): number => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s >>> 8) % n;
  };
  const cases: [number, number, number, number][] = [
    [97, 61, 40, 25], // both passes, downsampling
    [50, 70, 120, 90], // both passes, upsampling
    [64, 48, 64, 30], // vertical pass only
    [64, 48, 20, 48], // horizontal pass only
  ];
  for (const [w, h, W, H] of cases) {
    const img = rgbImage(w, h, Uint8Array.from({ length: w * h * 3 }, () => rnd(256)));
    for (const filter of ['bicubic', 'bilinear'] as const) {
      const full = resize(img, W, H, filter);
      for (let k = 0; k < 6; k++) {
        const bw = 1 + rnd(W);
        const bh = 1 + rnd(H);
        const box = { left: rnd(W - bw + 1), top: rnd(H - bh + 1), width: bw, height: bh };
        const got = resizeCropped(img, W, H, box, filter);
        const want = crop(full, box.top, box.left, bh, bw);
        assert.equal(got.width, bw);
        assert.equal(got.height, bh);
        assert.deepEqual(got.data, want.data, `${w}x${h} → ${W}x${H} ${filter} box ${JSON.stringify(box)}`);
      }
    }
  }
  assert.throws(() => resizeCropped(rgbImage(4, 4, new Uint8Array(48)), 8, 8, { left: 4, top: 0, width: 5, height: 2 }), /crop box 5x2 at \(4, 0\) is not inside the 8x8 result/);
});
