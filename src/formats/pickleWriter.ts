/** Emits the handful of protocol-2 opcodes that torch checkpoints need (state dicts, optimizer states), nothing more. */

export class PickleBuilder {
  private readonly chunks: Buffer[] = [];

  private op(...bytes: number[]): this {
    this.chunks.push(Buffer.from(bytes));
    return this;
  }

  proto(version: number): this {
    return this.op(0x80, version);
  }

  global(module: string, name: string): this {
    this.chunks.push(Buffer.from(`c${module}\n${name}\n`, 'utf8'));
    return this;
  }

  mark(): this {
    return this.op(0x28);
  }

  emptyDict(): this {
    return this.op(0x7d);
  }

  emptyTuple(): this {
    return this.op(0x29);
  }

  /** TUPLE from the last MARK. */
  tuple(): this {
    return this.op(0x74);
  }

  setItems(): this {
    return this.op(0x75);
  }

  reduce(): this {
    return this.op(0x52);
  }

  binPersId(): this {
    return this.op(0x51);
  }

  bool(v: boolean): this {
    return this.op(v ? 0x88 : 0x89);
  }

  none(): this {
    return this.op(0x4e);
  }

  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.chunks.push(Buffer.from([0x58]), len, b);
    return this;
  }

  /** Non-negative or negative integers; beyond int32 they go out as LONG1, as Python writes them. */
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new Error(`PickleBuilder.int: ${v} is not a safe integer`);
    if (v >= 0 && v < 0x100) return this.op(0x4b, v);
    if (v >= 0 && v < 0x10000) return this.op(0x4d, v & 0xff, v >> 8);
    if (v >= -0x80000000 && v <= 0x7fffffff) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(v, 1);
      this.chunks.push(b);
      return this;
    }
    const bytes: number[] = [];
    let x = BigInt(v);
    // Two's complement, shortest form whose top bit still carries the sign.
    for (;;) {
      bytes.push(Number(x & 0xffn));
      x >>= 8n;
      const top = bytes[bytes.length - 1]!;
      if ((x === 0n && !(top & 0x80)) || (x === -1n && top & 0x80)) break;
    }
    return this.op(0x8a, bytes.length, ...bytes);
  }

  emptyList(): this {
    return this.op(0x5d);
  }

  /** APPENDS: the items since the last MARK go into the list below it. */
  appends(): this {
    return this.op(0x65);
  }

  /** BINFLOAT: a Python float (an IEEE double, big-endian as the opcode wants). */
  float(v: number): this {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(v, 1);
    this.chunks.push(b);
    return this;
  }

  /** A tuple of ints (sizes, strides), as `torch.Size` pickles them. */
  intTuple(values: readonly number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }

  stop(): this {
    return this.op(0x2e);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
