/**
 * The op set: the few ONNX ops a ViT, its heads and losses need, each with shape inference over symbolic
 * dims. Anything composite (GELU, linear layers, attention) is built from these in `nn.ts`.
 */
import { Sym, shapeToString } from './builder.js';
import { ONNX_DTYPE, type DType } from '../core/dtype.js';
import type { Dim, Shape } from './ir.js';

function fail(op: string, why: string): never {
  throw new Error(`${op}: ${why}`);
}

function axisOf(x: Sym, axis: number): number {
  const a = axis < 0 ? x.rank + axis : axis;
  if (a < 0 || a >= x.rank) fail('axis', `axis ${axis} out of range for rank ${x.rank}`);
  return a;
}

/** NumPy broadcasting; a symbol against a number > 1 takes the number (the run-time check is ORT's). */
export function broadcastShapes(op: string, a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i - (n - a.length) >= 0 ? a[i - (n - a.length)]! : 1;
    const db = i - (n - b.length) >= 0 ? b[i - (n - b.length)]! : 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else if (typeof da === 'number' && typeof db === 'number') fail(op, `cannot broadcast ${shapeToString(a)} with ${shapeToString(b)}`);
    else out.push(typeof da === 'number' ? da : db);
  }
  return out;
}

export function mulDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  return `${a}*${b}`;
}

function binary(op: string, a: Sym, b: Sym): Sym {
  if (a.dtype !== b.dtype) fail(op, `dtype mismatch ${a.dtype} vs ${b.dtype}`);
  return a.g.node1(op, [a, b], {}, { dtype: a.dtype, shape: broadcastShapes(op, a.shape, b.shape) });
}

export const add = (a: Sym, b: Sym): Sym => binary('Add', a, b);
export const sub = (a: Sym, b: Sym): Sym => binary('Sub', a, b);
export const mul = (a: Sym, b: Sym): Sym => binary('Mul', a, b);
export const div = (a: Sym, b: Sym): Sym => binary('Div', a, b);
export const pow = (a: Sym, b: Sym): Sym => binary('Pow', a, b);

function unary(op: string, x: Sym, attrs: Record<string, number> = {}): Sym {
  return x.g.node1(op, [x], attrs, { dtype: x.dtype, shape: x.shape });
}

export const erf = (x: Sym): Sym => unary('Erf', x);
export const sigmoid = (x: Sym): Sym => unary('Sigmoid', x);
export const relu = (x: Sym): Sym => unary('Relu', x);
export const sqrt = (x: Sym): Sym => unary('Sqrt', x);
export const exp = (x: Sym): Sym => unary('Exp', x);
export const log = (x: Sym): Sym => unary('Log', x);
export const neg = (x: Sym): Sym => unary('Neg', x);
export const abs = (x: Sym): Sym => unary('Abs', x);
export const identity = (x: Sym): Sym => unary('Identity', x);
export const softmax = (x: Sym, axis = -1): Sym => unary('Softmax', x, { axis });
/** Round half to even (ONNX Round). */
export const round = (x: Sym): Sym => unary('Round', x);
export const logSoftmax = (x: Sym, axis = -1): Sym => unary('LogSoftmax', x, { axis });

export function cast(x: Sym, to: DType): Sym {
  return x.g.node1('Cast', [x], { to: ONNX_DTYPE[to] }, { dtype: to, shape: x.shape });
}

export function matmul(a: Sym, b: Sym): Sym {
  if (a.rank < 2 || b.rank < 2) fail('MatMul', `needs rank >= 2, got ${shapeToString(a.shape)} @ ${shapeToString(b.shape)}`);
  const k1 = a.dim(-1);
  const k2 = b.dim(-2);
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    fail('MatMul', `inner dims differ: ${shapeToString(a.shape)} @ ${shapeToString(b.shape)}`);
  }
  const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  return a.g.node1('MatMul', [a, b], {}, { dtype: a.dtype, shape: [...batch, a.dim(-2), b.dim(-1)] });
}

