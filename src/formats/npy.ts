/** NumPy's `.npy` format v1.0 for float32 arrays (what `np.load` reads). */

/** Magic, version, header length (u16), a Python dict literal padded to a multiple of 64 bytes. */
export function npyHeader(shape: readonly number[], totalLength?: number): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const minimal = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const total = totalLength ?? minimal;
  if (total < 10 + dict.length + 1 || total % 64 !== 0 || total - 10 > 0xffff) throw new Error(`npy header does not fit in ${total} bytes`);
  const out = new Uint8Array(total).fill(0x20);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, total - 10, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  out[total - 1] = 0x0a;
  return out;
}

/** A whole `.npy` file holding float32 `values` of `shape`. */
export function encodeNpy(values: Float32Array, shape: readonly number[]): Uint8Array {
  const header = npyHeader(shape);
  const out = new Uint8Array(header.length + values.byteLength);
  out.set(header);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), header.length);
  return out;
}
