/**
 * GraphIR → ONNX ModelProto. Small tensors go inline; large ones go to external data so that models over
 * the 2 GB protobuf limit (ViT-g/14 in fp32 is 4.5 GB) work and so that no second copy of the weights is
 * built in memory: tensors are streamed one by one into `<name>.onnx.data` at page-aligned offsets (which
 * lets onnxruntime map them), or, when a checkpoint already holds the exact bytes, referenced in place.
 */
import { open, mkdir, link as hardLink, realpath, writeFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ProtoWriter } from './protobuf.js';
import { writeFully } from '../core/fileio.js';
import { shapeSize } from '../core/tensor.js';
import type { DType } from '../core/dtype.js';
import { ELEM_BYTES, ONNX_DTYPE, type AttrValue, type GraphIR, type Initializer, type ValueInfo } from './ir.js';

const IR_VERSION = 8;
const PAGE = 4096;

function valueInfo(v: ValueInfo): ProtoWriter {
  const dims = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.int(1, d);
    else dim.string(2, d);
    dims.message(1, dim);
  }
  const tensorType = new ProtoWriter();
  tensorType.int(1, ONNX_DTYPE[v.dtype]);
  tensorType.message(2, dims);
  const type = new ProtoWriter();
  type.message(1, tensorType);
  const info = new ProtoWriter();
  info.string(1, v.name);
  info.message(2, type);
  return info;
}

function attribute(name: string, value: AttrValue): ProtoWriter {
  const a = new ProtoWriter();
  a.string(1, name);
  if (typeof value === 'number') {
    a.int(3, value);
    a.int(20, 2);
  } else if (typeof value === 'string') {
    a.string(4, value);
    a.int(20, 3);
  } else if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') {
      for (const s of value as string[]) a.string(9, s);
      a.int(20, 8);
    } else {
      a.packedInts(8, value as number[]);
      a.int(20, 7);
    }
  } else if ('float' in (value as object)) {
    a.float(2, (value as { float: number }).float);
    a.int(20, 1);
  } else if ('floats' in (value as object)) {
    a.packedFloats(7, (value as { floats: number[] }).floats);
    a.int(20, 6);
  } else {
    const t = (value as { tensor: { dtype: DType; dims: number[]; data: Uint8Array } }).tensor;
    a.message(5, tensorProto('', t.dtype, t.dims, { raw: t.data }));
    a.int(20, 4);
  }
  return a;
}

type TensorPayload = { raw: Uint8Array } | { location: string; offset: number; length: number };

function tensorProto(name: string, dtype: DType, dims: readonly number[], payload: TensorPayload): ProtoWriter {
  const t = new ProtoWriter();
  for (const d of dims) t.int(1, d);
  t.int(2, ONNX_DTYPE[dtype]);
  if (name) t.string(8, name);
  if ('raw' in payload) {
    t.bytes(9, payload.raw);
  } else {
    const kv = (k: string, v: string): ProtoWriter => {
      const e = new ProtoWriter();
      e.string(1, k);
      e.string(2, v);
      return e;
    };
    t.message(13, kv('location', payload.location));
    t.message(13, kv('offset', String(payload.offset)));
    t.message(13, kv('length', String(payload.length)));
    t.int(14, 1);
  }
  return t;
}

function byteLength(init: Initializer): number {
  return shapeSize(init.shape) * ELEM_BYTES[init.dtype];
}

export interface WriteOnnxOptions {
  /** Tensors at least this large go to external data (default 1 KiB). Infinity keeps everything inline. */
  externalThreshold?: number;
  /** Reference checkpoint bytes in place (through a symlink beside the model) when an initializer allows it. */
  linkExtents?: boolean;
  producer?: string;
}

