/**
 * Classification metrics as the official evaluations report them (`dinov2/eval/metrics.py`,
 * MEAN_ACCURACY = micro-averaged top-k accuracy), plus a confusion summary for people reading the output.
 */

/** Column indices of the `k` largest scores of one row, best first; ties go to the lower index (as torch.topk on CPU in practice). */
export function topkIndices(scores: ArrayLike<number>, offset: number, C: number, k: number): number[] {
  const best: number[] = [];
  for (let c = 0; c < C; c++) {
    const v = scores[offset + c]!;
    let pos = best.length;
    while (pos > 0 && scores[offset + best[pos - 1]!]! < v) pos--;
    if (pos < k) {
      best.splice(pos, 0, c);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

/** Row-wise argmax of [n, C] scores (lowest index on ties). */
export function argmaxRows(scores: ArrayLike<number>, n: number, C: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (scores[i * C + c]! > scores[i * C + best]!) best = c;
    out[i] = best;
  }
  return out;
}

export interface TopkAccuracy {
  top1: number;
  /** Top-5, or top-C when there are fewer than 5 classes. */
  top5: number;
}

/** Fraction of rows whose label is among the top 1 / top 5 scores. */
export function topkAccuracy(scores: ArrayLike<number>, labels: ArrayLike<number>, C: number): TopkAccuracy {
  const n = labels.length;
  if (scores.length !== n * C) throw new Error(`topkAccuracy: ${scores.length} scores for ${n} rows × ${C} classes`);
  if (n === 0) return { top1: NaN, top5: NaN };
  let top1 = 0;
  let top5 = 0;
  const k = Math.min(5, C);
  for (let i = 0; i < n; i++) {
    const best = topkIndices(scores, i * C, C, k);
    if (best[0] === labels[i]) top1++;
    if (best.includes(labels[i]!)) top5++;
  }
  return { top1: top1 / n, top5: top5 / n };
}

/** counts[true * C + predicted]. */
export function confusionMatrix(predicted: ArrayLike<number>, labels: ArrayLike<number>, C: number): Int32Array {
  const m = new Int32Array(C * C);
  for (let i = 0; i < labels.length; i++) m[labels[i]! * C + predicted[i]!]!++;
  return m;
}

export interface ConfusedPair {
  trueClass: string;
  predicted: string;
  count: number;
  /** count / images of the true class. */
  rate: number;
}

/** The off-diagonal cells with the most images, largest first. */
export function mostConfusedPairs(confusion: Int32Array, classes: readonly string[], limit = 5): ConfusedPair[] {
  const C = classes.length;
  const rowTotal = new Int32Array(C);
  for (let t = 0; t < C; t++) for (let p = 0; p < C; p++) rowTotal[t]! += confusion[t * C + p]!;
  const pairs: ConfusedPair[] = [];
  for (let t = 0; t < C; t++) {
    for (let p = 0; p < C; p++) {
      const count = confusion[t * C + p]!;
      if (t !== p && count > 0) pairs.push({ trueClass: classes[t]!, predicted: classes[p]!, count, rate: count / rowTotal[t]! });
    }
  }
  return pairs.sort((a, b) => b.count - a.count || b.rate - a.rate).slice(0, limit);
}
