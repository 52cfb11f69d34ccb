/**
 * The hostile-input corpus, generated into a temporary folder (nothing large is committed). Each case says
 * what to run on it (`op`) and what must come out: an error matching `expect` whose message names `names`
 * (the file, or the file and the key), or 'ok' (a correct result).
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { CONFORMANCE_DIR } from '../helpers.js';
import { bytes, floats, global, int, OP, pickle, pthArchive, safetensors, stateDictPickle, str, tensorPickle, u32, zip, type TensorSpec } from './build.js';

export type Op = 'weights' | 'load' | 'inputs' | 'image' | 'download';

export interface Case {
  id: string;
  cls: string;
  op: Op;
  path: string;
  /** Regular expression source the error must match, or 'ok'. */
  expect: string;
  /** Strings the error message must contain (default: [path]). */
  names?: string[];
  /** Strings the message must not contain (file contents). */
  secret?: string;
  /** op 'inputs': the number of files expected. op 'download': the scenario. */
  count?: number;
  scenario?: string;
}

const TINY_PTH = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.pth');
const TINY_HF = join(CONFORMANCE_DIR, 'models', 'tiny-mlp-hf');

export async function generateCases(root: string): Promise<Case[]> {
  const cases: Case[] = [];
  const dirs = ['pickle', 'zip', 'view', 'safetensors', 'hf', 'inputs', 'image', 'download'];
  for (const d of dirs) await mkdir(join(root, d), { recursive: true });
  const file = async (cls: string, name: string, content: Uint8Array | string, c: Omit<Case, 'id' | 'cls' | 'path'>): Promise<void> => {
    const path = join(root, cls, name);
    await writeFile(path, content);
    cases.push({ id: `${cls}/${name}`, cls, path, ...c });
  };

  // ---- pickles (inside a valid zip: only data.pkl is hostile) ----
  const pk = (name: string, pkl: Uint8Array, expect: string, extra: Partial<Case> = {}): Promise<void> =>
    file('pickle', `${name}.pth`, pthArchive(pkl), { op: 'weights', expect, ...extra });
  {
    // Billion laughs: 12 levels of lists each holding the previous 10 times, shared through the memo.
    const parts: (number | Uint8Array)[] = [OP.EMPTY_LIST, OP.BINPUT, 0, OP.POP];
    for (let level = 1; level <= 12; level++) {
      parts.push(OP.EMPTY_LIST, OP.MARK);
      for (let k = 0; k < 10; k++) parts.push(OP.BINGET, level - 1);
      parts.push(OP.APPENDS, OP.BINPUT, level);
      if (level < 12) parts.push(OP.POP);
    }
    const laughs = bytes(...parts);
    await pk('billion-laughs', pickle(OP.EMPTY_DICT, str('x'), laughs, OP.SETITEM), 'containers expand to more than');
    await pk('billion-laughs-root', pickle(laughs), 'containers expand to more than');
  }
  await pk('self-list', pickle(OP.EMPTY_DICT, str('x'), OP.EMPTY_LIST, OP.BINPUT, 1, OP.BINGET, 1, OP.APPEND, OP.SETITEM), 'deeper than 1000 levels|contains itself');
  await pk('self-dict', pickle(OP.EMPTY_DICT, OP.BINPUT, 0, str('me'), OP.BINGET, 0, OP.SETITEM), 'deeper than 1000 levels|contains itself');
  await pk('mutual-lists', pickle(OP.EMPTY_LIST, OP.BINPUT, 0, OP.EMPTY_LIST, OP.BINPUT, 1, OP.BINGET, 0, OP.APPEND, OP.APPEND, OP.POP, OP.EMPTY_DICT, str('a'), OP.BINGET, 0, OP.SETITEM), 'deeper than 1000 levels|contains itself');
  {
    const n = 1_000_000;
    const lists = Buffer.alloc(n, OP.EMPTY_LIST);
    const appends = Buffer.alloc(n - 1, OP.APPEND);
    await pk('deep-lists-1e6', pickle(lists, appends), 'deeper than 1000 levels|more than 100000 values on the stack');
    await pk('deep-tuples-1e6', pickle(OP.NONE, Buffer.alloc(n, OP.TUPLE1)), 'deeper than 1000 levels|more than 100000 values on the stack');
    const marks = Buffer.alloc(n, OP.MARK);
    const listOps = Buffer.alloc(n, OP.LIST);
    await pk('deep-marks-1e6', pickle(marks, listOps), 'deeper than 1000 levels|more than 100000 values on the stack');
    await pk('deep-dict-values', pickle(...Array.from({ length: 5000 }, () => bytes(OP.EMPTY_DICT, str('k'))), OP.NONE, Buffer.alloc(5000, OP.SETITEM)), 'deeper than 1000 levels|more than 100000 values on the stack');
  }
  const huge = Buffer.alloc(8 << 20, 0x7f);
  await pk('long4-8MiB', pickle(OP.LONG4, u32(huge.length), huge), 'integer of 8388608 bytes');
  await pk('long4-64KiB', pickle(OP.LONG4, u32(65536), Buffer.alloc(65536, 1)), 'integer of 65536 bytes');
  await pk('long1-9-bytes', pickle(OP.LONG1, 9, Buffer.alloc(9, 1)), 'integer of 9 bytes');
  await pk('long1-255-bytes', pickle(OP.LONG1, 255, Buffer.alloc(255, 0xff)), 'integer of 255 bytes');
  await pk('long4-negative-length', pickle(OP.LONG4, u32(0xffffffff)), 'negative LONG4 length');
  await pk('opcodes-11M', pickle(Buffer.alloc(11_000_000, 'N0')), 'more than 10000000 opcodes');
  const forbidden: [string, string][] = [
    ['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['builtins', 'getattr'],
    ['__builtin__', 'eval'], ['subprocess', 'Popen'], ['subprocess', 'check_output'], ['torch', 'load'], ['torch.serialization', 'load'],
    ['numpy.core.multiarray', '_reconstruct'], ['numpy', 'dtype'], ['collections', 'defaultdict'], ['torch', 'Size'], ['runpy', '_run_code'],
    ['webbrowser', 'open'], ['pickle', 'loads'], ['importlib', 'import_module'], ['shutil', 'rmtree'], ['torch._utils', '_rebuild_device_tensor_from_numpy'],
    ['functools', 'partial'],
  ];
  for (const [m, n] of forbidden) {
    await pk(`global-${m}.${n}`, pickle(global(m, n), str('touch /tmp/pwned'), OP.TUPLE1, OP.REDUCE), `references '${m.replace(/\./g, '\\.')}\\.${n}', which is not allowed`);
  }
  for (const [m, n] of forbidden.slice(0, 6)) {
    await pk(`stack-global-${m}.${n}`, pickle(str(m), str(n), OP.STACK_GLOBAL, str('id'), OP.TUPLE1, OP.REDUCE), `references '${m}\\.${n}', which is not allowed`);
  }
  await pk('global-huge-name', pickle(global('x'.repeat(100_000), 'y')), "references 'x{80}…', which is not allowed");
  const unsupported: [string, number][] = [
    ['INST', 0x69], ['OBJ', 0x6f], ['PUT', 0x70], ['GET', 0x67], ['INT', 0x49], ['LONG', 0x4c], ['STRING', 0x53], ['UNICODE', 0x56],
    ['FLOAT', 0x46], ['PERSID', 0x50], ['EXT1', 0x82], ['EXT2', 0x83], ['EXT4', 0x84], ['NEXT_BUFFER', 0x97], ['READONLY_BUFFER', 0x98], ['0xff', 0xff],
  ];
  for (const [name, op] of unsupported) await pk(`opcode-${name}`, pickle(op, '1\n'), 'unsupported opcode');
  await pk('protocol-6', bytes(OP.PROTO, 6, OP.NONE, OP.STOP), 'newer than 5');
  await pk('memo-unset', pickle(OP.BINGET, 7), 'memo entry 7 was never stored');
  await pk('stack-underflow', pickle(OP.APPEND), 'stack underflow');
  await pk('stop-with-leftovers', pickle(OP.NONE, OP.NONE), 'STOP with items left');
  await pk('no-stop', bytes(OP.PROTO, 2, OP.NONE), 'truncated');
  await pk('storage-called', pickle(global('torch', 'FloatStorage'), OP.EMPTY_TUPLE, OP.REDUCE), 'cannot be called');
  await pk('codecs-utf8', pickle(global('_codecs', 'encode'), str('x'), str('utf8'), OP.TUPLE2, OP.REDUCE), 'only accepted for latin1');
  await pk('persid-bad-key', pickle(OP.MARK, str('storage'), global('torch', 'FloatStorage'), str('../../etc/passwd'), str('cpu'), int(4), OP.TUPLE, OP.BINPERSID), "bad storage key '\\.\\./\\.\\./etc/passwd'");
  await pk('persid-not-storage', pickle(OP.MARK, str('module'), str('x'), OP.TUPLE, OP.BINPERSID), 'unknown persistent id \\(a 2-item tuple');
  await pk('persid-deep', pickle(Buffer.alloc(100_000, OP.EMPTY_LIST), Buffer.alloc(99_999, OP.APPEND), OP.BINPERSID), 'unknown persistent id');
  await pk('persid-location-list', pickle(OP.MARK, str('storage'), global('torch', 'FloatStorage'), str('0'), OP.EMPTY_LIST, int(4), OP.TUPLE, OP.BINPERSID), 'location that is not a string');
  await pk('appends-to-tuple', pickle(OP.EMPTY_TUPLE, OP.MARK, OP.NONE, OP.APPENDS), 'not a list');
  await pk('setitems-odd', pickle(OP.EMPTY_DICT, OP.MARK, OP.NONE, OP.SETITEMS), 'odd number');
  {
    const good = stateDictPickle([{ key: 'w', storageKey: '0', numel: 4, shape: [4], stride: [1] }]);
    for (const cut of [3, 10, 40, 90, good.length - 1]) {
      await file('pickle', `truncated-at-${cut}.pth`, pthArchive(good.subarray(0, cut), { '0': floats(4) }), { op: 'weights', expect: 'cannot read the pickle' });
    }
  }

  // ---- zip archives ----
  const z = (name: string, content: Uint8Array, expect: string, extra: Partial<Case> = {}): Promise<void> => file('zip', name, content, { op: 'weights', expect, ...extra });
  const onePkl = stateDictPickle([{ key: 'w', storageKey: '0', numel: 4, shape: [4], stride: [1] }]);
  await z('valid.pth', pthArchive(onePkl, { '0': floats(4) }), 'ok');
  {
    const real = await readFile(TINY_PTH);
    for (const cut of [0, 1, 4, 22, 100, 4096, real.length >> 1, real.length - 200, real.length - 60, real.length - 23, real.length - 1]) {
      await z(`tiny-truncated-${cut}.pth`, real.subarray(0, cut), 'truncated|not a torch.save file|unexpected end|corrupt|ends');
    }
    const flipped = Buffer.from(real);
    flipped[flipped.length >> 1] ^= 0x55;
    await z('tiny-bitflip.pth', flipped, 'CRC mismatch');
  }
  {
    // 256 MB of zeros deflate to ~250 KB; data.pkl declares 1000 bytes.
    const zeros = deflateRawSync(Buffer.alloc(256 << 20));
    const bomb = zip([{ name: 'archive/data.pkl', data: zeros, method: 99, size: 1000, compressedSize: zeros.length, crc: 0 }]);
    bomb.writeUInt16LE(8, 8); // local header method → deflated
    // central record method → deflated (offset of the central directory + 10)
    const cdAt = bomb.readUInt32LE(bomb.length - 6);
    bomb.writeUInt16LE(8, cdAt + 10);
    await z('bomb-data-pkl.pth', bomb, 'inflates to more than its declared 1000 bytes');
    // A storage that declares 1 GiB for a 4-element tensor: refused before inflating anything.
    const big = zip([
      { name: 'archive/data.pkl', data: onePkl },
      { name: 'archive/data/0', data: Buffer.alloc(16), method: 8, size: 1 << 30 },
    ]);
    await z('bomb-storage-declared.pth', big, "storage '0' of tensor 'w' should hold 4 F32 elements");
    const pklHuge = zip([{ name: 'archive/data.pkl', data: Buffer.alloc(16), method: 8, size: 0x7fffffff }]);
    await z('bomb-data-pkl-declared.pth', pklHuge, 'declares 2147483647 bytes, more than');
  }
  await z('crc-data-pkl.pth', zip([{ name: 'archive/data.pkl', data: onePkl, crc: 1234 }, { name: 'archive/data/0', data: floats(4) }]), "entry 'archive/data.pkl' is corrupt \\(CRC mismatch\\)");
  await z('crc-storage.pth', zip([{ name: 'archive/data.pkl', data: onePkl }, { name: 'archive/data/0', data: floats(4), crc: 99 }]), "entry 'archive/data/0' is corrupt \\(CRC mismatch\\)");
  await z('duplicate-names.pth', zip([{ name: 'archive/data.pkl', data: onePkl }, { name: 'archive/data/0', data: floats(4) }, { name: 'archive/data/0', data: floats(4) }]), "'archive/data/0' appears twice");
  await z('overlap.pth', zip([{ name: 'archive/data.pkl', data: onePkl }, { name: 'archive/data/0', data: floats(4) }, { name: 'archive/data/1', data: floats(4), sameLocalAs: 1 }]), 'overlap in the file');
  {
    const zip64Short = Buffer.alloc(8);
    zip64Short.writeUInt16LE(1, 0);
    zip64Short.writeUInt16LE(4, 2);
    await z('zip64-extra-truncated.pth', zip([{ name: 'archive/data.pkl', data: onePkl, size: 0xffffffff, centralExtra: zip64Short }]), 'ZIP64 extra field too short');
    const runsPast = Buffer.alloc(6);
    runsPast.writeUInt16LE(1, 0);
    runsPast.writeUInt16LE(200, 2);
    await z('extra-runs-past.pth', zip([{ name: 'archive/data.pkl', data: onePkl, centralExtra: runsPast }]), 'extra field of 200 bytes running past');
  }
  await z('eocd-count-ffff.pth', zip([{ name: 'archive/data.pkl', data: onePkl }], { count: 0xffff }), 'ZIP64 fields are used but the ZIP64 end record is missing');
  await z('cd-offset-past-end.pth', zip([{ name: 'archive/data.pkl', data: onePkl }], { cdOffset: 0x7ffffff0 }), 'central directory ends at byte');
  await z('count-too-many.pth', zip([{ name: 'archive/data.pkl', data: onePkl }], { count: 5 }), 'central directory entry 1 is damaged');
  await z('encrypted.pth', zip([{ name: 'archive/data.pkl', data: onePkl, flags: 1 }]), 'is encrypted');
  await z('method-bzip2.pth', zip([{ name: 'archive/data.pkl', data: onePkl, method: 12 }]), 'compression method 12');
  await z('stored-size-mismatch.pth', zip([{ name: 'archive/data.pkl', data: onePkl, size: onePkl.length + 5 }]), 'declares \\d+ bytes but occupies');
  await z('no-data-pkl.pth', zip([{ name: 'archive/other', data: onePkl }]), 'not a torch.save archive');
  await z('two-data-pkl.pth', zip([{ name: 'a/data.pkl', data: onePkl }, { name: 'b/data.pkl', data: onePkl }]), 'holds 2 data.pkl records');
  await z('byteorder-big.pth', pthArchive(onePkl, { '0': floats(4) }, [{ name: 'archive/byteorder', data: Buffer.from('big') }]), "byteorder 'big'");
  await z('missing-storage.pth', pthArchive(onePkl), "refers to storage '0', but the archive has no 'archive/data/0'");
  {
    const tar = Buffer.alloc(1024);
    tar.write('archive/data.pkl', 0);
    tar.write('ustar', 257);
    await z('legacy-tar.pth', tar, 'legacy torch.save format \\(tar');
    await z('legacy-tar-renamed.safetensors', tar, 'legacy torch.save format \\(tar');
    await z('legacy-pickle.pth', bytes(OP.PROTO, 2, OP.LONG1, 10, Buffer.from([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]), OP.STOP), 'legacy torch.save format \\(a bare pickle');
  }
  await z('not-a-zip.pth', Buffer.from('PK\x03\x04 this is not really a zip'), 'truncated or not a zip file');
  await z('incomplete-download.pth.incomplete', await readFile(TINY_PTH), "an unfinished download \\(its '\\.incomplete' name");

  // ---- tensor views ----
  const v = (name: string, t: Partial<TensorSpec>, storage: Uint8Array, expect: string, more: TensorSpec[] = []): Promise<void> =>
    file('view', `${name}.pth`, pthArchive(stateDictPickle([{ key: 'blocks.0.w', storageKey: '0', numel: 4, shape: [4], stride: [1], ...t }, ...more]), { '0': storage }), {
      op: 'weights',
      expect,
      names: [],
    }).then(() => {
      cases[cases.length - 1]!.names = [cases[cases.length - 1]!.path, 'blocks.0.w'];
    });
  await v('stride0-2e28', { shape: [1 << 14, 1 << 14], stride: [0, 0] }, floats(4), 'has 268435456 elements, far more than its storage');
  await v('overflow-numel', { shape: [2 ** 31, 2 ** 31, 2 ** 31], stride: [0, 0, 0] }, floats(4), 'far more than its storage');
  await v('overflow-safe-int', { shape: [2 ** 52, 2 ** 52], stride: [1, 1] }, floats(4), 'far more than its storage');
  await v('offset-past-storage', { offset: 3, shape: [4], stride: [1] }, floats(4), 'reaches past the end of its storage');
  await v('stride-past-storage', { shape: [2, 2], stride: [3, 1] }, floats(4), 'reaches past the end of its storage');
  await v('huge-stride', { shape: [2], stride: [2 ** 52] }, floats(4), 'reaches past the end of its storage');
  await v('storage-too-small', { numel: 8, shape: [8], stride: [1] }, floats(4), "storage '0' of tensor 'blocks\\.0\\.w' should hold 8 F32 elements");
  await v('storage-too-large', { numel: 2, shape: [2], stride: [1] }, floats(4), 'should hold 2 F32 elements \\(8 bytes\\) but');
  await v('rank-mismatch', { shape: [2, 2], stride: [1] }, floats(4), "tensor 'blocks\\.0\\.w' has a bad size or stride");
  await v('negative-dim', { shape: [-4], stride: [1] }, floats(4), "tensor 'blocks\\.0\\.w' has a bad size or stride");
  await v('storage-disagrees', {}, floats(4), 'describes storage', [{ key: 'blocks.0.v', storageKey: '0', numel: 2, shape: [2], stride: [1] }]);
  await v('zero-size-ok', { numel: 0, shape: [0, 5], stride: [5, 1] }, new Uint8Array(), 'ok');
  await v('expand-small-ok', { numel: 4, shape: [16, 4], stride: [0, 1] }, floats(4), 'ok');
  {
    const tensor = tensorPickle({ key: 'a', storageKey: '0', numel: 4, shape: [4], stride: [1] });
    const twice = pickle(OP.EMPTY_DICT, str('m'), OP.EMPTY_DICT, str('x'), tensor, OP.SETITEM, OP.SETITEM, str('m.x'), tensor, OP.SETITEM);
    await file('view', 'same-key-twice.pth', pthArchive(twice, { '0': floats(4) }), { op: 'weights', expect: "two tensors flatten to the same key 'm\\.x'" });
  }

  // ---- safetensors ----
  const s = (name: string, content: Uint8Array, expect: string, key?: string): Promise<void> =>
    file('safetensors', `${name}.safetensors`, content, { op: 'weights', expect }).then(() => {
      if (key) cases[cases.length - 1]!.names = [cases[cases.length - 1]!.path, key];
    });
  const t = (offsets: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ w: { dtype: 'F32', shape: [4], data_offsets: offsets, ...extra } });
  await s('valid', safetensors(t([0, 16]), floats(4)), 'ok');
  await s('offset-negative', safetensors(t([-8, 8]), floats(4)), "tensor 'w' has invalid data_offsets", 'w');
  await s('offset-fraction', safetensors(t([0.5, 16.5]), floats(5)), "tensor 'w' has invalid data_offsets", 'w');
  await s('offset-string', safetensors(t(['0', '16']), floats(4)), "tensor 'w' has invalid data_offsets", 'w');
  await s('offset-null', safetensors(t(null), floats(4)), "tensor 'w' has invalid data_offsets", 'w');
  await s('offset-three', safetensors(t([0, 8, 16]), floats(4)), "tensor 'w' has invalid data_offsets", 'w');
  await s('offset-huge', safetensors(t([0, 2 ** 60]), floats(4)), "tensor 'w' has invalid data_offsets|tensor 'w' ends at byte", 'w');
  await s('begin-after-end', safetensors(t([16, 0]), floats(4)), 'end before they begin', 'w');
  await s('end-past-data', safetensors(t([0, 16]), floats(2)), "tensor 'w' ends at byte 16 of the data section, which has 8 bytes", 'w');
  await s('length-mismatch', safetensors(t([0, 12]), floats(4)), 'needs 16 bytes but data_offsets span 12', 'w');
  await s('overlap', safetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, floats(4)), "tensors 'a' and 'b' overlap");
  await s('same-range', safetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, floats(4)), 'overlap in the data section');
  await s('header-200MB', safetensors(t([0, 16]), floats(4), 200_000_000n), "header length 200000000 is over the format's limit");
  await s('header-u64-max', safetensors(t([0, 16]), floats(4), 2n ** 64n - 1n), "over the format's limit");
  await s('header-past-file', safetensors(t([0, 16]), floats(4), 5000n), 'does not fit in a file of');
  await s('header-null', safetensors('null'), 'header is not a JSON object');
  await s('header-array', safetensors('[1,2]'), 'header is not a JSON object');
  await s('header-number', safetensors('42'), 'header is not a JSON object');
  await s('header-string', safetensors('"w"'), 'header is not a JSON object');
  await s('entry-null', safetensors({ w: null }), "tensor 'w' is described by null", 'w');
  await s('entry-string', safetensors({ w: 'x' }), "tensor 'w' is described by a string", 'w');
  await s('entry-array', safetensors({ w: [1] }), "tensor 'w' is described by a list", 'w');
  await s('dtype-unknown', safetensors(t([0, 16], { dtype: 'F8' }), floats(4)), "tensor 'w' has unsupported dtype 'F8'", 'w');
  await s('dtype-proto', safetensors(t([0, 16], { dtype: '__proto__' }), floats(4)), 'unsupported dtype', 'w');
  await s('dtype-constructor', safetensors(t([0, 16], { dtype: 'constructor' }), floats(4)), 'unsupported dtype', 'w');
  await s('dtype-missing', safetensors({ w: { shape: [4], data_offsets: [0, 16] } }, floats(4)), 'unsupported dtype missing', 'w');
  await s('dtype-number', safetensors(t([0, 16], { dtype: 4 }), floats(4)), 'unsupported dtype number', 'w');
  await s('shape-negative', safetensors(t([0, 16], { shape: [-4] }), floats(4)), "tensor 'w' has an invalid shape", 'w');
  await s('shape-float', safetensors(t([0, 16], { shape: [2.5] }), floats(4)), 'invalid shape', 'w');
  await s('shape-string', safetensors(t([0, 16], { shape: '4' }), floats(4)), 'invalid shape', 'w');
  await s('shape-overflow', safetensors(t([0, 16], { shape: [2 ** 40, 2 ** 40] }), floats(4)), 'needs 4835703278458516698824704 bytes', 'w');
  await s('metadata-number', safetensors({ __metadata__: { format: 3 }, ...t([0, 16]) }, floats(4)), "'__metadata__' entry 'format' is not a string");
  await s('metadata-array', safetensors({ __metadata__: [1], ...t([0, 16]) }, floats(4)), "'__metadata__' is not an object");
  await s('json-invalid', safetensors('{"w": SECRET-TOKEN-123}'), 'header is not JSON', undefined);
  cases[cases.length - 1]!.secret = 'SECRET-TOKEN-123';
  await s('json-utf8-garbage', safetensors(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1')), 'header is not JSON');
  for (const n of [0, 1, 7]) await s(`short-${n}`, Buffer.alloc(n, 0x20), `file is ${n} bytes, shorter than`);
  await s('valid-empty', safetensors({}), 'ok');
  {
    // Shapes that parse but describe no usable backbone, loaded as a model: refused naming the file.
    const real = await readFile(join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors'));
    const headerLength = Number(real.readBigUInt64LE(0));
    const header = JSON.parse(real.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const data = real.subarray(8 + headerLength);
    const edited = async (name: string, key: string, shape: number[], expect: string): Promise<void> => {
      const h = structuredClone(header);
      const e = h[key]!;
      e.shape = shape;
      e.data_offsets = [e.data_offsets[0], e.data_offsets[0] + 4 * shape.reduce((a, b) => a * b, 1)];
      await file('safetensors', `model-${name}.safetensors`, safetensors(h, data), { op: 'load', expect });
    };
    await edited('pos-embed-one-token', 'pos_embed', [1, 1, 48], "'img_size' must be an integer from 1");
    await edited('pos-embed-not-square', 'pos_embed', [1, 3, 48], 'pos_embed has 2 patch positions, not a square grid');
    await edited('patch-kernel-zero', 'patch_embed.proj.weight', [48, 3, 0, 0], "'(img_size|patch_size)' must be an integer from 1");
    await edited('cls-token-rank-2', 'cls_token', [1, 48], "'cls_token' has shape \\[1, 48\\], expected \\[1, 1, embed_dim\\]");
    await edited('qkv-wrong-shape', 'blocks.0.attn.qkv.weight', [144, 47], "blocks\\.0\\.attn\\.qkv\\.weight");
  }

  // ---- Hugging Face folders and configs ----
  const hfConfig = JSON.parse(await readFile(join(TINY_HF, 'config.json'), 'utf8')) as Record<string, unknown>;
  const hf = async (name: string, config: unknown, expect: string, key?: string, opts: { raw?: string; weights?: 'link' | 'none' } = {}): Promise<string> => {
    const dir = join(root, 'hf', name);
    await mkdir(dir);
    await writeFile(join(dir, 'config.json'), opts.raw ?? JSON.stringify(config));
    if (opts.weights !== 'none') await symlink(join(TINY_HF, 'model.safetensors'), join(dir, 'model.safetensors'));
    cases.push({ id: `hf/${name}`, cls: 'hf', op: 'load', path: dir, expect, names: key ? [join(dir, 'config.json'), key] : [dir] });
    return dir;
  };
  const bad: [string, unknown][] = [
    ['num_hidden_layers', 1e6], ['num_hidden_layers', 1e9], ['num_hidden_layers', 0], ['num_hidden_layers', -1], ['num_hidden_layers', 2.5],
    ['num_hidden_layers', '3'], ['num_hidden_layers', null], ['patch_size', 0], ['patch_size', -14], ['patch_size', 1e9], ['hidden_size', -1],
    ['hidden_size', 0], ['num_attention_heads', 0], ['num_attention_heads', 7], ['layer_norm_eps', -1], ['layer_norm_eps', 0], ['layer_norm_eps', 5],
    ['image_size', 0], ['image_size', 1e12], ['mlp_ratio', 0], ['mlp_ratio', -4], ['mlp_ratio', 1e9], ['num_channels', 0], ['num_channels', 1000],
    ['layerscale_value', -1], ['hidden_size', [48]], ['patch_size', { v: 14 }],
  ];
  for (const [key, value] of bad) {
    await hf(`${key}-${JSON.stringify(value).replace(/[^a-zA-Z0-9.-]/g, '_')}`, { ...hfConfig, [key]: value }, `'${key}' `, `'${key}'`);
  }
  await hf('registers-negative', { ...hfConfig, model_type: 'dinov2_with_registers', num_register_tokens: -1 }, "'num_register_tokens' must be an integer", "'num_register_tokens'");
  await hf('model-type-bert', { ...hfConfig, model_type: 'bert' }, "'model_type' 'bert': not a DINOv2 backbone", "'model_type'");
  await hf('model-type-missing', { ...hfConfig, model_type: undefined }, "'model_type' is missing", "'model_type'");
  await hf('hidden-act-relu', { ...hfConfig, hidden_act: 'relu' }, "'hidden_act' 'relu' differs", "'hidden_act'");
  for (const [name, raw] of [['null', 'null'], ['array', '[1, 2]'], ['string', '"dinov2"'], ['number', '7']]) {
    await hf(`config-${name}`, null, 'not a JSON object', undefined, { raw });
    cases[cases.length - 1]!.names = [join(root, 'hf', `config-${name}`, 'config.json')];
  }
  await hf('config-secret', null, 'not valid JSON', undefined, { raw: '{"model_type": SECRET-TOKEN-456 }' });
  cases[cases.length - 1]!.names = [join(root, 'hf', 'config-secret', 'config.json')];
  cases[cases.length - 1]!.secret = 'SECRET-TOKEN-456';
  {
    // config.json is a symlink to a binary file (the weights): refused as JSON without echoing its bytes.
    const dir = await hf('config-to-binary', null, 'not valid JSON', undefined, { raw: '' });
    await writeFile(join(dir, 'config.json'), '');
    await (await import('node:fs/promises')).rm(join(dir, 'config.json'));
    await symlink(join(TINY_HF, 'model.safetensors'), join(dir, 'config.json'));
    cases[cases.length - 1]!.names = [join(dir, 'config.json')];
    cases[cases.length - 1]!.secret = 'blocks.0';
  }
  {
    const dir = await hf('config-is-dir', null, 'not a regular file \\(a directory\\)', undefined, { raw: '' });
    await (await import('node:fs/promises')).rm(join(dir, 'config.json'));
    await mkdir(join(dir, 'config.json'));
    cases[cases.length - 1]!.names = [join(dir, 'config.json')];
  }
  {
    const dir = await hf('config-fifo', null, 'not a regular file \\(a FIFO\\)', undefined, { raw: '' });
    await (await import('node:fs/promises')).rm(join(dir, 'config.json'));
    execFileSync('mkfifo', [join(dir, 'config.json')]);
    cases[cases.length - 1]!.names = [join(dir, 'config.json')];
  }
  {
    const dir = await hf('weights-fifo', hfConfig, 'not a regular file \\(a FIFO\\)', undefined, { weights: 'none' });
    execFileSync('mkfifo', [join(dir, 'model.safetensors')]);
    cases[cases.length - 1]!.names = [join(dir, 'model.safetensors')];
  }
  {
    const dir = await hf('weights-dev-zero', hfConfig, 'not a regular file \\(a character device\\)', undefined, { weights: 'none' });
    await symlink('/dev/zero', join(dir, 'model.safetensors'));
    cases[cases.length - 1]!.names = [join(dir, 'model.safetensors')];
  }
  {
    const dir = await hf('weights-is-dir', hfConfig, 'not a regular file \\(a directory\\)', undefined, { weights: 'none' });
    await mkdir(join(dir, 'model.safetensors'));
    cases[cases.length - 1]!.names = [join(dir, 'model.safetensors')];
  }
  {
    const dir = await hf('index-dotdot', hfConfig, 'bad shard name', undefined, { weights: 'none' });
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'embeddings.cls_token': '..' } }));
    cases[cases.length - 1]!.names = [join(dir, 'model.safetensors.index.json')];
    const dir2 = await hf('index-escape', hfConfig, 'bad shard name', undefined, { weights: 'none' });
    await writeFile(join(dir2, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'embeddings.cls_token': '../index-dotdot/config.json' } }));
    cases[cases.length - 1]!.names = [join(dir2, 'model.safetensors.index.json')];
    const dir3 = await hf('index-null-map', hfConfig, "no 'weight_map' object", undefined, { weights: 'none' });
    await writeFile(join(dir3, 'model.safetensors.index.json'), JSON.stringify({ weight_map: null }));
    cases[cases.length - 1]!.names = [join(dir3, 'model.safetensors.index.json')];
  }
  await hf('no-weights', hfConfig, 'no model\\.safetensors', undefined, { weights: 'none' });
  await hf('valid', hfConfig, 'ok');
  {
    // The Hugging Face cache layout: snapshots/<rev>/* → ../../blobs/<sha>.
    const repo = join(root, 'hf', 'models--org--tiny');
    const rev = join(repo, 'snapshots', 'a'.repeat(40));
    await mkdir(join(repo, 'blobs'), { recursive: true });
    await mkdir(rev, { recursive: true });
    for (const [f, blob] of [['config.json', 'c'.repeat(40)], ['model.safetensors', 'b'.repeat(64)]] as const) {
      await copyFile(join(TINY_HF, f), join(repo, 'blobs', blob));
      await symlink(join('..', '..', 'blobs', blob), join(rev, f));
    }
    cases.push({ id: 'hf/cache-layout', cls: 'hf', op: 'load', path: rev, expect: 'ok' });
  }

  // ---- folders of inputs ----
  {
    const loop = join(root, 'inputs', 'loops');
    await mkdir(join(loop, 'a', 'deep'), { recursive: true });
    await mkdir(join(loop, 'b'));
    await writeFile(join(loop, 'a', 'x.jpg'), 'x');
    await writeFile(join(loop, 'b', 'y.png'), 'y');
    await symlink('..', join(loop, 'a', 'deep', 'up'));
    await symlink(join(loop, 'b'), join(loop, 'a', 'tob'));
    await symlink(join(loop, 'a'), join(loop, 'b', 'toa'));
    await symlink('self', join(loop, 'self'));
    cases.push({ id: 'inputs/loops', cls: 'inputs', op: 'inputs', path: loop, expect: 'ok', count: 2 });
    const fan = join(root, 'inputs', 'fan');
    await mkdir(join(fan, 'real'), { recursive: true });
    await writeFile(join(fan, 'real', 'one.jpg'), '1');
    for (let i = 0; i < 50; i++) await symlink(join(fan, 'real'), join(fan, `link${i}`));
    cases.push({ id: 'inputs/fan-50-links', cls: 'inputs', op: 'inputs', path: fan, expect: 'ok', count: 1 });
    const deep = join(root, 'inputs', 'deep');
    let d = deep;
    for (let i = 0; i < 100; i++) d = join(d, 'd');
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'bottom.png'), 'b');
    await symlink(deep, join(d, 'top'));
    cases.push({ id: 'inputs/deep-100-with-loop', cls: 'inputs', op: 'inputs', path: deep, expect: 'ok', count: 1 });
    const mesh = join(root, 'inputs', 'mesh');
    for (let i = 0; i < 6; i++) {
      await mkdir(join(mesh, `n${i}`), { recursive: true });
      await writeFile(join(mesh, `n${i}`, `f${i}.jpg`), String(i));
    }
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) if (i !== j) await symlink(join(mesh, `n${j}`), join(mesh, `n${i}`, `to${j}`));
    cases.push({ id: 'inputs/mesh-6x6', cls: 'inputs', op: 'inputs', path: mesh, expect: 'ok', count: 6 });
  }

  // ---- images ----
  const img = (name: string, content: Uint8Array | string, expect: string): Promise<void> => file('image', name, content, { op: 'image', expect });
  {
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    await img('ok.png', png, 'ok');
    await img('truncated.png', png.subarray(0, 40), 'cannot decode');
    await img('empty.jpg', '', 'cannot decode|empty');
    await img('text.jpg', 'hello, not an image', 'cannot decode');
    // A PNG header claiming 100000 × 100000 pixels (a decompression bomb): refused by the pixel cap.
    const bombPng = Buffer.from(png);
    bombPng.writeUInt32BE(100000, 16);
    bombPng.writeUInt32BE(100000, 20);
    await img('huge-dimensions.png', bombPng, 'pixels|cannot decode');
    const fifo = join(root, 'image', 'fifo.jpg');
    execFileSync('mkfifo', [fifo]);
    cases.push({ id: 'image/fifo.jpg', cls: 'image', op: 'image', path: fifo, expect: 'not a regular file \\(a FIFO\\)' });
    await symlink('/dev/zero', join(root, 'image', 'dev-zero.png'));
    cases.push({ id: 'image/dev-zero.png', cls: 'image', op: 'image', path: join(root, 'image', 'dev-zero.png'), expect: 'not a regular file \\(a character device\\)' });
    await mkdir(join(root, 'image', 'dir.jpg'));
    cases.push({ id: 'image/dir.jpg', cls: 'image', op: 'image', path: join(root, 'image', 'dir.jpg'), expect: 'not a regular file \\(a directory\\)' });
  }

  // ---- downloads from a hostile server (run in the child; see child.ts) ----
  for (const [scenario, expect] of DOWNLOAD_SCENARIOS) {
    const dir = join(root, 'download', scenario);
    await mkdir(dir);
    cases.push({ id: `download/${scenario}`, cls: 'download', op: 'download', path: dir, expect, scenario, names: [] });
  }
  return cases;
}

