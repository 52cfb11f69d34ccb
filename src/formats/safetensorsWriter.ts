/**
 * Writes safetensors streaming, one tensor in memory at a time: the header (all shapes, hence all offsets)
 * goes first, then each tensor's bytes in the order given.
 *
 * Tensors are laid out and listed in insertion order. The Python library sorts them (by alignment, then
 * name); readers must not rely on either order, and keeping the caller's order lets a converted checkpoint
 * mirror its source. The header is padded with spaces to a multiple of 8 bytes (the format allows trailing
 * whitespace in the JSON) so that every tensor's data starts 8-byte aligned for memory-mapping readers.
 */
import { byteLengthOf, collectItems, itemBytes, type TensorItems } from './tensorItem.js';
import { writeAtomically, writeFully } from '../core/fileio.js';

export async function writeSafetensors(path: string, tensors: TensorItems, metadata?: Record<string, string>): Promise<void> {
  const items = await collectItems(tensors, path);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`${path}: safetensors metadata values must be strings, '${k}' is ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const item of items) {
    if (item.key === '__metadata__') throw new Error(`${path}: '__metadata__' is reserved and cannot name a tensor`);
    const length = byteLengthOf(item);
    header[item.key] = { dtype: item.dtype, shape: [...item.shape], data_offsets: [offset, offset + length] };
    offset += length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const headerBytes = Buffer.alloc(8 + padded, 0x20);
  headerBytes.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(headerBytes, 8);

  await writeAtomically(path, async (handle) => {
    await writeFully(handle, headerBytes);
    for (const item of items) await writeFully(handle, await itemBytes(item, path));
  });
}
