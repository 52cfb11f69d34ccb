/**
 * A minimal protobuf wire-format writer: varints, fixed32/64, length-delimited fields. Enough to write
 * ONNX ModelProto; nested messages are built bottom-up as byte arrays.
 */

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch = new Uint8Array(1024);
  private pos = 0;
  private total = 0;

  private flushScratch(): void {
    if (this.pos > 0) {
      this.chunks.push(this.scratch.slice(0, this.pos));
      this.total += this.pos;
      this.pos = 0;
    }
  }

  private ensure(n: number): void {
    if (this.pos + n > this.scratch.length) this.flushScratch();
  }

  private byte(b: number): void {
    this.scratch[this.pos++] = b;
  }

  /** Unsigned varint; negative int64 values are written as 10-byte two's complement, as protobuf does. */
  varint(value: number | bigint): void {
    this.ensure(10);
    let v = BigInt.asUintN(64, BigInt(value));
    if (typeof value === 'number' && value >= 0 && value < 2 ** 31) {
      let n = value;
      while (n >= 0x80) {
        this.byte((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.byte(n);
      return;
    }
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.scratch.buffer).setFloat32(this.pos, value, true);
    this.pos += 4;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    if (data.length <= 256) {
      this.ensure(data.length);
      this.scratch.set(data, this.pos);
      this.pos += data.length;
    } else {
      this.flushScratch();
      this.chunks.push(data);
      this.total += data.length;
    }
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoWriter): void {
    this.bytes(field, m.finish());
  }

  packedInts(field: number, values: readonly (number | bigint)[]): void {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  packedFloats(field: number, values: readonly number[]): void {
    const data = new Uint8Array(values.length * 4);
    const view = new DataView(data.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    this.bytes(field, data);
  }

  finish(): Uint8Array {
    this.flushScratch();
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.total);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    this.chunks = [out];
    return out;
  }
}
