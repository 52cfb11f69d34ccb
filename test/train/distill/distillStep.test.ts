import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileGraph } from '../../../src/graph/runtime.js';
import { Tensor } from '../../../src/core/tensor.js';
import { Rng } from '../../../src/core/rng.js';
import { makeConfig } from '../../../src/models/config.js';
import { Dinov2 } from '../../../src/models/dinov2.js';
import { backboneStateDictShapes } from '../../../src/models/stateDictShapes.js';
import { storedFloat32, type WeightStore } from '../../../src/models/weightStore.js';
import { buildDistillStudentGraph, teacherHeadShapes, type DistillConfig } from '../../../src/train/distill/distillGraphs.js';
import { DistillTrainer } from '../../../src/train/distill/distillStep.js';
import { SSL_IO } from '../../../src/train/ssl/sslMetaArch.js';
import { OFFICIAL_OPTIM } from '../../../src/train/ssl/sslStep.js';
import { TINY_SSL, tinySslBatch, tinySslStore } from '../tinySsl.js';

/** A 24-wide, 3-block teacher (wider and deeper than the 16-wide, 2-block student), seeded weights. */
const TEACHER = makeConfig({ img_size: 28, patch_size: 14, embed_dim: 24, depth: 3, num_heads: 2, num_register_tokens: 0 });

function seeded(shapes: Iterable<[string, readonly number[]]>, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [key, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const ones = /norm\d?\.weight$/.test(key) || key.endsWith('gamma') || key.endsWith('weight_g');
    out.set(key, ones ? new Float32Array(n).fill(1) : Float32Array.from({ length: n }, () => 0.3 * rng.normal()));
  }
  return out;
}

function teacherModel(): Dinov2 {
  const store: WeightStore = new Map();
  for (const [k, v] of seeded(backboneStateDictShapes(TEACHER), 11)) store.set(k, storedFloat32(backboneStateDictShapes(TEACHER).get(k)!, v));
  return new Dinov2(TEACHER, store);
}

for (const centering of ['sinkhorn_knopp', 'centering'] as const) {
  test(`distillation step (${centering}): the student's gradients match finite differences of the loss`, async () => {
    const cfg: DistillConfig = { student: { ...TINY_SSL, centering }, teacher: TEACHER };
    const teacher = teacherModel();
    const trainer = new DistillTrainer(cfg, tinySslStore(cfg.student), teacher, seeded(teacherHeadShapes(cfg), 12), { optim: OFFICIAL_OPTIM });
    const batch = tinySslBatch(5, []);
    try {
      const { out: targets } = await trainer.teacherTargets(batch, 0.06);
      const dino = targets[SSL_IO.teacherDinoTargets]!.data as Float32Array;
      // Targets are distributions over the prototypes, one per global crop.
      for (let r = 0; r < 4; r++) assert.ok(Math.abs(dino.subarray(r * 12, (r + 1) * 12).reduce((a, b) => a + b, 0) - 1) < 1e-5);
      const withGrads = await compileGraph(buildDistillStudentGraph(cfg));
      const forward = await compileGraph(buildDistillStudentGraph(cfg, { gradients: false }));
      const store = trainer.store;
      const feeds: Record<string, Tensor> = {
        [SSL_IO.globalCrops]: batch.globalCrops,
        [SSL_IO.localCrops]: batch.localCrops!,
        [SSL_IO.teacherDinoTargets]: targets[SSL_IO.teacherDinoTargets]!,
        [SSL_IO.teacherIbotTargets]: targets[SSL_IO.teacherIbotTargets]!,
      };
      for (const s of store.slots) feeds[SSL_IO.student(s.name)] = Tensor.float32(Float32Array.from(store.param(s.name)), s.shape);
      const out = await withGrads.run(feeds);
      const loss = async (f: Record<string, Tensor>): Promise<number> => ((await forward.run(f))[SSL_IO.loss('total')]!.data as Float32Array)[0]!;
      assert.equal(await loss(feeds), (out[SSL_IO.loss('total')]!.data as Float32Array)[0]);
      // The mask token is unused (nothing is masked): zero gradient.
      assert.ok((out[SSL_IO.grad('backbone.mask_token')]!.data as Float32Array).every((v) => v === 0));
      const keys = ['backbone.patch_embed.proj.weight', 'backbone.blocks.0.attn.qkv.weight', 'backbone.blocks.1.mlp.fc2.weight', 'backbone.norm.weight', 'dino_head.mlp.0.weight', 'dino_head.last_layer.weight_v'];
      const h = 2e-2;
      let checked = 0;
      for (const key of keys) {
        const ad = out[SSL_IO.grad(key)]!.data as Float32Array;
        const base = feeds[SSL_IO.student(key)] as Tensor<'float32'>;
        const scale = Math.max(...Array.from(ad, Math.abs));
        // Far above the absolute tolerance, so a wrong gradient cannot pass as noise.
        assert.ok(scale > 2e-2, `${key}: the gradient is too small to check (${scale})`);
        for (const i of [0, Math.floor(base.size / 3), Math.floor((2 * base.size) / 3), base.size - 1]) {
          const at = async (d: number): Promise<number> => {
            const data = Float32Array.from(base.data);
            data[i] = data[i]! + d;
            return loss({ ...feeds, [SSL_IO.student(key)]: Tensor.float32(data, base.shape) });
          };
          const central = async (d: number) => ((await at(d)) - (await at(-d))) / (2 * d);
          const fd = (4 * (await central(h / 2)) - (await central(h))) / 3;
          // Float32 losses of about 10: rounding noise ≈ 1e-6 / h; a wrong rule is off by the gradient itself.
          assert.ok(Math.abs(fd - ad[i]!) <= 2.5e-4 + 1e-2 * Math.abs(ad[i]!), `d loss / d ${key}[${i}]: autodiff ${ad[i]} vs finite difference ${fd}`);
          checked++;
        }
      }
      assert.equal(checked, 24);
      await withGrads.dispose();
      await forward.dispose();
    } finally {
      await trainer.dispose();
      await teacher.dispose();
    }
  });
}

