/** The model of the retrieval commands (`index`, `dedup`): a hub default unless --model or --weights names one. */
import { loadModelFromCli, type ModelCliOptions } from './modelOptions.js';
import type { Dinov2 } from '../models/dinov2.js';

/** The model of the retrieval commands when none is named. */
export const DEFAULT_RETRIEVAL_MODEL = 'dinov2_vits14';

/**
 * Loads the model of a retrieval command: --model, else the --weights checkpoint, else DEFAULT_RETRIEVAL_MODEL.
 * `modelName` is the hub name or path given (or defaulted) as --model; undefined when only --weights names it.
 */
export async function loadRetrievalModel(opts: ModelCliOptions): Promise<{ model: Dinov2; modelName: string | undefined }> {
  const modelName = opts.model ?? (opts.weights ? undefined : DEFAULT_RETRIEVAL_MODEL);
  const model = await loadModelFromCli({ ...opts, ...(modelName !== undefined ? { model: modelName } : {}) });
  return { model, modelName };
}
