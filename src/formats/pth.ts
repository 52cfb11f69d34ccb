/**
 * PyTorch `.pth` files as written by `torch.save` since 1.6: a ZIP archive `<archive>/data.pkl` (the pickled
 * object, tensors as references to storages), `<archive>/data/<key>` (one raw storage each),
 * `<archive>/version` and, since torch 1.13-ish, `<archive>/byteorder`.
 *
 * The pickle may hold nested containers (`{"teacher": {...}}`, `{"model": ..., "optimizer": ...}`): every
 * tensor anywhere in it is listed, its key the dotted path of dict keys and list indices leading to it, so
 * `{"teacher": {"backbone.x": t}}` lists `teacher.backbone.x`. `tree` keeps the structure itself (tensors as
 * `TorchTensorRef`); `openWeights` picks the state dict out of common wrappers. A pickle whose root is a
 * single tensor lists nothing.
 */
import { open } from 'node:fs/promises';
import { BYTES_PER_ELEMENT, type TensorEntry, type WeightSource } from './types.js';
import { ZipReader, ZIP_STORED, type ZipEntry } from './zip.js';
import { unpickle } from './unpickle.js';
import { isTensorRef, torchHooks, type TorchTensorRef } from './torchPickle.js';
import { gather, isContiguous, viewSpan } from './strided.js';
import { readExactly } from '../core/fileio.js';
import { toFloat32 } from '../core/dtype.js';
import { shapeSize } from '../core/tensor.js';

export { writePth } from './pthWriter.js';

interface PthTensor {
  entry: TensorEntry;
  ref: TorchTensorRef;
  storage: ZipEntry;
}

export class PthFile implements WeightSource {
  readonly format = 'pth' as const;

  private constructor(
    readonly path: string,
    private readonly zip: ZipReader,
    /** The unpickled object, tensors as `TorchTensorRef`, dicts as Maps. */
    readonly tree: unknown,
    private readonly tensors: Map<string, PthTensor>,
    readonly metadata: Record<string, unknown>,
  ) {}

