/** `dinov2 segment <image>`: semantic segmentation with a linear head (ADE20K, VOC 2012, or one's own). */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { decodeImage } from '../../data/decode.js';
import { segHeadFromSource } from '../../heads/segmentation/linearHead.js';
import { MS_RATIOS, Segmenter, type Segmentation } from '../../heads/segmentation/segmenter.js';
import { ADE20K, datasetFor, VOC2012, type SegmentationDataset } from '../../heads/segmentation/palettes.js';
import { openDecodeHead, resolveHeadFile } from '../../heads/headFile.js';
import { loadModelByNameOrPath } from '../../hub/loadModel.js';
import type { HeadKind } from '../../hub/registry.js';
import { blend, legendPng, paletteColours, type LegendEntry } from '../../apps/viz/overlay.js';
import { encodePng, writeRgbPng } from '../../formats/png.js';
import { addBackboneOptions, backboneLoadOptions, type BackboneCliOptions } from '../backboneOptions.js';

export const SEGMENTATION_HEAD_PRESETS: Readonly<Record<string, HeadKind>> = {
  'ade20k-linear': 'ade20k_linear',
  'ade20k-ms': 'ade20k_ms',
  'voc2012-linear': 'voc2012_linear',
  'voc2012-ms': 'voc2012_ms',
};

interface SegmentOptions extends BackboneCliOptions {
  head: string;
  out: string;
  overlay?: string;
  legend?: string | boolean;
  alpha: string;
  mode: string;
  size?: string;
  crop?: string;
  stride?: string;
  ms?: boolean;
  ratios?: string;
  flip?: boolean;
}

/** The dataset of a head: from the preset name, a trained head's metadata, or its class count. */
function headDataset(head: string, numClasses: number, metadata: Record<string, unknown>): SegmentationDataset {
  if (head.startsWith('ade20k')) return ADE20K;
  if (head.startsWith('voc2012')) return VOC2012;
  let names: string[] | undefined;
  if (typeof metadata['classes'] === 'string') {
    try {
      names = JSON.parse(metadata['classes']) as string[];
    } catch {
      names = undefined;
    }
  }
  return datasetFor(numClasses, names);
}

