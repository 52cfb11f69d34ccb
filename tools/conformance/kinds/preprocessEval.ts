/**
 * Conformance kind `preprocess.eval`: decode `image` and apply the evaluation transform described by
 * `transform` (`{resize, interpolation, center_crop, mean, std}`), compared with `expected.x` [3, H, W]. A case
 * passes when both the largest and the mean absolute error are within `atol` and `mean_atol`: the mean bound
 * catches a systematic shift (a wrong offset, a wrong kernel) that a loose per-pixel bound would let through.
 */
import { join } from 'node:path';
import type { CaseResult, KindHandler } from '../kind.js';
import type { CaseEntry, Manifest } from '../manifest.js';
import { withCaseFile } from '../caseFile.js';
import { decodeImage } from '../../../src/data/decode.js';
import { evalTransform, type EvalTransformOptions } from '../../../src/data/transforms.js';
import type { ResampleFilter } from '../../../src/data/resample.js';

const DEFAULT_ATOL = 0.05;
const DEFAULT_MEAN_ATOL = 0.005;

function transformOptions(raw: unknown): EvalTransformOptions {
  const t = (raw ?? {}) as Record<string, unknown>;
  const interpolation = String(t.interpolation ?? 'bicubic');
  const filter: ResampleFilter | undefined = /bicubic/i.test(interpolation)
    ? 'bicubic'
    : /bilinear/i.test(interpolation)
      ? 'bilinear'
      : undefined;
  if (!filter) throw new Error(`unsupported interpolation '${interpolation}'`);
  const numbers = (v: unknown, what: string): number[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new Error(`transform.${what} is not a list of numbers`);
    return v as number[];
  };
  const mean = numbers(t.mean, 'mean');
  const std = numbers(t.std, 'std');
  return {
    resize: Number(t.resize ?? 256),
    crop: Number(t.center_crop ?? 224),
    filter,
    ...(mean ? { mean } : {}),
    ...(std ? { std } : {}),
  };
}

export const preprocessEval: KindHandler = {
  kind: 'preprocess.eval',
  async run(manifest: Manifest, c: CaseEntry): Promise<CaseResult[]> {
    const base = { id: c.id, kind: c.kind, format: '-' };
    const atol = c.atol ?? DEFAULT_ATOL;
    const meanAtol = typeof c.mean_atol === 'number' ? c.mean_atol : DEFAULT_MEAN_ATOL;
    let actual: Float32Array;
    let shape: readonly number[];
    try {
      if (typeof c.image !== 'string') throw new Error("case has no 'image'");
      const img = await decodeImage(join(manifest.dir, c.image));
      const x = evalTransform(img, transformOptions(c.transform));
      actual = x.data;
      shape = x.shape;
    } catch (e) {
      return [{ ...base, status: 'fail', maxAbsError: Infinity, detail: (e as Error).message }];
    }

    const expected = await withCaseFile(join(manifest.dir, c.file), (f) => f.float32('expected.x'));
    const expectedShape = expected.shape;
    if (shape.join() !== expectedShape.join()) {
      return [{ ...base, status: 'fail', maxAbsError: Infinity, detail: `shape [${shape.join(', ')}], expected [${expectedShape.join(', ')}]` }];
    }

    let maxAbsError = 0;
    let sum = 0;
    for (let i = 0; i < expected.size; i++) {
      const err = Math.abs(actual[i]! - expected.data[i]!);
      // NaN must fail rather than vanish from the max.
      if (!(err <= maxAbsError)) maxAbsError = Number.isNaN(err) ? Infinity : err;
      sum += err;
    }
    const meanAbsError = sum / expected.size;
    const ok = maxAbsError <= atol && meanAbsError <= meanAtol;
    return [
      {
        ...base,
        status: ok ? 'pass' : 'fail',
        maxAbsError,
        detail: `max abs error ${maxAbsError.toExponential(3)} (atol ${atol}), mean abs error ${meanAbsError.toExponential(3)} (mean_atol ${meanAtol})`,
      },
    ];
  },
};
