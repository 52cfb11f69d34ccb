/**
 * Segmentation inference as mmseg's `EncoderDecoder` runs the DINOv2 linear heads:
 * - `encode_decode`: centre-pad to a multiple of the patch size, final-normed layers of the backbone, the
 *   head's logits at the patch grid, bilinear resize (align_corners=False) to the unpadded input size;
 * - `whole` or `slide` inference (crops of `crop` pixels every `stride`, logits averaged where they overlap);
 * - test-time augmentation (`aug_test`): the image rescaled (keep ratio) to each ratio × the base scale and
 *   optionally flipped, each result resized to the original size and turned into class probabilities
 *   (softmax), the probabilities averaged, then argmax.
 * Image rescaling uses PIL-style bilinear resampling; mmseg uses OpenCV's, which differs slightly when
 * shrinking (OpenCV does not antialias).
 */
import { GraphBuilder, type Sym } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { outSizeFeed } from '../../graph/lazyGraph.js';
import { BackboneHead, type BackboneHeadOptions } from '../backboneHead.js';
import { bilinearTaps } from '../resize.js';
import { centerPadding } from '../depth/centerPadding.js';
import { rgbImage, type RgbImage } from '../../data/image.js';
import { resize } from '../../data/resample.js';
import { normalize, toTensor } from '../../data/transforms.js';
import type { Dinov2 } from '../../models/dinov2.js';
import { weightScope, type WeightStore } from '../../models/weightStore.js';
import { Tensor } from '../../core/tensor.js';
import { segHeadForward, segOutIndex, type LinearSegHeadConfig } from './linearHead.js';

/** Test-time scale ratios of the official "+ms" evaluation. */
export const MS_RATIOS: readonly number[] = [1.0, 1.32, 1.73, 2.28, 3.0];

/** Graph: maps `patch<i>` [B, D, h, w] and `out_size` [2] → `logits` [B, K, H, W]. */
export function buildSegHeadGraph(config: LinearSegHeadConfig, store: WeightStore, name = 'seg_head'): GraphIR {
  const g = new GraphBuilder(name);
  const patches: Sym[] = [];
  for (let i = 0; i < config.layers; i++) patches.push(g.input(`patch${i}`, 'float32', ['batch', config.embedDim, 'h', 'w']));
  const outSize = g.input('out_size', 'int64', [2]);
  const logits = segHeadForward(weightScope(g, store).scope('decode_head'), config, patches);
  g.output('logits', op.resizeBilinear(logits, { size: outSize, outHW: ['height', 'width'] }, false));
  return g.build();
}

/** `mmcv.imrescale`: the largest scale keeping the long side ≤ `longSide` and the short side ≤ `shortSide`. */
export function rescaleSize(width: number, height: number, shortSide: number, longSide: number): { width: number; height: number } {
  const scale = Math.min(longSide / Math.max(width, height), shortSide / Math.min(width, height));
  return { width: Math.max(1, Math.floor(width * scale + 0.5)), height: Math.max(1, Math.floor(height * scale + 0.5)) };
}

export function flipHorizontal(img: RgbImage): RgbImage {
  const out = rgbImage(img.width, img.height);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * 3;
      const d = (y * img.width + img.width - 1 - x) * 3;
      out.data[d] = img.data[s]!;
      out.data[d + 1] = img.data[s + 1]!;
      out.data[d + 2] = img.data[s + 2]!;
    }
  }
  return out;
}

/** Rows [y0, y1) and columns [x0, x1) of a [1, C, H, W] tensor. */
function crop(x: Tensor<'float32'>, y0: number, y1: number, x0: number, x1: number): Tensor<'float32'> {
  return x.slice(2, y0, y1).slice(3, x0, x1);
}

export interface SegmentOptions {
  mode?: 'whole' | 'slide';
  /** Base scale: the image is rescaled (keep ratio) so that its short side ≤ shortSide·r, long side ≤ longSide·r; null keeps its size. */
  shortSide?: number | null;
  longSide?: number;
  /** Slide window and step (pixels of the rescaled image); default shortSide and ⌊2/3⌋ of it (512 / 341). */
  crop?: number;
  stride?: number;
  ratios?: readonly number[];
  flip?: boolean;
}

