/**
 * The five schedules of a DINOv2 run, built as the official `build_schedulers` (dinov2/train/train.py)
 * builds them. Every schedule is indexed by iteration, with an "epoch" of `epochLength` iterations
 * (OFFICIAL_EPOCH_LENGTH) whatever the dataset size.
 */
import { CosineScheduler } from './cosineScheduler.js';

export interface ScheduleConfig {
  /** Peak learning rate, already scaled for the batch size by the caller (the official code does it before). */
  lr: number;
  minLr: number;
  warmupEpochs: number;
  weightDecay: number;
  weightDecayEnd: number;
  momentumTeacher: number;
  finalMomentumTeacher: number;
  teacherTemp: number;
  warmupTeacherTemp: number;
  warmupTeacherTempEpochs: number;
  freezeLastLayerEpochs: number;
  epochs: number;
  epochLength: number;
}

export interface Schedules {
  lr: CosineScheduler;
  wd: CosineScheduler;
  momentum: CosineScheduler;
  teacherTemp: CosineScheduler;
  lastLayerLr: CosineScheduler;
}

/** The official default OFFICIAL_EPOCH_LENGTH (ssl_default_config.yaml). */
export const OFFICIAL_EPOCH_LENGTH = 1250;

/**
 * ssl_default_config.yaml's schedule for a run of `epochs` × `epochLength` iterations: base lr 0.004
 * scaled by the official sqrt_wrt_1024 rule (lr = base · √(batch / 1024)), min lr 1e-6, weight decay
 * 0.04 → 0.4, teacher momentum 0.992 → 1, teacher temperature 0.04 → 0.07 over 30 epochs, last layer
 * frozen for 1 epoch. The two warm-ups are cut to the run's length, so that a short run ends at the
 * official teacher temperature instead of partway up its ramp.
 */
export function officialScheduleConfig(o: { batchSize: number; epochs: number; epochLength: number; baseLr?: number; warmupEpochs?: number }): ScheduleConfig {
  return {
    lr: (o.baseLr ?? 0.004) * Math.sqrt(o.batchSize / 1024),
    minLr: 1e-6,
    warmupEpochs: o.warmupEpochs ?? 10,
    weightDecay: 0.04,
    weightDecayEnd: 0.4,
    momentumTeacher: 0.992,
    finalMomentumTeacher: 1,
    teacherTemp: 0.07,
    warmupTeacherTemp: 0.04,
    warmupTeacherTempEpochs: Math.min(30, o.epochs),
    freezeLastLayerEpochs: Math.min(1, o.epochs),
    epochs: o.epochs,
    epochLength: o.epochLength,
  };
}

export function buildSchedules(cfg: ScheduleConfig): Schedules {
  const L = cfg.epochLength;
  const totalIters = iters('epochs', cfg.epochs, L);
  const lr = (): CosineScheduler =>
    new CosineScheduler(cfg.lr, cfg.minLr, totalIters, iters('warmupEpochs', cfg.warmupEpochs, L), 0);
  const wd = new CosineScheduler(cfg.weightDecay, cfg.weightDecayEnd, totalIters);
  const momentum = new CosineScheduler(cfg.momentumTeacher, cfg.finalMomentumTeacher, totalIters);
  // Warm-up over the whole (shorter) schedule, so it is a pure linear ramp; past it, `at` returns
  // final_value, which the official code sets to teacher_temp itself (not warmup_teacher_temp).
  const tempIters = iters('warmupTeacherTempEpochs', cfg.warmupTeacherTempEpochs, L);
  const teacherTemp = new CosineScheduler(cfg.teacherTemp, cfg.teacherTemp, tempIters, tempIters, cfg.warmupTeacherTemp);
  const lastLayerLr = lr();
  // Only the stored array is zeroed (numpy slice assignment clips at its end); iterations past the run
  // still return min_lr, exactly as the official schedule object does.
  lastLayerLr.schedule.fill(0, 0, Math.min(iters('freezeLastLayerEpochs', cfg.freezeLastLayerEpochs, L), totalIters));
  return { lr: lr(), wd, momentum, teacherTemp, lastLayerLr };
}

