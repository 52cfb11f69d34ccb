/**
 * A model's weights by official key: shape plus a lazy source of float32 bytes. Built from a checkpoint
 * (any format) or from a seeded random fill; either way nothing is read until a graph is serialised, and
 * then one tensor at a time.
 */
import type { GraphBuilder, Sym } from '../graph/builder.js';
import * as op from '../graph/ops.js';
import { encodeFloat32 } from '../formats/tensorItem.js';
import type { InitializerSource } from '../graph/ir.js';
import { makeScope, type Int8Weight, type ParamScope } from './layers/params.js';
import type { WeightSource } from '../formats/types.js';

export interface StoredWeight {
  shape: readonly number[];
  source: InitializerSource;
}

export type WeightStore = Map<string, StoredWeight>;

function asBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Weights read lazily from a checkpoint; float32 tensors stored contiguously are referenced in place. */
export function storeFromSource(source: WeightSource, keys: Iterable<string>): WeightStore {
  const store: WeightStore = new Map();
  for (const key of keys) {
    const entry = source.entry(key);
    if (!entry) throw new Error(`${source.path}: missing weight '${key}'`);
    const extent = entry.dtype === 'F32' ? entry.extent : undefined;
    store.set(key, {
      shape: entry.shape,
      source: { bytes: async () => asBytes(await source.readFloat32(key)), ...(extent ? { extent } : {}) },
    });
  }
  return store;
}

/** A fixed float32 tensor (a weight computed in memory: tests, conversions, heads). */
export function storedFloat32(shape: readonly number[], values: Float32Array): StoredWeight {
  return { shape, source: { bytes: async () => asBytes(values) } };
}

export interface WeightScopeOptions {
  /** Linear weights (by key) to run as int8 with dynamic activation quantization. */
  int8?: (key: string) => boolean;
  /**
   * Largest int8 weight level: 127, or 63 (7 bits) where the CPU's u8·s8 products saturate (see
   * int8ProductsSaturate); default 127.
   */
  int8MaxLevel?: number;
  /** How float weights are stored in the graph; float16/bfloat16 are cast back to float32 at load. */
  storage?: 'float32' | 'float16' | 'bfloat16';
  /** Compute type: 'float16' keeps weights in float16 for a graph that computes in float16 (GPU). */
  compute?: 'float32' | 'float16';
}

/**
 * Symmetric per-output-channel int8 of a [out, in] weight, transposed to [in, out] for MatMul; levels in
 * [-maxLevel, maxLevel].
 */
export function quantizeInt8PerRow(w: Float32Array, out: number, inFeatures: number, maxLevel = 127): { q: Int8Array; scale: Float32Array } {
  if (!Number.isInteger(maxLevel) || maxLevel < 1 || maxLevel > 127) throw new Error(`int8 max level must be an integer in 1..127, got ${maxLevel}`);
  const q = new Int8Array(out * inFeatures);
  const scale = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let max = 0;
    for (let i = 0; i < inFeatures; i++) max = Math.max(max, Math.abs(w[o * inFeatures + i]!));
    const s = max > 0 ? max / maxLevel : 1;
    scale[o] = s;
    for (let i = 0; i < inFeatures; i++) q[i * out + o] = Math.max(-maxLevel, Math.min(maxLevel, Math.round(w[o * inFeatures + i]! / s)));
  }
  return { q, scale };
}

/** Float32 bytes re-encoded as float16/bfloat16 (nearest-even, as PyTorch casts). */
function convertStorage(bytes: Uint8Array, to: 'float16' | 'bfloat16', key: string): Uint8Array {
  return encodeFloat32(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), to === 'float16' ? 'F16' : 'BF16', key);
}

/** `build` called at most once per key; later calls return the first result (null included). */
function onePerKey<T>(build: (key: string) => T): (key: string) => T {
  const built = new Map<string, T>();
  return (key) => {
    if (!built.has(key)) built.set(key, build(key));
    return built.get(key)!;
  };
}

/**
 * Layers' view of a store inside one graph: each key becomes an initializer (named by its key) on first
 * use, and its int8 form likewise; asking twice returns the same value (a graph defines a name once).
 */
export function weightScope(g: GraphBuilder, store: WeightStore, options: WeightScopeOptions = {}): ParamScope {
  const storage = options.storage ?? 'float32';
  const lookup = onePerKey((key: string): Sym | null => {
    const w = store.get(key);
    if (!w) return null;
    // A float16 graph keeps its weights in float16; a float32 graph casts reduced storage back at load.
    const as = options.compute === 'float16' ? 'float16' : storage;
    if (as === 'float32') return g.initializer(key, 'float32', w.shape, w.source);
    const stored = g.initializer(key, as, w.shape, { bytes: async () => convertStorage(await w.source.bytes(), as, key) });
    return options.compute === 'float16' ? stored : op.cast(stored, 'float32');
  });
  const int8Weight = (key: string): Int8Weight | null => {
    const w = store.get(key);
    if (!w || w.shape.length !== 2 || !options.int8!(key)) return null;
    const [out, inFeatures] = w.shape as [number, number];
    // One pass over the float weight yields both tensors; it is dropped once both are written.
    let pending: Promise<{ q: Int8Array; scale: Float32Array }> | null = null;
    const quantized = () => (pending ??= w.source.bytes().then((b) => quantizeInt8PerRow(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), out, inFeatures, options.int8MaxLevel)));
    let reads = 0;
    const release = () => {
      if (++reads === 2) pending = null;
    };
    const weight = g.initializer(`${key}:int8`, 'int8', [inFeatures, out], {
      bytes: async () => {
        const { q } = await quantized();
        release();
        return new Uint8Array(q.buffer);
      },
    });
    const scale = g.initializer(`${key}:scale`, 'float32', [out], {
      bytes: async () => {
        const { scale: sc } = await quantized();
        release();
        return new Uint8Array(sc.buffer);
      },
    });
    return { weight, scale };
  };
  return makeScope(lookup, '', options.int8 ? onePerKey(int8Weight) : undefined);
}
