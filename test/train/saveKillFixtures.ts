/** What the save kill tests' child and parent both build: a seeded ParamStore per generation, a tiny run. */
import { ParamStore } from '../../src/train/optim/paramStore.js';
import { Rng } from '../../src/core/rng.js';
import { TINY_SSL } from './tinySsl.js';

/** A store whose every value depends on `generation` (iteration = generation). */
export function killStore(generation: number): ParamStore {
  const rng = new Rng(100 + generation);
  const shapes: [string, number[]][] = [
    ['backbone.cls_token', [1, 1, 8]],
    ['backbone.blocks.0.attn.qkv.weight', [24, 8]],
    ['dino_head.last_layer.weight_v', [10, 12]],
  ];
  const store = ParamStore.create(
    shapes.map(([name, shape]) => ({ name, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()) })),
    { groups: { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 }, maxChunkElements: 256 },
  );
  store.setBuffer('dino_loss.center', [1, 10], Float32Array.from({ length: 10 }, () => rng.normal()));
  for (const s of store.slots) {
    store.expAvgOf(s.name).fill(generation * 0.5);
    store.expAvgSqOf(s.name).fill(generation * 0.25);
    store.teacherParam(s.name).set(store.param(s.name));
  }
  store.iteration = generation;
  return store;
}

export const KILL_RUN = {
  cfg: TINY_SSL,
  schedule: {
    lr: 1e-3, minLr: 1e-6, warmupEpochs: 0, weightDecay: 0.04, weightDecayEnd: 0.4, momentumTeacher: 0.992, finalMomentumTeacher: 1,
    teacherTemp: 0.07, warmupTeacherTemp: 0.04, warmupTeacherTempEpochs: 1, freezeLastLayerEpochs: 0, epochs: 1, epochLength: 3,
  },
  iterations: 3,
  saveEvery: 1,
  seed: 5,
  augmentWorkers: 0,
};
