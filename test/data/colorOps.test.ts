/**
 * colorOps against Pillow 9.4 / torchvision 0.14 themselves, byte for byte, when a Python with them is
 * available (`PIL_PYTHON`, default /usr/bin/python3); skipped otherwise. The last tests need no Python.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rgbImage, type RgbImage } from '../../src/data/image.js';
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  colorJitter,
  colorJitterParams,
  solarize,
  toGrayscaleRgb,
  type ColorJitterParams,
} from '../../src/data/colorOps.js';
import { Rng } from '../../src/core/rng.js';
import { PYTHON, HAS_PIL, HAS_TORCHVISION, python, tempDirForTests } from './pythonReference.js';

const dirOf = tempDirForTests('dinov2-colorops-');

/** HSV edge cases: greys (r = g = b), pure and secondary colours, ties of the max channel, off-by-one hues. */
const SPECIAL: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 0], [255, 255, 255], [128, 128, 128], [1, 1, 1], [254, 254, 254],
  [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255],
  [200, 200, 10], [10, 200, 200], [200, 10, 200], [255, 254, 0], [0, 1, 255], [254, 0, 255],
  [255, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [2, 1, 1], [255, 128, 0], [128, 0, 255], [37, 37, 38],
];

/** Random pixels mapped into [lo, hi], with the special colours over the first pixels. */
function testImage(width: number, height: number, seed: number, lo = 0, hi = 255): RgbImage {
  const img = rgbImage(width, height);
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    img.data[i] = lo + Math.floor((((s >>> 16) & 255) * (hi - lo + 1)) / 256);
  }
  if (lo === 0 && hi === 255) SPECIAL.slice(0, width * height).forEach((c, p) => img.data.set(c, 3 * p));
  return img;
}

const IMAGES: Record<string, RgbImage> = {
  rand37x23: testImage(37, 23, 1),
  rand64x64: testImage(64, 64, 2),
  rand5x5: testImage(5, 5, 3),
  dark19x31: testImage(19, 31, 4, 0, 60),
  bright29x17: testImage(29, 17, 5, 190, 255),
};

interface Job {
  img: string;
  op: string;
  arg?: number;
  params?: ColorJitterParams;
}

/** Runs the jobs in Python (`script` defines `run(op, im, job)`) and compares each output byte for byte. */
async function compare(tag: string, jobs: Job[], script: string, ours: (img: RgbImage, job: Job) => RgbImage): Promise<void> {
  for (const [name, img] of Object.entries(IMAGES)) await writeFile(join(dirOf(), `${name}.raw`), img.data);
  await writeFile(join(dirOf(), `${tag}.json`), JSON.stringify({ jobs, sizes: Object.fromEntries(Object.entries(IMAGES).map(([k, v]) => [k, [v.width, v.height]])) }));
  python(
    `
import json, sys, os
from PIL import Image
d = sys.argv[1]
${script}
spec = json.load(open(os.path.join(d, '${tag}.json')))
for i, j in enumerate(spec['jobs']):
    im = Image.frombytes('RGB', tuple(spec['sizes'][j['img']]), open(os.path.join(d, j['img'] + '.raw'), 'rb').read())
    out = run(j['op'], im, j)
    assert out.mode == 'RGB' and out.size == im.size
    open(os.path.join(d, '${tag}_%d.raw' % i), 'wb').write(out.tobytes())
`,
    dirOf(),
  );
  const failures: string[] = [];
  for (const [i, job] of jobs.entries()) {
    const input = IMAGES[job.img]!;
    const before = Buffer.from(input.data);
    const mine = ours(input, job);
    assert.deepEqual(Buffer.from(input.data), before, `${job.op} mutated its input`);
    const theirs = await readFile(join(dirOf(), `${tag}_${i}.raw`));
    let bad = 0;
    let first = '';
    for (let k = 0; k < theirs.length; k++) {
      if (mine.data[k] !== theirs[k]) {
        if (bad++ === 0) first = `pixel ${Math.floor(k / 3)} (in ${[...input.data.subarray(k - (k % 3), k - (k % 3) + 3)]}) channel ${k % 3}: ${mine.data[k]} vs ${theirs[k]}`;
      }
    }
    if (mine.data.length !== theirs.length) failures.push(`${job.op}(${job.arg}) on ${job.img}: length ${mine.data.length} vs ${theirs.length}`);
    else if (bad > 0) failures.push(`${job.op}(${job.arg ?? JSON.stringify(job.params)}) on ${job.img}: ${bad} bytes differ, first ${first}`);
  }
  assert.deepEqual(failures, []);
}

