/**
 * One from-scratch DINOv2 run on the MNIST folders (tools/experiments/mnistFolders.ts) with the k-NN
 * protocol every `evalEvery` iterations: the experiment behind docs/TRAINING.md's ablations. Settings are
 * a JSON object of overrides (see DEFAULTS); the run folder gets log.jsonl (losses, schedule values,
 * `eval`) and result.json.
 *
 *   nice -n 10 node --import tsx tools/experiments/sslMnist.ts RUN_DIR '{"prototypes":256}' [DATA_DIR]
 */
import { readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeConfig } from '../../src/models/config.js';
import { officialSslInit } from '../../src/train/ssl/sslInit.js';
import { trainSslOnImages } from '../../src/train/ssl/sslImageLoop.js';
import { officialScheduleConfig } from '../../src/train/optim/schedules.js';
import type { Centering, SslConfig } from '../../src/train/ssl/sslConfig.js';
import { trainingKnn } from '../../src/apps/trainingKnn.js';

export const DEFAULTS = {
  embedDim: 128,
  depth: 4,
  patch: 4,
  initValues: 1e-5,
  batch: 32,
  globalSize: 28,
  localSize: 12,
  localCrops: 4,
  prototypes: 4096,
  headHidden: 512,
  headBottleneck: 128,
  centering: 'sinkhorn_knopp' as Centering,
  koleo: 0.1,
  ibot: 1,
  baseLr: 0.004,
  iterations: 600,
  /** The official schedules fitted to the run: lr warm-up over 10 %, teacher-temperature warm-up over 30 %, last layer frozen for 1 %. */
  warmupFraction: 0.1,
  teacherTemp: 0.07,
  warmupTeacherTemp: 0.04,
  warmupTeacherTempFraction: 0.3,
  momentumTeacher: 0.992,
  finalMomentumTeacher: 1,
  /** 0: embedDim / 64 (at least 1). */
  numHeads: 0,
  globalScale: [0.32, 1] as [number, number],
  localScale: [0.05, 0.32] as [number, number],
  /** The blur's σ range in pixels (official [0.1, 2], for 224-px crops). */
  blurSigma: [0.1, 2] as [number, number],
  dropPath: 0,
  evalEvery: 100,
  evalAtStart: false,
  /** Save the state and the teacher backbone every n iterations (0: at the end only). */
  saveEvery: 0,
  /** Threads augmenting the next batch while the step runs (0: the main thread, between steps). */
  augmentWorkers: 0,
  seed: 0,
  /** The images trained on: 'train' (the 5,000 labelled ones, class folders) or 'unlabelled' (a flat folder of every image not in val, mnistFolders.ts --unlabelled). */
  sslImages: 'train' as 'train' | 'unlabelled',
  /** Decoded-image cache of the run in MiB (the library's default 256; 0: decode every time, as runs before session 7). */
  decodeCacheMiB: 256,
};

const [runDir, json = '{}', dataDir = '/work/wt16-data/mnist'] = process.argv.slice(2);
if (!runDir) throw new Error('usage: sslMnist.ts RUN_DIR [JSON overrides] [DATA_DIR]');
const s = { ...DEFAULTS, ...(JSON.parse(json) as Partial<typeof DEFAULTS>) };
await mkdir(runDir, { recursive: true });

const images: string[] = [];
if (s.sslImages === 'unlabelled') for (const f of await readdir(join(dataDir, 'unlabelled'))) images.push(join(dataDir, 'unlabelled', f));
else for (const c of await readdir(join(dataDir, 'train'))) for (const f of await readdir(join(dataDir, 'train', c))) images.push(join(dataDir, 'train', c, f));
images.sort();

const backbone = makeConfig({ img_size: s.globalSize, patch_size: s.patch, embed_dim: s.embedDim, depth: s.depth, num_heads: s.numHeads || Math.max(1, Math.round(s.embedDim / 64)), init_values: s.initValues });
const cfg: SslConfig = {
  backbone,
  dinoHead: { outDim: s.prototypes, hiddenDim: s.headHidden, bottleneckDim: s.headBottleneck, nlayers: 3 },
  ibotHead: null,
  nImages: s.batch,
  localCropsNumber: s.localCrops,
  globalCropsSize: s.globalSize,
  localCropsSize: s.localSize,
  studentTemp: 0.1,
  centering: s.centering,
  centerMomentum: 0.9,
  dinoLossWeight: 1,
  ibotLossWeight: s.ibot,
  koleoLossWeight: s.koleo,
  dropPathRate: s.dropPath,
};
// One "epoch" per iteration, so every fraction of the run is a whole number of epochs.
const schedule = {
  ...officialScheduleConfig({ batchSize: s.batch, epochs: s.iterations, epochLength: 1, baseLr: s.baseLr, warmupEpochs: Math.round(s.warmupFraction * s.iterations) }),
  teacherTemp: s.teacherTemp,
  warmupTeacherTemp: s.warmupTeacherTemp,
  warmupTeacherTempEpochs: Math.round(s.warmupTeacherTempFraction * s.iterations),
  freezeLastLayerEpochs: Math.max(1, Math.round(0.01 * s.iterations)),
  momentumTeacher: s.momentumTeacher,
  finalMomentumTeacher: s.finalMomentumTeacher,
};
const knn = await trainingKnn({ train: join(dataDir, 'train'), val: join(dataDir, 'val'), size: s.globalSize, runtime: { threads: 1 } });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
/** CPU seconds of this process (all threads), the budget the issue counts; wall time depends on other load. */
const cpuSeconds = () => { const u = process.cpuUsage(cpu0); return +((u.user + u.system) / 1e6).toFixed(1); };
const curve: { iteration: number; seconds: number; [k: string]: number }[] = [];
const r = await trainSslOnImages({
  images,
  outDir: runDir,
  cfg,
  schedule,
  init: officialSslInit(backbone, s.seed),
  iterations: s.iterations,
  ...(s.saveEvery > 0 ? { saveEvery: s.saveEvery } : {}),
  seed: s.seed,
  augmentWorkers: s.augmentWorkers,
  decodeCacheBytes: s.decodeCacheMiB * 2 ** 20,
  augmentation: { globalCropsScale: s.globalScale, localCropsScale: s.localScale, blurSigma: s.blurSigma },
  runtime: { threads: 1 },
  evaluate: { every: s.evalEvery, run: (w) => knn.evaluate(backbone, w), atStart: s.evalAtStart },
  onEvaluation: (iteration, e) => {
    const seconds = (performance.now() - t0) / 1000;
    curve.push({ iteration, seconds: +seconds.toFixed(1), cpuSeconds: cpuSeconds(), ...e });
    console.log(JSON.stringify({ iteration, seconds: +seconds.toFixed(1), cpuSeconds: cpuSeconds(), ...e }));
  },
  onIteration: (e) => {
    if (e.iteration % 25 === 0) {
      const l = e.losses;
      console.log(`it ${e.iteration} dino ${(l.dino_local_crops + l.dino_global_crops).toFixed(4)} (lnK ${Math.log(s.prototypes).toFixed(4)}) ibot ${l.ibot.toFixed(4)} koleo ${l.koleo.toFixed(4)} ${e.seconds.toFixed(2)}s`);
    }
  },
});
await writeFile(join(runDir, 'result.json'), JSON.stringify({ settings: s, curve, iterations: r.iterations, wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds() }, null, 1));
