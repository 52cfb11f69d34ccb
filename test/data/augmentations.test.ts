import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataAugmentationDINO, type CropSteps } from '../../src/data/augmentations.js';
import { rgbImage } from '../../src/data/image.js';
import { Rng } from '../../src/core/rng.js';

function image(width: number, height: number, seed: number) {
  const rng = new Rng(seed);
  return rgbImage(width, height, Uint8Array.from({ length: width * height * 3 }, () => rng.int(0, 256)));
}

test('multi-crop: two global and n local crops of the configured sizes, normalised; the same seed gives the same crops', () => {
  const aug = new DataAugmentationDINO({ globalCropsSize: 28, localCropsSize: 14, localCropsNumber: 3 });
  const img = image(45, 31, 1);
  const a = aug.apply(img, new Rng(5));
  assert.deepEqual(a.globalCrops.map((t) => t.shape), [[3, 28, 28], [3, 28, 28]]);
  assert.deepEqual(a.localCrops.map((t) => t.shape), [[3, 14, 14], [3, 14, 14], [3, 14, 14]]);
  assert.equal(a.steps.length, 5);
  // ImageNet normalisation: values outside [0, 1] appear, and stay within the normalised range of [0, 1].
  const all = [...a.globalCrops, ...a.localCrops].flatMap((t) => [...t.data]);
  assert.ok(all.some((v) => v < 0) && all.every((v) => v >= -2.2 && v <= 2.7));
  const b = aug.apply(img, new Rng(5));
  assert.deepEqual([...b.globalCrops[1]!.data], [...a.globalCrops[1]!.data]);
  const c = aug.apply(img, new Rng(6));
  assert.notDeepEqual([...c.globalCrops[0]!.data], [...a.globalCrops[0]!.data]);
});

/** Share of crops that took each step, over `n` images. */
function rates(aug: DataAugmentationDINO, n: number): { global1: CropRates; global2: CropRates; local: CropRates } {
  const rng = new Rng(11);
  const img = image(24, 20, 2);
  const sums = { global1: [] as CropSteps[], global2: [] as CropSteps[], local: [] as CropSteps[] };
  for (let i = 0; i < n; i++) {
    const { steps } = aug.apply(img, rng);
    sums.global1.push(steps[0]!);
    sums.global2.push(steps[1]!);
    sums.local.push(...steps.slice(2));
  }
  const share = (xs: CropSteps[]): CropRates => {
    const r = {} as CropRates;
    for (const k of ['flip', 'colorJitter', 'grayscale', 'blur', 'solarize'] as const) r[k] = xs.filter((s) => s[k]).length / xs.length;
    return r;
  };
  return { global1: share(sums.global1), global2: share(sums.global2), local: share(sums.local) };
}
type CropRates = Record<keyof CropSteps, number>;

const near = (got: number, p: number, what: string): void => assert.ok(Math.abs(got - p) <= 0.08, `${what}: ${got.toFixed(3)}, expected about ${p}`);

test('multi-crop: the official effective probabilities (blur never on global 1, 0.9 on global 2, 0.5 local; solarize 0.2 on global 2 only)', () => {
  const r = rates(new DataAugmentationDINO({ globalCropsSize: 14, localCropsSize: 14, localCropsNumber: 2 }), 300);
  assert.equal(r.global1.blur, 0);
  near(r.global2.blur, 0.9, 'global 2 blur');
  near(r.local.blur, 0.5, 'local blur');
  assert.equal(r.global1.solarize, 0);
  assert.equal(r.local.solarize, 0);
  near(r.global2.solarize, 0.2, 'global 2 solarize');
  for (const [name, c] of Object.entries(r)) {
    near(c.flip, 0.5, `${name} flip`);
    near(c.colorJitter, 0.8, `${name} colour jitter`);
    near(c.grayscale, 0.2, `${name} grayscale`);
  }
});

test("multi-crop: blur 'nominal' uses the configured probabilities (1.0, 0.1, 0.5); bad options are refused by name", () => {
  const r = rates(new DataAugmentationDINO({ globalCropsSize: 14, localCropsSize: 14, localCropsNumber: 2, blur: 'nominal' }), 300);
  assert.equal(r.global1.blur, 1);
  near(r.global2.blur, 0.1, 'global 2 blur');
  near(r.local.blur, 0.5, 'local blur');
  assert.throws(() => new DataAugmentationDINO({ localCropsScale: [0.5, 0.2] }), /localCropsScale must satisfy 0 < min ≤ max ≤ 1, got \[0.5, 0.2\]/);
  assert.throws(() => new DataAugmentationDINO({ globalCropsSize: 0 }), /globalCropsSize must be a positive integer/);
  assert.throws(() => new DataAugmentationDINO({ blur: 'never' as 'nominal' }), /blur must be 'official' or 'nominal'/);
});

test('multi-crop: blurSigma sets the blur range (small images need it scaled); bad ranges are refused by name', () => {
  const img = image(40, 36, 3);
  const cfg = { globalCropsSize: 28, localCropsSize: 14, localCropsNumber: 1 } as const;
  // Global crop 1 is never blurred with the official probabilities and always with the nominal ones; the
  // draws before the blur are the same, so the crops differ by the blur alone.
  const sharp = new DataAugmentationDINO({ ...cfg, blur: 'official' }).apply(img, new Rng(9)).globalCrops[0]!;
  const blurred = new DataAugmentationDINO({ ...cfg, blur: 'nominal' }).apply(img, new Rng(9)).globalCrops[0]!;
  const tiny = new DataAugmentationDINO({ ...cfg, blur: 'nominal', blurSigma: [1e-3, 1e-3] }).apply(img, new Rng(9)).globalCrops[0]!;
  assert.notDeepEqual([...blurred.data], [...sharp.data]);
  // σ = 0.001: the 9-tap kernel is 1 at the centre and 0 elsewhere in float32.
  assert.deepEqual([...tiny.data], [...sharp.data]);
  assert.throws(() => new DataAugmentationDINO({ blurSigma: [0.5, 0.1] }), /blurSigma must satisfy 0 < min ≤ max, got \[0.5, 0.1\]/);
  assert.throws(() => new DataAugmentationDINO({ blurSigma: [0, 1] }), /blurSigma must satisfy 0 < min ≤ max, got \[0, 1\]/);
});