/** Y = X·Wᵀ + b with W stored [out, in] (PyTorch's layout), X 2-D. */
export function gemmTransB(x: Sym, w: Sym, b: Sym | null): Sym {
  if (x.rank !== 2 || w.rank !== 2) fail('Gemm', `needs 2-D operands, got ${shapeToString(x.shape)}, ${shapeToString(w.shape)}`);
  if (typeof x.dim(1) === 'number' && x.dim(1) !== w.dim(1)) {
    fail('Gemm', `input has ${x.dim(1)} features but the weight ${shapeToString(w.shape)} expects ${w.dim(1)}`);
  }
  return x.g.node1('Gemm', b ? [x, w, b] : [x, w], { transB: 1 }, { dtype: x.dtype, shape: [x.dim(0), w.dim(0)] });
}

/**
 * Reshape to a static target in ONNX's notation: 0 copies the input dim at that position, -1 is inferred.
 * Symbolic dims are carried through so later shape checks still work.
 */
export function reshape(x: Sym, target: readonly number[]): Sym {
  const shape: Dim[] = target.map((d, i) => (d === 0 ? x.dim(i) : d));
  const minus = shape.indexOf(-1);
  if (minus >= 0) {
    const total = x.shape.reduce<Dim>((a, b) => mulDims(a, b), 1);
    const known = shape.filter((_, i) => i !== minus).reduce<Dim>((a, b) => mulDims(a, b), 1);
    shape[minus] = typeof total === 'number' && typeof known === 'number' ? total / known : `${x.name}:${minus}`;
  }
  return x.g.node1('Reshape', [x, x.g.ints(target)], {}, { dtype: x.dtype, shape });
}

/** Reshape to a shape computed at run time (an int64 1-D Sym). */
export function reshapeDynamic(x: Sym, shape: Sym, resultShape: Shape): Sym {
  return x.g.node1('Reshape', [x, shape], {}, { dtype: x.dtype, shape: resultShape });
}

export function transpose(x: Sym, perm: readonly number[]): Sym {
  if (perm.length !== x.rank) fail('Transpose', `perm [${perm}] does not match rank ${x.rank}`);
  return x.g.node1('Transpose', [x], { perm }, { dtype: x.dtype, shape: perm.map((p) => x.dim(p)) });
}

export function concat(xs: readonly Sym[], axis: number): Sym {
  const first = xs[0];
  if (!first) fail('Concat', 'no inputs');
  const a = axisOf(first, axis);
  const total = xs.reduce<Dim>((s, x) => {
    const d = x.dim(a);
    return typeof s === 'number' && typeof d === 'number' ? s + d : `${s}+${d}`;
  }, 0);
  const shape = [...first.shape];
  shape[a] = total;
  return first.g.node1('Concat', xs, { axis: a }, { dtype: first.dtype, shape });
}

/** x[..., start:end, ...] along one axis; `end` may be a large number meaning "to the end". */
export function slice(x: Sym, axis: number, start: number, end: number): Sym {
  const a = axisOf(x, axis);
  const d = x.dim(a);
  // With a symbolic dim the length is only known at run time unless the slice runs to the end.
  const len: Dim = typeof d === 'number' ? Math.max(0, Math.min(end, d) - start) : end >= 2 ** 31 ? `${d}-${start}` : `min(${d},${end})-${start}`;
  const shape = [...x.shape];
  shape[a] = len;
  const g = x.g;
  return g.node1('Slice', [x, g.ints([start]), g.ints([end]), g.ints([a])], {}, { dtype: x.dtype, shape });
}

export const TO_END = 2 ** 62;

export function split(x: Sym, axis: number, sizes: readonly number[]): Sym[] {
  const a = axisOf(x, axis);
  const outs = sizes.map((s) => {
    const shape = [...x.shape];
    shape[a] = s;
    return { dtype: x.dtype, shape };
  });
  return x.g.node('Split', [x, x.g.ints(sizes)], { axis: a }, outs);
}

/** Picks one index along `axis`, removing that axis. */
export function gatherIndex(x: Sym, axis: number, index: number): Sym {
  const a = axisOf(x, axis);
  const shape = x.shape.filter((_, i) => i !== a);
  return x.g.node1('Gather', [x, x.g.constant('int64', [], [index])], { axis: a }, { dtype: x.dtype, shape });
}

export function unsqueeze(x: Sym, axes: readonly number[]): Sym {
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => (a < 0 ? rank + a : a)).sort((p, q) => p - q);
  const shape: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]!);
  return x.g.node1('Unsqueeze', [x, x.g.ints(norm)], {}, { dtype: x.dtype, shape });
}

