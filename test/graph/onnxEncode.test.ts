/** encodeOnnxInMemory (the browser's encoding): inline, and with one external-data buffer, run by onnxruntime-node. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/graph/builder.js';
import * as nn from '../../src/graph/nn.js';
import { encodeOnnx, encodeOnnxInMemory } from '../../src/graph/onnxEncode.js';
import { withTempDir } from '../helpers.js';

function linearGraph(w: Float32Array, b: Float32Array, out: number, inF: number) {
  const g = new GraphBuilder('linear');
  const x = g.input('x', 'float32', ['B', inF]);
  const W = g.initializer('w', 'float32', [out, inF], { bytes: async () => new Uint8Array(w.buffer) });
  const B = g.initializer('b', 'float32', [out], { bytes: async () => new Uint8Array(b.buffer) });
  g.output('y', nn.linear(x, W, B));
  return g.build();
}

test('encodeOnnxInMemory: all inline equals encodeOnnx; with a threshold, large tensors go page-aligned to one buffer', async () => {
  const [inF, out] = [40, 30];
  const w = Float32Array.from({ length: out * inF }, (_, i) => Math.sin(i) / 10);
  const b = Float32Array.from({ length: out }, (_, i) => i / 100);
  const ir = linearGraph(w, b, out, inF);
  const inline = await encodeOnnxInMemory(ir);
  assert.deepEqual(inline.model, await encodeOnnx(ir));
  assert.equal(inline.external.parts.length, 0);

  const split = await encodeOnnxInMemory(ir, { externalThreshold: 1000, location: 'weights.bin' });
  // w (4800 bytes) goes out at offset 0; b (120 bytes) stays inline.
  assert.equal(split.external.byteLength, 4800);
  assert.ok(split.model.length < inline.model.length - 4000);
  await withTempDir(async (dir) => {
    const data = new Uint8Array(split.external.byteLength);
    let at = 0;
    for (const p of split.external.parts) {
      data.set(p, at);
      at += p.length;
    }
    await writeFile(join(dir, 'weights.bin'), data);
    await writeFile(join(dir, 'model.onnx'), split.model);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const x = Float32Array.from({ length: 2 * inF }, (_, i) => Math.cos(i));
    const y = (await session.run({ x: new ort.Tensor('float32', x, [2, inF]) }))['y']!.data as Float32Array;
    for (let r = 0; r < 2; r++) {
      for (let o = 0; o < out; o++) {
        let s = b[o]!;
        for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
        assert.ok(Math.abs(y[r * out + o]! - s) < 1e-5, `y[${r}, ${o}] = ${y[r * out + o]} vs ${s}`);
      }
    }
    await session.release();
  });
});
