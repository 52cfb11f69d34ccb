/**
 * The iBOT mask part of the official `collate_data_and_cast` (dinov2/data/collate.py). A fixed share of
 * the batch's global crops gets a block mask whose ratio is drawn from its own slice of
 * `[minRatio, maxRatio]`, so the batch always spans the whole range; the rest are unmasked, and the order
 * is shuffled so that which crop is masked carries no signal. Stacking the crops themselves is done elsewhere.
 */
import type { Rng } from '../core/rng.js';
import { torchLinspaceFloat32 } from '../core/torchLinspace.js';
import type { MaskingGenerator } from './maskingGenerator.js';

export interface CollateMasksOptions {
  /** Number of global crops in the batch (n_global_crops × images, stacked crop-major). */
  batchSize: number;
  maskGenerator: MaskingGenerator;
  /** Shared with the mask generator: the official code draws both from the one `random` stream. */
  rng: Rng;
  /** Patch tokens per crop; must equal the generator's grid size (the default). */
  nTokens?: number;
  maskRatioTuple?: readonly [number, number];
  maskProbability?: number;
}

export interface CollatedMasks {
  batchSize: number;
  nTokens: number;
  /** Row-major [batchSize, nTokens], 1 = masked. */
  collatedMasks: Uint8Array;
  /** Flat indices into [batchSize * nTokens] of the masked patches, ascending. */
  maskIndicesList: Int32Array;
  /** Per masked patch (same order): 1 / (masked patches of its crop), float32 as torch computes it. */
  masksWeight: Float32Array;
  /** Σ int(N · ratio bin upper edge) over masked crops: a bound on the masked count, for sizing buffers. */
  upperbound: number;
  nMaskedPatches: number;
  /** How many crops were asked for a non-empty mask. */
  nSamplesMasked: number;
}

export function collateMasks(options: CollateMasksOptions): CollatedMasks {
  const { batchSize: B, maskGenerator, rng } = options;
  const N = options.nTokens ?? maskGenerator.numPatches;
  const [minRatio, maxRatio] = options.maskRatioTuple ?? [0.1, 0.5];
  const maskProbability = options.maskProbability ?? 0.5;
  if (!Number.isSafeInteger(B) || B < 0) throw new Error(`collateMasks: batchSize must be a non-negative integer, got ${B}`);
  if (N !== maskGenerator.numPatches) {
    throw new Error(`collateMasks: nTokens ${N} differs from the mask generator's ${maskGenerator.height}×${maskGenerator.width} grid`);
  }

  const nSamplesMasked = Math.trunc(B * maskProbability);
  const probs = torchLinspaceFloat32(minRatio, maxRatio, nSamplesMasked + 1);
  const f = Math.fround;
  let upperbound = 0;
  const masks: Uint8Array[] = [];
  for (let i = 0; i < nSamplesMasked; i++) {
    const lo = probs[i]!;
    const hi = probs[i + 1]!;
    // `random.uniform` on float32 tensors, then `N *` and `int()`: every step rounds to float32, which
    // decides the truncation when N·ratio lands near an integer.
    const ratio = f(lo + f(f(hi - lo) * f(rng.next())));
    masks.push(maskGenerator.generate(rng, Math.trunc(f(N * ratio))).data);
    upperbound += Math.trunc(f(N * hi));
  }
  for (let i = nSamplesMasked; i < B; i++) masks.push(maskGenerator.generate(rng, 0).data);
  rng.shuffle(masks);

  const collatedMasks = new Uint8Array(B * N);
  for (let b = 0; b < B; b++) collatedMasks.set(masks[b]!, b * N);
  const maskIndicesList = maskedPatchIndices(collatedMasks);
  return {
    batchSize: B,
    nTokens: N,
    collatedMasks,
    maskIndicesList,
    masksWeight: masksWeight(collatedMasks, B, N),
    upperbound,
    nMaskedPatches: maskIndicesList.length,
    nSamplesMasked,
  };
}

/**
 * The default `masks_weight` of forward_masked (and of the official collate): for each masked patch, in
 * row-major order, 1 / max(masked patches of its image, 1), in float32 as torch computes it.
 */
export function masksWeight(masks: Uint8Array, batch: number, patches: number): Float32Array {
  if (masks.length !== batch * patches) throw new Error(`masksWeight: ${masks.length} mask values for [${batch}, ${patches}]`);
  const out = new Float32Array(countMasked(masks));
  let k = 0;
  for (let b = 0; b < batch; b++) {
    const row = masks.subarray(b * patches, (b + 1) * patches);
    // Stored into float32: the rounding torch applies to the float32 division.
    const w = 1 / Math.max(countMasked(row), 1);
    for (let j = 0; j < patches; j++) if (row[j]) out[k++] = w;
  }
  return out;
}

/** `mask_indices_list` of the official collate: flat indices of the masked patches (row-major, ascending). */
export function maskedPatchIndices(masks: Uint8Array): Int32Array {
  const out = new Int32Array(countMasked(masks));
  let k = 0;
  for (let i = 0; i < masks.length; i++) if (masks[i]) out[k++] = i;
  return out;
}

function countMasked(masks: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < masks.length; i++) if (masks[i]) n++;
  return n;
}