export function squeeze(x: Sym, axes: readonly number[]): Sym {
  const norm = axes.map((a) => axisOf(x, a));
  return x.g.node1('Squeeze', [x, x.g.ints(norm)], {}, { dtype: x.dtype, shape: x.shape.filter((_, i) => !norm.includes(i)) });
}

function reduce(op: string, x: Sym, axes: readonly number[], keepdims: boolean): Sym {
  const norm = axes.map((a) => axisOf(x, a));
  const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  // Opset 18 moved `axes` from an attribute to an input; we target 17, where it is an attribute
  // (except ReduceSum, which took it as an input already in 13).
  if (op === 'ReduceSum') return x.g.node1(op, [x, x.g.ints(norm)], { keepdims: keepdims ? 1 : 0 }, { dtype: x.dtype, shape });
  return x.g.node1(op, [x], { axes: norm, keepdims: keepdims ? 1 : 0 }, { dtype: x.dtype, shape });
}

export const reduceMean = (x: Sym, axes: readonly number[], keepdims = false): Sym => reduce('ReduceMean', x, axes, keepdims);
export const reduceSum = (x: Sym, axes: readonly number[], keepdims = false): Sym => reduce('ReduceSum', x, axes, keepdims);
export const reduceMax = (x: Sym, axes: readonly number[], keepdims = false): Sym => reduce('ReduceMax', x, axes, keepdims);
export const reduceMin = (x: Sym, axes: readonly number[], keepdims = false): Sym => reduce('ReduceMin', x, axes, keepdims);

export function layerNormalization(x: Sym, weight: Sym, bias: Sym, epsilon: number): Sym {
  const d = x.dim(-1);
  if (typeof d === 'number' && weight.dim(0) !== d) fail('LayerNormalization', `weight has ${weight.dim(0)} features, input ${d}`);
  return x.g.node1('LayerNormalization', [x, weight, bias], { axis: -1, epsilon: { float: epsilon } }, { dtype: x.dtype, shape: x.shape });
}

export function where(cond: Sym, a: Sym, b: Sym): Sym {
  const shape = broadcastShapes('Where', cond.shape, broadcastShapes('Where', a.shape, b.shape));
  return cond.g.node1('Where', [cond, a, b], {}, { dtype: a.dtype, shape });
}

export function shapeOf(x: Sym): Sym {
  return x.g.node1('Shape', [x], {}, { dtype: 'int64', shape: [x.rank] });
}

export function expand(x: Sym, shape: Sym, resultShape: Shape): Sym {
  return x.g.node1('Expand', [x, shape], {}, { dtype: x.dtype, shape: resultShape });
}

/** 2-D convolution, NCHW, no dilation or groups. */
export function conv2d(x: Sym, w: Sym, b: Sym | null, stride: number, pad: number): Sym {
  const [oc, ic, kh, kw] = w.shape as number[];
  if (typeof x.dim(1) === 'number' && x.dim(1) !== ic) fail('Conv', `input has ${x.dim(1)} channels, weight expects ${ic}`);
  const out = (d: Dim, k: number): Dim => (typeof d === 'number' ? Math.floor((d + 2 * pad - k) / stride) + 1 : `conv(${d})`);
  return x.g.node1(
    'Conv',
    b ? [x, w, b] : [x, w],
    { kernel_shape: [kh!, kw!], strides: [stride, stride], pads: [pad, pad, pad, pad] },
    { dtype: x.dtype, shape: [x.dim(0), oc!, out(x.dim(2), kh!), out(x.dim(3), kw!)] },
  );
}

// ---- Added for the losses (autodiff issue): ops whose forward the DINOv2 losses need. ----

/** Element-wise maximum with broadcasting (ONNX Max); `clamp_min(eps)` is maximum(x, scalar(eps)). */
export const maximum = (a: Sym, b: Sym): Sym => binary('Max', a, b);

/** Index of the largest value along `axis` (first one on ties, as ONNX's default `select_last_index=0`). */
export function argMax(x: Sym, axis: number, keepdims = false): Sym {
  const a = axisOf(x, axis);
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.g.node1('ArgMax', [x], { axis: a, keepdims: keepdims ? 1 : 0 }, { dtype: 'int64', shape });
}

