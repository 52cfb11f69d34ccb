/** torch.chunk on a graph value: pieces of ceil(n / chunks) along an axis of known size, the last one shorter. */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';

/**
 * Like torch.chunk, this can return fewer than `chunks` pieces (6 rows in 4 chunks gives 3 pieces of 2),
 * which matters for the DINO loss: its normalisation counts pieces, not the requested number.
 */
export function chunk(x: Sym, chunks: number, axis = 0): Sym[] {
  const n = x.dim(axis);
  if (typeof n !== 'number') throw new Error(`chunk: axis ${axis} of '${x.name}' has symbolic size ${n}; chunking needs a known size`);
  if (!Number.isInteger(chunks) || chunks < 1) throw new Error(`chunk: chunks must be a positive integer, got ${chunks}`);
  if (n === 0) return [x];
  const size = Math.ceil(n / chunks);
  const sizes: number[] = [];
  for (let start = 0; start < n; start += size) sizes.push(Math.min(size, n - start));
  return sizes.length === 1 ? [x] : op.split(x, axis, sizes);
}
