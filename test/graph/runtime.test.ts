import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder } from '../../src/graph/builder.js';
import * as op from '../../src/graph/ops.js';
import * as nn from '../../src/graph/nn.js';
import { checkDevice, compileGraph } from '../../src/graph/runtime.js';
import { encodeOnnx } from '../../src/graph/onnx.js';
import { Tensor } from '../../src/core/tensor.js';
import { maxAbsDiff, withTempDir } from '../helpers.js';

/** y = x·Wᵀ + b computed directly, to check the graph against. */
function referenceLinear(x: Float32Array, rows: number, w: Float32Array, out: number, inF: number, b: Float32Array): Float32Array {
  const y = new Float32Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b[o]!;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
      y[r * out + o] = s;
    }
  return y;
}

function seq(n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + 0.3) * scale);
}

test('a 3-D linear layer with symbolic batch runs in onnxruntime and matches a direct computation', async () => {
  const [inF, out] = [5, 3];
  const w = seq(out * inF, 0.5);
  const b = seq(out, 0.1);
  const g = new GraphBuilder('linear');
  const x = g.input('x', 'float32', ['B', 'T', inF]);
  const W = g.initializer('w', 'float32', [out, inF], { bytes: async () => new Uint8Array(w.buffer) });
  const B = g.initializer('b', 'float32', [out], { bytes: async () => new Uint8Array(b.buffer) });
  g.output('y', nn.linear(x, W, B));
  const compiled = await compileGraph(g.build());
  for (const [batch, T] of [[1, 4], [3, 2]] as const) {
    const xs = seq(batch * T * inF, 1);
    const { y } = await compiled.run({ x: Tensor.float32(xs, [batch, T, inF]) });
    assert.deepEqual(y!.shape, [batch, T, out]);
    assert.ok(maxAbsDiff(y!.data as Float32Array, referenceLinear(xs, batch * T, w, out, inF, b)) < 1e-6);
  }
  await compiled.dispose();
});

test('large initializers go to external data, including hard-linked checkpoint bytes at an offset', async () => {
  await withTempDir(async (dir) => {
    const n = 4096;
    const w = seq(n, 1);
    // A fake checkpoint: 100 bytes of header, then the tensor.
    const file = new Uint8Array(100 + w.byteLength);
    file.set(new Uint8Array(w.buffer), 100);
    const ckpt = join(dir, 'ckpt.bin');
    await writeFile(ckpt, file);
    const g = new GraphBuilder('ext');
    const x = g.input('x', 'float32', [n]);
    const linked = g.initializer('linked', 'float32', [n], { bytes: async () => { throw new Error('must not be read: it is linked'); }, extent: { path: ckpt, offset: 100, length: w.byteLength } });
    const copied = g.initializer('copied', 'float32', [n], { bytes: async () => new Uint8Array(w.buffer) });
    g.output('y', op.add(op.mul(x, linked), copied));
    const compiled = await compileGraph(g.build(), { workDir: dir });
    const ones = new Float32Array(n).fill(1);
    const { y } = await compiled.run({ x: Tensor.float32(ones, [n]) });
    const expected = w.map((v) => 2 * v);
    assert.ok(maxAbsDiff(y!.data as Float32Array, expected) < 1e-6);
    await compiled.dispose();
  });
});

test('wrong input shapes and dtypes are refused with the input named', async () => {
  const g = new GraphBuilder('id');
  const x = g.input('pixels', 'float32', ['B', 3]);
  g.output('y', op.relu(x));
  const compiled = await compileGraph(g.build());
  await assert.rejects(compiled.run({ pixels: Tensor.float32([1, 2, 3, 4], [2, 2]) }), /'pixels' has shape \[2, 2\], expected \[B, 3\]/);
  await assert.rejects(compiled.run({}), /missing input 'pixels'/);
  await compiled.dispose();
});

test('the inline encoder produces a model onnxruntime accepts (attributes of every kind)', async () => {
  const g = new GraphBuilder('attrs');
  const x = g.input('x', 'float32', [2, 3, 4]);
  const t = op.transpose(x, [2, 0, 1]); // ints attribute
  const ln = op.layerNormalization(t, g.constant('float32', [3], [2, 2, 2]), g.constant('float32', [3], [0.5, 0.5, 0.5]), 1e-5); // float attribute
  g.output('y', op.softmax(ln, 1)); // int attribute
  const bytes = await encodeOnnx(g.build());
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(bytes);
  const xs = seq(24, 2);
  const res = await session.run({ x: new ort.Tensor('float32', xs, [2, 3, 4]) });
  const y = res['y']!.data as Float32Array;
  // Reference: transpose → [4, 2, 3]; layer norm over the last axis (3), ×2 + 0.5; softmax over axis 1 (2).
  const ref = new Float32Array(24);
  for (let a = 0; a < 4; a++) {
    const rows: number[][] = [];
    for (let b = 0; b < 2; b++) {
      const v = [0, 1, 2].map((c) => xs[b * 12 + c * 4 + a]!);
      const mean = v.reduce((s, q) => s + q, 0) / 3;
      const variance = v.reduce((s, q) => s + (q - mean) ** 2, 0) / 3;
      rows.push(v.map((q) => ((q - mean) / Math.sqrt(variance + 1e-5)) * 2 + 0.5));
    }
    for (let c = 0; c < 3; c++) {
      const e0 = Math.exp(rows[0]![c]!);
      const e1 = Math.exp(rows[1]![c]!);
      ref[a * 6 + 0 * 3 + c] = e0 / (e0 + e1);
      ref[a * 6 + 1 * 3 + c] = e1 / (e0 + e1);
    }
  }
  assert.ok(maxAbsDiff(y, ref) < 1e-5);
  await session.release();
});