/** x.index_select(axis, indices) generalised to indices of any shape (ONNX Gather with a tensor index). */
export function gather(x: Sym, indices: Sym, axis: number): Sym {
  const a = axisOf(x, axis);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return x.g.node1('Gather', [x, indices], { axis: a }, { dtype: x.dtype, shape });
}

/** A 2-D identity of `x`'s shape and dtype (ONNX EyeLike): diagonal masks without knowing the size. */
export function eyeLike(x: Sym): Sym {
  if (x.rank !== 2) fail('EyeLike', `needs a 2-D input, got ${shapeToString(x.shape)}`);
  return x.g.node1('EyeLike', [x], {}, { dtype: x.dtype, shape: x.shape });
}

// ---- Added for the dense heads (depth, segmentation): resizing, transposed convolution, clamping. ----

/**
 * Bilinear resize of the two last axes of an NCHW tensor (ONNX Resize, mode 'linear', no antialias in opset
 * 17). `alignCorners` false is PyTorch's `align_corners=False` ('half_pixel': src = (dst + 0.5)/scale − 0.5,
 * clamped at the borders), true is `align_corners=True` (src = dst·(in − 1)/(out − 1)). The target is either
 * integer scale factors (output = in · factor, as F.interpolate(scale_factor=k) gives) or a run-time int64
 * [2] tensor with the output height and width; `outHW` names the output dims for shape inference then.
 */
export function resizeBilinear(x: Sym, target: { scale: number } | { size: Sym; outHW: readonly [Dim, Dim] }, alignCorners: boolean): Sym {
  if (x.rank !== 4) fail('Resize', `needs an NCHW input, got ${shapeToString(x.shape)}`);
  const g = x.g;
  const attrs = { mode: 'linear', coordinate_transformation_mode: alignCorners ? 'align_corners' : 'half_pixel' };
  if ('scale' in target) {
    const s = target.scale;
    if (!Number.isInteger(s) || s < 1) fail('Resize', `scale factor ${s} must be a positive integer`);
    if (s === 1) return x;
    const scaled = (d: Dim): Dim => (typeof d === 'number' ? d * s : `${d}*${s}`);
    return g.node1('Resize', [x, null, g.constant('float32', [4], [1, 1, s, s])], attrs, {
      dtype: x.dtype,
      shape: [x.dim(0), x.dim(1), scaled(x.dim(2)), scaled(x.dim(3))],
    });
  }
  if (target.size.dtype !== 'int64' || target.size.rank !== 1) fail('Resize', `size must be an int64 vector, got ${target.size.dtype} ${shapeToString(target.size.shape)}`);
  const sizes = concat([slice(shapeOf(x), 0, 0, 2), target.size], 0);
  return g.node1('Resize', [x, null, null, sizes], attrs, { dtype: x.dtype, shape: [x.dim(0), x.dim(1), target.outHW[0], target.outHW[1]] });
}

/** 2-D transposed convolution, NCHW, weight [in, out, kh, kw] (PyTorch's layout), no groups or output padding. */
export function convTranspose2d(x: Sym, w: Sym, b: Sym | null, stride: number, pad: number): Sym {
  const [ic, oc, kh, kw] = w.shape as number[];
  if (typeof x.dim(1) === 'number' && x.dim(1) !== ic) fail('ConvTranspose', `input has ${x.dim(1)} channels, weight expects ${ic}`);
  const out = (d: Dim, k: number): Dim => (typeof d === 'number' ? (d - 1) * stride - 2 * pad + k : `convT(${d})`);
  return x.g.node1(
    'ConvTranspose',
    b ? [x, w, b] : [x, w],
    { kernel_shape: [kh!, kw!], strides: [stride, stride], pads: [pad, pad, pad, pad] },
    { dtype: x.dtype, shape: [x.dim(0), oc!, out(x.dim(2), kh!), out(x.dim(3), kw!)] },
  );
}

/** torch.clamp(x, min, max) with constant bounds (ONNX Clip). */
export function clip(x: Sym, min: number, max: number): Sym {
  if (!(min <= max)) fail('Clip', `min ${min} is above max ${max}`);
  const g = x.g;
  return g.node1('Clip', [x, g.scalar(min), g.scalar(max)], {}, { dtype: x.dtype, shape: x.shape });
}