const each = (ops: Record<string, number[]>): Job[] =>
  Object.keys(IMAGES).flatMap((img) => Object.entries(ops).flatMap(([op, args]) => args.map((arg) => ({ img, op, arg }))));

test('brightness / contrast / saturation / grayscale / solarize equal Pillow (ImageEnhance, convert, ImageOps)', { skip: !HAS_PIL && `no PIL in ${PYTHON}` }, async () => {
  const jobs = each({
    brightness: [0, 1, 0.5, 0.6000000238418579, 0.77, 1.4, 2.5, 1e-9],
    contrast: [0, 1, 0.6, 0.93, 1.4, 3],
    saturation: [0, 1, 0.8, 1.2, 1.0000001],
    gray: [0],
    solarize: [128, 0, 1, 200, 256],
  });
  await compare(
    'pil',
    jobs,
    `
from PIL import ImageEnhance, ImageOps
def run(op, im, j):
    a = j['arg']
    if op == 'brightness': return ImageEnhance.Brightness(im).enhance(a)
    if op == 'contrast': return ImageEnhance.Contrast(im).enhance(a)
    if op == 'saturation': return ImageEnhance.Color(im).enhance(a)
    if op == 'gray': return im.convert('L').convert('RGB')
    if op == 'solarize': return ImageOps.solarize(im, int(a))
`,
    (img, j) => {
      const a = j.arg!;
      if (j.op === 'brightness') return adjustBrightness(img, a);
      if (j.op === 'contrast') return adjustContrast(img, a);
      if (j.op === 'saturation') return adjustSaturation(img, a);
      if (j.op === 'gray') return toGrayscaleRgb(img);
      return solarize(img, a);
    },
  );
});

test('adjust_* / rgb_to_grayscale / solarize equal torchvision.transforms.functional on PIL', { skip: !HAS_TORCHVISION && 'no torchvision' }, async () => {
  const jobs = each({
    // 0.03·255 = 7.65 and 0.0137·255 = 3.4935 are not integers; ±0.002 truncate to a zero shift.
    hue: [0, 0.1, -0.1, 0.5, -0.5, 0.03, -0.03, 0.0137, -0.0137, 0.002, -0.002, 0.25, -0.4999],
    brightness: [0.6, 1.4],
    contrast: [0.6, 1.4],
    saturation: [0, 1.2],
    gray: [0],
    solarize: [128, 77],
  });
  await compare(
    'tv',
    jobs,
    `
import torchvision.transforms.functional as F
def run(op, im, j):
    a = j['arg']
    if op == 'hue': return F.adjust_hue(im, a)
    if op == 'brightness': return F.adjust_brightness(im, a)
    if op == 'contrast': return F.adjust_contrast(im, a)
    if op == 'saturation': return F.adjust_saturation(im, a)
    if op == 'gray': return F.rgb_to_grayscale(im, num_output_channels=3)
    if op == 'solarize': return F.solarize(im, a)
`,
    (img, j) => {
      const a = j.arg!;
      if (j.op === 'hue') return adjustHue(img, a);
      if (j.op === 'brightness') return adjustBrightness(img, a);
      if (j.op === 'contrast') return adjustContrast(img, a);
      if (j.op === 'saturation') return adjustSaturation(img, a);
      if (j.op === 'gray') return toGrayscaleRgb(img);
      return solarize(img, a);
    },
  );
});

