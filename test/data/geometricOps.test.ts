/**
 * The multi-crop geometric and blur steps against torchvision 0.14 on PIL images (byte for byte, when a
 * Python with torchvision is available: `PIL_PYTHON`, default /usr/bin/python3), plus checks of the crop
 * parameter draw and the flips that need no Python.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rgbImage } from '../../src/data/image.js';
import { crop } from '../../src/data/image.js';
import { hflip, randomResizedCropParams, resizedCrop, type CropParams } from '../../src/data/randomResizedCrop.js';
import { gaussianBlur, gaussianBlurSigma, gaussianKernel1d } from '../../src/data/gaussianBlur.js';
import { Rng } from '../../src/core/rng.js';
import { PYTHON, HAS_TORCHVISION, python, tempDirForTests, randomImage, firstDifference } from './pythonReference.js';

const SKIP = !HAS_TORCHVISION && `no PIL/torchvision in ${PYTHON}`;
const dirOf = tempDirForTests('dinov2-geom-');

/** The image's red channel copied to green and blue. */
function greyImage(img: ReturnType<typeof rgbImage>): ReturnType<typeof rgbImage> {
  const d = img.data.slice();
  for (let i = 0; i < d.length; i += 3) d[i + 1] = d[i + 2] = d[i]!;
  return rgbImage(img.width, img.height, d);
}



const SHAPES = [
  [301, 187],
  [97, 263],
] as const;

test('resizedCrop and hflip equal torchvision F.resized_crop (BICUBIC) and F.hflip on PIL exactly', { skip: SKIP }, async () => {
  const jobs: Array<{ img: number; p: CropParams; size: number }> = [];
  for (const [i, [w, h]] of SHAPES.entries()) {
    await writeFile(join(dirOf(), `img_${i}.raw`), randomImage(w, h, 100 + i).data);
    const fixed: CropParams[] = [
      { top: 0, left: 0, height: h, width: w }, // whole image
      { top: h - 100, left: w - 90, height: 100, width: 90 }, // touches bottom and right edges, upscaled to 224
      { top: 0, left: 0, height: 40, width: 61 }, // touches top and left edges
      { top: 10, left: 20, height: 31, width: 17 }, // strong upscale
      { top: 3, left: 5, height: h - 4, width: w - 7 }, // downscale
      { top: -5, left: w - 20, height: 30, width: 33 }, // leaves the image: PIL fills zeros
    ];
    const rng = new Rng(7 + i);
    const drawn = [0, 1, 2].flatMap(() => [
      randomResizedCropParams(rng, w, h, [0.32, 1.0]),
      randomResizedCropParams(rng, w, h, [0.05, 0.32]),
    ]);
    for (const p of [...fixed, ...drawn]) for (const size of [224, 98]) jobs.push({ img: i, p, size });
  }
  await writeFile(join(dirOf(), 'crops.json'), JSON.stringify({ shapes: SHAPES, jobs }));
  python(
    `
import json, sys, os
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
d = sys.argv[1]
cfg = json.load(open(os.path.join(d, 'crops.json')))
ims = [Image.frombytes('RGB', (w, h), open(os.path.join(d, 'img_%d.raw' % i), 'rb').read()) for i, (w, h) in enumerate(cfg['shapes'])]
for i, im in enumerate(ims):
    open(os.path.join(d, 'flip_%d.raw' % i), 'wb').write(F.hflip(im).tobytes())
for n, j in enumerate(cfg['jobs']):
    p = j['p']
    out = F.resized_crop(ims[j['img']], p['top'], p['left'], p['height'], p['width'], [j['size'], j['size']], InterpolationMode.BICUBIC)
    open(os.path.join(d, 'crop_%d.raw' % n), 'wb').write(out.tobytes())
`,
    dirOf(),
  );
  const images = SHAPES.map(([w, h], i) => randomImage(w, h, 100 + i));
  for (const [i, img] of images.entries()) {
    assert.equal(firstDifference(hflip(img).data, await readFile(join(dirOf(), `flip_${i}.raw`))), null, `hflip ${img.width}x${img.height}`);
  }
  for (const [n, j] of jobs.entries()) {
    const ours = resizedCrop(images[j.img]!, j.p, j.size);
    const diff = firstDifference(ours.data, await readFile(join(dirOf(), `crop_${n}.raw`)));
    assert.equal(diff, null, `${JSON.stringify(j.p)} → ${j.size}: ${diff}`);
  }
});