/** Element-wise a == b with broadcasting (ONNX Equal) → bool; e.g. one-hot targets from integer labels. */
export function equal(a: Sym, b: Sym): Sym {
  if (a.dtype !== b.dtype) fail('Equal', `dtype mismatch ${a.dtype} vs ${b.dtype}`);
  return a.g.node1('Equal', [a, b], {}, { dtype: 'bool', shape: broadcastShapes('Equal', a.shape, b.shape) });
}

// ——— Element-wise comparisons and rounding (no gradient: piecewise constant or boolean) ———

export const min = (a: Sym, b: Sym): Sym => binary('Min', a, b);
export const max = (a: Sym, b: Sym): Sym => binary('Max', a, b);
export const floor = (x: Sym): Sym => unary('Floor', x);

function compare(opType: 'Less' | 'GreaterOrEqual', a: Sym, b: Sym): Sym {
  if (a.dtype !== b.dtype) fail(opType, `dtype mismatch ${a.dtype} vs ${b.dtype}`);
  return a.g.node1(opType, [a, b], {}, { dtype: 'bool', shape: broadcastShapes(opType, a.shape, b.shape) });
}
export const less = (a: Sym, b: Sym): Sym => compare('Less', a, b);
export const greaterOrEqual = (a: Sym, b: Sym): Sym => compare('GreaterOrEqual', a, b);

export function and(a: Sym, b: Sym): Sym {
  if (a.dtype !== 'bool' || b.dtype !== 'bool') fail('And', `needs bool operands, got ${a.dtype} and ${b.dtype}`);
  return a.g.node1('And', [a, b], {}, { dtype: 'bool', shape: broadcastShapes('And', a.shape, b.shape) });
}

/** The same value under a more precise symbolic shape (an Identity node; onnxruntime removes it). */
export function withShape(x: Sym, shape: Shape): Sym {
  if (shape.length !== x.rank) fail('withShape', `rank ${shape.length} for a value of rank ${x.rank}`);
  return x.g.node1('Identity', [x], {}, { dtype: x.dtype, shape });
}

/** start, start + delta, … below limit (int64 scalars) — a 1-D value of length `length` (a symbol). */
export function range(start: Sym, limit: Sym, delta: Sym, length: Dim): Sym {
  for (const s of [start, limit, delta]) if (s.rank !== 0 || s.dtype !== start.dtype) fail('Range', `needs three scalars of one dtype, got ${shapeToString(s.shape)} ${s.dtype}`);
  return start.g.node1('Range', [start, limit, delta], {}, { dtype: start.dtype, shape: [length] });
}

/** Σ x² over `axes` (ONNX ReduceSumSquare, opset 17: axes as an attribute). */
export function reduceSumSquare(x: Sym, axes: readonly number[], keepdims = false): Sym {
  const norm = axes.map((a) => axisOf(x, a));
  const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  return x.g.node1('ReduceSumSquare', [x], { axes: norm, keepdims: keepdims ? 1 : 0 }, { dtype: x.dtype, shape });
}

/** alpha · a · bᵀ + beta · c (ONNX Gemm with transB; c broadcast to [rows of a, rows of b]). */
export function gemmTransBScaled(a: Sym, b: Sym, c: Sym, alpha: number, beta = 1): Sym {
  if (a.rank !== 2 || b.rank !== 2) fail('Gemm', `needs 2-D operands, got ${shapeToString(a.shape)}, ${shapeToString(b.shape)}`);
  if (typeof a.dim(1) === 'number' && typeof b.dim(1) === 'number' && a.dim(1) !== b.dim(1)) fail('Gemm', `inner sizes ${a.dim(1)} and ${b.dim(1)} differ`);
  const shape = [a.dim(0), b.dim(0)];
  broadcastShapes('Gemm', c.shape, shape);
  return a.g.node1('Gemm', [a, b, c], { transB: 1, alpha: { float: alpha }, beta: { float: beta } }, { dtype: a.dtype, shape });
}

/** Index of the smallest value along `axis`; the first on ties (as torch.argmin). */
export function argMin(x: Sym, axis: number, keepdims = false): Sym {
  const a = axisOf(x, axis);
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.g.node1('ArgMin', [x], { axis: a, keepdims: keepdims ? 1 : 0 }, { dtype: 'int64', shape });
}

