/** Palettes, metrics, the PNG codec and the schedule of the segmentation tools. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ADE20K, datasetFor, VOC2012, vocPalette } from '../../../src/heads/segmentation/palettes.js';
import { ConfusionMatrix, meanIoU } from '../../../src/eval/segmentationMetrics.js';
import { polyLr, resizeLabelsNearest } from '../../../src/eval/segmentationTrain.js';
import { rescaleSize } from '../../../src/heads/segmentation/segmenter.js';
import { decodeLabelPng, decodePng, encodePng } from '../../../src/formats/png.js';
import { applyColormap, colormapLut } from '../../../src/apps/viz/colormap.js';

test('VOC colours follow the bit-interleaving map; ADE20K has 150 classes and colours', () => {
  const voc = VOC2012.palette;
  assert.deepEqual(Array.from(voc.subarray(0, 12)), [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]);
  assert.deepEqual(Array.from(voc.subarray(15 * 3, 16 * 3)), [192, 128, 128]); // person
  assert.deepEqual(Array.from(vocPalette(256).subarray(255 * 3)), [224, 224, 192]); // the VOC "void" colour
  assert.equal(VOC2012.classes[15], 'person');
  assert.equal(ADE20K.classes.length, 150);
  assert.equal(ADE20K.palette.length, 450);
  assert.deepEqual([ADE20K.classes[0], ...ADE20K.palette.subarray(0, 3)], ['wall', 120, 120, 120]);
  assert.deepEqual([ADE20K.classes[149], ...ADE20K.palette.subarray(447)], ['flag', 92, 0, 255]);
  assert.equal(datasetFor(150), ADE20K);
  assert.deepEqual(datasetFor(3, ['a', 'b', 'c']).classes, ['a', 'b', 'c']);
  assert.equal(datasetFor(7).classes[6], 'class 6');
});

test('mIoU as mmseg: areas over the dataset, NaN classes left out, ignored pixels nowhere', () => {
  const gt = [0, 0, 1, 1, 255, 2];
  const pred = [0, 1, 1, 1, 0, 0];
  const m = meanIoU(pred, gt, 4);
  // class 0: inter 1, union 3; class 1: inter 2, union 3; class 2: inter 0, union 1; class 3 absent.
  assert.deepEqual(m.iou.slice(0, 3), [1 / 3, 2 / 3, 0]);
  assert.ok(Number.isNaN(m.iou[3]!));
  assert.ok(Math.abs(m.mIoU - 1 / 3) < 1e-12);
  assert.equal(m.accuracy, 3 / 5);
  assert.throws(() => new ConfusionMatrix(2).add([0], [5]), /label 5/);
});

test('PNG: palette, grey and RGB round trips; sharp reads what we write and we read what sharp writes', async () => {
  const indices = Uint8Array.from({ length: 7 * 5 }, (_, i) => i % 21);
  const png = encodePng({ width: 7, height: 5, channels: 1, data: indices, palette: VOC2012.palette });
  const back = decodePng(png);
  assert.deepEqual([back.width, back.height, back.colourType, back.bitDepth], [7, 5, 3, 8]);
  assert.deepEqual(Array.from(back.samples), Array.from(indices));
  assert.deepEqual(decodeLabelPng(png).labels, Uint16Array.from(indices));
  const { data, info } = await sharp(Buffer.from(png)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [7, 5]);
  assert.deepEqual(Array.from(data.subarray(0, info.channels === 3 ? 6 : 8)).filter((_, i) => info.channels === 3 || i % 4 !== 3), [0, 0, 0, 128, 0, 0]);
  const rgb = Uint8Array.from({ length: 9 * 4 * 3 }, (_, i) => (i * 37) & 255);
  const rgbPng = encodePng({ width: 9, height: 4, channels: 3, data: rgb });
  assert.deepEqual(Buffer.from((await sharp(Buffer.from(rgbPng)).raw().toBuffer())), Buffer.from(rgb));
  // Written by libvips: 16-bit grey, 8-bit grey with adaptive filters, and a 2-bit palette.
  const grey = Uint8Array.from({ length: 33 * 9 }, (_, i) => (i * 7) % 200);
  const greyPng = await sharp(Buffer.from(grey), { raw: { width: 33, height: 9, channels: 1 } }).png({ adaptiveFiltering: true }).toBuffer();
  assert.deepEqual(decodeLabelPng(new Uint8Array(greyPng)).labels, Uint16Array.from(grey));
  const grey16 = await sharp(Buffer.from(grey), { raw: { width: 33, height: 9, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  const d16 = decodePng(new Uint8Array(grey16));
  assert.equal(d16.bitDepth, 16);
  assert.deepEqual(Array.from(d16.samples).map((v) => v >> 8), Array.from(grey));
  const two = Uint8Array.from({ length: 10 * 3 * 3 }, (_, i) => (Math.floor(i / 3) % 3 === 0 ? 255 : 0));
  const palettePng = new Uint8Array(await sharp(Buffer.from(two), { raw: { width: 10, height: 3, channels: 3 } }).png({ palette: true, colours: 2 }).toBuffer());
  const p = decodePng(palettePng);
  assert.ok(p.colourType === 3 && p.bitDepth < 8, `colour type ${p.colourType}, depth ${p.bitDepth}`);
  const white = Array.from({ length: 30 }, (_, i) => Array.from(p.palette!.subarray(3 * p.samples[i]!, 3 * p.samples[i]! + 3)).join());
  assert.deepEqual(white, Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? '255,255,255' : '0,0,0')));
  // A colour (non-grey) RGB mask is refused.
  assert.throws(() => decodeLabelPng(rgbPng, 'm.png'), /m\.png: a colour mask/);
  assert.throws(() => decodePng(new Uint8Array([1, 2, 3]), 'x.png'), /x\.png: not a PNG file/);
});

test('poly schedule with linear warm-up; nearest label resizing; mmcv rescale', () => {
  assert.equal(polyLr(0, 100, 1e-3, 10), 1e-3 * (1 - (1 - 1e-6)) * 1);
  assert.ok(Math.abs(polyLr(5, 100, 1e-3, 10) - 1e-3 * 0.95 * (1 - 0.5 * (1 - 1e-6))) < 1e-15);
  assert.equal(polyLr(50, 100, 1e-3, 10), 0.5e-3);
  assert.ok(Math.abs(polyLr(99, 100, 1e-3, 0) - 1e-5) < 1e-18);
  assert.deepEqual(Array.from(resizeLabelsNearest(Uint16Array.from([1, 2, 3, 4]), 2, 2, 4, 4)), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  assert.deepEqual(rescaleSize(640, 480, 512, 2048), { width: 683, height: 512 });
  assert.deepEqual(rescaleSize(4000, 500, 512, 2048), { width: 2048, height: 256 });
});

test('colour maps: 256 entries, turbo goes dark blue → red, cubehelix brightens monotonically', () => {
  const turbo = colormapLut('turbo');
  assert.equal(turbo.length, 768);
  assert.ok(turbo[3 * 38 + 2]! > 200 && turbo[3 * 38]! < 80, 'turbo is blue at 0.15');
  assert.ok(turbo[765]! > 100 && turbo[767]! < 30, 'turbo ends red');
  const ch = colormapLut('cubehelix');
  const lum = (i: number) => 0.3 * ch[3 * i]! + 0.59 * ch[3 * i + 1]! + 0.11 * ch[3 * i + 2]!;
  for (let i = 8; i < 256; i += 8) assert.ok(lum(i) >= lum(i - 8) - 1, `luminance at ${i}`);
  assert.deepEqual(Array.from(applyColormap([0, 1, NaN], 'grey', 0, 1)), [0, 0, 0, 255, 255, 255, 0, 0, 0]);
  assert.deepEqual(Array.from(applyColormap([0], 'turbo_r', 0, 1)), Array.from(turbo.subarray(765)));
});
