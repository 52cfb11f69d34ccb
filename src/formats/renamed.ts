/** A view of a weight source under other key names (and possibly a subset of its keys). */
import type { TensorEntry, WeightSource } from './types.js';
import { selectStateDict } from './stateDictKeys.js';

export class RenamedSource implements WeightSource {
  private readonly toInner: Map<string, string>;

  /** `names` maps each new key to the inner key it shows. */
  constructor(
    private readonly inner: WeightSource,
    names: Map<string, string>,
    extraMetadata: Record<string, unknown> = {},
  ) {
    for (const [, innerKey] of names) {
      if (!inner.entry(innerKey)) throw new Error(`${inner.path}: no tensor named '${innerKey}'`);
    }
    this.toInner = names;
    this.metadata = { ...inner.metadata, ...extraMetadata };
  }

  readonly metadata: Record<string, unknown>;

  get path(): string {
    return this.inner.path;
  }

  get format(): WeightSource['format'] {
    return this.inner.format;
  }

  /** The source this view renames. */
  get source(): WeightSource {
    return this.inner;
  }

  keys(): string[] {
    return [...this.toInner.keys()];
  }

  entry(key: string): TensorEntry | undefined {
    const k = this.toInner.get(key);
    const e = k === undefined ? undefined : this.inner.entry(k);
    return e && { ...e, key };
  }

  private innerKey(key: string): string {
    const k = this.toInner.get(key);
    if (k === undefined) throw new Error(`${this.path}: no tensor named '${key}'`);
    return k;
  }

  readRaw(key: string): Promise<Uint8Array> {
    return this.inner.readRaw(this.innerKey(key));
  }

  readFloat32(key: string): Promise<Float32Array> {
    return this.inner.readFloat32(this.innerKey(key));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * The backbone state dict of a single tensor file under hub key names (wrappers, `module.`, `backbone.`
 * and block chunks stripped; see stateDictKeys.ts), with a `config.json` found beside it shown as metadata
 * (`SIDECAR_METADATA_KEY`): the source itself when nothing changes.
 */
export function selectedStateDict(source: WeightSource, label: string, beside?: Record<string, unknown>): WeightSource {
  const keys = source.keys();
  const { names, prefix, unchunked } = selectStateDict(keys, label);
  const identity = names.size === keys.length && [...names].every(([k, o]) => k === o);
  if (identity && !beside) return source;
  return new RenamedSource(source, names, { ...(identity ? {} : { stateDictPrefix: prefix, unchunkedBlocks: unchunked }), ...(beside ? { [SIDECAR_METADATA_KEY]: beside } : {}) });
}

/**
 * The metadata key under which a `config.json` found beside a `.pth`/`.safetensors` file (as Hugging Face keeps
 * one beside `pytorch_model.bin`) is shown, parsed; models/load.ts reads the architecture from it.
 */
export const SIDECAR_METADATA_KEY = 'config_json';
