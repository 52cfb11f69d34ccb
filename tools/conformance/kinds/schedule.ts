/** Conformance kind `schedule`: the five training schedules of `config`, one value per iteration. */
import { join } from 'node:path';
import type { KindHandler, CaseResult } from '../kind.js';
import type { CaseEntry, Manifest } from '../manifest.js';
import { compareClose } from '../compare.js';
import { SafetensorsFile } from '../../../src/formats/safetensors.js';
import { buildSchedules, scheduleConfigFromJson, type Schedules } from '../../../src/train/optim/schedules.js';
import { caseResult } from './expectedTensors.js';

const DEFAULT_ATOL = 1e-9;
const DEFAULT_RTOL = 1e-9;

/** Expected tensor name → the schedule it records. */
const SCHEDULES: ReadonlyArray<readonly [string, keyof Schedules]> = [
  ['lr', 'lr'],
  ['wd', 'wd'],
  ['momentum', 'momentum'],
  ['teacher_temp', 'teacherTemp'],
  ['last_layer_lr', 'lastLayerLr'],
];

// `satisfies` keeps the narrower signature: this kind needs no models, so callers may omit the context.
export const schedule = {
  kind: 'schedule',
  async run(manifest: Manifest, c: CaseEntry): Promise<CaseResult[]> {
    const atol = c.atol ?? DEFAULT_ATOL;
    const rtol = c.rtol ?? DEFAULT_RTOL;
    let schedules: Schedules;
    try {
      schedules = buildSchedules(scheduleConfigFromJson((c.config ?? {}) as Record<string, unknown>));
    } catch (e) {
      return [caseResult(c, [{ ok: false, maxAbsError: Infinity, firstBad: 0, detail: (e as Error).message }])];
    }
    const file = await SafetensorsFile.open(join(manifest.dir, c.file));
    try {
      const comparisons = [];
      for (const [key, which] of SCHEDULES) {
        const name = `expected.${key}`;
        const expected = await readFloat64(file, name);
        comparisons.push(compareClose(key, schedules[which].values(expected.length), expected, atol, rtol));
      }
      return [caseResult(c, comparisons)];
    } finally {
      await file.close();
    }
  },
} satisfies KindHandler;

/** Schedules are stored as F64; going through float32 would lose the precision the tolerance asks for. */
async function readFloat64(file: SafetensorsFile, key: string): Promise<Float64Array> {
  const entry = file.entry(key);
  if (!entry) throw new Error(`${file.path}: no tensor named '${key}'`);
  if (entry.dtype === 'F64') {
    const raw = await file.readRaw(key);
    // A copy guarantees the 8-byte alignment Float64Array needs.
    return new Float64Array(raw.slice().buffer);
  }
  return Float64Array.from(await file.readFloat32(key));
}
