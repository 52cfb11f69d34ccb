/** `dinov2 segment <image>`: flags → `loadSegmenter` (hub/loadHead.ts) and the writers of apps/segment.ts. */
import type { Command } from 'commander';
import { presentClasses, writeLabelMap, writeLegend, writeOverlay } from '../../apps/segment.js';
import { decodeImage } from '../../data/decode.js';
import type { SegmentationDataset } from '../../heads/segmentation/palettes.js';
import { MS_RATIOS, type Segmentation } from '../../heads/segmentation/segmenter.js';
import { loadSegmenter, resolveHeadFile, SEGMENTATION_HEAD_PRESETS } from '../../hub/loadHead.js';
import { loadModelByNameOrPath } from '../../hub/loadModel.js';
import { checkHeadBackbone } from '../../heads/backboneIdentity.js';
import { openTensorFile } from '../../formats/open.js';
import { addModelOptions, modelLoadOptions, modelNameFromCli, type ModelCliOptions } from '../modelOptions.js';

interface SegmentOptions extends ModelCliOptions {
  force?: boolean;
  json?: boolean;
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

function number(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got '${v}'`);
  return n;
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
  // The head first: a missing head fails before the backbone is read or downloaded.
  const { path: headPath } = await resolveHeadFile(opts.head, modelNameFromCli(opts), SEGMENTATION_HEAD_PRESETS, opts.offline !== undefined ? { offline: opts.offline } : {});
  const backbone = await loadModelByNameOrPath(modelNameFromCli(opts), modelLoadOptions(opts));
  try {
    // A head trained by segment-train records its backbone: another one is refused unless --force.
    const headFile = await openTensorFile(headPath);
    const headMetadata = headFile.metadata;
    await headFile.close();
    await checkHeadBackbone(headPath, headMetadata, backbone, { force: !!opts.force });
    const { segmenter, config, dataset, trainedSize } = await loadSegmenter(headPath, backbone, {
      ...(modelNameFromCli(opts) !== undefined ? { model: modelNameFromCli(opts)! } : {}),
      ...(opts.offline !== undefined ? { offline: opts.offline } : {}),
    });
    let seg: Segmentation;
    try {
      // Base scale: what the head was trained at (segment-train records it), else the official test scales
      // (short side 512 for linear heads, 640 for ms heads).
      seg = await segmenter.segment(img, {
        mode: opts.mode as 'whole' | 'slide',
        shortSide: size ?? trainedSize ?? (config.layers === 4 ? 640 : 512),
        ratios,
        flip: !!(opts.flip || opts.ms),
        ...(crop ? { crop } : {}),
        ...(stride ? { stride } : {}),
      });
    } finally {
      await segmenter.dispose();
    }
    const files = [opts.out];
    await writeLabelMap(opts.out, seg, dataset);
    if (opts.overlay) {
      await writeOverlay(opts.overlay, img, seg, dataset, alpha);
      files.push(opts.overlay);
    }
    if (opts.legend) files.push(...(await writeLegend(typeof opts.legend === 'string' ? opts.legend : legendPathFor(opts.out), seg, dataset)));
    return { seg, dataset, files };
  } finally {
    await backbone.dispose();
  }
}

export function registerSegment(program: Command): void {
  addModelOptions(
    program
      .command('segment')
      .description('semantic segmentation with a DINOv2 linear head: label map (palette PNG of the image size), overlay, legend')
      .argument('<image>', 'image file'),
  )
    .requiredOption('--head <name|file>', `segmentation head: ${Object.keys(SEGMENTATION_HEAD_PRESETS).join(', ')} (released, for hub backbones) or a head file (e.g. from segment-train)`)
    .requiredOption('--out <file.png>', 'label map: an 8-bit palette PNG whose pixel values are the class indices')
    .option('--overlay <file.png>', 'the classes\' colours blended over the image')
    .option('--legend [file.png]', 'legend of the classes present: file.png and file.json (default: seg.legend.png and seg.legend.json for --out seg.png)')
    .option('--alpha <a>', 'overlay opacity', '0.5')
    .option('--mode <whole|slide>', 'whole image at once, or sliding windows as the official evaluation', 'slide')
    .option('--size <pixels>', 'base scale: shorter side (default: the trained size, else 512; 640 for ms heads)')
    .option('--crop <pixels>', 'sliding window size (default: --size)')
    .option('--stride <pixels>', 'sliding window step (default: 2/3 of the window)')
    .option('--ms', `official multi-scale test: ratios ${MS_RATIOS.join(', ')} with flips (slow)`)
    .option('--ratios <list>', 'scale ratios, comma-separated (e.g. 1,1.32,1.73)')
    .option('--flip', 'also average over horizontally flipped inputs')
    .option('--json', 'print the result as JSON')
    .option('--force', 'run a head trained on another backbone (refused otherwise)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 segment street.jpg --model dinov2_vitb14 --head ade20k-linear --out seg.png --overlay over.png --legend\n' +
        '  $ dinov2 segment cat.png --model dinov2_vits14 --head voc2012-ms --ms --out seg.png\n' +
        '  $ dinov2 segment img.png --model dinov2_vits14 --head head.safetensors --out seg.png',
    )
    .action(async (image: string, opts: SegmentOptions) => {
      const { seg, dataset, files } = await runSegment(image, opts);
      if (opts.json) {
        console.log(JSON.stringify({ files, width: seg.width, height: seg.height, dataset: dataset.name, classes: presentClasses(seg, dataset) }));
        return;
      }
      const top = presentClasses(seg, dataset).slice(0, 5).map((c) => `${c.name} ${(100 * c.fraction!).toFixed(1)}%`);
      console.log(`${files.join(', ')}: ${seg.width}×${seg.height}, ${dataset.name} classes: ${top.join(', ')}`);
    });
}

/** Where `--legend` without a file name writes: `seg.png` → `seg.legend.png` (and `seg.legend.json`). */
export function legendPathFor(out: string): string {
  return out.replace(/\.png$/i, '') + '.legend.png';
}