export const DOWNLOAD_SCENARIOS: [string, string][] = [
  ['hf-etag-dotdot', "ETag is unusable"],
  ['hf-etag-not-hex', "ETag is unusable"],
  ['hf-etag-sha256-mismatch', 'sha256 [0-9a-f]{64} does not match'],
  ['hf-etag-sha1-mismatch', 'git SHA-1 [0-9a-f]{40} does not match'],
  ['hf-commit-dotdot', 'X-Repo-Commit is not a 40-digit hex'],
  ['hf-commit-branch', 'X-Repo-Commit is not a 40-digit hex'],
  ['hf-size-negative', "size is not a non-negative integer"],
  ['hf-size-wrong', 'server reports \\d+ bytes, expected|received \\d+ bytes, expected'],
  ['hf-revision-dotdot', "invalid revision '\\.\\./\\.\\./\\.\\./evil'"],
  ['hf-revision-lock', "invalid revision 'x\\.lock'"],
  ['hf-revision-hidden', "invalid revision '\\.hidden'"],
  ['hf-revision-tilde', "invalid revision 'main~1'"],
  ['hf-ok', 'ok'],
  ['torch-no-length', 'sent no Content-Length'],
  ['torch-corrupt-zip', 'corrupt.*CRC mismatch'],
  ['torch-html-page', 'corrupt.*not a zip file'],
  ['torch-http-500', 'HTTP 500'],
  ['torch-short-body', 'connection lost|received \\d+ bytes, expected'],
  ['torch-cached-truncated-redownloaded', 'ok'],
  ['torch-ok', 'ok'],
];
