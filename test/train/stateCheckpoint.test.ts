import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdamW } from '../../src/train/optim/adamw.js';
import { captureRngState, currentTrainStateDir, loadTrainState, restoreRngState, saveTrainState, type RngState } from '../../src/train/ssl/checkpoint.js';
import { GradClipper } from '../../src/train/optim/clipGradNorm.js';
import { TeacherEma } from '../../src/train/optim/ema.js';
import { ParamStore, type ParamInit } from '../../src/train/optim/paramStore.js';
import { buildSchedules, type ScheduleConfig } from '../../src/train/optim/schedules.js';
import { Rng } from '../../src/core/rng.js';
import { tempDir } from '../formats/helpers.js';

const GROUP_OPTIONS = { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 };
const SCHEDULE: ScheduleConfig = {
  lr: 4e-3,
  minLr: 1e-6,
  warmupEpochs: 1,
  weightDecay: 0.04,
  weightDecayEnd: 0.2,
  momentumTeacher: 0.992,
  finalMomentumTeacher: 1,
  teacherTemp: 0.07,
  warmupTeacherTemp: 0.04,
  warmupTeacherTempEpochs: 1,
  freezeLastLayerEpochs: 1,
  epochs: 4,
  epochLength: 2,
};

function studentParams(seed: number): ParamInit[] {
  const rng = new Rng(seed);
  const shapes: [string, number[]][] = [
    ['backbone.cls_token', [1, 1, 8]],
    ['backbone.pos_embed', [1, 5, 8]],
    ['backbone.patch_embed.proj.weight', [8, 3, 2, 2]],
    ['backbone.patch_embed.proj.bias', [8]],
    ['backbone.blocks.0.norm1.weight', [8]],
    ['backbone.blocks.0.attn.qkv.weight', [24, 8]],
    ['backbone.blocks.0.ls1.gamma', [8]],
    ['backbone.blocks.1.mlp.fc1.weight', [16, 8]],
    ['backbone.blocks.1.mlp.fc1.bias', [16]],
    ['backbone.norm.weight', [8]],
    ['dino_head.mlp.0.weight', [12, 8]],
    ['dino_head.last_layer.weight_g', [10, 1]],
    ['dino_head.last_layer.weight_v', [10, 12]],
    ['ibot_head.mlp.0.weight', [12, 8]],
    ['ibot_head.last_layer.weight_v', [10, 12]],
  ];
  return shapes.map(([name, shape]) => ({ name, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()) }));
}

function newStore(): ParamStore {
  const store = ParamStore.create(studentParams(7), { groups: GROUP_OPTIONS, maxChunkElements: 256 });
  store.setBuffer('dino_loss.center', [1, 10], new Float32Array(10));
  store.setBuffer('ibot_patch_loss.center', [1, 1, 10], new Float32Array(10));
  return store;
}

/**
 * One training iteration with everything that carries state: RNG-drawn gradients that depend on the
 * parameters, clipping, AdamW, EMA, a center update, the iteration counter.
 */
