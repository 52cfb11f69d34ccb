import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTrainState, saveTrainState } from '../../src/train/ssl/checkpoint.js';
import type { ParamStore } from '../../src/train/optim/paramStore.js';
import type { SslStepHyper } from '../../src/train/ssl/sslConfig.js';
import { DINO_CENTER, IBOT_CENTER, OFFICIAL_OPTIM, SslTrainer, type SslStepResult } from '../../src/train/ssl/sslStep.js';
import { withTempDir } from '../helpers.js';
import { TINY_SSL, tinySslBatch, tinySslStore } from './tinySsl.js';

const CFG = TINY_SSL;
const HYPER: SslStepHyper = { lr: 1e-3, wd: 0.04, lastLayerLr: 5e-4, teacherTemp: 0.07, teacherMomentum: 0.99 };

const randomStore = (): ParamStore => tinySslStore();
const batch = tinySslBatch;

// Two batches with different numbers of masked patches: one compiled graph serves both.
const BATCHES = [batch(1, [0, 3, 9]), batch(2, [1, 2, 4, 5, 14])];

function snapshot(store: ParamStore, r: SslStepResult) {
  const copy = (xs: Float32Array[]) => xs.map((x) => Float32Array.from(x));
  return {
    student: copy(store.student),
    teacher: copy(store.teacher),
    expAvg: copy(store.expAvg),
    expAvgSq: copy(store.expAvgSq),
    centers: [Float32Array.from(store.buffer(DINO_CENTER).data), Float32Array.from(store.buffer(IBOT_CENTER).data)],
    losses: r.losses,
  };
}

test('two SSL steps: state carried (params, AdamW moments and counts, EMA teacher, centers), losses finite', async () => {
  const store = randomStore();
  const teacher0 = Float32Array.from(store.teacherParam('backbone.blocks.0.attn.qkv.weight'));
  const trainer = new SslTrainer(CFG, store, { optim: OFFICIAL_OPTIM, returnIbotTargets: true });
  try {
    const centers: Float32Array[] = [Float32Array.from(store.buffer(DINO_CENTER).data)];
    for (const [i, b] of BATCHES.entries()) {
      const r = await trainer.step(b, HYPER);
      for (const [k, v] of Object.entries(r.losses)) assert.ok(Number.isFinite(v), `step ${i}: loss ${k} = ${v}`);
      const sum = r.losses.dino_local_crops + r.losses.dino_global_crops + r.losses.koleo + r.losses.ibot;
      assert.ok(Math.abs(sum - r.losses.total) < 1e-5, `step ${i}: terms sum to ${sum}, total ${r.losses.total}`);
      assert.equal(r.teacherIbotTargets?.shape[0], b.masks.data.reduce((a, v) => a + v, 0));
      assert.deepEqual([...r.gradNorms.keys()], ['backbone', 'dino_head']);
      assert.ok([...store.steps].every((s) => s === i + 1));
      assert.equal(store.iteration, i + 1);
      centers.push(Float32Array.from(store.buffer(DINO_CENTER).data));
      assert.notDeepEqual(centers[i + 1], centers[i], `step ${i}: the DINO center moves`);
      assert.ok(store.buffer(IBOT_CENTER).data.some((v) => v !== 0));
    }
    assert.ok(store.expAvgSq.every((c) => c.some((v) => v > 0)));
    assert.notDeepEqual(store.teacherParam('backbone.blocks.0.attn.qkv.weight'), teacher0);
  } finally {
    await trainer.dispose();
  }
});

test('SSL step resumed from a checkpoint gives the same bits as the uninterrupted run', async () => {
  await withTempDir(async (dir) => {
    const store = randomStore();
    const trainer = new SslTrainer(CFG, store, { optim: OFFICIAL_OPTIM });
    let straight;
    try {
      const first = await trainer.step(BATCHES[0]!, HYPER);
      assert.equal(first.teacherIbotTargets, undefined, 'iBOT targets are handed back only when asked for');
      await saveTrainState(dir, store);
      straight = snapshot(store, await trainer.step(BATCHES[1]!, HYPER));
    } finally {
      await trainer.dispose();
    }
    const { store: loaded } = await loadTrainState(dir);
    assert.equal(loaded.iteration, 1);
    const resumedTrainer = new SslTrainer(CFG, loaded, { optim: OFFICIAL_OPTIM });
    try {
      const resumed = snapshot(loaded, await resumedTrainer.step(BATCHES[1]!, HYPER));
      assert.deepEqual(resumed, straight);
    } finally {
      await resumedTrainer.dispose();
    }
  });
});

test('SslTrainer.save / resume continue a run with stochastic depth bit for bit (the drop-path generator is saved)', async () => {
  await withTempDir(async (dir) => {
    const cfg = { ...CFG, dropPathRate: 0.4 };
    const store = tinySslStore(cfg);
    const trainer = new SslTrainer(cfg, store, { optim: OFFICIAL_OPTIM, dropPathSeed: 3 });
    let straight;
    try {
      await trainer.step(BATCHES[0]!, HYPER);
      await trainer.save(dir);
      straight = snapshot(store, await trainer.step(BATCHES[1]!, HYPER));
    } finally {
      await trainer.dispose();
    }
    const resumed = await SslTrainer.resume(dir, cfg, { optim: OFFICIAL_OPTIM, dropPathSeed: 99 });
    try {
      assert.deepEqual(snapshot(resumed.store, await resumed.step(BATCHES[1]!, HYPER)), straight);
    } finally {
      await resumed.dispose();
    }
  });
});
