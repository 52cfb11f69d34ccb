/** `dinov2 segment-train`: train a linear segmentation head on image/mask folders with a frozen backbone. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import { decodeImage } from '../../data/decode.js';
import { IGNORE_INDEX, trainLinearSegHead, type SegSample } from '../../eval/segmentationTrain.js';
import { loadModelByNameOrPath } from '../../hub/loadModel.js';
import { IMAGE_EXTENSIONS } from '../../data/inputs.js';
import { Rng } from '../../core/rng.js';
import { writePth } from '../../formats/pth.js';
import { writeSafetensors } from '../../formats/safetensorsWriter.js';
import { decodeLabelPng } from '../../formats/png.js';
import { numberOption } from '../inputs.js';
import { backboneIdentity, identityMetadata } from '../../heads/backboneIdentity.js';
import { addModelOptions, modelLoadOptions, modelNameFromCli, type ModelCliOptions } from '../modelOptions.js';

interface TrainOptions extends ModelCliOptions {
  json?: boolean;
  images: string;
  masks: string;
  out: string;
  valSplit: string;
  iters: string;
  size: string;
  layers: string;
  batch: string;
  lr: string;
  weightDecay: string;
  classes?: string;
  classNames?: string;
  seed: string;
}

/** Image files of a folder with the mask `<masks>/<stem>.png` of each; a missing mask is an error naming it. */
export async function pairImagesAndMasks(imagesDir: string, masksDir: string): Promise<{ image: string; mask: string; name: string }[]> {
  for (const d of [imagesDir, masksDir]) {
    if (!(await stat(d).then((s) => s.isDirectory(), () => false))) throw new Error(`${d}: not a folder`);
  }
  const files = (await readdir(imagesDir)).filter((f) => !f.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(f).toLowerCase())).sort();
  if (files.length === 0) throw new Error(`${imagesDir}: no image files (${IMAGE_EXTENSIONS.join(' ')})`);
  const masks = new Set(await readdir(masksDir));
  return files.map((f) => {
    const stem = basename(f, extname(f));
    const mask = `${stem}.png`;
    if (!masks.has(mask)) throw new Error(`${join(masksDir, mask)}: missing mask for ${join(imagesDir, f)} (masks are PNGs of class indices named like their images)`);
    return { image: join(imagesDir, f), mask: join(masksDir, mask), name: stem };
  });
}

export interface SegmentTrainResult {
  out: string;
  train: number;
  val: number;
  numClasses: number;
  mIoU?: number;
  iou?: number[];
  finalLoss: number;
}

