/**
 * The multi-crop augmentation of DINOv2 training (`DataAugmentationDINO`, dinov2/data/augmentations.py):
 * two global crops and `localCropsNumber` local crops of one image, each
 *   RandomResizedCrop (bicubic) → horizontal flip (p 0.5) → ColorJitter(0.4, 0.4, 0.2, 0.1) with p 0.8 →
 *   grayscale (p 0.2) → Gaussian blur (kernel 9, σ ∈ U(0.1, 2)) → [crop 2 only: solarize at 128, p 0.2] →
 *   ToTensor + ImageNet normalisation.
 * Every step is the torchvision/Pillow operation byte for byte (colorOps.ts, randomResizedCrop.ts,
 * gaussianBlur.ts); the random draws follow torchvision's algorithms and order, from our seeded `Rng`
 * (torch's generator itself is not reproduced, so the same seed gives other crops than PyTorch).
 *
 * Blur probabilities: the official wrapper hands `1 − p` to RandomApply, so the released models were
 * trained with global crop 1 never blurred, global crop 2 blurred with p 0.9 and local crops with p 0.5
 * (dinov2 PR #411). That is the default here; `blur: 'nominal'` uses the probabilities as written (1.0,
 * 0.1, 0.5).
 */
import type { Tensor } from '../core/tensor.js';
import type { Rng } from '../core/rng.js';
import { colorJitter, colorJitterParams, solarize, toGrayscaleRgb } from './colorOps.js';
import { gaussianBlur, gaussianBlurSigma } from './gaussianBlur.js';
import type { RgbImage } from './image.js';
import { hflip, randomResizedCropParams, resizedCrop } from './randomResizedCrop.js';
import { normalize, toTensor } from './transforms.js';

export interface MultiCropOptions {
  /** Side of the two global crops (official 224). */
  globalCropsSize?: number;
  /** Side of the local crops (official 96; 98 is the nearest multiple of 14). */
  localCropsSize?: number;
  localCropsNumber?: number;
  globalCropsScale?: readonly [number, number];
  localCropsScale?: readonly [number, number];
  /** 'official' (default): the probabilities the released models saw; 'nominal': as the config states them. */
  blur?: 'official' | 'nominal';
  /**
   * Range of the blur's σ in pixels (official [0.1, 2], chosen for 224-px crops). Small images need it
   * scaled with the crop: σ = 2 on a 28-px crop blurs as σ = 16 would at 224 (docs/TRAINING.md).
   */
  blurSigma?: readonly [number, number];
}

/** Which random steps a crop went through (for logs and tests). */
export interface CropSteps {
  flip: boolean;
  colorJitter: boolean;
  grayscale: boolean;
  blur: boolean;
  solarize: boolean;
}

export interface MultiCrops {
  /** Two [3, S, S] tensors. */
  globalCrops: Tensor<'float32'>[];
  /** `localCropsNumber` [3, s, s] tensors. */
  localCrops: Tensor<'float32'>[];
  /** The steps taken per crop: global 1, global 2, then the locals. */
  steps: CropSteps[];
}

const JITTER = { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 } as const;
const BLUR_KERNEL = 9;
const BLUR_SIGMA: readonly [number, number] = [0.1, 2.0];

/** Nominal blur probabilities of global crop 1, global crop 2 and the local crops. */
const NOMINAL_BLUR = { global1: 1.0, global2: 0.1, local: 0.5 } as const;

export class DataAugmentationDINO {
  readonly globalCropsSize: number;
  readonly localCropsSize: number;
  readonly localCropsNumber: number;
  private readonly globalScale: readonly [number, number];
  private readonly localScale: readonly [number, number];
  private readonly blurP: { global1: number; global2: number; local: number };
  private readonly blurSigma: readonly [number, number];

