/**
 * Semantic segmentation of one image (`dinov2 segment`): the label map, an overlay and a legend of the classes
 * present, from a `Segmenter` and its dataset.
 */
import { writeFile } from 'node:fs/promises';
import type { RgbImage } from '../data/image.js';
import { encodePng, writeRgbPng } from '../formats/png.js';
import type { SegmentationDataset } from '../heads/segmentation/palettes.js';
import type { Segmentation } from '../heads/segmentation/segmenter.js';
import { blend, legendPng, paletteColours, type LegendEntry } from './viz/overlay.js';

/** Classes present in a segmentation, largest first. */
export function presentClasses(seg: Segmentation, dataset: SegmentationDataset): (LegendEntry & { index: number; pixels: number })[] {
  const counts = new Float64Array(seg.numClasses);
  for (const l of seg.labels) counts[l]!++;
  const out = [];
  for (let k = 0; k < seg.numClasses; k++) {
    if (counts[k]! === 0) continue;
    const colour = Array.from(dataset.palette.subarray(3 * k, 3 * k + 3)) as [number, number, number];
    out.push({ index: k, name: dataset.classes[k] ?? `class ${k}`, colour, pixels: counts[k]!, fraction: counts[k]! / seg.labels.length });
  }
  return out.sort((a, b) => b.pixels - a.pixels);
}

/** The label map: an 8-bit palette PNG whose pixel values are the class indices (RGB past 256 classes). */
export async function writeLabelMap(path: string, seg: Segmentation, dataset: SegmentationDataset): Promise<void> {
  if (seg.numClasses <= 256) {
    const palette = new Uint8Array(3 * Math.max(seg.numClasses, 1));
    palette.set(dataset.palette.subarray(0, palette.length));
    await writeFile(path, encodePng({ width: seg.width, height: seg.height, channels: 1, data: Uint8Array.from(seg.labels), palette }));
  } else {
    await writeRgbPng(path, { width: seg.width, height: seg.height, data: paletteColours(seg.labels, dataset.palette) });
  }
}

/** The classes' colours blended over the image with opacity `alpha`. */
export async function writeOverlay(path: string, img: RgbImage, seg: Segmentation, dataset: SegmentationDataset, alpha: number): Promise<void> {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay: alpha must be between 0 and 1, got ${alpha}`);
  await writeRgbPng(path, blend(img, paletteColours(seg.labels, dataset.palette), alpha));
}

/** The legend of the classes present (PNG) and the same as JSON beside it; returns both paths. */
export async function writeLegend(path: string, seg: Segmentation, dataset: SegmentationDataset): Promise<[string, string]> {
  const entries = presentClasses(seg, dataset);
  await writeFile(path, await legendPng(entries));
  const json = path.replace(/\.png$/i, '') + '.json';
  await writeFile(json, JSON.stringify({ dataset: dataset.name, classes: entries.map(({ index, name, colour, pixels, fraction }) => ({ index, name, colour, pixels, fraction })) }, null, 2) + '\n');
  return [path, json];
}