test('gaussianBlur equals torchvision F.gaussian_blur on PIL exactly', { skip: SKIP }, async () => {
  const rng = new Rng(3);
  const sigmas = [0.1, 0.7, 2.0, gaussianBlurSigma(rng, [0.1, 2.0]), gaussianBlurSigma(rng, [0.1, 2.0])];
  // The last image is grey (R = G = B), which takes the one-channel path.
  const blurShapes = [[301, 187], [224, 224], [5, 6], [28, 28]] as const;
  const blurImage = (i: number) => (i === 3 ? greyImage(randomImage(28, 28, 200 + i)) : randomImage(blurShapes[i]![0], blurShapes[i]![1], 200 + i));
  const jobs: Array<{ img: number; k: number; sigma: number }> = [];
  for (const i of blurShapes.keys()) {
    await writeFile(join(dirOf(), `blur_in_${i}.raw`), blurImage(i).data);
    for (const sigma of sigmas) jobs.push({ img: i, k: 9, sigma });
  }
  jobs.push({ img: 0, k: 3, sigma: 0.8 }, { img: 0, k: 5, sigma: 1.1 }, { img: 0, k: 11, sigma: 1.9 });
  const kernels: Array<[number, number]> = [];
  for (const k of [1, 3, 5, 7, 9, 11, 15, 17, 31, 33, 63, 101]) for (const s of [0.3, 1.1, 1.7, 6.5]) kernels.push([k, s]);
  await writeFile(join(dirOf(), 'blur.json'), JSON.stringify({ shapes: blurShapes, jobs, kernels }));
  python(
    `
import json, sys, os
import numpy as np
from PIL import Image
import torchvision.transforms.functional as F
import torchvision.transforms.functional_tensor as Ft
d = sys.argv[1]
cfg = json.load(open(os.path.join(d, 'blur.json')))
ims = [Image.frombytes('RGB', (w, h), open(os.path.join(d, 'blur_in_%d.raw' % i), 'rb').read()) for i, (w, h) in enumerate(cfg['shapes'])]
for n, j in enumerate(cfg['jobs']):
    open(os.path.join(d, 'blur_%d.raw' % n), 'wb').write(F.gaussian_blur(ims[j['img']], j['k'], j['sigma']).tobytes())
ks = [Ft._get_gaussian_kernel1d(k, s).numpy() for k, s in cfg['kernels']]
open(os.path.join(d, 'kernels.f32'), 'wb').write(np.concatenate(ks).astype('<f4').tobytes())
`,
    dirOf(),
  );
  const bytes = await readFile(join(dirOf(), 'kernels.f32'));
  const theirKernels = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  let offset = 0;
  for (const [k, s] of kernels) {
    assert.equal(firstDifference(gaussianKernel1d(k, s), theirKernels.subarray(offset, offset + k)), null, `kernel ${k}, sigma ${s}`);
    offset += k;
  }
  const images = blurShapes.map((_, i) => blurImage(i));
  for (const [n, j] of jobs.entries()) {
    const ours = gaussianBlur(images[j.img]!, j.k, j.sigma);
    const diff = firstDifference(ours.data, await readFile(join(dirOf(), `blur_${n}.raw`)));
    assert.equal(diff, null, `${images[j.img]!.width}x${images[j.img]!.height} k=${j.k} sigma=${j.sigma}: ${diff}`);
  }
});

