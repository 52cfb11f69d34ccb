/**
 * The host tensor: a typed array plus a shape, row-major. It is what users hand in and get back; heavy
 * math never runs on it (that is the graph's job), only copies, slices and small bookkeeping.
 */

import type { DType } from './dtype.js';

export type { DType } from './dtype.js';

/** The typed array holding each dtype (float16/bfloat16 as their raw 16-bit patterns). */
export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'float16' | 'bfloat16'
      ? Uint16Array
      : D extends 'int64'
        ? BigInt64Array
        : D extends 'int32'
          ? Int32Array
          : D extends 'int16'
            ? Int16Array
            : D extends 'int8'
              ? Int8Array
              : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function allocate(dtype: DType, size: number): AnyTypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'int16':
      return new Int16Array(size);
    case 'int8':
      return new Int8Array(size);
    case 'uint8':
    case 'bool':
      return new Uint8Array(size);
  }
}

export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly data: TypedArrayFor<D>;
  readonly shape: readonly number[];

  constructor(dtype: D, data: TypedArrayFor<D>, shape: readonly number[]) {
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new Error(`Tensor: invalid shape [${shape.join(', ')}]`);
    }
    if (data.length !== shapeSize(shape)) {
      throw new Error(`Tensor: data has ${data.length} elements but shape [${shape.join(', ')}] needs ${shapeSize(shape)}`);
    }
    this.dtype = dtype;
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  static zeros<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
    return new Tensor(dtype, allocate(dtype, shapeSize(shape)) as TypedArrayFor<D>, shape);
  }

  static float32(data: Float32Array | number[], shape: readonly number[]): Tensor<'float32'> {
    return new Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), shape);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  reshape(shape: readonly number[]): Tensor<D> {
    const known = shape.filter((d) => d !== -1);
    const inferred = shape.length - known.length;
    if (inferred > 1) throw new Error('Tensor.reshape: at most one -1');
    const rest = shapeSize(known);
    const full = shape.map((d) => (d === -1 ? this.size / rest : d));
    return new Tensor(this.dtype, this.data, full);
  }

  /**
   * Copies `[start, end)` along `axis` (negative axes count from the end). Used to split token
   * sequences into CLS / register / patch parts.
   */
  slice(axis: number, start: number, end: number): Tensor<D> {
    const ax = axis < 0 ? this.rank + axis : axis;
    const dim = this.shape[ax]!;
    if (start < 0 || end > dim || start > end) {
      throw new Error(`Tensor.slice: [${start}, ${end}) out of range for axis ${ax} of size ${dim}`);
    }
    const outer = shapeSize(this.shape.slice(0, ax));
    const inner = shapeSize(this.shape.slice(ax + 1));
    const shape = [...this.shape];
    shape[ax] = end - start;
    const out = allocate(this.dtype, shapeSize(shape)) as TypedArrayFor<D>;
    const len = (end - start) * inner;
    for (let o = 0; o < outer; o++) {
      const src = (o * dim + start) * inner;
      (out as AnyTypedArray).set((this.data as AnyTypedArray).subarray(src, src + len) as never, o * len);
    }
    return new Tensor(this.dtype, out, shape);
  }

  /** Removes `axis` (which must have size 1). */
  squeeze(axis: number): Tensor<D> {
    const ax = axis < 0 ? this.rank + axis : axis;
    if (this.shape[ax] !== 1) throw new Error(`Tensor.squeeze: axis ${ax} has size ${this.shape[ax]}, not 1`);
    return this.reshape(this.shape.filter((_, i) => i !== ax));
  }

  /** Permutes axes (a general transpose); copies. */
  permute(perm: readonly number[]): Tensor<D> {
    if (perm.length !== this.rank || [...perm].sort().some((p, i) => p !== i)) {
      throw new Error(`Tensor.permute: [${perm.join(', ')}] is not a permutation of ${this.rank} axes`);
    }
    const shape = perm.map((p) => this.shape[p]!);
    const out = allocate(this.dtype, this.size) as TypedArrayFor<D>;
    const srcStrides = stridesOf(this.shape);
    const stepStrides = perm.map((p) => srcStrides[p]!);
    const index = new Array<number>(this.rank).fill(0);
    const src = this.data as AnyTypedArray;
    const dst = out as AnyTypedArray;
    let offset = 0;
    for (let i = 0; i < this.size; i++) {
      (dst as Float32Array)[i] = (src as Float32Array)[offset]!;
      for (let a = this.rank - 1; a >= 0; a--) {
        index[a]!++;
        offset += stepStrides[a]!;
        if (index[a]! < shape[a]!) break;
        offset -= stepStrides[a]! * shape[a]!;
        index[a] = 0;
      }
    }
    return new Tensor(this.dtype, out, shape);
  }

  /** Stacks tensors of equal shape along a new leading axis. */
  static stack<D extends DType>(tensors: readonly Tensor<D>[]): Tensor<D> {
    if (tensors.length === 0) throw new Error('Tensor.stack: no tensors');
    const first = tensors[0]!;
    const out = allocate(first.dtype, first.size * tensors.length) as TypedArrayFor<D>;
    tensors.forEach((t, i) => {
      if (t.shape.join() !== first.shape.join()) {
        throw new Error(`Tensor.stack: tensor ${i} has shape [${t.shape}] but tensor 0 has [${first.shape}]`);
      }
      (out as AnyTypedArray).set(t.data as never, i * first.size);
    });
    return new Tensor(first.dtype, out, [tensors.length, ...first.shape]);
  }

  /** Concatenates along `axis`. */
  static concat<D extends DType>(tensors: readonly Tensor<D>[], axis: number): Tensor<D> {
    if (tensors.length === 0) throw new Error('Tensor.concat: no tensors');
    const first = tensors[0]!;
    const ax = axis < 0 ? first.rank + axis : axis;
    const outer = shapeSize(first.shape.slice(0, ax));
    const inner = shapeSize(first.shape.slice(ax + 1));
    for (const t of tensors) {
      if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
        throw new Error(`Tensor.concat: shapes [${t.shape}] and [${first.shape}] differ outside axis ${ax}`);
      }
    }
    const total = tensors.reduce((s, t) => s + t.shape[ax]!, 0);
    const shape = [...first.shape];
    shape[ax] = total;
    const out = allocate(first.dtype, shapeSize(shape)) as AnyTypedArray;
    let pos = 0;
    for (let o = 0; o < outer; o++) {
      for (const t of tensors) {
        const len = t.shape[ax]! * inner;
        out.set((t.data as AnyTypedArray).subarray(o * len, (o + 1) * len) as never, pos);
        pos += len;
      }
    }
    return new Tensor(first.dtype, out as TypedArrayFor<D>, shape);
  }
}

export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}