test('distillation step: named crops reuse the teacher outputs (same targets, counted as cached); the EMA follows the student', async () => {
  const cfg: DistillConfig = { student: { ...TINY_SSL, centering: 'sinkhorn_knopp' }, teacher: TEACHER };
  const teacher = teacherModel();
  let calls = 0;
  const counting = { forwardFeatures: (x: Tensor) => (calls++, teacher.forwardFeatures(x)) };
  const trainer = new DistillTrainer(cfg, tinySslStore(cfg.student), counting, seeded(teacherHeadShapes(cfg), 12), { optim: OFFICIAL_OPTIM });
  try {
    const batch = { ...tinySslBatch(5, []), keys: ['a', 'b'] };
    const first = await trainer.teacherTargets(batch, 0.06);
    const second = await trainer.teacherTargets(batch, 0.06);
    assert.equal(calls, 1);
    assert.equal(first.cached, 0);
    assert.equal(second.cached, 4);
    assert.deepEqual(second.out[SSL_IO.teacherIbotTargets]!.data, first.out[SSL_IO.teacherIbotTargets]!.data);
    const before = Float32Array.from(trainer.store.teacherParam('backbone.blocks.0.attn.qkv.weight'));
    const hyper = { lr: 1e-2, wd: 0.04, lastLayerLr: 1e-2, teacherTemp: 0.06, teacherMomentum: 0.5 };
    const r = await trainer.step(batch, hyper);
    assert.equal(r.cachedCrops, 4);
    assert.ok(Number.isFinite(r.losses.total));
    // EMA with momentum 0.5: halfway between its old value and the updated student.
    const ema = trainer.store.teacherParam('backbone.blocks.0.attn.qkv.weight');
    const student = trainer.store.param('backbone.blocks.0.attn.qkv.weight');
    for (const i of [0, 7, 100]) assert.ok(Math.abs(ema[i]! - (0.5 * before[i]! + 0.5 * student[i]!)) < 1e-6);
    assert.ok(student.some((v, i) => v !== before[i]), 'the student did not move');
  } finally {
    await trainer.dispose();
    await teacher.dispose();
  }
});
