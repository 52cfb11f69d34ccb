/**
 * `distill(...)`: DINOv2 distillation of a pretrained teacher into a smaller student on a list of images
 * (what `dinov2 distill` runs). It resolves the teacher (hub name, checkpoint, or a `dinov2 train` run
 * folder), the teacher's heads, and the student (hub architecture, custom config, or a checkpoint to
 * continue from), then runs distillOnImages.
 *
 * The teacher's DINO / iBOT heads. Released backbones ship without them (reference §4: ViT-g's heads are
 * not released), so:
 * - a `dinov2 train` run folder as teacher brings its own trained heads (the teacher slots of
 *   `state/train_state.safetensors`), the closest to the paper, whose ViT-g teacher kept the heads it was
 *   trained with; the student's heads then take the run's head sizes;
 * - any other teacher gets frozen heads with the official DINOHead initialisation (seeded): a random
 *   MLP onto the unit sphere and K random unit prototypes. Its targets are a fixed random partition of the
 *   teacher's feature space at the teacher temperature, balanced by Sinkhorn-Knopp; features close for the
 *   teacher fall in the same prototypes, which is what the student has to reproduce. docs/TRAINING.md
 *   compares the two on MNIST.
 */
import { currentTrainStateDir } from '../ssl/checkpoint.js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hubConfig, isHubModelName, makeConfig, type BackboneConfig, type HubModelName } from '../../models/config.js';
import type { Dinov2 } from '../../models/dinov2.js';
import { loadModelByNameOrPath, resolveCheckpoint } from '../../hub/loadModel.js';
import { detectConfig } from '../../models/load.js';
import { openWeights } from '../../formats/open.js';
import { SafetensorsFile } from '../../formats/safetensors.js';
import { checkDevice, type Device, type RuntimeOptions } from '../../graph/runtime.js';
import { officialSslInit, pretrainedBackboneInit, type ParamInitializer } from '../ssl/sslInit.js';
import type { HeadConfig, SslConfig } from '../ssl/sslConfig.js';
import { buildSchedules, officialScheduleConfig, type ScheduleConfig } from '../optim/schedules.js';
import type { BackboneWeights, IterationEvent } from '../ssl/sslImageLoop.js';
import { distillOnImages, type DistillImageResult } from './distillLoop.js';
import { teacherHeadShapes, type DistillConfig } from './distillGraphs.js';

export type TeacherPrecision = 'float32' | 'float16' | 'int8';

export interface DistillOptions {
  images: readonly string[];
  outDir: string;
  /** Hub name, checkpoint (.pth, .safetensors, HF folder), or a `dinov2 train` run folder (its heads come along). */
  teacher: string;
  /** 'random': frozen heads with the official initialisation even for a run folder (default: the run's heads when it has them). */
  teacherHeads?: 'run' | 'random';
  /** float16: weights rounded to half precision (half-precision compute on GPUs); int8: the blocks' Linear layers in int8. */
  teacherPrecision?: TeacherPrecision;
  /** The student's architecture: a hub name or a config (official initialisation), unless `studentWeights` is given. */
  student: string | (Partial<BackboneConfig> & Record<string, unknown>);
  /** Continue from this checkpoint (hub name or path) instead of initialising the student. */
  studentWeights?: string;
  batch?: number;
  globalSize?: number;
  localSize?: number;
  localCrops?: number;
  /** Head sizes (default: the run's when the teacher is a run with heads, else 65,536 / 2,048 / 256). */
  head?: Partial<HeadConfig>;
  centering?: SslConfig['centering'];
  koleoWeight?: number;
  ibotWeight?: number;
  /** Base lr for a batch of 1024 (default 0.004; the paper's distilled models used 1e-3 at batch 2048), scaled by √(batch/1024). */
  baseLr?: number;
  epochs?: number;
  epochLength?: number;
  warmupEpochs?: number;
  /** Overrides of the schedule (teacher temperature, EMA momentum, …). */
  schedule?: Partial<ScheduleConfig>;
  iterations?: number;
  saveEvery?: number;
  resume?: boolean;
  seed?: number;
  augmentation?: SslImageAugmentation;
  augmentWorkers?: number;
  viewsPerImage?: number;
  teacherCacheBytes?: number;
  offline?: boolean;
  device?: Device;
  runtime?: RuntimeOptions;
  evaluate?: { every: number; run: (backbone: BackboneWeights, config: BackboneConfig, iteration: number) => Promise<Record<string, number>>; atStart?: boolean };
  onEvaluation?: (iteration: number, results: Record<string, number>) => void;
  onIteration?: (e: IterationEvent) => void;
  onSkip?: (path: string, reason: string) => void;
  log?: (line: string) => void;
  /** Called with the run's configuration once it is known (before the first iteration). */
  onConfig?: (cfg: DistillConfig) => void;
}