test('randomResizedCropParams stays inside the image with area and ratio in range', () => {
  const scale = [0.05, 0.32] as const;
  const ratio = [3 / 4, 4 / 3] as const;
  for (const [w, h] of [[300, 200], [187, 301], [64, 64], [1000, 700]] as const) {
    for (let seed = 0; seed < 500; seed++) {
      const p = randomResizedCropParams(new Rng(seed), w, h, scale, ratio);
      const where = `${w}x${h} seed ${seed}: ${JSON.stringify(p)}`;
      assert.ok(p.width >= 1 && p.height >= 1 && p.top >= 0 && p.left >= 0, where);
      assert.ok(p.top + p.height <= h && p.left + p.width <= w, where);
      // Rounding each side to an integer moves area and ratio by at most half a pixel per side. These scales
      // are far from the central-crop fallback (area ~0.9), so every draw here must come from the loop.
      const areaSlack = (0.5 * (p.width + p.height + 1) + 0.25) / (w * h);
      const area = (p.width * p.height) / (w * h);
      assert.ok(area >= scale[0] - areaSlack && area <= scale[1] + areaSlack, `area ${area}, ${where}`);
      const r = p.width / p.height;
      const ratioSlack = (x: number) => (0.5 * x + 0.5) / p.height;
      assert.ok(r >= ratio[0] - ratioSlack(ratio[0]) && r <= ratio[1] + ratioSlack(ratio[1]), `ratio ${r}, ${where}`);
    }
  }
});

test('randomResizedCropParams falls back to torchvision central crops when no draw can fit', () => {
  const rng = new Rng(1);
  // Too wide for any 3/4..4/3 box of at least 8% of the area: full height, width clamped to the max ratio.
  assert.deepEqual(randomResizedCropParams(rng, 1000, 10, [0.08, 1]), { top: 0, left: 493, height: 10, width: 13 });
  // Too tall: full width, height from the min ratio (round(10 / 0.75) = 13).
  assert.deepEqual(randomResizedCropParams(rng, 10, 1000, [0.08, 1]), { top: 493, left: 0, height: 13, width: 10 });
  // A ratio range a square image can never hold: width kept, height = round(100 / 5).
  assert.deepEqual(randomResizedCropParams(rng, 100, 100, [0.9, 1], [5, 6]), { top: 40, left: 0, height: 20, width: 100 });
  // Areas larger than the image, ratio in range: the whole image.
  assert.deepEqual(randomResizedCropParams(rng, 120, 100, [1.5, 2]), { top: 0, left: 0, height: 100, width: 120 });
});

test('hflip mirrors rows and is its own inverse; crop pads outside with zeros', () => {
  const img = randomImage(37, 11, 5);
  const flipped = hflip(img);
  assert.notDeepEqual(flipped.data, img.data);
  for (const [x, y] of [[0, 0], [36, 10], [5, 7]] as const) {
    for (let c = 0; c < 3; c++) assert.equal(flipped.data[(y * 37 + (36 - x)) * 3 + c], img.data[(y * 37 + x) * 3 + c]);
  }
  assert.deepEqual(hflip(flipped).data, img.data);

  const c = crop(img, -2, 30, 5, 10);
  assert.equal(c.width, 10);
  assert.equal(c.height, 5);
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 10; x++) {
      const inside = y >= 2 && x < 7;
      for (let ch = 0; ch < 3; ch++) {
        const expected = inside ? img.data[((y - 2) * 37 + 30 + x) * 3 + ch] : 0;
        assert.equal(c.data[(y * 10 + x) * 3 + ch], expected, `(${x}, ${y})`);
      }
    }
  }
});

test('gaussianBlurSigma draws float32 values in range; blurring keeps a flat image flat', () => {
  const rng = new Rng(11);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < 2000; i++) {
    const s = gaussianBlurSigma(rng, [0.1, 2.0]);
    assert.equal(Math.fround(s), s);
    min = Math.min(min, s);
    max = Math.max(max, s);
  }
  assert.ok(min >= Math.fround(0.1) && max < 2.0 && min < 0.2 && max > 1.9, `range ${min}..${max}`);

  for (const value of [0, 1, 128, 255]) {
    const flat = rgbImage(12, 10, new Uint8Array(12 * 10 * 3).fill(value));
    for (const sigma of [0.1, 0.7, 2.0]) assert.ok(gaussianBlur(flat, 9, sigma).data.every((v) => v === value), `${value} sigma ${sigma}`);
  }
  assert.throws(() => gaussianBlur(rgbImage(4, 20), 9, 1), /reflect padding/);
  assert.throws(() => gaussianBlur(rgbImage(20, 20), 4, 1), /odd/);
});
