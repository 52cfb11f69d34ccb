/**
 * `torch.save` of a nested Python object — what training checkpoints are (`{"model": state_dict,
 * "optimizer": optimizer.state_dict(), "iteration": n}`), beyond the flat state dicts of `writePth`.
 * The zip layout is the same as `writePth` (archive/data.pkl, one storage per tensor, uncompressed,
 * 64-byte aligned); the pickle uses only dict, list, tuple, int, float, bool, None, str, OrderedDict and
 * `_rebuild_tensor_v2` (torch 2.x loads it with `weights_only=True`; 1.13's weights-only unpickler lacks BINFLOAT,
 * so optimizer states — torch.save's own included — need the default `torch.load` there).
 */
import { shapeSize, stridesOf } from '../core/tensor.js';
import { PickleBuilder } from './pickleWriter.js';
import { itemBytes, type TensorItem } from './tensorItem.js';
import { STORAGE_DTYPES } from './torchPickle.js';
import { BYTES_PER_ELEMENT, type StorageDType } from './types.js';
import { writeZip, type ZipWriterOptions } from './zipWriter.js';

const STORAGE_CLASS = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([cls, dtype]) => [dtype, cls])) as Record<StorageDType, string>;

/** A Python float (JS numbers that are integers are written as Python ints otherwise). */
export class PyFloat {
  constructor(readonly value: number) {}
}
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
/** A dict with its keys in order; `ordered` writes a collections.OrderedDict (what state_dict() returns). */
export class PyDict {
  constructor(
    readonly entries: readonly (readonly [string | number, PyValue])[],
    readonly ordered = false,
  ) {}
}
export type PyValue = null | boolean | number | string | PyFloat | PyTuple | PyDict | readonly PyValue[] | TensorItem;

export const pyFloat = (v: number): PyFloat => new PyFloat(v);

function isTensorItem(v: unknown): v is TensorItem {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v;
}

export async function writeTorchSave(path: string, tree: PyValue, options: ZipWriterOptions & { archive?: string } = {}): Promise<void> {
  const archive = options.archive ?? 'archive';
  const tensors: TensorItem[] = [];
  const p = new PickleBuilder().proto(2);
  const emit = (v: PyValue, where: string): void => {
    if (v === null) p.none();
    else if (typeof v === 'boolean') p.bool(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) p.int(v);
      else p.float(v);
    } else if (typeof v === 'string') p.str(v);
    else if (v instanceof PyFloat) p.float(v.value);
    else if (v instanceof PyTuple) {
      p.mark();
      v.items.forEach((x, i) => emit(x, `${where}[${i}]`));
      p.tuple();
    } else if (v instanceof PyDict) {
      if (v.ordered) p.global('collections', 'OrderedDict').emptyTuple().reduce();
      else p.emptyDict();
      if (v.entries.length > 0) {
        p.mark();
        for (const [k, x] of v.entries) {
          if (typeof k === 'number') p.int(k);
          else p.str(k);
          emit(x, `${where}.${k}`);
        }
        p.setItems();
      }
    } else if (Array.isArray(v)) {
      p.emptyList();
      if (v.length > 0) {
        p.mark();
        v.forEach((x, i) => emit(x, `${where}[${i}]`));
        p.appends();
      }
    } else if (isTensorItem(v)) {
      if (!(v.dtype in BYTES_PER_ELEMENT)) throw new Error(`${path}: tensor at ${where} has unsupported dtype '${v.dtype}'`);
      const i = tensors.length;
      tensors.push({ ...v, key: v.key || where });
      p.global('torch._utils', '_rebuild_tensor_v2').mark();
      p.mark().str('storage').global('torch', STORAGE_CLASS[v.dtype]).str(String(i)).str('cpu').int(shapeSize(v.shape)).tuple().binPersId();
      p.int(0).intTuple(v.shape).intTuple(stridesOf(v.shape)).bool(false);
      p.global('collections', 'OrderedDict').emptyTuple().reduce();
      p.tuple().reduce();
    } else {
      throw new Error(`${path}: cannot pickle the value at ${where}`);
    }
  };
  emit(tree, 'root');
  p.stop();
  await writeZip(
    path,
    async (zip) => {
      await zip.add(`${archive}/data.pkl`, p.bytes());
      await zip.add(`${archive}/byteorder`, Buffer.from('little'));
      for (let i = 0; i < tensors.length; i++) await zip.add(`${archive}/data/${i}`, await itemBytes(tensors[i]!, path));
      await zip.add(`${archive}/version`, Buffer.from('3\n'));
    },
    options,
  );
}
