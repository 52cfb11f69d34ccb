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
  /** Move LayerNorm scales into the following int8 Linear (smoothForInt8; default true). */
  int8Smoothing?: boolean;
  /**
   * Input channels of int8 Linear layers (by weight key) to multiply in float32 instead (see
   * int8OutlierChannels, which finds them): they are left out of the activation's int8 scale.
   */
  int8Outliers?: ReadonlyMap<string, readonly number[]>;
  /** int8 Linear layers (by weight key) whose input is quantized per row (token) rather than per tensor. */
  int8PerRow?: (key: string) => boolean;
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

/** A block's LayerNorm and the int8 Linear that reads its output (norm1 → attn.qkv, norm2 → mlp.fc1 or the SwiGLU w12). */
interface NormLinearPair {
  gammaKey: string;
  betaKey: string | null;
  linearKey: string;
}

function int8NormPairs(store: WeightStore, int8: (key: string) => boolean): NormLinearPair[] {
  const pairs: NormLinearPair[] = [];
  for (const key of store.keys()) {
    const m = /^(.*\.)norm([12])\.weight$/.exec(key);
    if (!m) continue;
    const prefix = m[1]!;
    const linearKey = (m[2] === '1' ? [`${prefix}attn.qkv.weight`] : [`${prefix}mlp.fc1.weight`, `${prefix}mlp.w12.weight`]).find((k) => store.has(k));
    if (!linearKey || !int8(linearKey)) continue;
    const linW = store.get(linearKey)!;
    if (linW.shape.length !== 2 || linW.shape[1] !== store.get(key)!.shape[0]) continue;
    const betaKey = `${prefix}norm${m[2]}.bias`;
    pairs.push({ gammaKey: key, betaKey: store.has(betaKey) ? betaKey : null, linearKey });
  }
  return pairs;
}

const f32Copy = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/**
 * Which input channels of each LayerNorm → int8 Linear pair stay float32 (LLM.int8's mixed-precision
 * decomposition, calibration-free): a LayerNorm output channel spans about a_c = |γ_c| + |β_c| (n is of unit
 * scale), and the channels whose span is at least `ratio` × the median span (at most `max` of them, the
 * largest) are the outliers. They are left out of the per-tensor activation scale and multiplied in float32
 * (see linear.ts); the rest run as int8. Keyed by the Linear's weight key; pairs without outliers are absent.
 */
export async function int8OutlierChannels(
  store: WeightStore,
  int8: (key: string) => boolean,
  options: { ratio?: number; max?: number } = {},
): Promise<Map<string, number[]>> {
  const ratio = options.ratio ?? 4;
  const max = options.max ?? 16;
  if (!(ratio > 1)) throw new Error(`int8 outlier ratio must be above 1, got ${ratio}`);
  if (!Number.isInteger(max) || max < 0) throw new Error(`int8 outlier channel count must be a non-negative integer, got ${max}`);
  const out = new Map<string, number[]>();
  for (const pair of int8NormPairs(store, int8)) {
    const gamma = f32Copy(await store.get(pair.gammaKey)!.source.bytes());
    const beta = pair.betaKey ? f32Copy(await store.get(pair.betaKey)!.source.bytes()) : null;
    const span = Array.from(gamma, (g, c) => Math.abs(g) + (beta ? Math.abs(beta[c]!) : 0));
    const sorted = [...span].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    if (!(median > 0)) continue;
    const channels = span
      .map((a, c) => [a, c] as const)
      .filter(([a]) => a >= ratio * median)
      .sort((x, y) => y[0] - x[0] || x[1] - y[1])
      .slice(0, max)
      .map(([, c]) => c)
      .sort((a, b) => a - b);
    if (channels.length > 0) out.set(pair.linearKey, channels);
  }
  return out;
}

/**
 * The LayerNorm → int8 Linear pairs of the blocks (norm1 → attn.qkv, norm2 → mlp.fc1 or the SwiGLU w12), with
 * the LayerNorm's scale moved into the Linear as far as balances the two (SmoothQuant's migration with
 * α = 1/2, calibration-free): LayerNorm outputs are γ_c·n + β_c with n of unit scale, so channel c of the
 * Linear's input spans about a_c = |γ_c| + |β_c|; with w_c the largest |weight| of input column c,
 * s_c = √(a_c / w_c) and γ/s, β/s, W·diag(s) compute the same function while the activation channel and the
 * weight column both span √(a_c·w_c). A few channels with large γ (as trained ViTs have) then no longer
 * take all the levels of the per-tensor activation scale. Float users of these weights see the same
 * (rescaled) values, so every path through the graph stays consistent. Channels listed in `outliers` (by
 * Linear key; see int8OutlierChannels) are left as they are: they are multiplied in float32.
 */
