/**
 * The input of the weight writers: one tensor described by key, stored dtype and shape, with its data either
 * at hand or behind a thunk. Writers need every shape before the first byte (headers come first), so they
 * take the descriptions in one pass and call each thunk only when that tensor's bytes are due: pass thunks
 * to write a checkpoint larger than memory.
 */
import { BYTES_PER_ELEMENT, type StorageDType, type WeightSource } from './types.js';
import { floatToBf16, floatToHalf } from '../core/dtype.js';
import { shapeSize } from '../core/tensor.js';

/** Raw little-endian bytes in the stored dtype, or float32 values to be converted to it. */
export type TensorData = Uint8Array | Float32Array;

export interface TensorItem {
  key: string;
  dtype: StorageDType;
  shape: readonly number[];
  data: TensorData | (() => TensorData | Promise<TensorData>);
}

export type TensorItems = Iterable<TensorItem> | AsyncIterable<TensorItem>;

/** Reads the descriptions (not the data) and rejects duplicate keys and bad shapes before anything is written. */
export async function collectItems(items: TensorItems, what: string): Promise<TensorItem[]> {
  const out: TensorItem[] = [];
  const seen = new Set<string>();
  for await (const item of items as AsyncIterable<TensorItem>) {
    if (seen.has(item.key)) throw new Error(`${what}: tensor '${item.key}' is given twice`);
    if (!(item.dtype in BYTES_PER_ELEMENT)) throw new Error(`${what}: tensor '${item.key}' has unsupported dtype '${item.dtype}'`);
    if (item.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new Error(`${what}: tensor '${item.key}' has an invalid shape [${item.shape.join(', ')}]`);
    }
    seen.add(item.key);
    out.push(item);
  }
  return out;
}

export function byteLengthOf(item: TensorItem): number {
  return shapeSize(item.shape) * BYTES_PER_ELEMENT[item.dtype];
}

/** The item's bytes in its stored dtype, checked against its shape. */
export async function itemBytes(item: TensorItem, what: string): Promise<Uint8Array> {
  const data = typeof item.data === 'function' ? await item.data() : item.data;
  const numel = shapeSize(item.shape);
  if (data instanceof Float32Array) {
    if (data.length !== numel) {
      throw new Error(`${what}: tensor '${item.key}' has ${data.length} values but shape [${item.shape.join(', ')}] needs ${numel}`);
    }
    return encodeFloat32(data, item.dtype, `${what}: tensor '${item.key}'`);
  }
  const expected = numel * BYTES_PER_ELEMENT[item.dtype];
  if (data.byteLength !== expected) {
    throw new Error(`${what}: tensor '${item.key}' ${item.dtype}[${item.shape.join(', ')}] needs ${expected} bytes but ${data.byteLength} were given`);
  }
  return data;
}

/** float32 → stored dtype with PyTorch's rounding (nearest-even); integers must already be whole. */
export function encodeFloat32(values: Float32Array, dtype: StorageDType, what: string): Uint8Array {
  const out = new Uint8Array(values.length * BYTES_PER_ELEMENT[dtype]);
  const view = new DataView(out.buffer);
  const whole = (v: number, i: number): number => {
    if (!Number.isInteger(v)) throw new Error(`${what}: value ${v} at index ${i} is not an integer, so it cannot be stored as ${dtype}`);
    return v;
  };
  switch (dtype) {
    case 'F32':
      out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      break;
    case 'F64':
      values.forEach((v, i) => view.setFloat64(i * 8, v, true));
      break;
    case 'F16':
      values.forEach((v, i) => view.setUint16(i * 2, floatToHalf(v), true));
      break;
    case 'BF16':
      values.forEach((v, i) => view.setUint16(i * 2, floatToBf16(v), true));
      break;
    case 'I64':
      values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(whole(v, i)), true));
      break;
    case 'I32':
      values.forEach((v, i) => view.setInt32(i * 4, whole(v, i), true));
      break;
    case 'I16':
      values.forEach((v, i) => view.setInt16(i * 2, whole(v, i), true));
      break;
    case 'I8':
      values.forEach((v, i) => view.setInt8(i, whole(v, i)));
      break;
    case 'U8':
      values.forEach((v, i) => view.setUint8(i, whole(v, i)));
      break;
    case 'BOOL':
      values.forEach((v, i) => view.setUint8(i, v ? 1 : 0));
      break;
  }
  return out;
}

/** Every tensor of a source as lazy items, so that converting a checkpoint holds one tensor at a time. */
export function sourceItems(source: WeightSource, keys: readonly string[] = source.keys()): TensorItem[] {
  return keys.map((key) => {
    const e = source.entry(key);
    if (!e) throw new Error(`${source.path}: no tensor named '${key}'`);
    return { key, dtype: e.dtype, shape: e.shape, data: () => source.readRaw(key) };
  });
}
