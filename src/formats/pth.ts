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
import { BYTES_PER_ELEMENT, type TensorEntry, type WeightSource } from './types.js';
import { ZipReader, ZIP_STORED, type ZipEntry } from './zip.js';
import { unpickle } from './unpickle.js';
import { short } from '../core/text.js';
import { isTensorRef, torchHooks, type TorchStorageRef, type TorchTensorRef } from './torchPickle.js';
import { gather, isContiguous, viewSpan } from './strided.js';
import { openRegularFile, readExactly } from '../core/fileio.js';
import { toFloat32 } from '../core/dtype.js';

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
      const tree = unpickle(await zip.read(pkls[0]!, MAX_PICKLE_BYTES), torchHooks(path), path);
      const tensors = new Map<string, PthTensor>();
      const storages = new Map<string, { storage: TorchStorageRef; key: string }>();
      for (const [key, ref] of flattenTensors(tree, path)) {
        if (ref.invalid) throw new Error(`${path}: tensor '${short(key)}' has ${ref.invalid}`);
        const seen = storages.get(ref.storage.key);
        if (seen && (seen.storage.dtype !== ref.storage.dtype || seen.storage.numel !== ref.storage.numel)) {
          throw new Error(`${path}: tensor '${short(key)}' describes storage '${ref.storage.key}' as ${ref.storage.numel} ${ref.storage.dtype} elements, tensor '${short(seen.key)}' as ${seen.storage.numel} ${seen.storage.dtype}`);
        }
        storages.set(ref.storage.key, { storage: ref.storage, key });
        tensors.set(key, describe(path, zip, archive, key, ref));
      }
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
    if (entry.extent) return this.zip.readChecked(storage, entry.extent.offset - storage.dataOffset, entry.extent.length);
    const size = BYTES_PER_ELEMENT[entry.dtype];
    const span = viewSpan(ref.shape, ref.stride);
    let bytes: Uint8Array;
    if (storage.method === ZIP_STORED) bytes = await this.zip.readRange(storage, ref.storageOffset * size, span * size);
    else bytes = (await this.zip.read(storage, storage.size)).subarray(ref.storageOffset * size, (ref.storageOffset + span) * size);
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
  const handle = await openRegularFile(path);
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
  return e ? Buffer.from(await zip.read(e, 4096)).toString('utf8') : undefined;
}

/** data.pkl of the largest released checkpoints is a few hundred KiB; anything near this is not a state dict. */
const MAX_PICKLE_BYTES = 256 << 20;

export interface FlattenLimits {
  /** Containers and tensors visited, shared ones counted each time they are reached (default 1 million). */
  maxVisits?: number;
  /** Nesting depth (default 1000). */
  maxDepth?: number;
  /** Length of a dotted key (default 64 KiB). */
  maxKeyLength?: number;
}

/**
 * Every tensor in the tree with its dotted path. The walk is iterative and bounded: the memo lets a pickle
 * build containers that share each other exponentially ("billion laughs") or contain themselves, which an
 * unbounded walk would follow forever.
 */
export function flattenTensors(tree: unknown, path: string, limits: FlattenLimits = {}): Map<string, TorchTensorRef> {
  // A ViT-g state dict has ~600 tensors, a training checkpoint with optimizer state tens of thousands.
  const maxVisits = limits.maxVisits ?? 1_000_000;
  const maxDepth = limits.maxDepth ?? 1000;
  const maxKeyLength = limits.maxKeyLength ?? 65536;
  const out = new Map<string, TorchTensorRef>();
  const todo: { node: unknown; prefix: string; depth: number }[] = [{ node: tree, prefix: '', depth: 0 }];
  let visits = 0;
  while (todo.length) {
    const { node, prefix, depth } = todo.pop()!;
    if (++visits > maxVisits) {
      throw new Error(`${path}: the pickle's containers expand to more than ${maxVisits} entries (containers shared through the memo); refusing`);
    }
    if (isTensorRef(node)) {
      if (prefix === '') continue;
      if (out.has(prefix)) throw new Error(`${path}: two tensors flatten to the same key '${short(prefix)}'`);
      out.set(prefix, node);
      continue;
    }
    if (!(node instanceof Map) && !Array.isArray(node)) continue;
    if (depth >= maxDepth) throw new Error(`${path}: the pickle nests containers deeper than ${maxDepth} levels (or a container contains itself); refusing`);
    const children: { node: unknown; prefix: string; depth: number }[] = [];
    const add = (k: string, v: unknown): void => {
      if (!(v instanceof Map) && !Array.isArray(v) && !isTensorRef(v)) return;
      const key = prefix === '' ? k : `${prefix}.${k}`;
      if (key.length > maxKeyLength) throw new Error(`${path}: a key in the pickle is longer than ${maxKeyLength} characters ('${short(key)}'); refusing`);
      children.push({ node: v, prefix: key, depth: depth + 1 });
    };
    if (node instanceof Map) {
      for (const [k, v] of node) if (typeof k === 'string' || typeof k === 'number') add(String(k), v);
    } else {
      for (let i = 0; i < node.length; i++) add(String(i), node[i]);
    }
    // Reversed onto the stack so that tensors come out in the pickle's order, as a recursive walk lists them.
    for (let i = children.length - 1; i >= 0; i--) todo.push(children[i]!);
  }
  return out;
}

/** A view may need at most this many times its storage's bytes (or MIN_VIEW_ALLOWANCE, if larger). */
const MAX_VIEW_GROWTH = 4;
const MIN_VIEW_ALLOWANCE = 1 << 20;

function describe(path: string, zip: ZipReader, archive: string, key: string, ref: TorchTensorRef): PthTensor {
  const { storage } = ref;
  const name = `${archive}/data/${storage.key}`;
  const zipEntry = zip.get(name);
  if (!zipEntry) throw new Error(`${path}: tensor '${key}' refers to storage '${storage.key}', but the archive has no '${name}' (truncated?)`);
  const size = BYTES_PER_ELEMENT[storage.dtype];
  const storageBytes = storage.numel * size;
  // torch writes exactly the storage's bytes; a larger entry would be inflated (or read) for nothing.
  if (zipEntry.size !== storageBytes) {
    throw new Error(`${path}: storage '${storage.key}' of tensor '${key}' should hold ${storage.numel} ${storage.dtype} elements (${storageBytes} bytes) but '${name}' has ${zipEntry.size} bytes`);
  }
  const where = `${path}: tensor '${key}' (offset ${ref.storageOffset}, shape [${ref.shape.join(', ')}], stride [${ref.stride.join(', ')}])`;
  const numel = ref.shape.reduce((a, d) => a * BigInt(d), 1n);
  // A view may repeat elements (stride 0, from expand) but not need much more memory than its storage.
  if (numel * BigInt(size) > BigInt(Math.max(storageBytes * MAX_VIEW_GROWTH, MIN_VIEW_ALLOWANCE))) {
    throw new Error(`${where} has ${numel} elements, far more than its storage of ${storage.numel} holds; refusing (a hostile or corrupt view)`);
  }
  const span = viewSpan(ref.shape, ref.stride);
  if (span > 0 && ref.storageOffset + span > storage.numel) {
    throw new Error(`${where} reaches past the end of its storage of ${storage.numel} elements`);
  }
  const entry: TensorEntry = { key, dtype: storage.dtype, shape: [...ref.shape] };
  if (zipEntry.method === ZIP_STORED && isContiguous(ref.shape, ref.stride)) {
    entry.extent = { path, offset: zipEntry.dataOffset + ref.storageOffset * size, length: Number(numel) * size };
  }
  return { entry, ref, storage: zipEntry };
}
