import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rgbImage, type RgbImage } from '../../src/data/image.js';
import {
  batchTensors,
  centerCrop,
  denseSize,
  denseTransform,
  evalTransform,
  normalize,
  resizeShorterSide,
  shorterSideSize,
  toTensor,
} from '../../src/data/transforms.js';
import { Tensor } from '../../src/core/tensor.js';

/** Each pixel records where it came from: R = x + 100, G = y + 100 (never black, so padding shows as 0). */
function coordinateImage(width: number, height: number): RgbImage {
  const img = rgbImage(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) img.data.set([x + 100, y + 100, 7], (y * width + x) * 3);
  }
  return img;
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  return [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
}

test('Resize(size): long side is int(size * long / short), orientation kept', () => {
  // int(256 * 451 / 300) = int(384.85…) = 384
  assert.deepEqual(shorterSideSize(451, 300, 256), { width: 384, height: 256 });
  assert.deepEqual(shorterSideSize(300, 451, 256), { width: 256, height: 384 });
  // int(256 * 640 / 427) = int(383.70…) = 383 (truncation, not rounding)
  assert.deepEqual(shorterSideSize(640, 427, 256), { width: 383, height: 256 });
  assert.deepEqual(shorterSideSize(600, 400, 256), { width: 384, height: 256 });
  assert.deepEqual(shorterSideSize(512, 512, 256), { width: 256, height: 256 });
  // max_size: new_short = int(512 * 256 / 2560) = 51
  assert.deepEqual(shorterSideSize(1000, 100, 256, 512), { width: 512, height: 51 });
  assert.throws(() => shorterSideSize(10, 10, 256, 256), /maxSize/);
  const r = resizeShorterSide(coordinateImage(45, 30), 20);
  assert.deepEqual([r.width, r.height], [30, 20]);
});

test('CenterCrop offset is int(round((H - crop) / 2)) with round half to even', () => {
  // widths/heights chosen so that (size - 4) / 2 is 3, 1.5, 2.5 and 3.5: offsets 3, 2, 2, 4
  const cases: Array<[number, number, number, number]> = [
    [10, 7, 3, 2],
    [9, 11, 2, 4],
  ];
  for (const [w, h, left, top] of cases) {
    const out = centerCrop(coordinateImage(w, h), 4);
    assert.deepEqual([out.width, out.height], [4, 4]);
    assert.deepEqual(pixel(out, 0, 0), [left + 100, top + 100, 7], `${w}x${h}`);
    assert.deepEqual(pixel(out, 3, 3), [left + 103, top + 103, 7], `${w}x${h}`);
  }
  const rect = centerCrop(coordinateImage(8, 8), [2, 5]);
  assert.deepEqual([rect.width, rect.height], [5, 2]);
  assert.deepEqual(pixel(rect, 0, 0), [102, 103, 7]); // left round(1.5) = 2, top round(3) = 3
});

test('CenterCrop pads with black when the crop is larger (left/top get the floor half)', () => {
  const out = centerCrop(coordinateImage(3, 2), 6);
  assert.deepEqual([out.width, out.height], [6, 6]);
  // pad left (6-3)//2 = 1, pad top (6-2)//2 = 2
  assert.deepEqual(pixel(out, 0, 0), [0, 0, 0]);
  assert.deepEqual(pixel(out, 1, 2), [100, 100, 7]);
  assert.deepEqual(pixel(out, 3, 3), [102, 101, 7]);
  assert.deepEqual(pixel(out, 4, 3), [0, 0, 0]);
  assert.deepEqual(pixel(out, 1, 4), [0, 0, 0]);
  // padded along one axis only, cropped along the other: top = round((9 - 4) / 2) = round(2.5) = 2
  const mixed = centerCrop(coordinateImage(2, 9), 4);
  assert.deepEqual(pixel(mixed, 1, 0), [100, 102, 7]);
});

