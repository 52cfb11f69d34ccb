import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, adamwCoefficients } from '../../src/train/optim/adamw.js';
import { TeacherEma } from '../../src/train/optim/ema.js';
import { GradClipper } from '../../src/train/optim/clipGradNorm.js';
import { ParamStore } from '../../src/train/optim/paramStore.js';
import { chunkGraphRuntime, slices } from '../../src/train/optim/chunkRuntime.js';
import { Rng } from '../../src/core/rng.js';

const f = Math.fround;

function store(): ParamStore {
  const rng = new Rng(7);
  const shapes: [string, number[]][] = [
    ['backbone.cls_token', [1, 1, 8]],
    ['backbone.blocks.0.attn.qkv.weight', [24, 8]],
    ['dino_head.mlp.0.weight', [12, 8]],
  ];
  const s = ParamStore.create(
    shapes.map(([name, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return { name, shape, data: Float32Array.from({ length: n }, () => rng.normal()), teacher: Float32Array.from({ length: n }, () => rng.normal()) };
    }),
    { groups: { layerwiseDecay: 1, patchEmbedLrMult: 0.2 }, maxChunkElements: 100 },
  );
  for (const slot of s.slots) s.setGrad(slot.name, Float32Array.from({ length: slot.size }, () => rng.normal()));
  return s;
}

test('chunk graphs: memory pattern off unless the caller says otherwise; slices cover a chunk', () => {
  assert.deepEqual(chunkGraphRuntime().sessionOptions, { enableMemPattern: false });
  assert.deepEqual(chunkGraphRuntime({ threads: 1, sessionOptions: { enableMemPattern: true, enableCpuMemArena: false } }), {
    threads: 1,
    sessionOptions: { enableMemPattern: true, enableCpuMemArena: false },
  });
  assert.deepEqual([...slices(10, 4)], [[0, 4], [4, 8], [8, 10]]);
  assert.deepEqual([...slices(8, 8)], [[0, 8]]);
  assert.throws(() => new TeacherEma(store(), undefined, 0), /runElements must be a positive integer, got 0/);
});

for (const runElements of [undefined, 7]) test(`AdamW, the EMA and clipping update the store's arrays in place, with the documented float32 arithmetic (runElements ${runElements ?? 'default'})`, async () => {
  const s = store();
  const arrays = [s.student, s.teacher, s.grad, s.expAvg, s.expAvgSq].map((a) => [...a]);
  // The reference: the file comments' formulas element by element, in float32 (each op rounded once).
  const p0 = s.student.map((a) => a.slice());
  const g0 = s.grad.map((a) => a.slice());
  const t0 = s.teacher.map((a) => a.slice());
  const view = s.param('backbone.blocks.0.attn.qkv.weight');

  const clipper = new GradClipper(s, undefined, runElements);
  const adamw = new AdamW(s, runElements ? { runElements } : {});
  const ema = new TeacherEma(s, undefined, runElements);
  assert.ok(s.chunks.some((c) => c.size > 7), 'a chunk is cut into several slices');
  try {
    const clip = await clipper.clip_(1.0);
    const hyper = { lr: 0.01, wd: 0.04, lastLayerLr: 0.01 };
    await adamw.step(hyper);
    await ema.update(0.9);
    [s.student, s.teacher, s.grad, s.expAvg, s.expAvgSq].forEach((a, i) => a.forEach((x, c) => assert.equal(x, arrays[i]![c], `array ${i}, chunk ${c} replaced`)));
    for (let c = 0; c < s.chunks.length; c++) {
      const group = s.groups[s.chunks[c]!.group]!;
      const scale = clip.scales.get(group.module)!;
      assert.ok(scale < 1, 'the test clips');
      const k = adamwCoefficients({ lr: hyper.lr * group.lrMultiplier, weightDecay: hyper.wd * group.wdMultiplier }, 1, 0.9, 0.999);
      for (let i = 0; i < s.chunks[c]!.size; i++) {
        const gs = f(g0[c]![i]! * scale);
        assert.equal(s.grad[c]![i], gs, `clipped grad ${c}/${i}`);
        const gs2 = f(gs * f(1)); // AdamW's grad_scale is 1 without scales
        const m = f(f(0 * f(0.9)) + f(f(1 - 0.9) * gs2));
        const v = f(f(0 * f(0.999)) + f(f(1 - 0.999) * f(gs2 * gs2)));
        const den = f(f(f(Math.sqrt(v)) / k.bc2Sqrt) + f(1e-8));
        const p = f(f(p0[c]![i]! * k.decay) + f(k.negStepSize * f(m / den)));
        assert.equal(s.expAvg[c]![i], m, `exp_avg ${c}/${i}`);
        assert.equal(s.expAvgSq[c]![i], v, `exp_avg_sq ${c}/${i}`);
        assert.equal(s.student[c]![i], p, `param ${c}/${i}`);
        assert.equal(s.teacher[c]![i], f(f(t0[c]![i]! * f(0.9)) + f(f(1 - 0.9) * p)), `teacher ${c}/${i}`);
      }
    }
    // A view taken before the step sees the new values (the arrays were written, not replaced).
    assert.deepEqual(view, s.param('backbone.blocks.0.attn.qkv.weight'));
  } finally {
    await clipper.dispose();
    await adamw.dispose();
    await ema.dispose();
  }
});