function encodeModel(ir: GraphIR, initializers: ProtoWriter[], producer: string): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of ir.nodes) {
    const node = new ProtoWriter();
    for (const i of n.inputs) node.string(1, i);
    for (const o of n.outputs) node.string(2, o);
    node.string(3, n.name);
    node.string(4, n.op);
    for (const [k, v] of Object.entries(n.attrs)) node.message(5, attribute(k, v));
    if (n.domain) node.string(7, n.domain);
    graph.message(1, node);
  }
  graph.string(2, ir.name);
  for (const t of initializers) graph.message(5, t);
  for (const i of ir.inputs) graph.message(11, valueInfo(i));
  for (const o of ir.outputs) graph.message(12, valueInfo(o));

  const model = new ProtoWriter();
  model.int(1, IR_VERSION);
  model.string(2, producer);
  model.message(7, graph);
  for (const [domain, version] of Object.entries(ir.opsets)) {
    const op = new ProtoWriter();
    if (domain) op.string(1, domain);
    op.int(2, version);
    model.message(8, op);
  }
  return model.finish();
}

/** Encodes a graph with every initializer inline (for small graphs: constants, tests, heads). */
export async function encodeOnnx(ir: GraphIR, producer = 'dinov2-ts'): Promise<Uint8Array> {
  const inits: ProtoWriter[] = [];
  for (const init of ir.initializers) inits.push(tensorProto(init.name, init.dtype, init.shape, { raw: await checkedBytes(init) }));
  return encodeModel(ir, inits, producer);
}

async function checkedBytes(init: Initializer): Promise<Uint8Array> {
  const bytes = await init.source.bytes();
  if (bytes.length !== byteLength(init)) {
    throw new Error(`initializer '${init.name}': got ${bytes.length} bytes, ${init.dtype}[${init.shape.join(', ')}] needs ${byteLength(init)}`);
  }
  return bytes;
}

/**
 * onnxruntime only reads external data inside the model's folder and resolves symlinks before checking,
 * so a checkpoint is referenced through a hard link. Where that is impossible (another file system, no
 * permission) the caller copies the bytes instead.
 */
async function linkInto(dir: string, path: string, links: Map<string, string | null>): Promise<boolean> {
  if (links.has(path)) return links.get(path) !== null;
  const name = `ckpt${links.size}_${basename(path).replace(/[^A-Za-z0-9._-]/g, '_')}`;
  try {
    // Linux hard-links a symlink itself (not its target): a file in the Hugging Face cache, a relative
    // symlink into blobs/, would dangle in `dir`. Link the target.
    await hardLink(await realpath(path), join(dir, name));
    links.set(path, name);
    return true;
  } catch {
    links.set(path, null);
    return false;
  }
}

/**
 * Writes `dir/<name>.onnx` (+ `<name>.onnx.data` and links to checkpoints as needed) and returns the model
 * path. Tensors are produced and written one at a time.
 */
export async function writeOnnx(ir: GraphIR, dir: string, name: string, options: WriteOnnxOptions = {}): Promise<string> {
  const threshold = options.externalThreshold ?? 1024;
  await mkdir(dir, { recursive: true });
  const dataName = `${name}.onnx.data`;
  const dataPath = join(dir, dataName);
  const links = new Map<string, string | null>();
  const inits: ProtoWriter[] = [];
  const handle = await open(dataPath, 'w');
  let offset = 0;
  try {
    for (const init of ir.initializers) {
      const length = byteLength(init);
      const extent = init.source.extent;
      if (length < threshold) {
        inits.push(tensorProto(init.name, init.dtype, init.shape, { raw: await checkedBytes(init) }));
      } else if (options.linkExtents && extent && extent.length === length && (await linkInto(dir, extent.path, links))) {
        const link = links.get(extent.path)!;
        inits.push(tensorProto(init.name, init.dtype, init.shape, { location: link, offset: extent.offset, length }));
      } else {
        const bytes = await checkedBytes(init);
        offset = Math.ceil(offset / PAGE) * PAGE;
        await writeFully(handle, bytes, offset);
        inits.push(tensorProto(init.name, init.dtype, init.shape, { location: dataName, offset, length }));
        offset += length;
      }
    }
  } finally {
    await handle.close();
  }
  if (offset === 0) await rm(dataPath, { force: true });
  const modelPath = join(dir, `${name}.onnx`);
  await writeFile(modelPath, encodeModel(ir, inits, options.producer ?? 'dinov2-ts'));
  return modelPath;
}
