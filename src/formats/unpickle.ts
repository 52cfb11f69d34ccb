/**
 * A restricted pickle interpreter (protocols 2–5) that never executes anything. Python's pickle turns
 * GLOBAL + REDUCE into arbitrary function calls; here every GLOBAL is handed to `hooks.global`, which returns
 * an inert stand-in for the few names it allows and throws for everything else, and "calls" of those
 * stand-ins are interpreted by TypeScript code. Opcodes a state dict never uses (the text protocol-0 forms,
 * INST/OBJ, the extension registry, out-of-band buffers) are rejected.
 *
 * Values: None → null, bool, int → number (bigint beyond 2^53), float, str → string, bytes → Uint8Array,
 * list → array, tuple → frozen array, dict → Map, set → Set; everything else is what the hooks make.
 *
 * Bounded: the interpreter is a loop (no recursion), integers are limited to 64 bits (a state dict never
 * needs more, and a hostile LONG4 of megabytes would cost quadratic time), and the number of values made
 * and of container items added are capped (`UnpickleLimits`), so a pickle cannot make the loader spend
 * more than time and memory linear in its size up to those caps. Consumers that walk the result must
 * still bound their walk: the memo lets containers share and contain each other ("billion laughs").
 */

export interface UnpickleLimits {
  /** Opcodes run, i.e. values made (default 10 million). */
  maxObjects?: number;
  /** Items added to lists, dicts, sets and tuples, all together (default 10 million). */
  maxItems?: number;
  /** Bytes of an integer (LONG1/LONG4; default 8 = 64 bits). */
  maxIntBytes?: number;
  /**
   * Values on the stack at once (default 100,000). Python's pickler adds items in batches of 1000 and nests
   * only as deep as the data, so a state dict stays far below; a hostile pickle nesting a million containers
   * would otherwise hold them all here.
   */
  maxStack?: number;
}

export const DEFAULT_UNPICKLE_LIMITS: Required<UnpickleLimits> = { maxObjects: 10_000_000, maxItems: 10_000_000, maxIntBytes: 8, maxStack: 100_000 };

/** What a GLOBAL opcode pushes: an allowed name with its interpretation. */
export class PickleGlobal {
  constructor(
    readonly qualname: string,
    /** Interprets `qualname(*args)` (REDUCE, NEWOBJ); absent for names that are never called. */
    readonly call?: (args: readonly unknown[]) => unknown,
  ) {}
}

export interface PickleHooks {
  /** Resolves `module.name`, or throws to refuse it. */
  global(module: string, name: string): PickleGlobal;
  /** Resolves a persistent id (BINPERSID), e.g. torch's storage references. */
  persistentLoad(pid: unknown): unknown;
  /** Applies BUILD's `state` to `obj`, returning the object that stays on the stack. */
  build(obj: unknown, state: unknown): unknown;
}

const MARK = Symbol('mark');

export function unpickle(bytes: Uint8Array, hooks: PickleHooks, label: string, limits: UnpickleLimits = {}): unknown {
  const { maxObjects, maxItems, maxIntBytes, maxStack } = { ...DEFAULT_UNPICKLE_LIMITS, ...limits };
  let objects = 0;
  let items = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const fail = (why: string): never => {
    throw new Error(`${label}: cannot read the pickle: ${why} (at byte ${pos})`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail('it ends early (truncated)');
  };
  const u8 = (): number => (need(1), bytes[pos++]!);
  const u16 = (): number => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const i32 = (): number => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u32 = (): number => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const countItems = (n: number): void => {
    items += n;
    if (items > maxItems) fail(`more than ${maxItems} container items; refusing (a state dict has far fewer)`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const utf8 = (n: number): string => Buffer.from(take(n)).toString('utf8');
  const latin1 = (n: number): string => Buffer.from(take(n)).toString('latin1');
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line');
    const s = Buffer.from(bytes.subarray(pos, end)).toString('utf8');
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK to pop to');
    return stack.splice(m!);
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    if (b.length > maxIntBytes) fail(`an integer of ${b.length} bytes, past the ${maxIntBytes * 8}-bit limit (a state dict never needs one)`);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const callable = (f: unknown, op: string): ((args: readonly unknown[]) => unknown) => {
    if (!(f instanceof PickleGlobal)) return fail(`${op} of something that is not an allowed global`);
    if (!f.call) return fail(`${op} of '${f.qualname}', which cannot be called`);
    return f.call;
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    countItems(items.length / 2);
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail('APPEND(S) on something that is not a list');
    countItems(items.length);
    // One push per item: push(...items) overflows the call stack past ~10^5 arguments.
    for (const x of items) (target as unknown[]).push(x);
  };
  const addItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Set)) fail('ADDITEMS on something that is not a set');
    countItems(items.length);
    for (const x of items) (target as Set<unknown>).add(x);
  };

  const fromMark = (): unknown[] => {
    const got = popMark().slice(1);
    countItems(got.length);
    return got;
  };

  for (;;) {
    const at = pos;
    const op = u8();
    if (++objects > maxObjects) fail(`more than ${maxObjects} opcodes; refusing (a state dict has far fewer)`);
    if (stack.length > maxStack) fail(`more than ${maxStack} values on the stack (nesting too deep for a state dict); refusing`);
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail(`pickle protocol ${v} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: framing only groups opcodes for buffered reads; the bytes are already here.
        u64();
        break;
      case 0x2e: { // STOP
        const result = pop();
        if (stack.length || marks.length) fail('STOP with items left on the stack');
        return result;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack[stack.length - 1] === MARK) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(signedLE(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian, unlike everything else)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: { // BINSTRING (Python 2 str)
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(latin1(n));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(new Uint8Array(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(new Uint8Array(take(u8())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(new Uint8Array(take(u64())));
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x74: // TUPLE
        stack.push(tuple(fromMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        stack.push(fromMark());
        break;
      case 0x64: { // DICT
        const d = new Map();
        setItems(d, popMark().slice(1)); // counted in setItems
        stack.push(d);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(fromMark()));
        break;
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark().slice(1);
        appendItems(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark().slice(1);
        setItems(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark().slice(1);
        addItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} was never stored`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(hooks.global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL with non-string names');
        stack.push(hooks.global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const f = pop();
        if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple');
        stack.push(callable(f, 'REDUCE')(args as unknown[]));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args); allowed classes are interpreted like calls.
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail('NEWOBJ arguments are not a tuple');
        stack.push(callable(cls, 'NEWOBJ')(args as unknown[]));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail('NEWOBJ_EX arguments are not a tuple');
        if (!(kwargs instanceof Map) || kwargs.size) fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(callable(cls, 'NEWOBJ_EX')(args as unknown[]));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = pop();
        stack.push(hooks.build(obj, state));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      default:
        pos = at;
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}'), which a state dict does not use`);
    }
  }
}
