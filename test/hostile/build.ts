/** Byte-level builders for hostile inputs: pickles, zip archives (every field under control), safetensors. */
import { deflateRawSync } from 'node:zlib';
import { crc32 } from '../../src/core/crc32.js';

export const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, EMPTY_DICT: 0x7d, EMPTY_LIST: 0x5d, EMPTY_TUPLE: 0x29, APPEND: 0x61, APPENDS: 0x65,
  SETITEM: 0x73, SETITEMS: 0x75, BINPUT: 0x71, BINGET: 0x68, LONG_BINPUT: 0x72, LONG_BINGET: 0x6a, TUPLE: 0x74, TUPLE1: 0x85,
  TUPLE2: 0x86, TUPLE3: 0x87, LIST: 0x6c, NONE: 0x4e, NEWFALSE: 0x89, BININT: 0x4a, BININT1: 0x4b, LONG1: 0x8a, LONG4: 0x8b,
  BINUNICODE: 0x58, SHORT_BINUNICODE: 0x8c, GLOBAL: 0x63, STACK_GLOBAL: 0x93, REDUCE: 0x52, BUILD: 0x62, BINPERSID: 0x51, POP: 0x30,
} as const;

/** Concatenates opcodes (numbers), raw strings (latin1) and byte arrays. */
export function bytes(...parts: (number | string | Uint8Array)[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return b.length < 256 ? bytes(OP.SHORT_BINUNICODE, b.length, b) : bytes(OP.BINUNICODE, u32(b.length), b);
}

export function int(n: number): Buffer {
  if (n >= 0 && n < 256) return bytes(OP.BININT1, n);
  if (n >= -(2 ** 31) && n < 2 ** 31) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return bytes(OP.BININT, b);
  }
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return bytes(OP.LONG1, 8, b);
}

export function intTuple(values: readonly number[]): Buffer {
  return bytes(OP.MARK, ...values.map(int), OP.TUPLE);
}

export function global(module: string, name: string): Buffer {
  return bytes(OP.GLOBAL, `${module}\n${name}\n`);
}

export interface TensorSpec {
  key: string;
  storageKey: string;
  storageClass?: string;
  numel: number;
  offset?: number;
  shape: readonly number[];
  stride: readonly number[];
}

/** A torch.save-style pickle body for one tensor value: `_rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict())`. */
export function tensorPickle(t: TensorSpec): Buffer {
  return bytes(
    global('torch._utils', '_rebuild_tensor_v2'),
    OP.MARK,
    OP.MARK, str('storage'), global('torch', t.storageClass ?? 'FloatStorage'), str(t.storageKey), str('cpu'), int(t.numel), OP.TUPLE, OP.BINPERSID,
    int(t.offset ?? 0), intTuple(t.shape), intTuple(t.stride), OP.NEWFALSE,
    global('collections', 'OrderedDict'), OP.EMPTY_TUPLE, OP.REDUCE,
    OP.TUPLE, OP.REDUCE,
  );
}

/** A protocol-2 pickle of `{key: tensor, …}`. */
export function stateDictPickle(tensors: readonly TensorSpec[]): Buffer {
  return bytes(OP.PROTO, 2, OP.EMPTY_DICT, OP.MARK, ...tensors.flatMap((t) => [str(t.key), tensorPickle(t)]), OP.SETITEMS, OP.STOP);
}

/** Wraps a pickle body (without PROTO/STOP) into a full pickle. */
export function pickle(...body: (number | string | Uint8Array)[]): Buffer {
  return bytes(OP.PROTO, 2, ...body, OP.STOP);
}

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  /** 0 stored (default), 8 deflated (data is compressed here), anything else written as is. */
  method?: number;
  /** Overrides: the CRC, sizes, flags written in the headers. */
  crc?: number;
  size?: number;
  compressedSize?: number;
  flags?: number;
  /** Raw extra field of the central record. */
  centralExtra?: Uint8Array;
  /** Central record points at another entry's local header (index), for overlap tests. */
  sameLocalAs?: number;
}

export interface ZipOverrides {
  /** EOCD entry count (default: the real one). */
  count?: number;
  cdOffset?: number;
  cdSize?: number;
}

/** A zip archive with every header field under control. */
export function zip(entries: readonly ZipEntrySpec[], o: ZipOverrides = {}): Buffer {
  const locals: Buffer[] = [];
  const offsets: number[] = [];
  const payloads = entries.map((e) => (e.method === 8 ? deflateRawSync(e.data) : Buffer.from(e.data)));
  let at = 0;
  entries.forEach((e, i) => {
    const name = Buffer.from(e.name, 'utf8');
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(e.flags ?? 0, 6);
    h.writeUInt16LE(e.method ?? 0, 8);
    h.writeUInt32LE(e.crc ?? crc32(e.data), 14);
    h.writeUInt32LE(e.compressedSize ?? payloads[i]!.length, 18);
    h.writeUInt32LE(e.size ?? e.data.length, 22);
    h.writeUInt16LE(name.length, 26);
    h.writeUInt16LE(0, 28);
    offsets.push(at);
    const rec = Buffer.concat([h, name, payloads[i]!]);
    locals.push(rec);
    at += rec.length;
  });
  const central: Buffer[] = [];
  entries.forEach((e, i) => {
    const name = Buffer.from(e.name, 'utf8');
    const extra = Buffer.from(e.centralExtra ?? new Uint8Array());
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(e.flags ?? 0, 8);
    c.writeUInt16LE(e.method ?? 0, 10);
    c.writeUInt32LE(e.crc ?? crc32(e.data), 16);
    c.writeUInt32LE(e.compressedSize ?? payloads[i]!.length, 20);
    c.writeUInt32LE(e.size ?? e.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(extra.length, 30);
    c.writeUInt32LE(offsets[e.sameLocalAs ?? i]!, 42);
    central.push(Buffer.concat([c, name, extra]));
  });
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(o.count ?? entries.length, 8);
  eocd.writeUInt16LE(o.count ?? entries.length, 10);
  eocd.writeUInt32LE(o.cdSize ?? cd.length, 12);
  eocd.writeUInt32LE(o.cdOffset ?? at, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

/** A torch.save archive: data.pkl, version and the given storages (name → bytes). */
export function pthArchive(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}, extra: ZipEntrySpec[] = []): Buffer {
  return zip([
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/version', data: Buffer.from('3\n') },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    ...extra,
  ]);
}

/** A safetensors file from a header value (anything JSON-able, or raw header text) and a data section. */
export function safetensors(header: unknown, data: Uint8Array = new Uint8Array(), declaredLength?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  return Buffer.concat([len, json, Buffer.from(data)]);
}

export function floats(n: number): Buffer {
  const b = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) b.writeFloatLE(i / 7, 4 * i);
  return b;
}