export function smoothForInt8(store: WeightStore, int8: (key: string) => boolean, outliers?: ReadonlyMap<string, readonly number[]>): WeightStore {
  const out: WeightStore = new Map(store);
  for (const { gammaKey: key, betaKey, linearKey } of int8NormPairs(store, int8)) {
    const gammaW = store.get(key)!;
    const betaW = betaKey ? store.get(betaKey) : undefined;
    const linW = store.get(linearKey)!;
    const [rows, cols] = linW.shape as [number, number];
    const skip = new Set(outliers?.get(linearKey) ?? []);
    let pending: Promise<{ gamma: Float32Array; beta: Float32Array | null; w: Float32Array }> | null = null;
    const f32 = f32Copy;
    const smoothed = () =>
      (pending ??= (async () => {
        const gamma = f32(await gammaW.source.bytes());
        const beta = betaW ? f32(await betaW.source.bytes()) : null;
        const w = f32(await linW.source.bytes());
        for (let c = 0; c < cols; c++) {
          if (skip.has(c)) continue;
          let wMax = 0;
          for (let o = 0; o < rows; o++) wMax = Math.max(wMax, Math.abs(w[o * cols + c]!));
          const a = Math.abs(gamma[c]!) + (beta ? Math.abs(beta[c]!) : 0);
          const sc = a > 0 && wMax > 0 ? Math.sqrt(a / wMax) : 1;
          gamma[c] = gamma[c]! / sc;
          if (beta) beta[c] = beta[c]! / sc;
          for (let o = 0; o < rows; o++) w[o * cols + c] = w[o * cols + c]! * sc;
        }
        return { gamma, beta, w };
      })());
    const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    out.set(key, { shape: gammaW.shape, source: { bytes: async () => bytesOf((await smoothed()).gamma) } });
    if (betaW) out.set(betaKey!, { shape: betaW.shape, source: { bytes: async () => bytesOf((await smoothed()).beta!) } });
    out.set(linearKey, { shape: linW.shape, source: { bytes: async () => bytesOf((await smoothed()).w) } });
  }
  return out;
}

/**
 * Layers' view of a store inside one graph: each key becomes an initializer (named by its key) on first
 * use, and its int8 form likewise; asking twice returns the same value (a graph defines a name once).
 */
export function weightScope(g: GraphBuilder, store: WeightStore, options: WeightScopeOptions = {}): ParamScope {
  const storage = options.storage ?? 'float32';
  if (options.int8 && options.int8Smoothing !== false) store = smoothForInt8(store, options.int8, options.int8Outliers);
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
    const outliers = options.int8Outliers?.get(key) ?? [];
    for (const c of outliers) if (!Number.isInteger(c) || c < 0 || c >= inFeatures) throw new Error(`int8 outlier channel ${c} of '${key}' is outside its ${inFeatures} input channels`);
    // One pass over the float weight yields both tensors; it is dropped once both are written. Outlier
    // input columns are zeroed there (their products run in float32) so they do not widen the row scales.
    let pending: Promise<{ q: Int8Array; scale: Float32Array }> | null = null;
    const quantized = () =>
      (pending ??= w.source.bytes().then((b) => {
        let f = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        if (outliers.length > 0) {
          f = f.slice();
          for (let o = 0; o < out; o++) for (const c of outliers) f[o * inFeatures + c] = 0;
        }
        return quantizeInt8PerRow(f, out, inFeatures, options.int8MaxLevel);
      }));
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
    const perRow = options.int8PerRow?.(key) ?? false;
    if (perRow && outliers.length > 0) throw new Error(`'${key}': per-row int8 with float32 outlier channels is not supported`);
    if (perRow) return { weight, scale, perRow };
    if (outliers.length === 0) return { weight, scale };
    const k = outliers.length;
    const index = g.initializer(`${key}:outlier_index`, 'int64', [k], { bytes: async () => new Uint8Array(BigInt64Array.from(outliers, BigInt).buffer) });
    const keep = g.initializer(`${key}:outlier_keep`, 'float32', [inFeatures], {
      bytes: async () => {
        const m = new Float32Array(inFeatures).fill(1);
        for (const c of outliers) m[c] = 0;
        return asBytes(m);
      },
    });
    const rows = g.initializer(`${key}:outlier_weight`, 'float32', [out, k], {
      bytes: async () => {
        const b = await w.source.bytes();
        const f = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        const r = new Float32Array(out * k);
        for (let o = 0; o < out; o++) outliers.forEach((c, j) => (r[o * k + j] = f[o * inFeatures + c]!));
        return asBytes(r);
      },
    });
    return { weight, scale, outliers: { index, keep, weight: rows } };
  };
  return makeScope(lookup, '', options.int8 ? onePerKey(int8Weight) : undefined);
}
