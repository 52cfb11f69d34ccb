/**
 * Distillation on a list of image files: the SSL image loop (sampler, multi-crop on workers, schedules,
 * log.jsonl, evaluation, checkpoints, resume) driving a DistillTrainer. The run folder holds `state/`
 * (student, its EMA, AdamW moments, centers, sampler), `log.jsonl` and
 * `student_backbone.safetensors` — the EMA of the student's backbone with official keys (the final model).
 */
import { mkdir } from 'node:fs/promises';
import { Rng } from '../../core/rng.js';
import { cleanTrainStateDir, hasTrainState, loadTrainState } from '../ssl/checkpoint.js';
import { runImageLoop, type SamplerState, type SslImageTrainingOptions, type SslImageTrainingResult } from '../ssl/sslImageLoop.js';
import { createSslStore, OFFICIAL_OPTIM } from '../ssl/sslStep.js';
import { checkDistillConfig, type DistillConfig } from './distillGraphs.js';
import { DistillTrainer, type FrozenBackbone } from './distillStep.js';

export const STUDENT_FILE = 'student_backbone.safetensors';

export interface DistillImageOptions extends Omit<SslImageTrainingOptions, 'cfg'> {
  cfg: DistillConfig;
  /** The frozen teacher backbone (any inference model giving final-norm CLS and patch tokens). */
  teacher: FrozenBackbone;
  /** The teacher's frozen DINO / iBOT head parameters (`dino_head.*`, `ibot_head.*` on its embedding width). */
  teacherHeads: ReadonlyMap<string, Float32Array>;
  /** What identifies the teacher and its heads (a resume must use the same): e.g. paths and hashes. */
  teacherIdentity: unknown;
  /** Fixed crop views per image, so teacher outputs are cached and reused (default: fresh crops, no cache). */
  viewsPerImage?: number;
  /** Bytes of cached teacher outputs (default 256 MiB). */
  teacherCacheBytes?: number;
}

export interface DistillImageResult extends Omit<SslImageTrainingResult, 'teacherBackbone'> {
  /** The EMA of the student's backbone, official keys. */
  studentBackbone: string;
}

export async function distillOnImages(o: DistillImageOptions): Promise<DistillImageResult> {
  checkDistillConfig(o.cfg);
  const trainerOptions = {
    optim: OFFICIAL_OPTIM,
    ...(o.runtime ? { runtime: o.runtime } : {}),
    ...(o.teacherCacheBytes !== undefined ? { teacherCacheBytes: o.teacherCacheBytes } : {}),
  };
  const start = async (stateDir: string, runConfig: unknown): Promise<{ trainer: DistillTrainer; sampler: SamplerState }> => {
    await mkdir(o.outDir, { recursive: true });
    if (o.resume) {
      await cleanTrainStateDir(stateDir);
      if (!(await hasTrainState(stateDir))) throw new Error(`${stateDir}: nothing to resume (no complete save)`);
      const saved = await loadTrainState(stateDir);
      if (JSON.stringify(saved.config) !== JSON.stringify(runConfig)) {
        throw new Error(`${stateDir}: the saved run has another configuration (teacher, student, crops, batch, schedule, augmentation or image list); resume with the same settings and images`);
      }
      return { trainer: DistillTrainer.fromState(saved, o.cfg, o.teacher, o.teacherHeads, trainerOptions), sampler: saved.data as SamplerState };
    }
    if (!o.init) throw new Error('distillation: a new run needs `init` (the student\'s initial values)');
    // The EMA starts as a copy of the student (createSslStore's default).
    const store = createSslStore(o.cfg.student, OFFICIAL_OPTIM, o.init);
    return { trainer: new DistillTrainer(o.cfg, store, o.teacher, o.teacherHeads, trainerOptions), sampler: { rng: new Rng(o.seed ?? 0).getState(), order: [], cursor: 0, skipped: [] } };
  };
  const r = await runImageLoop(
    { ...o, cfg: o.cfg.student },
    {
      start,
      backboneFile: STUDENT_FILE,
      backboneSource: 'dinov2-ts distillation (EMA of the student backbone)',
      runConfigExtra: { teacher: o.cfg.teacher, teacherIdentity: o.teacherIdentity },
      ...(o.viewsPerImage !== undefined ? { viewsPerImage: o.viewsPerImage } : {}),
    },
  );
  const { teacherBackbone, ...rest } = r;
  return { ...rest, studentBackbone: teacherBackbone };
}