test('an unavailable GPU device fails with a message naming the device', async () => {
  const g = new GraphBuilder('dev');
  g.output('y', op.relu(g.input('x', 'float32', [2])));
  // Where the device exists, the graph must run correctly on it instead.
  for (const device of ['cuda', 'webgpu'] as const) {
    let compiled;
    try {
      compiled = await compileGraph(g.build(), { device });
    } catch (e) {
      assert.match((e as Error).message, new RegExp(`device '${device}' is not available`));
      continue;
    }
    const { y } = await compiled.run({ x: Tensor.float32([-1, 2], [2]) });
    assert.deepEqual(Array.from(y!.data as Float32Array), [0, 2]);
    await compiled.dispose();
  }
});

test('run(…, into): outputs are written into the caller\'s tensors, also in place over an input', async () => {
  const g = new GraphBuilder('axpy');
  const x = g.input('x', 'float32', ['N']);
  const y = g.input('y', 'float32', ['N']);
  const a = g.input('a', 'float32', [1]);
  g.output('out', op.add(op.mul(x, a), y));
  g.output('twice', op.add(x, x));
  const compiled = await compileGraph(g.build(), { sessionOptions: { enableCpuMemArena: false } });
  try {
    const n = 1000;
    const xs = seq(n, 1);
    const ys = seq(n, 0.25).reverse();
    const expected = xs.map((v, i) => Math.fround(Math.fround(v * 3) + ys[i]!));
    const xT = Tensor.float32(Float32Array.from(xs), [n]);
    const yT = Tensor.float32(Float32Array.from(ys), [n]);
    const into = Tensor.float32(new Float32Array(n), [n]);
    const r = await compiled.run({ x: xT, y: yT, a: Tensor.float32(Float32Array.of(3), [1]) }, undefined, { out: into });
    assert.equal(r['out'], into, 'the caller\'s tensor comes back');
    assert.deepEqual(Array.from(into.data), Array.from(expected));
    assert.deepEqual(Array.from(r['twice']!.data as Float32Array), Array.from(xs, (v) => v + v));
    // In place: the output shares its memory with the input `y` it depends on element-wise.
    await compiled.run({ x: xT, y: yT, a: Tensor.float32(Float32Array.of(3), [1]) }, ['out'], { out: yT });
    assert.deepEqual(Array.from(yT.data), Array.from(expected));
    await assert.rejects(() => compiled.run({ x: xT, y: yT, a: Tensor.float32(Float32Array.of(3), [1]) }, undefined, { nope: into }), /no output 'nope'/);
    await assert.rejects(
      () => compiled.run({ x: xT, y: yT, a: Tensor.float32(Float32Array.of(3), [1]) }, undefined, { out: new Tensor('int32', new Int32Array(n), [n]) }),
      /output 'out' is float32, the buffer given for it int32/,
    );
    await assert.rejects(
      () => compiled.run({ x: xT, y: yT, a: Tensor.float32(Float32Array.of(3), [1]) }, undefined, { out: Tensor.float32(new Float32Array(n), [1, n]) }),
      /output 'out' has shape \[N\], the buffer given for it \[1, 1000\]/,
    );
  } finally {
    await compiled.dispose();
  }
});

test("checkDevice: 'cpu' resolves; 'webgpu' either runs a graph or fails fast with an error that says there is no GPU adapter", async () => {
  await checkDevice('cpu');
  const t0 = performance.now();
  let error: Error | null = null;
  try {
    await checkDevice('webgpu');
  } catch (e) {
    error = e as Error;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (error) {
    assert.match(error.message, /^device 'webgpu' is not available \(no GPU adapter/);
    assert.ok(seconds < 30, `the failing check took ${seconds.toFixed(1)} s`);
    // Not cached as a success, and the same answer again.
    await assert.rejects(checkDevice('webgpu'), /device 'webgpu' is not available/);
    console.log(`# no WebGPU adapter here (${seconds.toFixed(2)} s): ${error.message.split('\n')[0]!.slice(0, 160)}`);
  } else {
    // A GPU is present: a graph compiled for it gives the CPU's answer.
    const g = new GraphBuilder('device_check_test');
    g.output('y', op.mul(g.input('x', 'float32', [3]), g.scalar(2)));
    const graph = await compileGraph(g.build(), { device: 'webgpu' });
    try {
      assert.deepEqual([...((await graph.run({ x: Tensor.float32(Float32Array.of(1, 2, 3), [3]) }))['y']!.data as Float32Array)], [2, 4, 6]);
    } finally {
      await graph.dispose();
    }
    console.log('# a WebGPU adapter is present: checkDevice resolved and a graph ran on it');
  }
});
