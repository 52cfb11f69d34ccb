/**
 * Segmentation metrics as mmseg computes them (`total_intersect_and_union` → `total_area_to_metrics`): areas
 * summed over the whole dataset first, then per class IoU = intersection / union (NaN for a class that
 * neither occurs nor is predicted), mIoU = mean over the non-NaN classes. Pixels labelled `ignoreIndex` count
 * nowhere.
 */

export interface SegMetrics {
  /** Per class; NaN where the class is absent from both labels and predictions. */
  iou: number[];
  mIoU: number;
  /** Pixel accuracy over labelled pixels. */
  accuracy: number;
}

export class ConfusionMatrix {
  /** counts[gt · K + pred]. */
  readonly counts: Float64Array;

  constructor(readonly numClasses: number) {
    this.counts = new Float64Array(numClasses * numClasses);
  }

  add(pred: ArrayLike<number>, gt: ArrayLike<number>, ignoreIndex = 255): this {
    if (pred.length !== gt.length) throw new Error(`ConfusionMatrix: ${pred.length} predictions for ${gt.length} labels`);
    const K = this.numClasses;
    for (let i = 0; i < gt.length; i++) {
      const t = gt[i]!;
      if (t === ignoreIndex) continue;
      const p = pred[i]!;
      if (t < 0 || t >= K || p < 0 || p >= K) throw new Error(`ConfusionMatrix: label ${t} or prediction ${p} outside 0–${K - 1}`);
      this.counts[t * K + p]!++;
    }
    return this;
  }

  metrics(): SegMetrics {
    const K = this.numClasses;
    const iou: number[] = [];
    let correct = 0;
    let total = 0;
    for (let c = 0; c < K; c++) {
      let gtArea = 0;
      let predArea = 0;
      for (let k = 0; k < K; k++) {
        gtArea += this.counts[c * K + k]!;
        predArea += this.counts[k * K + c]!;
      }
      const inter = this.counts[c * K + c]!;
      const union = gtArea + predArea - inter;
      iou.push(union > 0 ? inter / union : NaN);
      correct += inter;
      total += gtArea;
    }
    const valid = iou.filter((v) => !Number.isNaN(v));
    return { iou, mIoU: valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN, accuracy: total > 0 ? correct / total : NaN };
  }
}

/** mIoU of a prediction against labels. */
export function meanIoU(pred: ArrayLike<number>, gt: ArrayLike<number>, numClasses: number, ignoreIndex = 255): SegMetrics {
  return new ConfusionMatrix(numClasses).add(pred, gt, ignoreIndex).metrics();
}