type SslImageAugmentation = NonNullable<Parameters<typeof distillOnImages>[0]['augmentation']>;

export interface DistillResult extends DistillImageResult {
  teacher: string;
  teacherHeads: 'run' | 'random';
  student: BackboneConfig;
}

const isDir = (p: string): Promise<boolean> => stat(p).then((s) => s.isDirectory(), () => false);

/** A `dinov2 train` run folder: its teacher backbone, and its trained heads with their sizes. */
async function runTeacher(dir: string): Promise<{ backbone: string; heads: Map<string, Float32Array>; head: HeadConfig; ibotHead: HeadConfig | null } | null> {
  const backbone = join(dir, 'teacher_backbone.safetensors');
  // The current save of the run (atomic saves keep it in a generation folder named by state/CURRENT).
  const current = await currentTrainStateDir(join(dir, 'state')).catch(() => undefined);
  if (!current || !(await stat(backbone).then(() => true, () => false))) return null;
  const statePath = join(current, 'train_state.safetensors');
  const json = JSON.parse(await readFile(join(current, 'train_state.json'), 'utf8')) as { config?: { cfg?: SslConfig } };
  const cfg = json.config?.cfg;
  if (!cfg?.dinoHead) throw new Error(`${dir}: state/train_state.json has no head configuration`);
  const file = await SafetensorsFile.open(statePath);
  try {
    const heads = new Map<string, Float32Array>();
    for (const key of file.keys()) {
      if (!key.startsWith('teacher.dino_head.') && !key.startsWith('teacher.ibot_head.')) continue;
      heads.set(key.slice('teacher.'.length), await file.readFloat32(key));
    }
    return { backbone, heads, head: cfg.dinoHead, ibotHead: cfg.ibotHead ?? null };
  } finally {
    await file.close();
  }
}

