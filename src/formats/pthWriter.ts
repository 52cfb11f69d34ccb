/**
 * Writes a state dict as `torch.save` does (the zip format of torch >= 1.6): `archive/data.pkl` is a
 * protocol-2 pickle of an OrderedDict whose values are `_rebuild_tensor_v2` calls on persistent storage
 * references, each tensor in its own storage `archive/data/<i>`, stored uncompressed and 64-byte aligned.
 * Only globals on torch's own `weights_only` allow-list are used, so `torch.load(..., weights_only=True)`
 * accepts the file.
 */
import { collectItems, itemBytes, type TensorItems } from './tensorItem.js';
import { shapeSize, stridesOf } from '../core/tensor.js';
import { PickleBuilder } from './pickleWriter.js';
import { STORAGE_DTYPES } from './torchPickle.js';
import { writeZip, type ZipWriterOptions } from './zipWriter.js';
import type { StorageDType } from './types.js';

const STORAGE_CLASS = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([cls, dtype]) => [dtype, cls])) as Record<StorageDType, string>;

export async function writePth(path: string, tensors: TensorItems, options: ZipWriterOptions & { archive?: string } = {}): Promise<void> {
  const items = await collectItems(tensors, path);
  const archive = options.archive ?? 'archive';
  const p = new PickleBuilder().proto(2);
  p.global('collections', 'OrderedDict').emptyTuple().reduce();
  p.mark();
  items.forEach((item, i) => {
    p.str(item.key);
    p.global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', STORAGE_CLASS[item.dtype]).str(String(i)).str('cpu').int(shapeSize(item.shape)).tuple().binPersId();
    p.int(0).intTuple(item.shape).intTuple(stridesOf(item.shape)).bool(false);
    p.global('collections', 'OrderedDict').emptyTuple().reduce();
    p.tuple().reduce();
  });
  p.setItems().stop();

  await writeZip(
    path,
    async (zip) => {
      await zip.add(`${archive}/data.pkl`, p.bytes());
      await zip.add(`${archive}/byteorder`, Buffer.from('little'));
      for (let i = 0; i < items.length; i++) await zip.add(`${archive}/data/${i}`, await itemBytes(items[i]!, path));
      await zip.add(`${archive}/version`, Buffer.from('3\n'));
    },
    options,
  );
}