test('colorJitter equals torchvision F.adjust_* applied in the same order', { skip: !HAS_TORCHVISION && 'no torchvision' }, async () => {
  const fixed: ColorJitterParams[] = [
    { order: [0, 1, 2, 3], brightness: 1.3, contrast: 0.7, saturation: 1.15, hue: -0.07 },
    { order: [3, 1, 0, 2], brightness: 0.61, contrast: 1.39, saturation: 0.8, hue: 0.1 },
    { order: [2, 3, 1, 0], contrast: 1.25, hue: 0.043 },
  ];
  const rng = new Rng(7);
  for (let i = 0; i < 5; i++) fixed.push(colorJitterParams(rng, { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 }));
  const jobs = Object.keys(IMAGES).flatMap((img) => fixed.map((params) => ({ img, op: 'jitter', params })));
  await compare(
    'jitter',
    jobs,
    `
import torchvision.transforms.functional as F
def run(op, im, j):
    p = j['params']
    for i in p['order']:
        if i == 0 and 'brightness' in p: im = F.adjust_brightness(im, p['brightness'])
        if i == 1 and 'contrast' in p: im = F.adjust_contrast(im, p['contrast'])
        if i == 2 and 'saturation' in p: im = F.adjust_saturation(im, p['saturation'])
        if i == 3 and 'hue' in p: im = F.adjust_hue(im, p['hue'])
    return im
`,
    (img, j) => colorJitter(img, j.params!),
  );
});

test('colour ops: identities that need no Python', () => {
  const img = testImage(37, 23, 11);
  const copy = Buffer.from(img.data);
  // Threshold 0 inverts every value, so solarize is then an involution.
  assert.deepEqual(Buffer.from(solarize(solarize(img, 0), 0).data), copy);
  assert.deepEqual(Buffer.from(solarize(img, 256).data), copy);
  assert.deepEqual(Buffer.from(adjustBrightness(img, 1).data), copy);
  assert.deepEqual(Buffer.from(adjustBrightness(img, 0).data), Buffer.alloc(copy.length));
  assert.deepEqual(Buffer.from(img.data), copy, 'inputs are not mutated');
  // Every grey level is a fixed point of the 16.16 luma, and greys have zero saturation (hue leaves them).
  const grey = rgbImage(256, 1, Uint8Array.from({ length: 768 }, (_, i) => Math.floor(i / 3)));
  assert.deepEqual(Buffer.from(toGrayscaleRgb(grey).data), Buffer.from(grey.data));
  assert.deepEqual(Buffer.from(adjustHue(grey, 0.37).data), Buffer.from(grey.data));
  assert.deepEqual(Buffer.from(adjustSaturation(img, 0).data), Buffer.from(toGrayscaleRgb(img).data));
  // Pure red moved by half a turn (127 of 255) lands on cyan-ish: red channel 0.
  const red = adjustHue(rgbImage(1, 1, Uint8Array.of(255, 0, 0)), 0.5);
  assert.equal(red.data[0], 0);
  assert.throws(() => adjustHue(img, 0.51), /hueFactor/);
});

test('colorJitterParams: factors in their ranges, order a permutation, zero ranges skipped', () => {
  const rng = new Rng(123);
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const p = colorJitterParams(rng, { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 });
    assert.deepEqual([...p.order].sort(), [0, 1, 2, 3]);
    seen.add(p.order.join(''));
    assert.ok(p.brightness! >= 0.6 && p.brightness! <= 1.4, `brightness ${p.brightness}`);
    assert.ok(p.contrast! >= 0.6 && p.contrast! <= 1.4, `contrast ${p.contrast}`);
    assert.ok(p.saturation! >= 0.8 && p.saturation! <= 1.2, `saturation ${p.saturation}`);
    assert.ok(p.hue! >= -0.1 && p.hue! <= 0.1, `hue ${p.hue}`);
  }
  assert.equal(seen.size, 24, 'every order occurs');
  const wide = colorJitterParams(rng, { brightness: 1.5 });
  assert.ok(wide.brightness! >= 0 && wide.brightness! <= 2.5);
  const none = colorJitterParams(rng, { brightness: 0, contrast: 0, saturation: 0, hue: 0 });
  assert.deepEqual(Object.keys(none), ['order']);
  const tuple = colorJitterParams(rng, { contrast: [0.9, 0.95] });
  assert.ok(tuple.contrast! >= 0.9 && tuple.contrast! <= 0.95);
  assert.throws(() => colorJitterParams(rng, { hue: 0.6 }), /hue/);
  assert.throws(() => colorJitterParams(rng, { brightness: -0.1 }), /brightness/);
  // The same seed gives the same draws.
  assert.deepEqual(colorJitterParams(new Rng(9), { brightness: 0.4, hue: 0.1 }), colorJitterParams(new Rng(9), { brightness: 0.4, hue: 0.1 }));
});
