/**
 * Products: MatMul (batched, broadcasting), Gemm (any transposition, alpha/beta, bias) and 2-D Conv.
 * The weight gradient of a batched product with a 2-D weight is one flat Gemm over all leading axes
 * instead of a batched product followed by a reduction: one kernel, no [batch, K, N] temporary.
 */
import type { Sym } from '../builder.js';
import * as op from '../ops.js';
import { sumToShape } from './broadcast.js';
import { conv, convTranspose, gemm, isStatic, pad } from './emit.js';
import { attrFloat, attrInt, attrInts, gradOut, input, unsupported, type GradRule } from './rule.js';

function swapLast(x: Sym): Sym {
  const perm = Array.from({ length: x.rank }, (_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1]!, perm[x.rank - 2]!];
  return op.transpose(x, perm);
}

export const linalgRules: Record<string, GradRule> = {
  MatMul: (c) => {
    const [a, b] = [input(c, 0), input(c, 1)];
    if (a.rank < 2 || b.rank < 2) unsupported(c, 'rank-1 operands');
    const gy = gradOut(c);
    let da: Sym | null = null;
    let db: Sym | null = null;
    if (c.needs[0]) da = sumToShape(op.matmul(gy, swapLast(b)), a);
    if (c.needs[1]) {
      const [k, n] = [a.dim(-1), b.dim(-1)];
      if (b.rank === 2 && a.rank > 2 && typeof k === 'number' && typeof n === 'number') {
        db = gemm(op.reshape(a, [-1, k]), op.reshape(gy, [-1, n]), null, { transA: true });
      } else {
        db = sumToShape(op.matmul(swapLast(a), gy), b);
      }
    }
    return [da, db];
  },

  // Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A, B' likewise.
  Gemm: (c) => {
    const [a, b] = [input(c, 0), input(c, 1)];
    const C = c.inputs[2] ?? null;
    const transA = attrInt(c, 'transA', 0) === 1;
    const transB = attrInt(c, 'transB', 0) === 1;
    const alpha = attrFloat(c, 'alpha', 1);
    const beta = attrFloat(c, 'beta', 1);
    const gy = gradOut(c);
    // dA' = alpha·gy·B'ᵀ, dB' = alpha·A'ᵀ·gy; each written as one Gemm reading the operands as stored.
    const da = !c.needs[0]
      ? null
      : transA
        ? gemm(b, gy, null, { transA: transB, transB: true, alpha }) // dA = alpha·B'·gyᵀ
        : gemm(gy, b, null, { transB: !transB, alpha });
    const db = !c.needs[1]
      ? null
      : transB
        ? gemm(gy, a, null, { transA: true, transB: transA, alpha }) // dB = alpha·gyᵀ·A'
        : gemm(a, gy, null, { transA: !transA, alpha });
    let dc: Sym | null = null;
    if (C && c.needs[2]) {
      const scaled = beta === 1 ? gy : op.mul(gy, c.g.scalar(beta));
      dc = sumToShape(scaled, C);
    }
    return [da, db, dc];
  },

  /**
   * 2-D convolution without groups or dilation. dX is the transposed convolution of the output gradient
   * (padded at the end when the forward's stride skipped trailing rows); dW correlates the input with the
   * output gradient, the batch acting as the channel axis and the forward stride as a dilation.
   */
  Conv: (c) => {
    const [x, w] = [input(c, 0), input(c, 1)];
    const B = c.inputs[2] ?? null;
    if (x.rank !== 4) unsupported(c, 'only 2-D convolutions (NCHW)');
    if (attrInt(c, 'group', 1) !== 1) unsupported(c, 'grouped convolution');
    if ((attrInts(c, 'dilations') ?? [1, 1]).some((d) => d !== 1)) unsupported(c, 'dilated convolution');
    if (c.node.attrs['auto_pad'] !== undefined && c.node.attrs['auto_pad'] !== 'NOTSET') unsupported(c, 'auto_pad');
    const kernel = attrInts(c, 'kernel_shape') ?? (w.shape.slice(2) as number[]);
    if (!isStatic(kernel)) unsupported(c, 'kernel of unknown size');
    const strides = attrInts(c, 'strides') ?? [1, 1];
    const pads = attrInts(c, 'pads') ?? [0, 0, 0, 0];
    if (pads[0] !== pads[2] || pads[1] !== pads[3]) unsupported(c, 'asymmetric padding');
    const gy = gradOut(c);
    let dx: Sym | null = null;
    if (c.needs[0]) {
      dx = convTranspose(gy, w, { strides, pads, kernel }, x.shape);
      const [H, W] = [x.shape[2], x.shape[3]];
      const exact = [H, W].every((d, i) => typeof d === 'number' && (d + 2 * pads[i]! - kernel[i]!) % strides[i]! === 0);
      if (!exact) {
        // Trailing rows/columns the forward stride never reached get zero gradient.
        const missing = op.sub(op.slice(op.shapeOf(x), 0, 2, 4), op.slice(op.shapeOf(dx), 0, 2, 4));
        dx = pad(dx, op.concat([c.g.ints([0, 0, 0, 0, 0, 0]), missing], 0), x.shape);
      }
    }
    let dw: Sym | null = null;
    if (c.needs[1]) {
      const xt = op.transpose(x, [1, 0, 2, 3]); // [C, B, H, W]: batch as channels
      const gt = op.transpose(gy, [1, 0, 2, 3]); // [OC, B, h, w]: the "kernel"
      const corr = conv(xt, gt, { strides: [1, 1], pads, dilations: strides }, [x.dim(1), w.dim(0), `${c.node.name}:kh`, `${c.node.name}:kw`]);
      // Rows past the kernel (a stride remainder) correlate with taps the forward never used.
      const cropped = op.slice(op.slice(corr, 2, 0, kernel[0]!), 3, 0, kernel[1]!);
      dw = op.transpose(cropped, [1, 0, 2, 3]);
    }
    const db = B && c.needs[2] ? op.reduceSum(gy, [0, 2, 3]) : null;
    return [dx, dw, db];
  },
};
