/**
 * The torch.save dialect of pickle: the allow-list of globals a state dict may name, and what each means.
 * Nothing is executed: tensors become `TorchTensorRef` descriptions pointing into the archive.
 *
 * Allowed, and why:
 * - `collections.OrderedDict`: `Module.state_dict()` returns one (an empty Map here; its BUILD state is the
 *   `_metadata` of module versions, which carries no weights and is dropped).
 * - `torch._utils._rebuild_tensor_v2`: how every tensor is pickled.
 * - `torch._utils._rebuild_parameter`, `_rebuild_parameter_with_state`: `nn.Parameter`s (saved with
 *   `keep_vars=True` or as bare parameters) wrap a tensor; the wrapper is dropped.
 * - `torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage`: inert dtype tags inside
 *   storage persistent ids; never called.
 * - `_codecs.encode`: protocol 2 has no bytes opcode, so Python 3 pickles `bytes` as
 *   `_codecs.encode(str, 'latin1')`; only that encoding is accepted and the result is bytes.
 * Everything else (`torch.Size`, sets, numpy arrays and scalars, arbitrary classes) is refused: none is needed
 * for weights, and any of them widens what a hostile file could make the loader do.
 */
import { PickleGlobal, type PickleHooks } from './unpickle.js';
import { short } from '../core/text.js';
import type { StorageDType } from './types.js';

export interface TorchStorageRef {
  readonly kind: 'storage';
  readonly dtype: StorageDType;
  /** Entry name under `<archive>/data/`. */
  readonly key: string;
  readonly location: string;
  /** Elements in the storage. */
  readonly numel: number;
}

export interface TorchTensorRef {
  readonly kind: 'tensor';
  readonly storage: TorchStorageRef;
  /** In elements. */
  readonly storageOffset: number;
  readonly shape: readonly number[];
  /** In elements. */
  readonly stride: readonly number[];
  /** Set when the size, stride or offset are unusable; the reader refuses the tensor naming its key. */
  readonly invalid?: string;
}

export function isTensorRef(v: unknown): v is TorchTensorRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'tensor';
}

export const STORAGE_DTYPES: Record<string, StorageDType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

class StorageType extends PickleGlobal {
  constructor(
    qualname: string,
    readonly dtype: StorageDType,
  ) {
    super(qualname);
  }
}


const isIntList = (v: unknown): v is readonly number[] =>
  Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);

export function torchHooks(label: string): PickleHooks {
  const bad = (why: string): never => {
    throw new Error(`${label}: cannot read the pickle: ${why}`);
  };
  const rebuildTensor = (args: readonly unknown[]): TorchTensorRef => {
    const [storage, storageOffset, shape, stride] = args;
    if (typeof storage !== 'object' || storage === null || (storage as TorchStorageRef).kind !== 'storage') {
      bad('_rebuild_tensor_v2 without a storage');
    }
    // Bad numbers are recorded, not thrown: only the reader knows the tensor's key, which the message needs.
    let invalid: string | undefined;
    if (typeof storageOffset !== 'number' || !Number.isSafeInteger(storageOffset) || storageOffset < 0) invalid = 'a bad storage offset';
    else if (!isIntList(shape) || !isIntList(stride) || shape.length !== stride.length) invalid = 'a bad size or stride (non-negative integers of equal rank expected)';
    return {
      kind: 'tensor',
      storage: storage as TorchStorageRef,
      storageOffset: invalid ? 0 : (storageOffset as number),
      shape: invalid ? [] : [...(shape as number[])],
      stride: invalid ? [] : [...(stride as number[])],
      ...(invalid ? { invalid } : {}),
    };
  };
  const unwrapParameter = (args: readonly unknown[]): unknown => {
    if (!isTensorRef(args[0])) bad('_rebuild_parameter of something that is not a tensor');
    return args[0];
  };
  const allowed = new Map<string, PickleGlobal>([
    ['collections.OrderedDict', new PickleGlobal('collections.OrderedDict', (args) => {
      if (args.length) bad('OrderedDict called with arguments');
      return new Map();
    })],
    ['torch._utils._rebuild_tensor_v2', new PickleGlobal('torch._utils._rebuild_tensor_v2', rebuildTensor)],
    ['torch._utils._rebuild_parameter', new PickleGlobal('torch._utils._rebuild_parameter', unwrapParameter)],
    ['torch._utils._rebuild_parameter_with_state', new PickleGlobal('torch._utils._rebuild_parameter_with_state', unwrapParameter)],
    ['_codecs.encode', new PickleGlobal('_codecs.encode', (args) => {
      const [text, encoding] = args;
      if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) bad('_codecs.encode is only accepted for latin1 bytes');
      return new Uint8Array(Buffer.from(text as string, 'latin1'));
    })],
  ]);
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) allowed.set(`torch.${name}`, new StorageType(`torch.${name}`, dtype));

  return {
    global(module, name) {
      const qualname = `${module}.${name}`;
      const g = allowed.get(qualname);
      if (!g) throw new Error(`${label}: refusing to load: the pickle references '${short(qualname)}', which is not allowed in a state dict`);
      return g;
    },
    persistentLoad(pid) {
      if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length !== 5) {
        // Described, not printed: the id is file content and may be huge or nested without bound.
        const what = Array.isArray(pid) ? `a ${pid.length}-item tuple${typeof pid[0] === 'string' ? ` tagged '${short(pid[0])}'` : ''}` : typeof pid;
        return bad(`unknown persistent id (${what}; expected ('storage', type, key, location, numel))`);
      }
      const [, type, key, location, numel] = pid as unknown[];
      if (!(type instanceof StorageType)) return bad('storage reference without a storage type');
      if (typeof key !== 'string' || key.length > 256 || !/^[A-Za-z0-9_.-]+$/.test(key)) return bad(`bad storage key${typeof key === 'string' ? ` '${short(key)}'` : ''}`);
      if (typeof location !== 'string') return bad(`storage '${key}' has a location that is not a string`);
      if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return bad(`bad storage size for storage '${key}'`);
      const ref: TorchStorageRef = { kind: 'storage', dtype: type.dtype, key, location: short(location), numel };
      return ref;
    },
    build(obj, state) {
      // OrderedDict state is module-version `_metadata`; a parameter's state is its Python attributes.
      if (obj instanceof Map || isTensorRef(obj)) return obj;
      return bad('BUILD on an object that is neither a dict nor a tensor');
    },
  };
}
