/**
 * A Hugging Face transformers `Dinov2Model` / `Dinov2WithRegistersModel` state dict presented under the
 * official DINOv2 key names, over tensor files that are already open (no I/O here: HfFolder opens a folder
 * in Node, src/web opens a hub repo's files over HTTP).
 *
 * Classification checkpoints prefix the backbone with `dinov2.` / `dinov2_with_registers.`; the prefix is
 * stripped and their `classifier.*` tensors are listed under their own names. query/key/value are listed as
 * one fused `blocks.i.attn.qkv.*` tensor (synthesized, so without a file extent). Keys with no official
 * name are listed unchanged, for `checkStateDict` to report.
 */
import type { TensorEntry, WeightSource } from './types.js';
import { toFloat32 } from '../core/dtype.js';
import { hfToOfficial, QKV_PARTS, type QkvPart } from './hfKeys.js';

interface Part {
  source: WeightSource;
  key: string;
}

export interface Mapped {
  entry: TensorEntry;
  /** One part, or query/key/value to concatenate along the first axis. */
  parts: Part[];
}

const PREFIXES = ['dinov2_with_registers.', 'dinov2.'];

export class HfSource implements WeightSource {
  readonly format = 'hf' as const;

  protected constructor(
    readonly path: string,
    /** The folder's config.json. */
    readonly metadata: Record<string, unknown>,
    private readonly files: WeightSource[],
    private readonly tensors: Map<string, Mapped>,
  ) {}

  get config(): Record<string, unknown> {
    return this.metadata;
  }

  /**
   * The view over already opened tensor files: `where` maps each HF key to the file holding it (default:
   * every key of every file). Closing the view closes the files.
   */
  static fromFiles(name: string, config: Record<string, unknown>, files: WeightSource[], where?: Map<string, WeightSource>): HfSource {
    if (!where) {
      where = new Map();
      for (const f of files) for (const k of f.keys()) where.set(k, f);
    }
    return new HfSource(name, config, files, mapHfKeys(name, where));
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  entry(key: string): TensorEntry | undefined {
    return this.tensors.get(key)?.entry;
  }

  private need(key: string): Mapped {
    const m = this.tensors.get(key);
    if (!m) throw new Error(`${this.path}: no tensor named '${key}'`);
    return m;
  }

  async readRaw(key: string): Promise<Uint8Array> {
    const { parts } = this.need(key);
    const raws = await Promise.all(parts.map((p) => p.source.readRaw(p.key)));
    if (raws.length === 1) return raws[0]!;
    const out = new Uint8Array(raws.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of raws) {
      out.set(r, at);
      at += r.length;
    }
    return out;
  }

  async readFloat32(key: string): Promise<Float32Array> {
    return toFloat32(await this.readRaw(key), this.need(key).entry.dtype);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

/** Official key → the HF tensor(s) it is made of, for `where` (HF key → the file holding it); `dir` names errors. */
export function mapHfKeys(dir: string, where: Map<string, WeightSource>): Map<string, Mapped> {
  const keys = [...where.keys()];
  const prefix = PREFIXES.find((p) => keys.some((k) => k.startsWith(p)));
  const out = new Map<string, Mapped>();
  const qkv = new Map<string, Map<QkvPart, Part>>();
  const add = (key: string, mapped: Mapped): void => {
    if (out.has(key)) throw new Error(`${dir}: two tensors map to the official key '${key}'`);
    out.set(key, mapped);
  };
  for (const hfKey of keys) {
    const source = where.get(hfKey)!;
    const bare = prefix && hfKey.startsWith(prefix) ? hfKey.slice(prefix.length) : hfKey;
    const target = hfToOfficial(bare);
    const part: Part = { source, key: hfKey };
    if (target?.part) {
      let group = qkv.get(target.key);
      if (!group) {
        group = new Map();
        qkv.set(target.key, group);
        // Reserve the fused tensor's place in the listing where its first part appears.
        out.set(target.key, { entry: { key: target.key, dtype: 'F32', shape: [] }, parts: [] });
      }
      group.set(target.part, part);
    } else {
      const e = source.entry(hfKey)!;
      add(target?.key ?? bare, { entry: { ...e, key: target?.key ?? bare }, parts: [part] });
    }
  }
  for (const [key, group] of qkv) {
    const parts = QKV_PARTS.map((p) => {
      const part = group.get(p);
      if (!part) {
        const present = [...group.values()][0]!.key;
        throw new Error(`${dir}: '${present}' has no '${p}' counterpart, so '${key}' cannot be assembled`);
      }
      return part;
    });
    const entries = parts.map((p) => p.source.entry(p.key)!);
    const first = entries[0]!;
    for (const e of entries) {
      if (e.dtype !== first.dtype || e.shape.join() !== first.shape.join() || e.shape.length === 0) {
        throw new Error(`${dir}: query/key/value of '${key}' differ in dtype or shape (${entries.map((x) => `${x.key}: ${x.dtype}[${x.shape.join(', ')}]`).join('; ')})`);
      }
    }
    out.set(key, { entry: { key, dtype: first.dtype, shape: [3 * first.shape[0]!, ...first.shape.slice(1)] }, parts });
  }
  return out;
}