async function trainStep(store: ParamStore, rng: Rng): Promise<void> {
  const sched = buildSchedules(SCHEDULE);
  const it = store.iteration;
  for (const s of store.slots) {
    const p = store.param(s.name);
    store.setGrad(s.name, Float32Array.from(p, (x) => 0.5 * x + rng.normal() * 2));
  }
  const clipper = new GradClipper(store);
  const opt = new AdamW(store);
  const ema = new TeacherEma(store);
  try {
    const { scales } = await clipper.compute(3.0);
    await opt.step({ lr: sched.lr.at(it), wd: sched.wd.at(it), lastLayerLr: sched.lastLayerLr.at(it) }, scales);
    await ema.update(sched.momentum.at(it));
  } finally {
    await Promise.all([clipper.dispose(), opt.dispose(), ema.dispose()]);
  }
  for (const name of ['dino_loss.center', 'ibot_patch_loss.center']) {
    const c = store.buffer(name).data;
    for (let i = 0; i < c.length; i++) c[i] = Math.fround(Math.fround(c[i]! * 0.9) + Math.fround(0.1 * rng.normal()));
  }
  store.iteration = it + 1;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function assertSameState(a: ParamStore, b: ParamStore): void {
  assert.deepEqual(b.slots, a.slots);
  assert.deepEqual(b.groups, a.groups);
  assert.deepEqual(b.chunks, a.chunks);
  assert.deepEqual(b.steps, a.steps);
  assert.equal(b.iteration, a.iteration);
  for (const s of a.slots) {
    for (const k of ['param', 'teacherParam', 'expAvgOf', 'expAvgSqOf'] as const) {
      assert.deepEqual(bits(b[k](s.name)), bits(a[k](s.name)), `${k}(${s.name})`);
    }
  }
  assert.deepEqual([...b.buffers.keys()], [...a.buffers.keys()]);
  for (const [name, buf] of a.buffers) {
    assert.deepEqual(b.buffer(name).shape, buf.shape);
    assert.deepEqual(bits(b.buffer(name).data), bits(buf.data), name);
  }
}

test('ParamStore: official groups per module, each group contiguous, chunks within the cap', () => {
  const store = newStore();
  // Groups never mix modules and carry the official multipliers.
  for (const g of store.groups) for (const p of g.params) assert.ok(p.startsWith(`${g.module}.`), `${p} in a ${g.module} group`);
  const group = (name: string) => store.groups[store.slot(name).group]!;
  assert.equal(group('backbone.cls_token').lrMultiplier, 0.9 ** 3);
  assert.equal(group('backbone.patch_embed.proj.weight').lrMultiplier, 0.9 ** 3 * 0.2);
  assert.equal(group('backbone.patch_embed.proj.bias').wdMultiplier, 0);
  assert.equal(group('backbone.blocks.0.ls1.gamma').wdMultiplier, 0);
  assert.ok(group('dino_head.last_layer.weight_v').isLastLayer);
  assert.notEqual(store.slot('dino_head.mlp.0.weight').group, store.slot('ibot_head.mlp.0.weight').group);
  // Placement: one group per chunk, every chunk within the cap, parameters tiling their chunk in order.
  const placed = new Set<string>();
  for (const [c, chunk] of store.chunks.entries()) {
    assert.ok(chunk.size <= 256);
    let o = 0;
    for (const name of chunk.params) {
      const s = store.slot(name);
      assert.equal(s.chunk, c);
      assert.equal(s.group, chunk.group);
      assert.equal(s.offset, o);
      o += s.size;
      placed.add(name);
    }
    assert.equal(o, chunk.size);
  }
  assert.equal(placed.size, store.slots.length);
  // Views hold the initial values; the teacher starts as a copy of the student.
  const init = studentParams(7);
  for (const p of init) {
    assert.deepEqual(store.param(p.name), p.data);
    assert.deepEqual(store.teacherParam(p.name), p.data);
  }
  assert.throws(() => ParamStore.create([...init, init[0]!], { groups: GROUP_OPTIONS }), /twice/);
  assert.throws(() => ParamStore.create([{ name: 'backbone.x', shape: [2], data: new Float32Array(3) }], { groups: GROUP_OPTIONS }), /3 values/);
  assert.throws(() => store.setGrad('backbone.cls_token', new Float32Array(2)), /2 values/);
  assert.throws(() => store.param('backbone.nope'), /no parameter/);
});

test('save → load gives back the state bit for bit, with the extras', async () => {
  const dir = await tempDir();
  const store = newStore();
  const rng = new Rng(11);
  await trainStep(store, rng);
  await trainStep(store, rng);
  // NaN payloads and negative zero survive too.
  const v = store.param('backbone.cls_token');
  v[0] = -0;
  new Uint32Array(v.buffer, v.byteOffset, 2)[1] = 0x7fc01234;
  const extras = { schedule: SCHEDULE, rng: captureRngState(rng), config: { arch: 'tiny', note: ['x', 1] } };
  await saveTrainState(dir, store, extras);
  const loaded = await loadTrainState(dir);
  assertSameState(store, loaded.store);
  assert.equal(loaded.iteration, 2);
  assert.deepEqual(loaded.schedule, extras.schedule);
  assert.deepEqual(loaded.rng, extras.rng);
  assert.deepEqual(loaded.config, extras.config);
});

test('two steps = one step, save, load, one step (bit for bit)', async () => {
  const dir = await tempDir();
  const straight = newStore();
  const rngA = new Rng(5);
  await trainStep(straight, rngA);
  rngA.normal();
  await trainStep(straight, rngA);

  const first = newStore();
  const rngB = new Rng(5);
  await trainStep(first, rngB);
  rngB.normal(); // leaves a cached Gaussian half-way through a pair: the capture must keep it
  await saveTrainState(dir, first, { rng: captureRngState(rngB) });
  const resumed = await loadTrainState(dir);
  const rngC = restoreRngState(resumed.rng as RngState);
  await trainStep(resumed.store, rngC);
  assertSameState(straight, resumed.store);
  assert.equal(rngC.next(), rngA.next());
});

test('an interrupted save (files from different saves) is refused', async () => {
  const dir = await tempDir();
  const store = newStore();
  await saveTrainState(dir, store);
  const old = await readFile(join((await currentTrainStateDir(dir))!, 'train_state.json'), 'utf8');
  await saveTrainState(dir, store);
  await writeFile(join((await currentTrainStateDir(dir))!, 'train_state.json'), old);
  await assert.rejects(loadTrainState(dir), /different saves/);
  await assert.rejects(saveTrainState(dir, store, { config: { bad: NaN } }), /JSON/);
});

test('captureRngState / restoreRngState continue the stream exactly', () => {
  const a = new Rng(123);
  for (let i = 0; i < 700; i++) a.next(); // past a twist
  a.normal();
  const b = restoreRngState(JSON.parse(JSON.stringify(captureRngState(a))) as RngState);
  for (let i = 0; i < 50; i++) assert.equal(b.normal(), a.normal());
  for (let i = 0; i < 700; i++) assert.equal(b.nextUint32(), a.nextUint32());
  assert.throws(() => restoreRngState({ mt: [1, 2], mti: 0, gaussNext: null }), /624/);
});