function number(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got '${v}'`);
  return n;
}

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

export async function runSegment(image: string, opts: SegmentOptions): Promise<{ seg: Segmentation; dataset: SegmentationDataset; files: string[] }> {
  const alpha = Number(opts.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`--alpha must be between 0 and 1, got '${opts.alpha}'`);
  if (opts.mode !== 'whole' && opts.mode !== 'slide') throw new Error(`--mode must be 'whole' or 'slide', got '${opts.mode}'`);
  const size = number('--size', opts.size, true);
  const ratios = opts.ratios ? opts.ratios.split(',').map((r) => number('--ratios', r.trim())!) : opts.ms ? MS_RATIOS : [1];
  const crop = number('--crop', opts.crop, true);
  const stride = number('--stride', opts.stride, true);
  const img = await decodeImage(image);
  const { path: headPath } = await resolveHeadFile(opts.head, opts.model, SEGMENTATION_HEAD_PRESETS, opts.offline !== undefined ? { offline: opts.offline } : {});
  const backbone = await loadModelByNameOrPath(opts.model, backboneLoadOptions(opts));
  const source = await openDecodeHead(headPath);
  try {
    const { config, store } = segHeadFromSource(source, backbone.embedDim);
    const dataset = headDataset(opts.head, config.numClasses, source.metadata);
    // Base scale: what the head was trained at (segment-train records it), else the official test scales
    // (short side 512 for linear heads, 640 for ms heads).
    const trainedSize = Number(source.metadata['size']);
    const shortSide = size ?? (Number.isInteger(trainedSize) && trainedSize > 0 ? trainedSize : config.layers === 4 ? 640 : 512);
    const segmenter = new Segmenter(backbone, config, store);
    let seg: Segmentation;
    try {
      seg = await segmenter.segment(img, {
        mode: opts.mode as 'whole' | 'slide',
        shortSide,
        ratios,
        flip: !!(opts.flip || opts.ms),
        ...(crop ? { crop } : {}),
        ...(stride ? { stride } : {}),
      });
    } finally {
      await segmenter.dispose();
    }
    const files = [opts.out];
    // The label map itself: palette indices are the classes, the palette their colours.
    if (seg.numClasses <= 256) {
      const palette = new Uint8Array(3 * Math.max(seg.numClasses, 1));
      palette.set(dataset.palette.subarray(0, palette.length));
      await writeFile(opts.out, encodePng({ width: seg.width, height: seg.height, channels: 1, data: Uint8Array.from(seg.labels), palette }));
    } else {
      await writeRgbPng(opts.out, { width: seg.width, height: seg.height, data: paletteColours(seg.labels, dataset.palette) });
    }
    if (opts.overlay) {
      await writeRgbPng(opts.overlay, blend(img, paletteColours(seg.labels, dataset.palette), alpha));
      files.push(opts.overlay);
    }
    if (opts.legend) {
      const base = typeof opts.legend === 'string' ? opts.legend : opts.out.replace(/\.png$/i, '') + '.legend.png';
      const entries = presentClasses(seg, dataset);
      await writeFile(base, await legendPng(entries));
      const json = base.replace(/\.png$/i, '') + '.json';
      await writeFile(json, JSON.stringify({ dataset: dataset.name, classes: entries.map(({ index, name, colour, pixels, fraction }) => ({ index, name, colour, pixels, fraction })) }, null, 2) + '\n');
      files.push(base, json);
    }
    return { seg, dataset, files };
  } finally {
    await source.close();
    await backbone.dispose();
  }
}

export function registerSegment(program: Command): void {
  addBackboneOptions(
    program
      .command('segment')
      .description('semantic segmentation with a DINOv2 linear head: label map (palette PNG of the image size), overlay, legend')
      .argument('<image>', 'image file'),
  )
    .requiredOption('--head <name|file>', `segmentation head: ${Object.keys(SEGMENTATION_HEAD_PRESETS).join(', ')} (released, for hub backbones) or a head file (e.g. from segment-train)`)
    .requiredOption('--out <file.png>', 'label map: an 8-bit palette PNG whose pixel values are the class indices')
    .option('--overlay <file.png>', 'the classes\' colours blended over the image')
    .option('--legend [file.png]', 'legend of the classes present (PNG, plus the same as .json); default <out>.legend.png')
    .option('--alpha <a>', 'overlay opacity', '0.5')
    .option('--mode <whole|slide>', 'whole image at once, or sliding windows as the official evaluation', 'slide')
    .option('--size <pixels>', 'base scale: shorter side (default: the trained size, else 512; 640 for ms heads)')
    .option('--crop <pixels>', 'sliding window size (default: --size)')
    .option('--stride <pixels>', 'sliding window step (default: 2/3 of the window)')
    .option('--ms', `official multi-scale test: ratios ${MS_RATIOS.join(', ')} with flips (slow)`)
    .option('--ratios <list>', 'scale ratios, comma-separated (e.g. 1,1.32,1.73)')
    .option('--flip', 'also average over horizontally flipped inputs')
    .option('--offline', 'never download (heads and backbone must be cached or local)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 segment street.jpg --model dinov2_vitb14 --head ade20k-linear --out seg.png --overlay over.png --legend\n' +
        '  $ dinov2 segment cat.png --model dinov2_vits14 --head voc2012-ms --ms --out seg.png\n' +
        '  $ dinov2 segment img.png --model dinov2_vits14 --head head.safetensors --out seg.png',
    )
    .action(async (image: string, opts: SegmentOptions) => {
      const { seg, dataset, files } = await runSegment(image, opts);
      const top = presentClasses(seg, dataset).slice(0, 5).map((c) => `${c.name} ${(100 * c.fraction!).toFixed(1)}%`);
      console.log(`${files.join(', ')}: ${seg.width}×${seg.height}, ${dataset.name} classes: ${top.join(', ')}`);
    });
}
