/**
 * Small ops only the backward pass needs (shape arithmetic, comparisons, scatter, pad, transposed
 * convolution). They live here rather than in ops.ts because forward code has no use for them (ops shared
 * with the forward pass, such as op.equal, come from ops.ts); most record a single ONNX node.
 */
import type { Sym } from '../builder.js';
import type { DType } from '../../core/dtype.js';
import type { Dim, Shape } from '../ir.js';
import * as op from '../ops.js';

/** True when every dim is a number (then shapes can be baked into the graph instead of read at run time). */
export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

/** Dims nobody can name: the graph knows them at run time only. */
export function unknownDims(tag: string, rank: number): Dim[] {
  return Array.from({ length: rank }, (_, i) => `${tag}:${i}`);
}

export function greater(a: Sym, b: Sym): Sym {
  return a.g.node1('Greater', [a, b], {}, { dtype: 'bool', shape: op.broadcastShapes('Greater', a.shape, b.shape) });
}

export function greaterOrEqual(a: Sym, b: Sym): Sym {
  return a.g.node1('GreaterOrEqual', [a, b], {}, { dtype: 'bool', shape: op.broadcastShapes('GreaterOrEqual', a.shape, b.shape) });
}

export function less(a: Sym, b: Sym): Sym {
  return a.g.node1('Less', [a, b], {}, { dtype: 'bool', shape: op.broadcastShapes('Less', a.shape, b.shape) });
}

export function sign(x: Sym): Sym {
  return x.g.node1('Sign', [x], {}, { dtype: x.dtype, shape: x.shape });
}

/** Element-wise min/max of int64 shape vectors (clamping slice bounds). */
export function minimum(a: Sym, b: Sym): Sym {
  return a.g.node1('Min', [a, b], {}, { dtype: a.dtype, shape: op.broadcastShapes('Min', a.shape, b.shape) });
}

/** Number of elements, int64 scalar. */
export function size(x: Sym): Sym {
  return x.g.node1('Size', [x], {}, { dtype: 'int64', shape: [] });
}

/** A tensor of zeros whose shape is the int64 vector `shape` (known only at run time). */
export function zerosOfShape(shape: Sym, resultShape: Shape, dtype: DType = 'float32'): Sym {
  const value = { tensor: { dtype, dims: [1], data: new Uint8Array(dtype === 'int64' ? 8 : 4) } };
  return shape.g.node1('ConstantOfShape', [shape], { value }, { dtype, shape: resultShape });
}

export function zerosLike(x: Sym): Sym {
  return zerosOfShape(op.shapeOf(x), x.shape, x.dtype);
}

/** The positions of the true entries of a 1-D bool vector, as a 1-D int64 vector. */
export function nonZero1d(mask: Sym): Sym {
  const nz = mask.g.node1('NonZero', [mask], {}, { dtype: 'int64', shape: [1, `${mask.name}:nnz`] });
  return op.reshape(nz, [-1]);
}

/** ReduceSum over axes given as a run-time int64 vector; an empty vector means "no reduction". */
export function reduceSumDynamic(x: Sym, axes: Sym, resultShape: Shape): Sym {
  return x.g.node1('ReduceSum', [x, axes], { keepdims: 1, noop_with_empty_axes: 1 }, { dtype: x.dtype, shape: resultShape });
}

/** ReduceSum over static axes (kept as size 1), with the result's shape annotated by the caller. */
export function reduceSumKeep(x: Sym, axes: readonly number[], resultShape: Shape): Sym {
  return x.g.node1('ReduceSum', [x, x.g.ints(axes)], { keepdims: 1 }, { dtype: x.dtype, shape: resultShape });
}

/** Unsqueeze with the axes as a graph value (the same int64 vector a ReduceSum consumed). */
export function unsqueezeDynamic(x: Sym, axes: Sym, resultShape: Shape): Sym {
  return x.g.node1('Unsqueeze', [x, axes], {}, { dtype: x.dtype, shape: resultShape });
}

/** Reshape `x` to the run-time shape of `like` (statically when `like`'s shape is fully known). */
export function reshapeLike(x: Sym, like: Sym): Sym {
  if (isStatic(like.shape) && like.shape.every((d) => d > 0)) return op.reshape(x, like.shape);
  return op.reshapeDynamic(x, op.shapeOf(like), like.shape);
}

export function expandLike(x: Sym, like: Sym): Sym {
  return op.expand(x, op.shapeOf(like), like.shape);
}

/** Run-time size of axis `axis` of `x` as an int64 vector of length 1. */
export function dimOf(x: Sym, axis: number): Sym {
  return op.slice(op.shapeOf(x), 0, axis, axis + 1);
}

export function pad(x: Sym, pads: Sym, resultShape: Shape): Sym {
  return x.g.node1('Pad', [x, pads], { mode: 'constant' }, { dtype: x.dtype, shape: resultShape });
}

export function scatterElements(data: Sym, indices: Sym, updates: Sym, axis: number): Sym {
  return data.g.node1('ScatterElements', [data, indices, updates], { axis }, { dtype: data.dtype, shape: data.shape });
}

/** data[indices[i]] += updates[i] (ONNX ScatterND with reduction 'add', opset 16+). */
export function scatterNdAdd(data: Sym, indices: Sym, updates: Sym): Sym {
  return data.g.node1('ScatterND', [data, indices, updates], { reduction: 'add' }, { dtype: data.dtype, shape: data.shape });
}

/** Gemm with every flag spelled out (the backward products need the transposed variants). */
export function gemm(a: Sym, b: Sym, c: Sym | null, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number }): Sym {
  const rows = o.transA ? a.dim(1) : a.dim(0);
  const cols = o.transB ? b.dim(0) : b.dim(1);
  const attrs: Record<string, number | { float: number }> = { transA: o.transA ? 1 : 0, transB: o.transB ? 1 : 0 };
  if (o.alpha !== undefined && o.alpha !== 1) attrs['alpha'] = { float: o.alpha };
  if (o.beta !== undefined && o.beta !== 1) attrs['beta'] = { float: o.beta };
  return a.g.node1('Gemm', c ? [a, b, c] : [a, b], attrs, { dtype: a.dtype, shape: [rows, cols] });
}

/** 2-D convolution with explicit strides, pads and dilations; the kernel size comes from `w` at run time. */
export function conv(x: Sym, w: Sym, o: { strides: readonly number[]; pads: readonly number[]; dilations: readonly number[] }, resultShape: Shape): Sym {
  return x.g.node1('Conv', [x, w], { strides: o.strides, pads: o.pads, dilations: o.dilations }, { dtype: x.dtype, shape: resultShape });
}

export function convTranspose(x: Sym, w: Sym, o: { strides: readonly number[]; pads: readonly number[]; kernel: readonly number[] }, resultShape: Shape): Sym {
  return x.g.node1('ConvTranspose', [x, w], { strides: o.strides, pads: o.pads, kernel_shape: o.kernel }, { dtype: x.dtype, shape: resultShape });
}
