/**
 * Detects the DINO head's collapse to a uniform output: the student's DINO cross-entropy against the
 * teacher targets equals ln K exactly when its softmax over the K prototypes is uniform (whatever the
 * targets), and a student that has learnt anything sits below ln K... or above it, when its predictions
 * are confident and wrong. A run whose DINO loss stays within a hair of ln K for many iterations, past
 * the start (where the freshly initialised head is nearly uniform too), has lost its DINO signal: only
 * iBOT and KoLeo still move the backbone.
 */
import type { LossTerm } from './sslMetaArch.js';

/** The mean DINO cross-entropy per (student crop, teacher crop) pair: the two DINO terms over their weight. */
export function dinoCrossEntropy(losses: Record<LossTerm, number>, dinoLossWeight: number): number {
  return (losses.dino_local_crops + losses.dino_global_crops) / dinoLossWeight;
}

export interface CollapseWatchOptions {
  /** Prototypes K. */
  prototypes: number;
  dinoLossWeight?: number;
  /** Consecutive iterations at ln K before warning (default 20). */
  window?: number;
  /** |CE − ln K| / ln K below this counts as "at ln K" (default 1e-3). */
  tolerance?: number;
  /** Iterations ignored at the start (default 50). */
  after?: number;
}

export class DinoCollapseWatch {
  private run = 0;
  private warned = false;
  readonly lnK: number;

  constructor(private readonly o: CollapseWatchOptions) {
    this.lnK = Math.log(o.prototypes);
  }

  /** Feeds one iteration's losses; returns a warning the first time the DINO loss has sat at ln K for the window. */
  push(iteration: number, losses: Record<LossTerm, number>): string | null {
    if (this.warned || this.o.dinoLossWeight === 0) return null;
    const ce = dinoCrossEntropy(losses, this.o.dinoLossWeight ?? 1);
    const at = Math.abs(ce - this.lnK) / this.lnK < (this.o.tolerance ?? 1e-3);
    this.run = at && iteration > (this.o.after ?? 50) ? this.run + 1 : 0;
    if (this.run < (this.o.window ?? 20)) return null;
    this.warned = true;
    return collapseAdvice(this.o.prototypes, this.lnK, ce, iteration);
  }
}

/** The warning: what happened and what to try (docs/TRAINING.md has the measurements behind it). */
export function collapseAdvice(prototypes: number, lnK: number, ce: number, iteration: number): string {
  return [
    `warning: the DINO loss has sat at ln K = ${lnK.toFixed(4)} (${prototypes} prototypes) up to iteration ${iteration} (now ${ce.toFixed(4)}):`,
    '  the student\'s DINO output is uniform — the DINO head has collapsed and only iBOT/KoLeo train the backbone.',
    '  Sinkhorn-Knopp gives uniform targets when the teacher\'s outputs hardly differ between images.',
    '  Try: a lower teacher temperature (--teacher-temp 0.01 --warmup-teacher-temp 0.01, with',
    '  --centering sinkhorn_knopp_stable, which avoids the official form\'s float32 overflow there), fewer',
    '  prototypes (--prototypes 256 or less for small batches), a faster teacher EMA for short runs',
    '  (--momentum-teacher 0.99 --final-momentum-teacher 0.9995), LayerScale init nearer 1 (--arch config.json',
    '  with init_values), a longer schedule;',
    '  softmax centering (--centering centering) collapses onto one prototype at very low temperatures.',
    '  See docs/TRAINING.md ("Small data, small crops").',
  ].join('\n');
}
