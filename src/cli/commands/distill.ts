/**
 * `dinov2 distill`: DINOv2 distillation (paper §5) of a frozen pretrained teacher into a smaller student on
 * a folder of images; the library's `distill(...)` does the work. The run folder is laid out as
 * `dinov2 train`'s, with `student_backbone.safetensors` (the EMA of the student, official keys) in place
 * of the teacher backbone.
 */
import { CENTERINGS, type Centering } from '../../train/ssl/sslConfig.js';
import { addImageLoopOptions, augmentationFromCli, iterationLogger, loaderFromCli, scheduleOverridesFromCli, type AugmentationCliOptions, type ScheduleCliOptions } from '../imageLoopOptions.js';
import type { Command } from 'commander';
import type { Device } from '../../graph/runtime.js';
import { expandInputs } from '../../data/inputs.js';
import { distill, type DistillResult, type TeacherPrecision } from '../../train/distill/distill.js';
import { DinoCollapseWatch } from '../../train/ssl/collapse.js';
import { createProgressBar } from '../progressBar.js';
import { numberOption } from '../inputs.js';
import { addRuntimeOptions, checkDeviceFromCli, runtimeFromCli } from '../modelOptions.js';
import { architecture, evalFlags, evalFromCli, formatKnn } from './train.js';

interface DistillCliOptions extends ScheduleCliOptions, AugmentationCliOptions {
  out: string;
  teacher: string;
  teacherHeads?: string;
  teacherPrecision: string;
  student: string;
  studentWeights?: string;
  offline?: boolean;
  batch: string;
  globalSize: string;
  localSize: string;
  localCrops: string;
  prototypes?: string;
  headHidden?: string;
  headBottleneck?: string;
  centering: string;
  koleo: string;
  lr: string;
  epochs: string;
  epochLength: string;
  warmupEpochs: string;
  iterations?: string;
  saveEvery?: string;
  views?: string;
  seed: string;
  resume?: boolean;
  evalEvery?: string;
  evalTrain?: string;
  evalVal?: string;
  evalSize?: string;
  evalK?: string;
  device: Device;
  threads?: number;
  workers?: number;
  decodeCache: number;
  quiet?: boolean;
}

export async function runDistill(inputs: readonly string[], opts: DistillCliOptions, log: (line: string) => void = (l) => console.error(l)): Promise<DistillResult> {
  const int = (flag: string, v: string, min = 1) => numberOption(flag, v, { integer: true, min });
  const batch = int('--batch', opts.batch);
  const epochs = numberOption('--epochs', opts.epochs, { min: 0 });
  const epochLength = int('--epoch-length', opts.epochLength);
  const iterations = opts.iterations !== undefined ? int('--iterations', opts.iterations) : undefined;
  const total = iterations ?? Math.round(epochs * epochLength);
  if (total < 1) throw new Error(`--epochs ${epochs} × --epoch-length ${epochLength} gives no iterations; lengthen the schedule or give --iterations`);
  if (!(CENTERINGS as readonly string[]).includes(opts.centering)) throw new Error(`--centering must be one of ${CENTERINGS.join(', ')}, got '${opts.centering}'`);
  if (!['float32', 'float16', 'int8'].includes(opts.teacherPrecision)) throw new Error(`--teacher-precision must be float32, float16 or int8, got '${opts.teacherPrecision}'`);
  if (opts.teacherHeads !== undefined && opts.teacherHeads !== 'run' && opts.teacherHeads !== 'random') throw new Error(`--teacher-heads must be run or random, got '${opts.teacherHeads}'`);
  const augmentation = augmentationFromCli(opts);
  const scheduleOverrides = scheduleOverridesFromCli(opts);
  const head = {
    ...(opts.prototypes !== undefined ? { outDim: int('--prototypes', opts.prototypes) } : {}),
    ...(opts.headHidden !== undefined ? { hiddenDim: int('--head-hidden', opts.headHidden) } : {}),
    ...(opts.headBottleneck !== undefined ? { bottleneckDim: int('--head-bottleneck', opts.headBottleneck) } : {}),
  };
  evalFlags(opts);
  const views = opts.views !== undefined ? int('--views', opts.views) : undefined;
  await checkDeviceFromCli(opts.device);
  const { files, problems } = await expandInputs(inputs);
  for (const p of problems) log(`skipped ${p.path}: ${p.reason}`);
  if (files.length === 0) throw new Error('no images to distill on');
  if (files.length < batch) throw new Error(`--batch ${batch} needs at least ${batch} images, found ${files.length}`);
  const student = opts.studentWeights !== undefined ? opts.student : opts.student.endsWith('.json') ? (await architecture(opts.student)).backbone : opts.student;
  const globalSize = int('--global-size', opts.globalSize);
  const runtime = runtimeFromCli(opts);
  const evaluation = await evalFromCli(opts, globalSize, runtime);
  const bar = createProgressBar({ total, unit: 'it', ...(opts.quiet ? { quiet: true } : {}) });
  let watch: DinoCollapseWatch | undefined;
  try {
    return await distill({
      images: files,
      outDir: opts.out,
      teacher: opts.teacher,
      ...(opts.teacherHeads ? { teacherHeads: opts.teacherHeads as 'run' | 'random' } : {}),
      teacherPrecision: opts.teacherPrecision as TeacherPrecision,
      student: typeof student === 'string' ? student : { ...student },
      ...(opts.studentWeights !== undefined ? { studentWeights: opts.studentWeights } : {}),
      batch,
      globalSize,
      localSize: int('--local-size', opts.localSize),
      localCrops: int('--local-crops', opts.localCrops, 0),
      head,
      centering: opts.centering as Centering,
      koleoWeight: numberOption('--koleo', opts.koleo, { min: 0 }),
      baseLr: numberOption('--lr', opts.lr),
      epochs,
      epochLength,
      warmupEpochs: numberOption('--warmup-epochs', opts.warmupEpochs, { min: 0 }),
      schedule: scheduleOverrides,
      iterations: total,
      ...(opts.saveEvery !== undefined ? { saveEvery: int('--save-every', opts.saveEvery) } : {}),
      ...(views !== undefined ? { viewsPerImage: views } : {}),
      ...(opts.resume ? { resume: true } : {}),
      seed: numberOption('--seed', opts.seed, { integer: true }),
      augmentation,
      ...loaderFromCli(opts),
      ...(opts.offline !== undefined ? { offline: opts.offline } : {}),
      runtime,
      ...(evaluation ? { evaluate: { every: evaluation.every, run: (w, config) => evaluation.knn.evaluate(config, w) } } : {}),
      onEvaluation: (it, e) => bar.log(`  k-NN (student EMA) after ${it} iterations: ${formatKnn(e)}`),
      log: (l) => bar.log(l),
      onConfig: (cfg) => {
        watch = new DinoCollapseWatch({ prototypes: cfg.student.dinoHead.outDim, after: Math.max(50, Math.round(total / 10)) });
      },
      onIteration: iterationLogger(bar, !!opts.quiet, () => watch),
      onSkip: (path, reason) => bar.log(`skipped ${path}: ${reason.startsWith(path) ? reason.slice(path.length + 2) : reason}`),
    });
  } finally {
    bar.stop();
  }
}

