import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TeacherEma } from '../../src/train/optim/ema.js';
import { ParamStore, type ParamInit } from '../../src/train/optim/paramStore.js';
import { Rng } from '../../src/core/rng.js';
import { findTorchPython, runPython, tempDir } from '../formats/helpers.js';

const f = Math.fround;
const GROUP_OPTIONS = { layerwiseDecay: 1, patchEmbedLrMult: 0.2 };
const MOMENTA = [0.992, 0.9925, 0.99312345, 0.996, 1];

function params(seed: number): ParamInit[] {
  const rng = new Rng(seed);
  const shapes: [string, number[]][] = [
    ['backbone.cls_token', [1, 1, 8]],
    ['backbone.blocks.0.attn.qkv.weight', [24, 8]],
    ['backbone.blocks.0.attn.qkv.bias', [24]],
    ['dino_head.mlp.0.weight', [12, 8]],
    ['dino_head.last_layer.weight_g', [6, 1]],
    ['ibot_head.mlp.0.weight', [12, 8]],
  ];
  return shapes.map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, shape, data: Float32Array.from({ length: n }, () => rng.normal()), teacher: Float32Array.from({ length: n }, () => rng.normal()) };
  });
}

/** Replaces the student values, as an optimizer step would between two EMA updates. */
function moveStudent(store: ParamStore, k: number): void {
  const rng = new Rng(100 + k);
  for (const s of store.slots) store.param(s.name).set(Float32Array.from({ length: s.size }, () => rng.normal()));
}

test('EMA graph = float32 t·m + (1−m)·s, bit for bit, every module and chunk', async () => {
  const init = params(1);
  const store = ParamStore.create(init, { groups: GROUP_OPTIONS, maxChunkElements: 200 });
  assert.ok(store.chunks.length > 1);
  const ref = new Map(init.map((p) => [p.name, Float32Array.from(p.teacher!)]));
  const ema = new TeacherEma(store);
  try {
    for (let k = 0; k < MOMENTA.length; k++) {
      moveStudent(store, k);
      const m = MOMENTA[k]!;
      await ema.update(m);
      for (const s of store.slots) {
        const t = ref.get(s.name)!;
        const st = store.param(s.name);
        for (let i = 0; i < t.length; i++) t[i] = f(f(t[i]! * f(m)) + f(f(1 - m) * st[i]!));
        assert.deepEqual(store.teacherParam(s.name), t, `step ${k}: ${s.name}`);
      }
    }
    // Momentum 1 (the schedule's end) keeps the teacher.
    const before = store.teacherParam('backbone.cls_token').slice();
    moveStudent(store, 99);
    await ema.update(1);
    assert.deepEqual(store.teacherParam('backbone.cls_token'), before);
    await assert.rejects(ema.update(NaN), /finite/);
  } finally {
    await ema.dispose();
  }
});

test('EMA matches the official update_teacher (torch _foreach_mul_ / _foreach_add_)', async (t) => {
  const python = findTorchPython();
  if (!python) return t.skip('no python with torch');
  const dir = await tempDir();
  const init = params(2);
  const store = ParamStore.create(init, { groups: GROUP_OPTIONS });
  const students: Float32Array[] = [];
  for (let k = 0; k < MOMENTA.length; k++) {
    moveStudent(store, k);
    for (const s of store.slots) students.push(store.param(s.name).slice());
  }
  await writeFile(join(dir, 'teacher.bin'), Buffer.concat(init.map((p) => Buffer.from(p.teacher!.buffer))));
  await writeFile(join(dir, 'students.bin'), Buffer.concat(students.map((s) => Buffer.from(s.buffer))));
  await writeFile(join(dir, 'spec.json'), JSON.stringify({ sizes: store.slots.map((s) => s.size), momenta: MOMENTA }));
  const script = String.raw`
import json, sys, numpy as np, torch
d = sys.argv[1]
spec = json.load(open(d + '/spec.json'))
sizes = spec['sizes']
def split(buf):
    out, o = [], 0
    for n in sizes:
        out.append(torch.from_numpy(buf[o:o + n].copy())); o += n
    return out
teacher = split(np.fromfile(d + '/teacher.bin', dtype='<f4'))
students = np.fromfile(d + '/students.bin', dtype='<f4')
total = sum(sizes)
with torch.no_grad():
    for k, m in enumerate(spec['momenta']):
        student = split(students[k * total:(k + 1) * total])
        torch._foreach_mul_(teacher, m)
        torch._foreach_add_(teacher, student, alpha=1 - m)
torch.cat(teacher).numpy().astype('<f4').tofile(d + '/out.bin')
`;
  runPython(python, script, [dir]);
  const ema = new TeacherEma(store);
  try {
    let o = 0;
    for (let k = 0; k < MOMENTA.length; k++) {
      for (const s of store.slots) store.param(s.name).set(students[o++]!);
      await ema.update(MOMENTA[k]!);
    }
  } finally {
    await ema.dispose();
  }
  const want = new Float32Array((await readFile(join(dir, 'out.bin'))).buffer.slice(0));
  let o = 0;
  let same = 0;
  for (const s of store.slots) {
    const got = store.teacherParam(s.name);
    for (let i = 0; i < s.size; i++, o++) {
      assert.ok(Math.abs(got[i]! - want[o]!) <= 1e-6 * Math.max(1, Math.abs(want[o]!)), `${s.name}[${i}]: ${got[i]} vs torch ${want[o]}`);
      if (got[i] === want[o]) same++;
    }
  }
  t.diagnostic(`${same}/${o} teacher values bit-identical to torch`);
});
