/**
 * `resize` of `dinov2/hub/depth/ops.py` on host tensors: F.interpolate(mode='bilinear') of an NCHW float32
 * batch, with PyTorch's source-index rules (align_corners False: src = (in/out)·(dst + 0.5) − 0.5 clamped at
 * 0; True: src = dst·(in − 1)/(out − 1)) in float32. Used where a result leaves the graph and still has to be
 * brought to another size (segmentation logits of a rescaled image, depth maps of a resized photo); inside
 * graphs the same resize is `ops.resizeBilinear`.
 */
import { Tensor } from '../core/tensor.js';

const f = Math.fround;

interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  w0: Float32Array;
  w1: Float32Array;
}

/** The two source taps and weights of every output index along one axis. */
export function bilinearTaps(inSize: number, outSize: number, alignCorners: boolean): Taps {
  const taps: Taps = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), w0: new Float32Array(outSize), w1: new Float32Array(outSize) };
  const scale = alignCorners ? (outSize > 1 ? f((inSize - 1) / (outSize - 1)) : 0) : f(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    const real = alignCorners ? f(scale * o) : Math.max(f(f(scale * f(o + 0.5)) - 0.5), 0);
    const i0 = Math.min(Math.floor(real), inSize - 1);
    const lambda = Math.min(Math.max(f(real - i0), 0), 1);
    taps.i0[o] = i0;
    taps.i1[o] = i0 < inSize - 1 ? i0 + 1 : i0;
    taps.w1[o] = lambda;
    taps.w0[o] = f(1 - lambda);
  }
  return taps;
}

/** Bilinear resize of the last two axes of a [..., H, W] float32 tensor to outH × outW. */
export function resizeBilinear(x: Tensor<'float32'>, outH: number, outW: number, alignCorners = false): Tensor<'float32'> {
  if (x.rank < 2) throw new Error(`resizeBilinear: needs at least 2 axes, got [${x.shape.join(', ')}]`);
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH <= 0 || outW <= 0) throw new Error(`resizeBilinear: invalid size ${outH}×${outW}`);
  const H = x.shape[x.rank - 2]!;
  const W = x.shape[x.rank - 1]!;
  const lead = x.shape.slice(0, -2);
  if (H === outH && W === outW) return x;
  const planes = x.size / (H * W);
  const ty = bilinearTaps(H, outH, alignCorners);
  const tx = bilinearTaps(W, outW, alignCorners);
  const out = new Float32Array(planes * outH * outW);
  const src = x.data;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    let o = p * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = base + ty.i0[y]! * W;
      const r1 = base + ty.i1[y]! * W;
      const wy0 = ty.w0[y]!;
      const wy1 = ty.w1[y]!;
      for (let xx = 0; xx < outW; xx++) {
        const c0 = tx.i0[xx]!;
        const c1 = tx.i1[xx]!;
        const wx0 = tx.w0[xx]!;
        const wx1 = tx.w1[xx]!;
        out[o++] = wy0 * (wx0 * src[r0 + c0]! + wx1 * src[r0 + c1]!) + wy1 * (wx0 * src[r1 + c0]! + wx1 * src[r1 + c1]!);
      }
    }
  }
  return Tensor.float32(out, [...lead, outH, outW]);
}