export async function distill(o: DistillOptions): Promise<DistillResult> {
  const log = o.log ?? (() => undefined);
  const batch = o.batch ?? 8;
  const run = (await isDir(o.teacher)) ? await runTeacher(o.teacher) : null;
  const useRunHeads = run !== null && o.teacherHeads !== 'random';
  const defaults: HeadConfig = useRunHeads ? run.head : { outDim: 65536, hiddenDim: 2048, bottleneckDim: 256, nlayers: 3 };
  const dinoHead: HeadConfig = { ...defaults, ...o.head };
  if (useRunHeads && (dinoHead.outDim !== run.head.outDim || dinoHead.hiddenDim !== run.head.hiddenDim || dinoHead.bottleneckDim !== run.head.bottleneckDim || dinoHead.nlayers !== run.head.nlayers)) {
    throw new Error(`distillation: the teacher run's heads are ${JSON.stringify(run.head)}; the student's heads must have the same sizes (or use teacherHeads 'random')`);
  }

  const schedule = {
    ...officialScheduleConfig({ batchSize: batch, epochs: o.epochs ?? 100, epochLength: o.epochLength ?? 1250, baseLr: o.baseLr ?? 0.004, warmupEpochs: o.warmupEpochs ?? 10 }),
    ...o.schedule,
  };
  buildSchedules(schedule);

  // The teacher: an inference model (no gradients), at the asked precision.
  const precision = o.teacherPrecision ?? 'float32';
  const device = o.device ?? o.runtime?.device ?? 'cpu';
  await checkDevice(device);
  const modelOptions = {
    ...o.runtime,
    ...(o.device ? { device: o.device } : {}),
    ...(precision === 'int8' ? { quantization: 'int8' as const } : {}),
    ...(precision === 'float16' ? (device === 'cpu' ? { weightStorage: 'float16' as const } : { precision: 'float16' as const }) : {}),
    ...(o.offline !== undefined ? { offline: o.offline } : {}),
  };
  const teacherModel: Dinov2 = await loadModelByNameOrPath(run ? run.backbone : o.teacher, modelOptions);
  try {
    const student = await studentModel(o);
    const cfg: DistillConfig = {
      teacher: teacherModel.config,
      student: {
        backbone: student.backbone,
        dinoHead,
        ibotHead: useRunHeads ? run.ibotHead : null,
        nImages: batch,
        localCropsNumber: o.localCrops ?? 8,
        globalCropsSize: o.globalSize ?? 224,
        localCropsSize: o.localSize ?? 98,
        studentTemp: 0.1,
        centering: o.centering ?? 'sinkhorn_knopp',
        centerMomentum: 0.9,
        dinoLossWeight: 1,
        ibotLossWeight: o.ibotWeight ?? 1,
        koleoLossWeight: o.koleoWeight ?? 0.1,
        dropPathRate: 0,
      },
    };
    let heads: Map<string, Float32Array>;
    if (useRunHeads) heads = run.heads;
    else {
      // The official DINOHead initialisation, seeded, frozen.
      const init = officialSslInit(teacherModel.config, (o.seed ?? 0) + 1);
      heads = new Map([...teacherHeadShapes(cfg)].map(([k, shape]) => [k, init(`${k}`, shape) ?? new Float32Array(shape.reduce((a, b) => a * b, 1))]));
    }
    const identity = { teacher: run ? run.backbone : o.teacher, heads: useRunHeads ? 'run' : `random:${(o.seed ?? 0) + 1}`, precision };
    log(`distill: teacher ${identity.teacher} (${teacherModel.config.embed_dim}-d, ${teacherModel.config.depth} blocks, ${precision}), heads ${useRunHeads ? 'from its training run' : 'frozen, official random initialisation'}; student ${student.from}`);
    o.onConfig?.(cfg);
    const r = await distillOnImages({
      images: o.images,
      outDir: o.outDir,
      cfg,
      schedule,
      ...(student.init ? { init: student.init } : {}),
      ...(o.iterations !== undefined ? { iterations: o.iterations } : {}),
      ...(o.saveEvery !== undefined ? { saveEvery: o.saveEvery } : {}),
      ...(o.resume ? { resume: true } : {}),
      seed: o.seed ?? 0,
      ...(o.augmentation ? { augmentation: o.augmentation } : {}),
      ...(o.augmentWorkers !== undefined ? { augmentWorkers: o.augmentWorkers } : {}),
      ...(o.runtime || o.device ? { runtime: { ...o.runtime, ...(o.device ? { device: o.device } : {}) } } : {}),
      teacher: teacherModel,
      teacherHeads: heads,
      teacherIdentity: identity,
      ...(o.viewsPerImage !== undefined ? { viewsPerImage: o.viewsPerImage } : {}),
      ...(o.teacherCacheBytes !== undefined ? { teacherCacheBytes: o.teacherCacheBytes } : {}),
      ...(o.evaluate ? { evaluate: { every: o.evaluate.every, run: (w, it) => o.evaluate!.run(w, student.backbone, it), ...(o.evaluate.atStart !== undefined ? { atStart: o.evaluate.atStart } : {}) } } : {}),
      ...(o.onEvaluation ? { onEvaluation: o.onEvaluation } : {}),
      ...(o.onIteration ? { onIteration: o.onIteration } : {}),
      ...(o.onSkip ? { onSkip: o.onSkip } : {}),
    });
    return { ...r, teacher: identity.teacher, teacherHeads: useRunHeads ? 'run' : 'random', student: student.backbone };
  } finally {
    await teacherModel.dispose();
  }
}

/** The student's architecture and initial values (none when resuming: the state has them). */
async function studentModel(o: DistillOptions): Promise<{ backbone: BackboneConfig; init?: ParamInitializer; from: string }> {
  const seed = o.seed ?? 0;
  if (o.studentWeights !== undefined) {
    const { path: file, hubName } = await resolveCheckpoint(o.studentWeights, o.offline !== undefined ? { offline: o.offline } : {});
    const source = await openWeights(file);
    try {
      const backbone = hubName ? hubConfig(hubName as HubModelName) : detectConfig(source);
      if (o.resume) return { backbone, from: file };
      return { backbone, init: await pretrainedBackboneInit(source, backbone, officialSslInit(backbone, seed)), from: `${file} (continued)` };
    } finally {
      await source.close();
    }
  }
  const backbone = typeof o.student === 'string' ? studentArch(o.student) : makeConfig({ init_values: 1e-5, ...o.student });
  return { backbone, ...(o.resume ? {} : { init: officialSslInit(backbone, seed) }), from: `${typeof o.student === 'string' ? o.student : 'custom'} architecture, official initialisation` };
}

function studentArch(name: string): BackboneConfig {
  if (!isHubModelName(name)) throw new Error(`distillation: student '${name}' is not a hub architecture; give a hub name, a config, or studentWeights`);
  return { ...hubConfig(name), init_values: 1e-5 };
}