/** The k largest values along the last axis, sorted, and their indices (k an int64 [1] value named `kDim`). */
export function topK(x: Sym, k: Sym, kDim: Dim): [Sym, Sym] {
  if (k.dtype !== 'int64' || k.rank !== 1) fail('TopK', `k must be an int64 [1], got ${k.dtype} ${shapeToString(k.shape)}`);
  const shape = [...x.shape.slice(0, -1), kDim];
  const [values, indices] = x.g.node('TopK', [x, k], { axis: -1, largest: 1, sorted: 1 }, [
    { dtype: x.dtype, shape },
    { dtype: 'int64', shape },
  ]);
  return [values!, indices!];
}

/** `split` whose part sizes are only known at run time: `sizes` an int64 [parts] value, `dims` the parts' symbolic sizes. */
export function splitDynamic(x: Sym, axis: number, sizes: Sym, dims: readonly Dim[]): Sym[] {
  const a = axisOf(x, axis);
  if (sizes.dtype !== 'int64' || sizes.rank !== 1) fail('Split', `sizes must be an int64 vector, got ${sizes.dtype} ${shapeToString(sizes.shape)}`);
  if (typeof sizes.dim(0) === 'number' && sizes.dim(0) !== dims.length) fail('Split', `${sizes.dim(0)} sizes for ${dims.length} parts`);
  const outs = dims.map((d) => ({ dtype: x.dtype, shape: x.shape.map((s, i) => (i === a ? d : s)) }));
  return x.g.node('Split', [x, sizes], { axis: a }, outs);
}

// ——— onnxruntime contrib ops (domain com.microsoft): inference kernels, no gradient rules ———

function contrib(x: Sym): void {
  x.g.useOpset('com.microsoft', 1);
}

/** Multi-head self-attention with the qkv projection inside: x [B, T, D], qkv weight [D, 3D], bias [3D]. */
export function attentionContrib(x: Sym, qkvWeight: Sym, qkvBias: Sym, numHeads: number): Sym {
  const D = x.dim(-1);
  if (x.rank !== 3) fail('Attention', `needs x [B, T, D], got ${shapeToString(x.shape)}`);
  if (typeof D === 'number' && (qkvWeight.dim(0) !== D || qkvWeight.dim(1) !== 3 * D)) fail('Attention', `qkv weight ${shapeToString(qkvWeight.shape)} for width ${D}`);
  if (typeof D === 'number' && D % numHeads !== 0) fail('Attention', `width ${D} is not a multiple of ${numHeads} heads`);
  contrib(x);
  return x.g.node1('Attention', [x, qkvWeight, qkvBias], { num_heads: numHeads }, { dtype: x.dtype, shape: x.shape }, 'com.microsoft');
}

/** Multi-head attention of separate q, k, v [B, T, D] (bias [3D] added inside, or none). */
export function multiHeadAttention(q: Sym, k: Sym, v: Sym, bias: Sym | null, numHeads: number): Sym {
  for (const t of [k, v]) if (t.rank !== 3 || t.dtype !== q.dtype) fail('MultiHeadAttention', `q, k, v must be [B, T, D] of one dtype`);
  const D = q.dim(-1);
  if (typeof D === 'number' && D % numHeads !== 0) fail('MultiHeadAttention', `width ${D} is not a multiple of ${numHeads} heads`);
  contrib(q);
  return q.g.node1('MultiHeadAttention', [q, k, v, bias], { num_heads: numHeads }, { dtype: q.dtype, shape: q.shape }, 'com.microsoft');
}

/** x · W for int8 weights [in, out] with per-column scales [out]: x quantized per tensor inside (uint8). */
export function dynamicQuantizeMatMul(x: Sym, weight: Sym, scale: Sym, bias: Sym | null): Sym {
  if (weight.rank !== 2) fail('DynamicQuantizeMatMul', `needs a 2-D weight, got ${shapeToString(weight.shape)}`);
  contrib(x);
  return x.g.node1('DynamicQuantizeMatMul', [x, weight, scale, null, bias], {}, { dtype: 'float32', shape: [...x.shape.slice(0, -1), weight.dim(1)] }, 'com.microsoft');
}

/** Per-tensor uint8 quantization of x: [x as uint8, scale [], zero point []] (ONNX DynamicQuantizeLinear). */
export function dynamicQuantizeLinear(x: Sym): [Sym, Sym, Sym] {
  if (x.dtype !== 'float32') fail('DynamicQuantizeLinear', `needs float32, got ${x.dtype}`);
  const [q, s, z] = x.g.node('DynamicQuantizeLinear', [x], {}, [
    { dtype: 'uint8', shape: x.shape },
    { dtype: 'float32', shape: [] },
    { dtype: 'uint8', shape: [] },
  ]);
  return [q!, s!, z!];
}

