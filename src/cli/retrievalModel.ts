/** The model of the retrieval commands (`index`, `dedup`, `curate`): the common default unless --model or --weights names one. */
import { DEFAULT_MODEL, loadModelFromCli, modelNameFromCli, type ModelCliOptions } from './modelOptions.js';
import type { Dinov2 } from '../models/dinov2.js';

/** The model of the retrieval commands when none is named (the default of every command). */
export const DEFAULT_RETRIEVAL_MODEL = DEFAULT_MODEL;

/**
 * Loads the model of a retrieval command: --model, else the --weights checkpoint, else DEFAULT_MODEL.
 * `modelName` is the hub name or path given (or defaulted) as --model; undefined when only --weights names it.
 */
export async function loadRetrievalModel(opts: ModelCliOptions): Promise<{ model: Dinov2; modelName: string | undefined }> {
  const model = await loadModelFromCli(opts);
  return { model, modelName: modelNameFromCli(opts) };
}