  static async open(path: string): Promise<PthFile> {
    await refuseNonZip(path);
    const zip = await ZipReader.open(path);
    try {
      const pkls = zip.entries().filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
      if (pkls.length === 0) throw new Error(`${path}: a zip file but not a torch.save archive (no '<archive>/data.pkl')`);
      if (pkls.length > 1) throw new Error(`${path}: holds ${pkls.length} data.pkl records (${pkls.map((e) => e.name).join(', ')}); expected one`);
      const archive = pkls[0]!.name.slice(0, -'/data.pkl'.length);
      const byteorder = await readText(zip, `${archive}/byteorder`);
      if (byteorder !== undefined && byteorder.trim() !== 'little') {
        throw new Error(`${path}: saved with byteorder '${byteorder.trim()}'; only little-endian checkpoints are supported (re-save it on a little-endian machine)`);
      }
      const version = await readText(zip, `${archive}/version`);
      const tree = unpickle(await zip.read(pkls[0]!), torchHooks(path), path);
      const tensors = new Map<string, PthTensor>();
      for (const [key, ref] of flattenTensors(tree, path)) tensors.set(key, describe(path, zip, archive, key, ref));
      const metadata = { archive, byteorder: byteorder?.trim() ?? 'little', version: version?.trim() };
      return new PthFile(path, zip, tree, tensors, metadata);
    } catch (e) {
      await zip.close();
      throw e;
    }
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  entry(key: string): TensorEntry | undefined {
    return this.tensors.get(key)?.entry;
  }

  private need(key: string): PthTensor {
    const t = this.tensors.get(key);
    if (!t) throw new Error(`${this.path}: no tensor named '${key}'`);
    return t;
  }

  async readRaw(key: string): Promise<Uint8Array> {
    const { entry, ref, storage } = this.need(key);
    if (entry.extent) return readExactly(this.zip.handle, this.path, entry.extent.offset, entry.extent.length);
    const size = BYTES_PER_ELEMENT[entry.dtype];
    const span = viewSpan(ref.shape, ref.stride);
    let bytes: Uint8Array;
    if (storage.method === ZIP_STORED) bytes = await this.zip.readRange(storage, ref.storageOffset * size, span * size);
    else bytes = (await this.zip.read(storage)).subarray(ref.storageOffset * size, (ref.storageOffset + span) * size);
    return gather(bytes, ref.shape, ref.stride, size);
  }

  async readFloat32(key: string): Promise<Float32Array> {
    return toFloat32(await this.readRaw(key), this.need(key).entry.dtype);
  }

  async close(): Promise<void> {
    await this.zip.close();
  }
}

/** Explains the files that are not zip archives instead of failing on a missing central directory. */
async function refuseNonZip(path: string): Promise<void> {
  const handle = await open(path, 'r');
  let head: Uint8Array;
  try {
    const { size } = await handle.stat();
    head = await readExactly(handle, path, 0, Math.min(size, 262));
  } finally {
    await handle.close();
  }
  if (head.length >= 2 && head[0] === 0x50 && head[1] === 0x4b) return;
  if (head[0] === 0x80) {
    throw new Error(`${path}: legacy torch.save format (a bare pickle, from torch < 1.6); re-save with torch >= 1.6`);
  }
  if (head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar') {
    throw new Error(`${path}: legacy torch.save format (tar, from torch < 0.4); re-save with torch >= 1.6`);
  }
  throw new Error(`${path}: not a torch.save file (no zip signature)`);
}

async function readText(zip: ZipReader, name: string): Promise<string | undefined> {
  const e = zip.get(name);
  return e ? Buffer.from(await zip.read(e)).toString('utf8') : undefined;
}

/** Every tensor in the tree with its dotted path. */
export function flattenTensors(tree: unknown, path: string): Map<string, TorchTensorRef> {
  const out = new Map<string, TorchTensorRef>();
  const visit = (node: unknown, prefix: string): void => {
    if (isTensorRef(node)) {
      if (prefix === '') return;
      if (out.has(prefix)) throw new Error(`${path}: two tensors flatten to the same key '${prefix}'`);
      out.set(prefix, node);
      return;
    }
    const join = (k: string): string => (prefix === '' ? k : `${prefix}.${k}`);
    if (node instanceof Map) {
      for (const [k, v] of node) if (typeof k === 'string' || typeof k === 'number') visit(v, join(String(k)));
    } else if (Array.isArray(node)) {
      node.forEach((v, i) => visit(v, join(String(i))));
    }
  };
  visit(tree, '');
  return out;
}

function describe(path: string, zip: ZipReader, archive: string, key: string, ref: TorchTensorRef): PthTensor {
  const { storage } = ref;
  const name = `${archive}/data/${storage.key}`;
  const zipEntry = zip.get(name);
  if (!zipEntry) throw new Error(`${path}: tensor '${key}' refers to storage '${storage.key}', but the archive has no '${name}' (truncated?)`);
  const size = BYTES_PER_ELEMENT[storage.dtype];
  if (zipEntry.size < storage.numel * size) {
    throw new Error(`${path}: storage '${storage.key}' should hold ${storage.numel} ${storage.dtype} elements (${storage.numel * size} bytes) but '${name}' has ${zipEntry.size} bytes`);
  }
  const span = viewSpan(ref.shape, ref.stride);
  if (span > 0 && ref.storageOffset + span > storage.numel) {
    throw new Error(`${path}: tensor '${key}' (offset ${ref.storageOffset}, shape [${ref.shape.join(', ')}], stride [${ref.stride.join(', ')}]) reaches past the end of its storage of ${storage.numel} elements`);
  }
  const numel = shapeSize(ref.shape);
  const entry: TensorEntry = { key, dtype: storage.dtype, shape: [...ref.shape] };
  if (zipEntry.method === ZIP_STORED && isContiguous(ref.shape, ref.stride)) {
    entry.extent = { path, offset: zipEntry.dataOffset + ref.storageOffset * size, length: numel * size };
  }
  return { entry, ref, storage: zipEntry };
}