  constructor(opts: MultiCropOptions = {}) {
    this.globalCropsSize = opts.globalCropsSize ?? 224;
    this.localCropsSize = opts.localCropsSize ?? 98;
    this.localCropsNumber = opts.localCropsNumber ?? 8;
    this.globalScale = opts.globalCropsScale ?? [0.32, 1.0];
    this.localScale = opts.localCropsScale ?? [0.05, 0.32];
    for (const [name, v] of [['globalCropsSize', this.globalCropsSize], ['localCropsSize', this.localCropsSize]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`DataAugmentationDINO: ${name} must be a positive integer, got ${v}`);
    }
    if (!Number.isInteger(this.localCropsNumber) || this.localCropsNumber < 0) {
      throw new Error(`DataAugmentationDINO: localCropsNumber must be a non-negative integer, got ${this.localCropsNumber}`);
    }
    for (const [name, [lo, hi]] of [['globalCropsScale', this.globalScale], ['localCropsScale', this.localScale]] as const) {
      if (!(lo > 0 && lo <= hi && hi <= 1)) throw new Error(`DataAugmentationDINO: ${name} must satisfy 0 < min ≤ max ≤ 1, got [${lo}, ${hi}]`);
    }
    this.blurSigma = opts.blurSigma ?? BLUR_SIGMA;
    const [s0, s1] = this.blurSigma;
    if (!(s0 > 0 && s0 <= s1 && Number.isFinite(s1))) throw new Error(`DataAugmentationDINO: blurSigma must satisfy 0 < min ≤ max, got [${s0}, ${s1}]`);
    const blur = opts.blur ?? 'official';
    if (blur !== 'official' && blur !== 'nominal') throw new Error(`DataAugmentationDINO: blur must be 'official' or 'nominal', got '${String(blur)}'`);
    // The official GaussianBlur passes keep_p = 1 − p to RandomApply (see the module comment).
    const effective = (p: number): number => (blur === 'official' ? 1 - p : p);
    this.blurP = { global1: effective(NOMINAL_BLUR.global1), global2: effective(NOMINAL_BLUR.global2), local: effective(NOMINAL_BLUR.local) };
  }

  /** The crops of one image, drawn from `rng` in the official order: global 1, global 2, then the locals. */
  apply(image: RgbImage, rng: Rng): MultiCrops {
    const steps: CropSteps[] = [];
    const crop = (size: number, scale: readonly [number, number], blurP: number, maySolarize: boolean): Tensor<'float32'> => {
      const { x, taken } = this.crop(image, rng, size, scale, blurP, maySolarize);
      steps.push(taken);
      return x;
    };
    const globalCrops = [
      crop(this.globalCropsSize, this.globalScale, this.blurP.global1, false),
      crop(this.globalCropsSize, this.globalScale, this.blurP.global2, true),
    ];
    const localCrops: Tensor<'float32'>[] = [];
    for (let i = 0; i < this.localCropsNumber; i++) localCrops.push(crop(this.localCropsSize, this.localScale, this.blurP.local, false));
    return { globalCrops, localCrops, steps };
  }

  private crop(image: RgbImage, rng: Rng, size: number, scale: readonly [number, number], blurP: number, maySolarize: boolean): { x: Tensor<'float32'>; taken: CropSteps } {
    let img = resizedCrop(image, randomResizedCropParams(rng, image.width, image.height, [scale[0], scale[1]]), size, 'bicubic');
    const taken: CropSteps = { flip: rng.next() < 0.5, colorJitter: false, grayscale: false, blur: false, solarize: false };
    if (taken.flip) img = hflip(img);
    // RandomApply skips when p < u: it applies for u ≤ p.
    taken.colorJitter = !(0.8 < rng.next());
    if (taken.colorJitter) img = colorJitter(img, colorJitterParams(rng, JITTER));
    taken.grayscale = rng.next() < 0.2;
    if (taken.grayscale) img = toGrayscaleRgb(img);
    taken.blur = !(blurP < rng.next());
    if (taken.blur) img = gaussianBlur(img, BLUR_KERNEL, gaussianBlurSigma(rng, this.blurSigma));
    taken.solarize = maySolarize && rng.next() < 0.2;
    if (taken.solarize) img = solarize(img, 128);
    return { x: normalize(toTensor(img)), taken };
  }
}
