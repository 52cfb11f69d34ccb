/**
 * Distils a trained MNIST run (tools/experiments/sslMnist.ts; its teacher backbone and trained heads) into
 * a smaller student with `distill(...)`, the k-NN protocol every `evalEvery` iterations on the student EMA.
 *
 *   nice -n 10 node --import tsx tools/experiments/distillMnist.ts TEACHER_RUN OUT_DIR '{"iterations":150}' [DATA_DIR]
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { distill } from '../../src/train/distill/distill.js';
import { trainingKnn } from '../../src/apps/trainingKnn.js';
import type { Centering } from '../../src/train/ssl/sslConfig.js';

const DEFAULTS = {
  embedDim: 64,
  depth: 3,
  iterations: 150,
  batch: 32,
  localCrops: 4,
  localSize: 12,
  baseLr: 0.004,
  evalEvery: 50,
  teacherHeads: 'run' as 'run' | 'random',
  views: 0,
  centering: 'sinkhorn_knopp' as Centering,
  /** The student's LayerScale init (official 1e-5; 1 for short runs, docs/TRAINING.md). */
  initValues: 1e-5,
  /** EMA momentum of the student's EMA (official 0.992 → 1). */
  momentumTeacher: 0.992,
  finalMomentumTeacher: 1,
  /** Crops and blur: the teacher run's settings unless given. */
  globalScale: undefined as [number, number] | undefined,
  localScale: undefined as [number, number] | undefined,
  blurSigma: undefined as [number, number] | undefined,
  /** Teacher temperature (and its warm-up start); the teacher run's own is the natural choice. */
  teacherTemp: 0.07,
  warmupTeacherTemp: 0.04,
  seed: 0,
};
const [teacherRun, outDir, json = '{}', dataDir = '/work/wt16-data/mnist'] = process.argv.slice(2);
if (!teacherRun || !outDir) throw new Error('usage: distillMnist.ts TEACHER_RUN OUT_DIR [JSON] [DATA_DIR]');
const s = { ...DEFAULTS, ...(JSON.parse(json) as Partial<typeof DEFAULTS>) };
const images: string[] = [];
for (const c of await readdir(join(dataDir, 'train'))) for (const f of await readdir(join(dataDir, 'train', c))) images.push(join(dataDir, 'train', c, f));
images.sort();
const runSettings = JSON.parse(await import('node:fs/promises').then((f) => f.readFile(join(teacherRun, 'result.json'), 'utf8'))).settings as { globalSize: number; patch: number; prototypes: number; headHidden: number; headBottleneck: number; globalScale?: [number, number]; localScale?: [number, number]; blurSigma?: [number, number] };
const knn = await trainingKnn({ train: join(dataDir, 'train'), val: join(dataDir, 'val'), size: runSettings.globalSize, runtime: { threads: 1 } });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const cpuSeconds = () => { const u = process.cpuUsage(cpu0); return +((u.user + u.system) / 1e6).toFixed(1); };
const globalScale = s.globalScale ?? runSettings.globalScale;
const localScale = s.localScale ?? runSettings.localScale;
const blurSigma = s.blurSigma ?? runSettings.blurSigma;
const curve: Record<string, number>[] = [];
const r = await distill({
  images,
  outDir,
  teacher: teacherRun,
  teacherHeads: s.teacherHeads,
  // Random teacher heads get the run's head sizes too, so the two choices differ only in the weights.
  ...(s.teacherHeads === 'random' ? { head: { outDim: runSettings.prototypes, hiddenDim: runSettings.headHidden, bottleneckDim: runSettings.headBottleneck } } : {}),
  student: { img_size: runSettings.globalSize, patch_size: runSettings.patch, embed_dim: s.embedDim, depth: s.depth, num_heads: Math.max(1, Math.round(s.embedDim / 64)), init_values: s.initValues },
  batch: s.batch,
  globalSize: runSettings.globalSize,
  localSize: s.localSize,
  localCrops: s.localCrops,
  centering: s.centering,
  baseLr: s.baseLr,
  epochs: s.iterations,
  epochLength: 1,
  warmupEpochs: Math.round(0.1 * s.iterations),
  schedule: { teacherTemp: s.teacherTemp, warmupTeacherTemp: s.warmupTeacherTemp, warmupTeacherTempEpochs: Math.round(0.3 * s.iterations), freezeLastLayerEpochs: Math.max(1, Math.round(0.01 * s.iterations)), momentumTeacher: s.momentumTeacher, finalMomentumTeacher: s.finalMomentumTeacher },
  seed: s.seed,
  augmentation: { ...(globalScale ? { globalCropsScale: globalScale } : {}), ...(localScale ? { localCropsScale: localScale } : {}), ...(blurSigma ? { blurSigma } : {}) },
  augmentWorkers: 0,
  ...(s.views > 0 ? { viewsPerImage: s.views } : {}),
  runtime: { threads: 1 },
  evaluate: { every: s.evalEvery, run: (w, config) => knn.evaluate(config, w) },
  onEvaluation: (iteration, e) => {
    const row = { iteration, seconds: +((performance.now() - t0) / 1000).toFixed(1), cpuSeconds: cpuSeconds(), ...e };
    curve.push(row);
    console.log(JSON.stringify(row));
  },
  onIteration: (e) => {
    if (e.iteration % 25 === 0) console.log(`it ${e.iteration} dino ${(e.losses.dino_local_crops + e.losses.dino_global_crops).toFixed(4)} ibot ${e.losses.ibot.toFixed(4)} ${e.seconds.toFixed(2)}s`);
  },
  log: (l) => console.log(l),
});
await writeFile(join(outDir, 'result.json'), JSON.stringify({ settings: s, teacherRun, curve, iterations: r.iterations, teacherHeads: r.teacherHeads, wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds() }, null, 1));