export async function runSegmentTrain(opts: TrainOptions, log: (line: string) => void = (l) => console.error(l)): Promise<SegmentTrainResult> {
  const valSplit = numberOption('--val-split', opts.valSplit, { integer: false, min: 0 });
  if (valSplit >= 1) throw new Error(`--val-split must be below 1, got ${valSplit}`);
  const iters = numberOption('--iters', opts.iters, { integer: true, min: 1 });
  const size = numberOption('--size', opts.size, { integer: true, min: 1 });
  const layers = numberOption('--layers', opts.layers, { integer: true, min: 1 });
  if (layers !== 1 && layers !== 4) throw new Error(`--layers must be 1 (linear head) or 4 (ms-style), got ${layers}`);
  const batchSize = numberOption('--batch', opts.batch, { integer: true, min: 1 });
  const lr = numberOption('--lr', opts.lr, { integer: false, min: 0 });
  const weightDecay = numberOption('--weight-decay', opts.weightDecay, { integer: false, min: 0 });
  const seed = numberOption('--seed', opts.seed, { integer: true, min: 0 });
  const classes = opts.classes !== undefined ? numberOption('--classes', opts.classes, { integer: true, min: 2 }) : undefined;
  if (!/\.(safetensors|pth)$/i.test(opts.out)) throw new Error(`--out ${opts.out}: use a .safetensors or .pth file name`);

  const pairs = await pairImagesAndMasks(opts.images, opts.masks);
  const samples: SegSample[] = [];
  let maxLabel = 0;
  for (const p of pairs) {
    const image = await decodeImage(p.image);
    const mask = decodeLabelPng(new Uint8Array(await readFile(p.mask)), p.mask);
    if (mask.width !== image.width || mask.height !== image.height) {
      throw new Error(`${p.mask}: the mask is ${mask.width}×${mask.height} but its image ${p.image} is ${image.width}×${image.height}`);
    }
    for (const l of mask.labels) if (l !== IGNORE_INDEX && l > maxLabel) maxLabel = l;
    samples.push({ name: p.mask, image, labels: mask.labels });
  }
  const numClasses = classes ?? maxLabel + 1;
  if (numClasses < 2) throw new Error(`the masks hold a single class (0); give --classes or masks with several classes`);
  const names = opts.classNames?.split(',').map((s) => s.trim());
  if (names && names.length !== numClasses) throw new Error(`--class-names gives ${names.length} names for ${numClasses} classes`);

  // A seeded shuffle, then the last share of the images is the validation split.
  const rng = new Rng(seed);
  const order = samples.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const nVal = valSplit > 0 && samples.length > 1 ? Math.min(samples.length - 1, Math.max(1, Math.round(samples.length * valSplit))) : 0;
  const train = order.slice(0, samples.length - nVal).map((i) => samples[i]!);
  const val = order.slice(samples.length - nVal).map((i) => samples[i]!);

  const backbone = await loadModelByNameOrPath(modelNameFromCli(opts), modelLoadOptions(opts));
  try {
    log(`segment-train: ${train.length} training and ${val.length} validation images, ${numClasses} classes, ${size}×${size}, ${iters} iterations`);
    let lastShown = 0;
    const result = await trainLinearSegHead(backbone, train, val, {
      numClasses,
      size,
      layers,
      iters,
      batchSize,
      lr,
      weightDecay,
      seed,
      onProgress: (e) => {
        if (opts.quiet || e.phase !== 'train') return;
        if (e.done === e.total || e.done - lastShown >= Math.max(1, Math.round(e.total / 10))) {
          lastShown = e.done;
          log(`  iter ${e.done}/${e.total}  loss ${e.loss!.toFixed(4)}  lr ${e.lr!.toExponential(2)}`);
        }
      },
    });
    const metadata: Record<string, string> = {
      format: 'dinov2-ts segment-train',
      backbone: backbone.name,
      ...identityMetadata(await backboneIdentity(backbone)),
      embed_dim: String(backbone.embedDim),
      layers: String(layers),
      size: String(size),
      classes: JSON.stringify(names ?? Array.from({ length: numClasses }, (_, i) => `class ${i}`)),
      iters: String(iters),
      val_images: JSON.stringify(val.map((v) => v.name)),
      ...(result.val ? { val_mIoU: String(result.val.mIoU), val_iou: JSON.stringify(result.val.iou) } : {}),
    };
    if (/\.pth$/i.test(opts.out)) await writePth(opts.out, result.tensors);
    else await writeSafetensors(opts.out, result.tensors, metadata);
    return {
      out: opts.out,
      train: train.length,
      val: val.length,
      numClasses,
      finalLoss: result.losses.at(-1)!,
      ...(result.val ? { mIoU: result.val.mIoU, iou: result.val.iou } : {}),
    };
  } finally {
    await backbone.dispose();
  }
}

export function registerSegmentTrain(program: Command): void {
  addModelOptions(
    program
      .command('segment-train')
      .description('train a linear segmentation head (BatchNorm + 1×1 conv, official keys) on a frozen backbone; reports validation mIoU')
      .requiredOption('--images <dir>', 'training images')
      .requiredOption('--masks <dir>', 'masks: <stem>.png per image, pixel value = class index (grey or palette PNG), 255 = ignore'),
  )
    .requiredOption('--out <file>', 'the head: .safetensors (with class names and training size as metadata) or .pth')
    .option('--val-split <fraction>', 'share of the images held out for validation', '0.2')
    .option('--iters <n>', 'training iterations', '1000')
    .option('--size <pixels>', 'training resolution (images resized to size × size; a multiple of the patch size)', '448')
    .option('--layers <1|4>', 'last blocks concatenated (1: linear head, 4: ms-style)', '1')
    .option('--batch <n>', 'images per iteration', '8')
    .option('--lr <rate>', 'AdamW learning rate (official: 1e-3)', '1e-3')
    .option('--weight-decay <wd>', 'AdamW weight decay (official: 1e-4)', '1e-4')
    .option('--classes <n>', 'number of classes (default: largest label + 1)')
    .option('--class-names <list>', 'comma-separated class names, stored in the head')
    .option('--seed <n>', 'seed of the split, the shuffles and the initialisation', '0')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 segment-train --images data/img --masks data/ann --model dinov2_vits14 --out head.safetensors\n' +
        '  $ dinov2 segment img.jpg --model dinov2_vits14 --head head.safetensors --out seg.png --overlay over.png',
    )
    .action(async (opts: TrainOptions) => {
      const r = await runSegmentTrain(opts);
      if (opts.json) {
        console.log(JSON.stringify(r));
        return;
      }
      const iou = r.iou ? ` (per class: ${r.iou.map((v) => (Number.isNaN(v) ? '–' : v.toFixed(3))).join(', ')})` : '';
      console.log(`${r.out}: ${r.numClasses} classes, final loss ${r.finalLoss.toFixed(4)}${r.mIoU !== undefined ? `, validation mIoU ${r.mIoU.toFixed(4)}${iou}` : ', no validation split'}`);
    });
}