// Reference values printed by torchvision 0.14 (ToTensor then Normalize with the ImageNet statistics) for
// pixel values 0, 128 and 255 in every channel.
const TORCH_TO_TENSOR = [0, 0.501960813999176, 1];
const TORCH_NORMALIZED = [
  [-2.1179039478302, 0.07406462728977203, 2.248908281326294],
  [-2.0357141494750977, 0.20518219470977783, 2.4285714626312256],
  [-1.804444432258606, 0.4264925718307495, 2.640000104904175],
];

test('ToTensor and Normalize give torchvision float32 values bit for bit, CHW', () => {
  const img = rgbImage(3, 1, Uint8Array.from([0, 0, 0, 128, 128, 128, 255, 255, 255]));
  const t = toTensor(img);
  assert.deepEqual(t.shape, [3, 1, 3]);
  for (let c = 0; c < 3; c++) assert.deepEqual([...t.data.subarray(c * 3, c * 3 + 3)], TORCH_TO_TENSOR);
  const n = normalize(t);
  for (let c = 0; c < 3; c++) assert.deepEqual([...n.data.subarray(c * 3, c * 3 + 3)], TORCH_NORMALIZED[c]);
  // A batch normalises per channel too.
  const b = normalize(batchTensors([t, t]));
  assert.deepEqual([...b.data.subarray(9 + 6, 9 + 9)], TORCH_NORMALIZED[2]);
  assert.throws(() => normalize(t, { mean: [0, 0], std: [1, 1] }), /channels/);
});

test('evalTransform: 256 resize then 224 center crop → [3, 224, 224]', () => {
  const img = coordinateImage(300, 200);
  const x = evalTransform(img);
  assert.deepEqual(x.shape, [3, 224, 224]);
  const small = evalTransform(coordinateImage(40, 30), { resize: 20, crop: 16, mean: [0, 0, 0], std: [1, 1, 1] });
  assert.deepEqual(small.shape, [3, 16, 16]);
  assert.ok(small.data.every((v) => v >= 0 && v <= 1));
});

test('denseSize: shorter side to the target, each side to the nearest multiple of the patch', () => {
  assert.deepEqual(denseSize(1000, 1000), { width: 518, height: 518 });
  // 640 * 518 / 427 = 776.39 → 55.46 patches → 55 → 770
  assert.deepEqual(denseSize(640, 427), { width: 770, height: 518 });
  // 451 * 518 / 300 = 778.71 → 55.62 patches → 56 → 784
  assert.deepEqual(denseSize(300, 451), { width: 518, height: 784 });
  // 451 * 224 / 300 = 336.75 → 24.05 → 24 → 336
  assert.deepEqual(denseSize(451, 300, { shorterSide: 224 }), { width: 336, height: 224 });
  // a target that is not a multiple of the patch is snapped too: 500 / 14 = 35.7 → 36 → 504
  assert.deepEqual(denseSize(64, 64, { shorterSide: 500 }), { width: 504, height: 504 });
  assert.deepEqual(denseSize(1000, 10, { shorterSide: 14 }), { width: 1400, height: 14 });
  const x = denseTransform(coordinateImage(90, 60), { shorterSide: 28 });
  assert.deepEqual(x.shape, [3, 28, 42]);
});

test('batchTensors stacks [3, H, W] into [B, 3, H, W] and refuses mixed sizes', () => {
  const a = Tensor.float32(new Float32Array(12).fill(1), [3, 2, 2]);
  const b = Tensor.float32(new Float32Array(12).fill(2), [3, 2, 2]);
  const batch = batchTensors([a, b]);
  assert.deepEqual(batch.shape, [2, 3, 2, 2]);
  assert.equal(batch.data[11], 1);
  assert.equal(batch.data[12], 2);
  assert.throws(() => batchTensors([a, Tensor.float32(new Float32Array(18), [3, 2, 3])]), /shape/);
  assert.throws(() => batchTensors([]), /no tensors/);
});