export function registerDistill(program: Command): void {
  addImageLoopOptions(addRuntimeOptions(program.command('distill')), 'student EMA')
    .description('DINOv2 distillation (paper §5): a frozen pretrained teacher into a smaller student (DINO + iBOT + KoLeo, no masking, EMA of the student kept)')
    .argument('<inputs...>', 'image files, folders or globs')
    .requiredOption('--out <dir>', 'run folder: state/ (resumable), log.jsonl, student_backbone.safetensors (EMA of the student, official keys)')
    .requiredOption('--teacher <name|path|run>', 'frozen teacher: hub model, checkpoint, or a `dinov2 train` run folder (its trained DINO/iBOT heads come along)')
    .option('--teacher-heads <run|random>', "'random': frozen heads with the official initialisation even for a run folder (default: the run's heads when it has them)")
    .option('--teacher-precision <p>', 'teacher weights: float32, float16 (rounded; half-precision compute on GPUs) or int8', 'float32')
    .requiredOption('--student <name|json>', 'student architecture: hub name or JSON file of backbone settings (official initialisation)')
    .option('--student-weights <name|path>', 'continue the student from this checkpoint (hub name or path) instead')
    .option('--offline', 'never download a checkpoint')
    .option('--batch <n>', 'images per iteration', '8')
    .option('--prototypes <k>', "head prototypes (default: the teacher run's, else 65536)")
    .option('--head-hidden <n>', "head MLP width (default: the teacher run's, else 2048)")
    .option('--head-bottleneck <n>', "head bottleneck (default: the teacher run's, else 256)")
    .option('--views <n>', 'crops of each image drawn from n fixed views, so the teacher\'s outputs are cached and reused')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 distill photos/ --teacher dinov2_vitb14 --student dinov2_vits14 --out run --epochs 10 --epoch-length 100\n' +
        '  $ dinov2 distill photos/ --teacher my_train_run/ --student small.json --out run --views 4\n' +
        '  $ dinov2 embed photos/ --model run/student_backbone.safetensors --out feats.npy',
    )
    .action(async (inputs: string[], opts: DistillCliOptions) => {
      const r = await runDistill(inputs, opts);
      console.log(JSON.stringify({ iterations: r.iterations, studentBackbone: r.studentBackbone, teacherHeads: r.teacherHeads, state: r.stateDir, skipped: r.skipped }));
      if (r.skipped.length > 0) process.exitCode = 1;
    });
}
