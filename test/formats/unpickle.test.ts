import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { unpickle } from '../../src/formats/unpickle.js';
import { torchHooks } from '../../src/formats/torchPickle.js';
import { findPython, runPython, tempDir } from './helpers.js';

const python = findPython();
const load = (bytes: Uint8Array): unknown => unpickle(bytes, torchHooks('test.pkl'), 'test.pkl');

/** Assembles pickle bytes from opcodes (numbers) and raw strings (latin1). */
function pk(...parts: (number | string | Uint8Array)[]): Uint8Array {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}
const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const binunicode = (s: string): Uint8Array => {
  const b = Buffer.from(s, 'utf8');
  return pk('X', u32(b.length), b);
};

test('hand-assembled protocol 2 opcodes decode to the expected values', () => {
  const bytes = pk(
    0x80, 2, '}', 'q', 0, '(',
    binunicode('ints'), ']', 'q', 1, '(', 'K', 7, 'M', 0x34, 0x12, 'J', u32(0xfffffffe), 0x8a, 8, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0x40]), 'e',
    binunicode('misc'), '(', 'G', new Uint8Array([0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), 0x88, 0x89, 'N', 't',
    binunicode('pair'), 'K', 1, 'K', 2, 0x86,
    binunicode('again'), 'h', 1,
    binunicode('élan'), ')', 'u', '.',
  );
  const v = load(bytes) as Map<string, unknown>;
  assert.ok(v instanceof Map);
  assert.deepEqual([...v.keys()], ['ints', 'misc', 'pair', 'again', 'élan']);
  assert.deepEqual(v.get('pair'), [1, 2]);
  assert.deepEqual(v.get('ints'), [7, 0x1234, -2, 2n ** 62n]);
  assert.deepEqual(v.get('misc'), [1.5, true, false, null]);
  assert.equal(v.get('again'), v.get('ints'), 'BINGET returns the memoized object itself');
  assert.deepEqual(v.get('élan'), []);
});

for (const protocol of [2, 3, 4, 5]) {
  test(`Python's pickle at protocol ${protocol} decodes to the same structure`, { skip: !python && 'no python3' }, () => {
    const script = [
      'import collections, pickle, sys',
      'shared = [1, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**62, -2**63, -2**40]',
      "od = collections.OrderedDict([('z', 1.25), ('a', (None, True, False))])",
      "obj = {'n': shared, 'again': shared, 'od': od, 't': (1,), 't2': (1, 2), 't3': (1, 2, 3), 't4': (1, 2, 3, 4), 's': 'x' * 300 + 'é', 'b': b'\\x00\\xffab', 'f': -0.1, 7: 'int key'}",
      `sys.stdout.write(pickle.dumps(obj, protocol=${protocol}).hex())`,
    ].join('\n');
    const v = load(Buffer.from(runPython(python!, script), 'hex')) as Map<unknown, unknown>;
    assert.deepEqual(v.get('n'), [1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2n ** 62n, -(2n ** 63n), -(2 ** 40)]);
    assert.equal(v.get('again'), v.get('n'));
    const od = v.get('od') as Map<string, unknown>;
    assert.deepEqual([...od], [['z', 1.25], ['a', [null, true, false]]]);
    assert.ok(Object.isFrozen(od.get('a')), 'tuples come back frozen');
    assert.deepEqual(v.get('t'), [1]);
    assert.deepEqual(v.get('t2'), [1, 2]);
    assert.deepEqual(v.get('t3'), [1, 2, 3]);
    assert.deepEqual(v.get('t4'), [1, 2, 3, 4]);
    assert.equal(v.get('s'), 'x'.repeat(300) + 'é');
    assert.deepEqual(v.get('b'), new Uint8Array([0, 255, 0x61, 0x62]));
    assert.equal(v.get('f'), -0.1);
    assert.equal(v.get(7), 'int key');
  });
}

test("GLOBAL 'os system' + REDUCE is refused by name and nothing runs", async () => {
  const dir = await tempDir();
  const marker = join(dir, 'pwned');
  const bytes = pk(0x80, 2, 'cos\nsystem\n', binunicode(`touch ${marker}`), 0x85, 'R', '.');
  assert.throws(() => load(bytes), {
    message: "test.pkl: refusing to load: the pickle references 'os.system', which is not allowed in a state dict",
  });
  assert.equal(existsSync(marker), false);
});

test('STACK_GLOBAL is checked against the same allow-list', () => {
  const shortStr = (s: string): Uint8Array => pk(0x8c, s.length, s);
  const evil = pk(0x80, 4, shortStr('builtins'), shortStr('eval'), 0x93, shortStr('1+1'), 0x85, 'R', '.');
  assert.throws(() => load(evil), /refusing to load: the pickle references 'builtins\.eval'/);
  const numpy = pk(0x80, 2, 'cnumpy.core.multiarray\n_reconstruct\n', ')', 'R', '.');
  assert.throws(() => load(numpy), /refusing to load: the pickle references 'numpy\.core\.multiarray\._reconstruct'/);
});

test('a pickle that exploits __reduce__ (made by Python) is refused before anything is called', { skip: !python && 'no python3' }, async () => {
  const dir = await tempDir();
  const marker = join(dir, 'pwned');
  const script = `import os, pickle, sys\nclass E:\n  def __reduce__(self):\n    return (os.system, (${JSON.stringify(`touch ${marker}`)},))\nsys.stdout.write(pickle.dumps({'w': E()}, protocol=4).hex())`;
  const bytes = Buffer.from(runPython(python!, script), 'hex');
  assert.throws(() => load(bytes), /refusing to load: the pickle references '(os|posix)\.system'/);
  assert.equal(existsSync(marker), false);
});

test('truncated pickles and unsupported opcodes fail with a reason', () => {
  assert.throws(() => load(pk(0x80, 2, '}', 'X', u32(10), 'abc')), /test\.pkl: cannot read the pickle: it ends early \(truncated\)/);
  assert.throws(() => load(pk(0x80, 2, 'ios\nsystem\n', '.')), /unsupported opcode 0x69 \('i'\)/);
  assert.throws(() => load(pk(0x80, 2, 'ccollections\nOrderedDict\n', 'K', 1, 0x85, 'R', '.')), /OrderedDict called with arguments/);
});

test('integers past 64 bits are refused, and LONG4 of megabytes fails at once instead of parsing', () => {
  assert.throws(() => load(pk(0x80, 2, 0x8a, 9, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1]), '.')), /test\.pkl: .*integer of 9 bytes, past the 64-bit limit/);
  const huge = Buffer.alloc(8 << 20, 0x7f);
  assert.throws(() => load(pk(0x80, 2, 0x8b, u32(huge.length), huge, '.')), /integer of 8388608 bytes/);
});

test('APPENDS of 90,000 items works (no spread into push); a stack past 100,000 values and the item cap are refused naming the file', () => {
  const n = 90_000;
  const items = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) items[2 * i] = 0x4b; // BININT1 0
  const v = load(pk(0x80, 2, ']', '(', items, 'e', '.')) as unknown[];
  assert.equal(v.length, n);
  assert.throws(() => unpickle(pk(0x80, 2, ']', '(', items, 'e', '.'), torchHooks('x.pkl'), 'x.pkl', { maxItems: 1000 }), /x\.pkl: .*more than 1000 container items/);
  const deep = Buffer.alloc(200_000, 0x5d); // EMPTY_LIST × 200,000
  assert.throws(() => load(pk(0x80, 2, deep, '.')), /test\.pkl: .*more than 100000 values on the stack/);
});
