/**
 * GraphIR → ONNX ModelProto bytes, in memory: the encoding shared by Node (graph/onnx.ts writes the model
 * and its external data to files) and the browser (src/web hands the bytes to onnxruntime-web). No I/O here.
 */
import { ProtoWriter } from './protobuf.js';
import { shapeSize } from '../core/tensor.js';
import { DTYPE_BYTES, ONNX_DTYPE, type DType } from '../core/dtype.js';
import { type AttrValue, type GraphIR, type Initializer, type ValueInfo } from './ir.js';

const IR_VERSION = 8;
export const PAGE = 4096;

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

export type TensorPayload = { raw: Uint8Array } | { location: string; offset: number; length: number };

export function tensorProto(name: string, dtype: DType, dims: readonly number[], payload: TensorPayload): ProtoWriter {
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

export function byteLength(init: Initializer): number {
  return shapeSize(init.shape) * DTYPE_BYTES[init.dtype];
}

export function encodeModel(ir: GraphIR, initializers: ProtoWriter[], producer: string): Uint8Array {
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

export async function checkedBytes(init: Initializer): Promise<Uint8Array> {
  const bytes = await init.source.bytes();
  if (bytes.length !== byteLength(init)) {
    throw new Error(`initializer '${init.name}': got ${bytes.length} bytes, ${init.dtype}[${init.shape.join(', ')}] needs ${byteLength(init)}`);
  }
  return bytes;
}

/** A model whose large initializers live in one external-data buffer (onnxruntime-web's `externalData`). */
export interface InMemoryOnnx {
  model: Uint8Array;
  /** The external-data file the model refers to by `location`, as parts to concatenate (empty: none). */
  external: { location: string; parts: Uint8Array[]; byteLength: number };
}

/**
 * Encodes a graph in memory. Initializers of at least `externalThreshold` bytes (default: Infinity, all
 * inline) go to one external-data buffer named `location`, page-aligned as writeOnnx lays them out; that is
 * how a model over protobuf's 2 GB limit is handed to onnxruntime-web (`externalData: [{ path, data }]`).
 * Tensors are produced one at a time; the parts are the producers' own arrays, not copies.
 */
export async function encodeOnnxInMemory(
  ir: GraphIR,
  options: { externalThreshold?: number; location?: string; producer?: string } = {},
): Promise<InMemoryOnnx> {
  const threshold = options.externalThreshold ?? Infinity;
  const location = options.location ?? `${ir.name}.onnx.data`;
  const inits: ProtoWriter[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const init of ir.initializers) {
    const bytes = await checkedBytes(init);
    if (bytes.length < threshold) {
      inits.push(tensorProto(init.name, init.dtype, init.shape, { raw: bytes }));
      continue;
    }
    const aligned = Math.ceil(offset / PAGE) * PAGE;
    if (aligned > offset) parts.push(new Uint8Array(aligned - offset));
    parts.push(bytes);
    inits.push(tensorProto(init.name, init.dtype, init.shape, { location, offset: aligned, length: bytes.length }));
    offset = aligned + bytes.length;
  }
  return { model: encodeModel(ir, inits, options.producer ?? 'dinov2-ts'), external: { location, parts, byteLength: offset } };
}