export interface Segmentation {
  width: number;
  height: number;
  numClasses: number;
  /** Class per pixel, row-major. */
  labels: Uint16Array;
  /** Probability of the chosen class per pixel (averaged over the test-time augmentations). */
  confidence: Float32Array;
}

/** Above this many bytes the multi-run probability sum (K × H × W float32) is refused rather than risked. */
const MAX_ACCUMULATOR_BYTES = 4 * 2 ** 30;

/**
 * Logits [1, K, h, w] of one run, brought to the H × W of the original image one row at a time (bilinear,
 * align_corners=False, as `resize` in mmseg's `inference`), turned into probabilities and handed to `sink`
 * with the row index: the full-resolution K-channel map never exists at once.
 */
function forEachProbabilityRow(logits: Tensor<'float32'>, H: number, W: number, flip: boolean, sink: (y: number, row: Float32Array) => void): void {
  const [, K, h, w] = logits.shape as [number, number, number, number];
  const ty = bilinearTaps(h, H, false);
  const tx = bilinearTaps(w, W, false);
  const src = logits.data;
  const row = new Float32Array(K * W);
  const max = new Float32Array(W);
  const sum = new Float32Array(W);
  for (let y = 0; y < H; y++) {
    max.fill(-Infinity);
    for (let k = 0; k < K; k++) {
      const r0 = (k * h + ty.i0[y]!) * w;
      const r1 = (k * h + ty.i1[y]!) * w;
      const [wy0, wy1] = [ty.w0[y]!, ty.w1[y]!];
      for (let x = 0; x < W; x++) {
        const [c0, c1, wx0, wx1] = [tx.i0[x]!, tx.i1[x]!, tx.w0[x]!, tx.w1[x]!];
        const v = wy0 * (wx0 * src[r0 + c0]! + wx1 * src[r0 + c1]!) + wy1 * (wx0 * src[r1 + c0]! + wx1 * src[r1 + c1]!);
        // A flipped run is mirrored back as it is written.
        const xo = flip ? W - 1 - x : x;
        row[k * W + xo] = v;
        if (v > max[xo]!) max[xo] = v;
      }
    }
    sum.fill(0);
    for (let k = 0; k < K; k++) for (let x = 0; x < W; x++) sum[x]! += row[k * W + x] = Math.exp(row[k * W + x]! - max[x]!);
    for (let k = 0; k < K; k++) for (let x = 0; x < W; x++) row[k * W + x]! /= sum[x]!;
    sink(y, row);
  }
}



export class Segmenter extends BackboneHead {
  constructor(
    backbone: Dinov2,
    readonly config: LinearSegHeadConfig,
    store: WeightStore,
    options: BackboneHeadOptions = {},
  ) {
    super(backbone, 'segmentation', config.embedDim, segOutIndex(backbone.config.depth, config.layers), () => buildSegHeadGraph(config, store), options);
  }

  /** Head logits [B, K, H, W] for a normalised batch of features [B, C, h, w] per layer. */
  async headLogits(patches: readonly Tensor<'float32'>[], height: number, width: number): Promise<Tensor<'float32'>> {
    const feeds: Record<string, Tensor> = { out_size: outSizeFeed(height, width) };
    patches.forEach((p, i) => (feeds[`patch${i}`] = p));
    return (await this.graph.run(feeds, ['logits']))['logits'] as Tensor<'float32'>;
  }

  /** `encode_decode`: logits [B, K, H, W] of a normalised image batch [B, 3, H, W]. */
  async logits(x: Tensor<'float32'>): Promise<Tensor<'float32'>> {
    const [, , H, W] = x.shape as [number, number, number, number];
    const layers = await this.backbone.getIntermediateLayers(centerPadding(x, this.backbone.patchSize), { n: this.outIndex, reshape: true, norm: true });
    return this.headLogits(layers.map((l) => l.patchTokens), H, W);
  }

