import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { CosineScheduler } from '../../src/train/optim/cosineScheduler.js';
import { linspace } from '../../src/core/pythonMath.js';
import { buildSchedules, officialScheduleConfig, type ScheduleConfig } from '../../src/train/optim/schedules.js';
import { schedule } from '../../tools/conformance/kinds/schedule.js';
import { readManifest } from '../../tools/conformance/manifest.js';
import { CONFORMANCE_DIR } from '../helpers.js';

const SUITE = CONFORMANCE_DIR;

test('schedule conformance case passes', { skip: !existsSync(`${SUITE}/manifest.json`) && 'no conformance suite' }, async () => {
  const manifest = await readManifest(SUITE);
  const cases = manifest.cases.filter((c) => c.kind === 'schedule');
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const results = await schedule.run(manifest, c);
    assert.equal(results.length, 1);
    const r = results[0]!;
    assert.equal(r.format, '-');
    assert.equal(r.status, 'pass', `${c.id}: ${r.detail ?? ''} (max abs error ${r.maxAbsError})`);
    assert.ok(r.maxAbsError < 1e-12, `${c.id}: max abs error ${r.maxAbsError}`);
  }
});

test('linspace includes both ends and steps evenly', () => {
  assert.deepEqual([...linspace(0, 1, 5)], [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual([...linspace(3, 7, 1)], [3]);
  assert.equal(linspace(0, 1, 0).length, 0);
  const l = linspace(0.04, 0.07, 60);
  assert.equal(l[0], 0.04);
  assert.equal(l[59], 0.07);
  // Values printed by numpy: the last point is `stop` itself although 0.3 + 10 * 0.06 rounds above it.
  assert.deepEqual(
    [...linspace(0.3, 0.9, 11)],
    [0.3, 0.36, 0.42000000000000004, 0.48000000000000004, 0.54, 0.6000000000000001, 0.6600000000000001, 0.7200000000000001, 0.78, 0.8400000000000001, 0.9],
  );
});

test('cosine scheduler: freeze, warm-up, cosine, then final value', () => {
  const base = 2;
  const final = 0.5;
  const s = new CosineScheduler(base, final, 20, 5, 1, 3);
  assert.equal(s.schedule.length, 20);
  for (let i = 0; i < 3; i++) assert.equal(s.at(i), 0);
  // Warm-up: linear from 1 to 2 over 5 points, last point equal to the base value.
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(s.at(3 + i) - (1 + i / 4)) < 1e-15);
  // Cosine part starts at the base value and approaches (but never reaches) the final value.
  const n = 12;
  for (let i = 0; i < n; i++) {
    const want = final + 0.5 * (base - final) * (1 + Math.cos((Math.PI * i) / n));
    assert.ok(Math.abs(s.at(8 + i) - want) < 1e-15, `iter ${8 + i}`);
  }
  assert.ok(s.at(19) > final);
  assert.equal(s.at(20), final);
  assert.equal(s.at(1000), final);
  assert.throws(() => new CosineScheduler(1, 0, 4, 5));
  assert.throws(() => new CosineScheduler(1, 0, 4.5));
});

const CFG: ScheduleConfig = {
  lr: 0.004,
  minLr: 1e-6,
  warmupEpochs: 2,
  weightDecay: 0.04,
  weightDecayEnd: 0.4,
  momentumTeacher: 0.992,
  finalMomentumTeacher: 1,
  teacherTemp: 0.07,
  warmupTeacherTemp: 0.04,
  warmupTeacherTempEpochs: 3,
  freezeLastLayerEpochs: 1,
  epochs: 10,
  epochLength: 7,
};

test('build schedules: shapes of the five schedules', () => {
  const s = buildSchedules(CFG);
  const total = 70;
  assert.equal(s.lr.at(0), 0);
  assert.equal(s.lr.at(13), CFG.lr); // end of the 14-iteration warm-up
  assert.equal(s.lr.at(14), CFG.lr); // cosine starts at the peak
  assert.equal(s.lr.at(total), CFG.minLr);
  assert.ok(Math.abs(s.wd.at(0) - CFG.weightDecay) < 1e-15);
  assert.ok(s.wd.at(total - 1) < CFG.weightDecayEnd && s.wd.at(total - 1) > 0.39);
  assert.equal(s.wd.at(total), CFG.weightDecayEnd);
  assert.ok(Math.abs(s.momentum.at(0) - CFG.momentumTeacher) < 1e-15);
  assert.equal(s.momentum.at(total + 5), 1);
  // Teacher temperature: linear ramp over 21 iterations that ends on teacher_temp, then flat.
  assert.equal(s.teacherTemp.at(0), CFG.warmupTeacherTemp);
  for (let i = 0; i < 21; i++) {
    assert.ok(Math.abs(s.teacherTemp.at(i) - (0.04 + (0.03 * i) / 20)) < 1e-15, `teacher temp ${i}`);
  }
  for (const i of [21, 22, 69, 70, 500]) assert.equal(s.teacherTemp.at(i), CFG.teacherTemp);
  // Last layer: zero for one epoch, the lr schedule afterwards, min_lr past the end.
  for (let i = 0; i < 7; i++) assert.equal(s.lastLayerLr.at(i), 0);
  for (let i = 7; i < total; i++) assert.equal(s.lastLayerLr.at(i), s.lr.at(i));
  assert.equal(s.lastLayerLr.at(total), CFG.minLr);
  // Zeroing the last layer must not touch the lr schedule itself.
  assert.ok(s.lr.at(3) > 0);
});

test('build schedules: zero teacher-temperature warm-up means a constant temperature', () => {
  const s = buildSchedules({ ...CFG, warmupTeacherTempEpochs: 0 });
  assert.equal(s.teacherTemp.at(0), CFG.teacherTemp);
  assert.throws(() => buildSchedules({ ...CFG, warmupEpochs: 0.5 }));
});

test('officialScheduleConfig: the sqrt_wrt_1024 lr and the default recipe; warm-ups cut to a short run', () => {
  const long = officialScheduleConfig({ batchSize: 256, epochs: 100, epochLength: 1250 });
  assert.equal(long.lr, 0.004 * 0.5);
  assert.deepEqual([long.warmupEpochs, long.warmupTeacherTempEpochs, long.freezeLastLayerEpochs], [10, 30, 1]);
  const short = officialScheduleConfig({ batchSize: 16, epochs: 0.5, epochLength: 40, baseLr: 0.002, warmupEpochs: 0 });
  assert.equal(short.lr, 0.002 / 8);
  assert.deepEqual([short.warmupEpochs, short.warmupTeacherTempEpochs, short.freezeLastLayerEpochs], [0, 0.5, 0.5]);
  // The teacher temperature ramp ends within the run: the last iteration is at the official 0.07.
  assert.equal(buildSchedules(short).teacherTemp.at(19), 0.07);
});
