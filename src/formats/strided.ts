/**
 * Strided views of a torch storage. A saved tensor may be a view (a transpose, a slice, one of q/k/v
 * sharing a storage); it is read by gathering its elements into C order. Overlapping views (stride 0,
 * from `expand`) are gathered the same way and come out materialized.
 */

/** True when the view's elements are the C-order run starting at its offset. */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    // A dimension of size 1 is never stepped along, so its stride is irrelevant (torch leaves it arbitrary).
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** Element span [first, last + 1) of the storage that the view touches, relative to the view's offset. */
export function viewSpan(shape: readonly number[], stride: readonly number[]): number {
  if (shape.some((d) => d === 0)) return 0;
  // In BigInt: hostile sizes and strides (each a safe integer) would lose precision in their products.
  let last = 0n;
  for (let i = 0; i < shape.length; i++) last += BigInt(shape[i]! - 1) * BigInt(stride[i]!);
  return last + 1n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(last + 1n);
}

/** Copies a strided view out of `src` (bytes starting at the view's offset) into C order. */
export function gather(src: Uint8Array, shape: readonly number[], stride: readonly number[], elementSize: number): Uint8Array {
  let numel = 1;
  for (const d of shape) numel *= d;
  const out = new Uint8Array(numel * elementSize);
  if (numel === 0) return out;
  // Rows whose last stride is 1 (e.g. a slice of rows, or q/k/v of a fused weight) are copied whole.
  const rowMode = shape.length > 0 && stride[shape.length - 1] === 1;
  const outerShape = rowMode ? shape.slice(0, -1) : shape;
  const run = (rowMode ? shape[shape.length - 1]! : 1) * elementSize;
  const rank = outerShape.length;
  const index = new Array<number>(rank).fill(0);
  const count = numel * elementSize / run;
  let from = 0;
  for (let i = 0; i < count; i++) {
    const at = from * elementSize;
    out.set(src.subarray(at, at + run), i * run);
    for (let a = rank - 1; a >= 0; a--) {
      index[a]!++;
      from += stride[a]!;
      if (index[a]! < outerShape[a]!) break;
      from -= stride[a]! * outerShape[a]!;
      index[a] = 0;
    }
  }
  return out;
}
