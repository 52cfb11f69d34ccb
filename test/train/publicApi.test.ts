import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  OFFICIAL_OPTIM,
  Rng,
  SslTrainer,
  Tensor,
  buildSchedules,
  collateMasks,
  createSslStore,
  maskingGeneratorForCrops,
  type SslConfig,
} from '../../src/index.js';
import { TINY_SSL } from './tinySsl.js';

// A user's loop through the package entry only: official schedules, masks from the official generator
// and collate, then steps. Losses must be finite and the student and teacher must move.
test('training through the package entry: schedules, collated iBOT masks and two SSL steps', async () => {
  const cfg: SslConfig = { ...TINY_SSL, backbone: { ...TINY_SSL.backbone, num_register_tokens: 0 }, centering: 'sinkhorn_knopp' };
  const rng = new Rng(1);
  const store = createSslStore(cfg, OFFICIAL_OPTIM, (key, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (key.endsWith('weight_g') || /norm\d?\.weight$/.test(key) || key.endsWith('gamma')) return new Float32Array(n).fill(1);
    return Float32Array.from({ length: n }, () => 0.2 * rng.normal());
  });
  const schedules = buildSchedules({
    lr: 1e-3, minLr: 1e-6, warmupEpochs: 1, weightDecay: 0.04, weightDecayEnd: 0.4, momentumTeacher: 0.992, finalMomentumTeacher: 1,
    teacherTemp: 0.07, warmupTeacherTemp: 0.04, warmupTeacherTempEpochs: 1, freezeLastLayerEpochs: 0, epochs: 2, epochLength: 4,
  });
  const generator = maskingGeneratorForCrops(cfg.globalCropsSize, cfg.backbone.patch_size);
  const trainer = new SslTrainer(cfg, store, { optim: OFFICIAL_OPTIM });
  const before = Float32Array.from(store.param('backbone.cls_token'));
  const teacherBefore = Float32Array.from(store.teacherParam('backbone.cls_token'));
  try {
    for (let it = 0; it < 2; it++) {
      const m = collateMasks({ batchSize: 2 * cfg.nImages, maskGenerator: generator, rng });
      const crops = (n: number, s: number) => Tensor.float32(Float32Array.from({ length: n * 3 * s * s }, () => rng.normal()), [n, 3, s, s]);
      const r = await trainer.step(
        { globalCrops: crops(2 * cfg.nImages, 28), localCrops: crops(cfg.localCropsNumber * cfg.nImages, 14), masks: new Tensor('uint8', m.collatedMasks, [m.batchSize, m.nTokens]) },
        {
          lr: schedules.lr.at(it),
          wd: schedules.wd.at(it),
          lastLayerLr: schedules.lastLayerLr.at(it),
          teacherTemp: schedules.teacherTemp.at(it),
          teacherMomentum: schedules.momentum.at(it),
        },
      );
      for (const [term, v] of Object.entries(r.losses)) assert.ok(Number.isFinite(v), `${term} = ${v} at iteration ${it}`);
    }
  } finally {
    await trainer.dispose();
  }
  assert.equal(store.iteration, 2);
  assert.ok(store.param('backbone.cls_token').some((v, i) => v !== before[i]), 'the student moved');
  assert.ok(store.teacherParam('backbone.cls_token').some((v, i) => v !== teacherBefore[i]), 'the teacher moved');
});
