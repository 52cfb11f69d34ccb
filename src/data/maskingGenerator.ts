/**
 * BEiT-style block masking for iBOT (official `MaskingGenerator`, dinov2/data/masking.py): rectangles of
 * random area and log-uniform aspect ratio are stamped on the patch grid until the requested number of
 * patches is masked or a block can add nothing. Random draws are made in the official order and with
 * Python's formulas, so an `Rng` seeded like Python's `random` yields the official masks.
 */
import { roundHalfEven } from '../core/pythonMath.js';
import type { Rng } from '../core/rng.js';

export interface MaskingGeneratorOptions {
  /** Only the default for `maxNumPatches`, as in the official constructor. */
  numMaskingPatches?: number;
  minNumPatches?: number;
  /** Largest number of patches one block may add; defaults to `numMaskingPatches`. */
  maxNumPatches?: number;
  minAspect?: number;
  /** Defaults to `1 / minAspect` (also when 0, following Python's `or`). */
  maxAspect?: number;
}

export interface Mask {
  /** Row-major [height * width], 1 = masked. */
  data: Uint8Array;
  /** Number of masked patches. */
  count: number;
}

/** Attempts at placing one block before giving up on it. */
const BLOCK_ATTEMPTS = 10;

export class MaskingGenerator {
  readonly height: number;
  readonly width: number;
  readonly numPatches: number;
  readonly minNumPatches: number;
  readonly maxNumPatches: number | undefined;
  readonly logAspectRatio: readonly [number, number];

  constructor(inputSize: number | readonly [number, number], options: MaskingGeneratorOptions = {}) {
    const [height, width] = typeof inputSize === 'number' ? [inputSize, inputSize] : inputSize;
    if (!Number.isSafeInteger(height) || !Number.isSafeInteger(width) || height <= 0 || width <= 0) {
      throw new Error(`MaskingGenerator: grid size must be positive integers, got ${height}×${width}`);
    }
    this.height = height;
    this.width = width;
    this.numPatches = height * width;
    this.minNumPatches = options.minNumPatches ?? 4;
    this.maxNumPatches = options.maxNumPatches ?? options.numMaskingPatches;
    const minAspect = options.minAspect ?? 0.3;
    const maxAspect = options.maxAspect || 1 / minAspect;
    this.logAspectRatio = [Math.log(minAspect), Math.log(maxAspect)];
  }

  /** The official `__call__`: a mask with `numMaskingPatches` patches when the blocks manage it, else fewer. */
  generate(rng: Rng, numMaskingPatches = 0): Mask {
    const mask = new Uint8Array(this.numPatches);
    let count = 0;
    while (count < numMaskingPatches) {
      if (this.maxNumPatches === undefined) {
        throw new Error('MaskingGenerator: needs maxNumPatches (or numMaskingPatches) to mask anything');
      }
      const delta = this.maskBlock(rng, mask, Math.min(numMaskingPatches - count, this.maxNumPatches));
      if (delta === 0) break;
      count += delta;
    }
    return { data: mask, count };
  }

  /** The official `_mask`: stamps at most one block that adds between 1 and `maxMaskPatches` patches. */
  private maskBlock(rng: Rng, mask: Uint8Array, maxMaskPatches: number): number {
    const W = this.width;
    let delta = 0;
    for (let attempt = 0; attempt < BLOCK_ATTEMPTS; attempt++) {
      const targetArea = rng.uniform(this.minNumPatches, maxMaskPatches);
      const aspectRatio = Math.exp(rng.uniform(this.logAspectRatio[0], this.logAspectRatio[1]));
      const h = roundHalfEven(Math.sqrt(targetArea * aspectRatio));
      const w = roundHalfEven(Math.sqrt(targetArea / aspectRatio));
      if (w < this.width && h < this.height) {
        const top = rng.randint(0, this.height - h);
        const left = rng.randint(0, this.width - w);
        let alreadyMasked = 0;
        for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) alreadyMasked += mask[i * W + j]!;
        const added = h * w - alreadyMasked;
        // Blocks that mostly overlap, or overshoot the budget, are rejected whole.
        if (added > 0 && added <= maxMaskPatches) {
          for (let i = top; i < top + h; i++) {
            for (let j = left; j < left + w; j++) {
              if (mask[i * W + j] === 0) {
                mask[i * W + j] = 1;
                delta++;
              }
            }
          }
        }
        if (delta > 0) break;
      }
    }
    return delta;
  }
}

/**
 * The generator the official training loop builds for square global crops: a (size/patch)² grid and a
 * per-block cap of `0.5 * size // patch * size // patch`, evaluated left to right as Python does (it is
 * half the grid for even grids, a little different otherwise).
 */
export function maskingGeneratorForCrops(globalCropsSize: number, patchSize: number): MaskingGenerator {
  const grid = Math.floor(globalCropsSize / patchSize);
  const maxNumPatches = Math.floor((Math.floor((0.5 * globalCropsSize) / patchSize) * globalCropsSize) / patchSize);
  return new MaskingGenerator([grid, grid], { maxNumPatches });
}