  /** `slide_inference` on one image [1, 3, H, W]: logits averaged over overlapping windows. */
  async slideLogits(x: Tensor<'float32'>, cropSize: number, stride: number): Promise<Tensor<'float32'>> {
    const [, , H, W] = x.shape as [number, number, number, number];
    if (!(stride > 0 && cropSize > 0)) throw new Error(`slide inference needs a positive crop and stride, got ${cropSize} and ${stride}`);
    const K = this.config.numClasses;
    const sum = new Float32Array(K * H * W);
    const count = new Uint16Array(H * W);
    const hGrids = Math.floor(Math.max(H - cropSize + stride - 1, 0) / stride) + 1;
    const wGrids = Math.floor(Math.max(W - cropSize + stride - 1, 0) / stride) + 1;
    for (let hi = 0; hi < hGrids; hi++) {
      for (let wi = 0; wi < wGrids; wi++) {
        const y2 = Math.min(hi * stride + cropSize, H);
        const x2 = Math.min(wi * stride + cropSize, W);
        const y1 = Math.max(y2 - cropSize, 0);
        const x1 = Math.max(x2 - cropSize, 0);
        const out = await this.logits(crop(x, y1, y2, x1, x2));
        const ch = y2 - y1;
        const cw = x2 - x1;
        for (let k = 0; k < K; k++) {
          for (let y = 0; y < ch; y++) {
            for (let xx = 0; xx < cw; xx++) sum[(k * H + y1 + y) * W + x1 + xx]! += out.data[(k * ch + y) * cw + xx]!;
          }
        }
        for (let y = y1; y < y2; y++) for (let xx = x1; xx < x2; xx++) count[y * W + xx]!++;
      }
    }
    const plane = H * W;
    for (let k = 0; k < K; k++) for (let i = 0; i < plane; i++) sum[k * plane + i]! /= count[i]!;
    return Tensor.float32(sum, [1, K, H, W]);
  }

  /** Class map of an 8-bit RGB image, with the official test-time pipeline (see the module comment). */
  async segment(img: RgbImage, opts: SegmentOptions = {}): Promise<Segmentation> {
    const shortSide = opts.shortSide === undefined ? 512 : opts.shortSide;
    const longSide = opts.longSide ?? 2048;
    const ratios = opts.ratios ?? [1];
    const mode = opts.mode ?? 'whole';
    const flips = opts.flip ? [false, true] : [false];
    const K = this.config.numClasses;
    const W = img.width;
    const H = img.height;
    const runs = ratios.length * flips.length;
    // One run: the argmax is taken row by row. Several: their probabilities are summed at full size first.
    let acc: Float32Array | null = null;
    if (runs > 1) {
      if (K * W * H * 4 > MAX_ACCUMULATOR_BYTES) {
        throw new Error(`averaging ${runs} test-time runs of ${K} classes at ${W}×${H} needs ${((K * W * H * 4) / 2 ** 30).toFixed(1)} GiB; shrink the image or use one scale without flips`);
      }
      acc = new Float32Array(K * W * H);
    }
    const labels = new Uint16Array(W * H);
    const confidence = new Float32Array(W * H);
    const pick = (y: number, row: Float32Array, scale: number): void => {
      for (let x = 0; x < W; x++) {
        let best = 0;
        for (let k = 1; k < K; k++) if (row[k * W + x]! > row[best * W + x]!) best = k;
        labels[y * W + x] = best;
        confidence[y * W + x] = row[best * W + x]! * scale;
      }
    };
    for (const r of ratios) {
      const size = shortSide === null ? { width: Math.round(W * r), height: Math.round(H * r) } : rescaleSize(W, H, shortSide * r, longSide * r);
      const scaled = size.width === W && size.height === H ? img : resize(img, size.width, size.height, 'bilinear');
      for (const flip of flips) {
        const input = flip ? flipHorizontal(scaled) : scaled;
        const x = normalize(toTensor(input)).reshape([1, 3, input.height, input.width]);
        const cropSize = opts.crop ?? (shortSide ?? 512);
        const logits = mode === 'slide' ? await this.slideLogits(x, cropSize, opts.stride ?? Math.floor((2 * cropSize) / 3)) : await this.logits(x);
        forEachProbabilityRow(logits, H, W, flip, (y, row) => {
          if (!acc) return pick(y, row, 1);
          for (let k = 0; k < K; k++) {
            const base = (k * H + y) * W;
            for (let xx = 0; xx < W; xx++) acc[base + xx]! += row[k * W + xx]!;
          }
        });
      }
    }
    if (acc) {
      const row = new Float32Array(K * W);
      for (let y = 0; y < H; y++) {
        for (let k = 0; k < K; k++) row.set(acc.subarray((k * H + y) * W, (k * H + y + 1) * W), k * W);
        pick(y, row, 1 / runs);
      }
    }
    return { width: W, height: H, numClasses: K, labels, confidence };
  }

}