/**
 * (xq − zero) · W · (scale ⊗ wScale) for a quantized x and an int8 (or uint8) W with per-column scales.
 * W is [in, out] (a weight; wScale [out]) or batched like xq ([..., in, out] with xq [..., rows, in]; wScale
 * [..., 1, out] per column of each matrix, or a scalar). scale is per tensor ([]), or per row ([rows, 1]
 * for a 2-D xq; onnxruntime then rescales the output in a second pass); zero is a uint8 scalar, or null.
 */
export function matMulIntegerToFloat(xq: Sym, weight: Sym, xScale: Sym, wScale: Sym, xZero: Sym | null): Sym {
  const op = 'MatMulIntegerToFloat';
  if (xq.dtype !== 'uint8') fail(op, `needs a uint8 input, got ${xq.dtype}`);
  if (weight.dtype !== 'int8' && weight.dtype !== 'uint8') fail(op, `needs an int8 or uint8 weight, got ${weight.dtype}`);
  if (weight.rank < 2 || (weight.rank > 2 && weight.rank !== xq.rank)) fail(op, `weight must be 2-D or batched like the input, got ${shapeToString(weight.shape)} for ${shapeToString(xq.shape)}`);
  const [k, kw] = [xq.dim(-1), weight.dim(-2)];
  if (typeof k === 'number' && typeof kw === 'number' && k !== kw) fail(op, `input has ${k} features but the weight ${shapeToString(weight.shape)} expects ${kw}`);
  const perRow = xScale.rank === 2 && xq.rank === 2 && xScale.dim(1) === 1;
  if (xScale.rank !== 0 && !perRow) fail(op, `input scale must be a scalar or [rows, 1] for a 2-D input, got ${shapeToString(xScale.shape)} for ${shapeToString(xq.shape)}`);
  if (wScale.rank !== 0 && wScale.rank !== 1 && !(wScale.rank === weight.rank && wScale.dim(-2) === 1)) fail(op, `weight scale must be a scalar, [out] or [..., 1, out], got ${shapeToString(wScale.shape)}`);
  if (xZero && xZero.rank !== 0) fail(op, `input zero point must be a scalar, got ${shapeToString(xZero.shape)}`);
  contrib(xq);
  const lead = weight.rank === 2 ? xq.shape.slice(0, -1) : broadcastShapes(op, xq.shape.slice(0, -2), weight.shape.slice(0, -2)).concat([xq.dim(-2)]);
  return xq.g.node1(op, [xq, weight, xScale, wScale, xZero], {}, { dtype: 'float32', shape: [...lead, weight.dim(-1)] }, 'com.microsoft');
}

/**
 * uint8 quantization with one scale and zero point per slice along `axis` (ONNX QuantizeLinear, per-axis
 * form): saturate(round(x / scale[i]) + zeroPoint[i]). scale: float32 [n], zeroPoint: uint8 [n].
 */
export function quantizeLinearPerAxis(x: Sym, scale: Sym, zeroPoint: Sym, axis: number): Sym {
  const a = axisOf(x, axis);
  if (x.dtype !== 'float32') fail('QuantizeLinear', `needs float32, got ${x.dtype}`);
  if (scale.rank !== 1 || zeroPoint.rank !== 1) fail('QuantizeLinear', `per-axis scale and zero point must be 1-D, got ${shapeToString(scale.shape)}, ${shapeToString(zeroPoint.shape)}`);
  if (scale.dtype !== 'float32' || zeroPoint.dtype !== 'uint8') fail('QuantizeLinear', `scale must be float32 and zero point uint8, got ${scale.dtype}, ${zeroPoint.dtype}`);
  for (const t of [scale, zeroPoint]) {
    const [n, d] = [t.dim(0), x.dim(a)];
    if (typeof n === 'number' && typeof d === 'number' && n !== d) fail('QuantizeLinear', `${n} scales for axis ${axis} of size ${d}`);
  }
  return x.g.node1('QuantizeLinear', [x, scale, zeroPoint], { axis: a }, { dtype: 'uint8', shape: x.shape });
}