function iters(name: string, epochs: number, epochLength: number): number {
  const n = epochs * epochLength;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`schedules: ${name} × epoch length = ${epochs} × ${epochLength} is not a non-negative whole number of iterations`);
  }
  return n;
}

/**
 * Reads the official config key names (`lr`, `min_lr`, `warmup_epochs`, …, `epoch_length`), as the
 * conformance manifest and the official YAML files spell them. A missing `epoch_length` means the official 1250.
 */
export function scheduleConfigFromJson(json: Record<string, unknown>): ScheduleConfig {
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`schedule config: '${key}' must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    lr: num('lr'),
    minLr: num('min_lr'),
    warmupEpochs: num('warmup_epochs'),
    weightDecay: num('weight_decay'),
    weightDecayEnd: num('weight_decay_end'),
    momentumTeacher: num('momentum_teacher'),
    finalMomentumTeacher: num('final_momentum_teacher'),
    teacherTemp: num('teacher_temp'),
    warmupTeacherTemp: num('warmup_teacher_temp'),
    warmupTeacherTempEpochs: num('warmup_teacher_temp_epochs'),
    freezeLastLayerEpochs: num('freeze_last_layer_epochs'),
    epochs: num('epochs'),
    epochLength: num('epoch_length', OFFICIAL_EPOCH_LENGTH),
  };
}

/**
 * The schedule `cfg` describes, fitted to a run of `iterations` (shorter than epochs × epochLength): every
 * schedule keeps its shape — warm-ups (lr, teacher temperature), the frozen last layer and the cosine decays
 * take the same share of the shorter run — so that a short run reaches the peak learning rate instead of
 * stopping inside the warm-up. Expressed with one-iteration "epochs", so every length is a whole number.
 */
export function fitScheduleToIterations(cfg: ScheduleConfig, iterations: number): ScheduleConfig {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new Error(`schedules: iterations must be a positive integer, got ${iterations}`);
  const total = cfg.epochs * cfg.epochLength;
  const share = (epochs: number): number => Math.min(iterations, Math.round((epochs * cfg.epochLength * iterations) / total));
  return {
    ...cfg,
    warmupEpochs: share(cfg.warmupEpochs),
    warmupTeacherTempEpochs: share(cfg.warmupTeacherTempEpochs),
    // At least one iteration, as officially, when the last layer is frozen at all.
    freezeLastLayerEpochs: cfg.freezeLastLayerEpochs > 0 ? Math.max(1, share(cfg.freezeLastLayerEpochs)) : 0,
    epochs: iterations,
    epochLength: 1,
  };
}

/** A schedule's values over a run of `iterations`: first, highest (lr) and last. */
export interface ScheduleSummary {
  iterations: number;
  lr: { start: number; peak: number; end: number; warmupIterations: number };
  weightDecay: { start: number; end: number };
  teacherMomentum: { start: number; end: number };
  teacherTemp: { start: number; end: number; warmupIterations: number };
}

export function scheduleSummary(cfg: ScheduleConfig, iterations: number): ScheduleSummary {
  const s = buildSchedules(cfg);
  const last = iterations - 1;
  let peak = -Infinity;
  for (let i = 0; i < iterations; i++) peak = Math.max(peak, s.lr.at(i));
  return {
    iterations,
    lr: { start: s.lr.at(0), peak, end: s.lr.at(last), warmupIterations: Math.min(iterations, s.lr.warmupIters) },
    weightDecay: { start: s.wd.at(0), end: s.wd.at(last) },
    teacherMomentum: { start: s.momentum.at(0), end: s.momentum.at(last) },
    teacherTemp: { start: s.teacherTemp.at(0), end: s.teacherTemp.at(last), warmupIterations: Math.min(iterations, s.teacherTemp.warmupIters) },
  };
}
