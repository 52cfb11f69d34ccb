/** The conformance suite's manifest (see ../shared/conformance/README.md for the meaning of each kind). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ModelEntry {
  config: Record<string, unknown>;
  pth?: string;
  safetensors?: string;
  hf?: string;
}

export interface CaseEntry {
  id: string;
  kind: string;
  file: string;
  model?: string;
  atol?: number;
  rtol?: number;
  [extra: string]: unknown;
}

export interface Manifest {
  dir: string;
  models: Record<string, ModelEntry>;
  cases: CaseEntry[];
}

export async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, 'manifest.json');
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read the conformance manifest (${(e as Error).message})`);
  }
  const json = JSON.parse(raw) as { models?: Record<string, ModelEntry>; cases?: CaseEntry[] };
  if (!Array.isArray(json.cases)) throw new Error(`${path}: no 'cases' array`);
  return { dir, models: json.models ?? {}, cases: json.cases };
}
