/**
 * Saving and resuming a training run exactly: `<dir>/train_state.safetensors` holds every tensor of a
 * ParamStore under self-describing keys, `<dir>/train_state.json` the rest (layout, optimizer step counts,
 * iteration, and whatever schedule / RNG / config state the caller hands in). A store loaded from a save is
 * bit-for-bit the one saved, with the same layout, so the next step produces the same bits as it would have.
 *
 * Tensor keys: `student.<key>`, `teacher.<key>`, `exp_avg.<key>`, `exp_avg_sq.<key>` for every parameter
 * (official keys: `student.backbone.blocks.0.attn.qkv.weight`), `buffer.<name>` for buffers
 * (`buffer.dino_loss.center`). Gradients are not saved: they are recomputed by the next step.
 *
 * The JSON is written last and carries a token also stored in the safetensors metadata, so that a save
 * interrupted between the two files is detected on load instead of silently pairing mismatched halves.
 *
 * Saves are atomic as a whole, so a kill at any moment leaves the last complete save loadable:
 *   1. the new save is written into `<dir>/.partial-<token>/` (both files, each fsynced, then the folder);
 *   2. the folder is renamed to `<dir>/gen-<iteration>-<token>/` (complete, but not yet current);
 *   3. `<dir>/CURRENT` (one line: that folder's name) is replaced by rename of a fsynced temporary file —
 *      the single switch from the previous save to the new one;
 *   4. only then are older generations and leftovers deleted.
 * `cleanTrainStateDir` (called when a run starts or resumes) deletes `.partial-*` leftovers and generations
 * that CURRENT does not name. A folder from before this layout (train_state.* directly in `<dir>`) still
 * loads. Each step has a fault point (`save:*`, see core/faultPoint.ts) for the crash tests.
 */
import { randomUUID } from 'node:crypto';
import { open, readdir, readFile, rename, rm, mkdir } from 'node:fs/promises';
import { faultPoint } from '../../core/faultPoint.js';
import { join } from 'node:path';
import { Rng, type RngState } from '../../core/rng.js';
import type { ParamGroupOptions } from '../optim/paramGroups.js';
import { SafetensorsFile } from '../../formats/safetensors.js';
import { writeSafetensors } from '../../formats/safetensorsWriter.js';
import type { TensorItem } from '../../formats/tensorItem.js';
import { shapeSize } from '../../core/tensor.js';
import { ParamStore } from '../optim/paramStore.js';

export const TRAIN_STATE_FORMAT = 'dinov2-ts/train-state';
export const TRAIN_STATE_VERSION = 1;
const TENSORS_FILE = 'train_state.safetensors';
const JSON_FILE = 'train_state.json';

/** Caller state saved alongside the tensors; each must survive JSON.stringify / JSON.parse. */
export interface TrainStateExtras {
  /** Schedule state (e.g. the ScheduleConfig the schedules were built from). */
  schedule?: unknown;
  /** RNG state, e.g. from `captureRngState`. */
  rng?: unknown;
  /** The run's configuration. */
  config?: unknown;
  /** The data pipeline's state (sampler position, its generator), so a resumed run sees the same batches. */
  data?: unknown;
}

interface TrainStateJson {
  format: string;
  version: number;
  token: string;
  iteration: number;
  groupOptions: ParamGroupOptions;
  maxChunkElements: number;
  params: { name: string; shape: number[]; step: number }[];
  buffers: { name: string; shape: number[] }[];
  schedule?: unknown;
  rng?: unknown;
  config?: unknown;
  data?: unknown;
}

export interface LoadedTrainState extends TrainStateExtras {
  store: ParamStore;
  iteration: number;
}

const POINTER_FILE = 'CURRENT';
const GENERATION = /^gen-\d+-[0-9a-f-]{36}$/;
const PARTIAL_PREFIX = '.partial-';

/** fsync of a file or folder (a folder's entry list: makes its renames durable). */
async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The folder of the current save in `dir` (CURRENT's generation, or `dir` itself for the old layout). */
export async function currentTrainStateDir(dir: string): Promise<string | undefined> {
  const pointer = join(dir, POINTER_FILE);
  let name: string;
  try {
    name = (await readFile(pointer, 'utf8')).trim();
  } catch {
    const legacy = await readFile(join(dir, JSON_FILE)).then(() => true, () => false);
    return legacy ? dir : undefined;
  }
  if (!GENERATION.test(name)) throw new Error(`${pointer}: does not name a save generation (corrupt state folder)`);
  return join(dir, name);
}

/** Whether `dir` holds a complete save. */
export async function hasTrainState(dir: string): Promise<boolean> {
  return (await currentTrainStateDir(dir).catch(() => undefined)) !== undefined;
}

/** Deletes what an interrupted save left behind: `.partial-*` folders and files, and generations CURRENT does not name. */
export async function cleanTrainStateDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const current = await currentTrainStateDir(dir);
  for (const n of names) {
    const stale = n.startsWith(PARTIAL_PREFIX) || n.startsWith(`${POINTER_FILE}${PARTIAL_PREFIX}`) || (GENERATION.test(n) && join(dir, n) !== current);
    if (stale) await rm(join(dir, n), { recursive: true, force: true });
  }
}

export async function saveTrainState(dir: string, store: ParamStore, extras: TrainStateExtras = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const token = randomUUID();
  const partial = join(dir, `${PARTIAL_PREFIX}${token}`);
  faultPoint('save:begin');
  await mkdir(partial);
  await writeGeneration(partial, token, store, extras);
  faultPoint('save:written');
  await fsyncPath(partial);
  const generation = `gen-${store.iteration}-${token}`;
  await rename(partial, join(dir, generation));
  faultPoint('save:generation-renamed');
  await fsyncPath(dir);
  const pointerTmp = join(dir, `${POINTER_FILE}${PARTIAL_PREFIX}${token}`);
  const handle = await open(pointerTmp, 'w');
  try {
    await handle.writeFile(`${generation}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  faultPoint('save:pointer-written');
  await rename(pointerTmp, join(dir, POINTER_FILE));
  faultPoint('save:pointer-switched');
  await fsyncPath(dir);
  // The previous generation goes only now that the new one is current.
  for (const n of await readdir(dir)) {
    if (n !== generation && (GENERATION.test(n) || n.startsWith(PARTIAL_PREFIX))) {
      await rm(join(dir, n), { recursive: true, force: true });
      faultPoint('save:old-removed');
    }
  }
  // Files of the layout before generations, superseded by CURRENT.
  await rm(join(dir, TENSORS_FILE), { force: true });
  await rm(join(dir, JSON_FILE), { force: true });
}

async function writeGeneration(dir: string, token: string, store: ParamStore, extras: TrainStateExtras): Promise<void> {
  const items: TensorItem[] = [];
  for (const s of store.slots) {
    // Thunks: each view is taken when its bytes are written (one tensor's worth at a time, no copies).
    items.push({ key: `student.${s.name}`, dtype: 'F32', shape: s.shape, data: () => store.param(s.name) });
    items.push({ key: `teacher.${s.name}`, dtype: 'F32', shape: s.shape, data: () => store.teacherParam(s.name) });
    items.push({ key: `exp_avg.${s.name}`, dtype: 'F32', shape: s.shape, data: () => store.expAvgOf(s.name) });
    items.push({ key: `exp_avg_sq.${s.name}`, dtype: 'F32', shape: s.shape, data: () => store.expAvgSqOf(s.name) });
  }
  for (const [name, b] of store.buffers) items.push({ key: `buffer.${name}`, dtype: 'F32', shape: b.shape, data: b.data });
  await writeSafetensors(join(dir, TENSORS_FILE), items, { format: TRAIN_STATE_FORMAT, token });
  await fsyncPath(join(dir, TENSORS_FILE));
  faultPoint('save:tensors-written');

  const json: TrainStateJson = {
    format: TRAIN_STATE_FORMAT,
    version: TRAIN_STATE_VERSION,
    token,
    iteration: store.iteration,
    groupOptions: store.groupOptions,
    maxChunkElements: store.maxChunkElements,
    params: store.slots.map((s, i) => ({ name: s.name, shape: [...s.shape], step: store.steps[i]! })),
    buffers: [...store.buffers].map(([name, b]) => ({ name, shape: [...b.shape] })),
    ...extras,
  };
  const text = JSON.stringify(json, null, 1);
  checkRoundTrip(text, json);
  const handle = await open(join(dir, JSON_FILE), 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Extras must come back equal from JSON (no undefined members, NaN, class instances, typed arrays…). */
function checkRoundTrip(text: string, json: TrainStateJson): void {
  const back = JSON.parse(text) as TrainStateJson;
  for (const k of ['schedule', 'rng', 'config', 'data'] as const) {
    if (json[k] !== undefined && !deepEqual(json[k], back[k])) {
      throw new Error(`saveTrainState: '${k}' does not survive JSON (use plain objects, arrays, finite numbers, strings)`);
    }
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export async function loadTrainState(stateDir: string): Promise<LoadedTrainState> {
  const dir = await currentTrainStateDir(stateDir);
  if (!dir) throw new Error(`${stateDir}: no saved training state (no ${POINTER_FILE} or ${JSON_FILE})`);
  const jsonPath = join(dir, JSON_FILE);
  const json = JSON.parse(await readFile(jsonPath, 'utf8')) as TrainStateJson;
  if (json.format !== TRAIN_STATE_FORMAT || json.version !== TRAIN_STATE_VERSION) {
    throw new Error(`${jsonPath}: not a ${TRAIN_STATE_FORMAT} v${TRAIN_STATE_VERSION} file (format '${json.format}', version ${json.version})`);
  }
  const file = await SafetensorsFile.open(join(dir, TENSORS_FILE));
  try {
    if (file.metadata['token'] !== json.token) {
      throw new Error(`${dir}: ${TENSORS_FILE} and ${JSON_FILE} come from different saves (interrupted save?)`);
    }
    const store = await readStore(file, json);
    store.iteration = json.iteration;
    const out: LoadedTrainState = { store, iteration: json.iteration };
    if (json.schedule !== undefined) out.schedule = json.schedule;
    if (json.rng !== undefined) out.rng = json.rng;
    if (json.config !== undefined) out.config = json.config;
    if (json.data !== undefined) out.data = json.data;
    return out;
  } finally {
    await file.close();
  }
}

/**
 * The store laid out as saved, each tensor's F32 bytes read as they are (bit for bit, NaN payloads
 * included) straight into the store's arrays: no temporary copies.
 */
async function readStore(file: SafetensorsFile, json: TrainStateJson): Promise<ParamStore> {
  /** Reads the F32 tensor `key` of exactly `shape` into `target`. */
  const readTensor = async (key: string, shape: readonly number[], target: Float32Array): Promise<void> => {
    const e = file.entry(key);
    if (!e) throw new Error(`${file.path}: missing tensor '${key}'`);
    if (e.dtype !== 'F32' || e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${file.path}: '${key}' is ${e.dtype}[${e.shape.join(', ')}], expected F32[${shape.join(', ')}]`);
    }
    await file.readRawInto(key, new Uint8Array(target.buffer, target.byteOffset, target.byteLength));
  };
  const store = ParamStore.create(
    json.params.map((p) => ({ name: p.name, shape: p.shape })),
    { groups: json.groupOptions, maxChunkElements: json.maxChunkElements },
  );
  for (const [i, p] of json.params.entries()) {
    await readTensor(`student.${p.name}`, p.shape, store.param(p.name));
    await readTensor(`teacher.${p.name}`, p.shape, store.teacherParam(p.name));
    await readTensor(`exp_avg.${p.name}`, p.shape, store.expAvgOf(p.name));
    await readTensor(`exp_avg_sq.${p.name}`, p.shape, store.expAvgSqOf(p.name));
    store.steps[i] = p.step;
  }
  for (const b of json.buffers) {
    const data = new Float32Array(shapeSize(b.shape));
    await readTensor(`buffer.${b.name}`, b.shape, data);
    store.setBuffer(b.name, b.shape, data);
  }
  return store;
}

/** The full state of an Rng (MT19937 words, position, cached Gaussian), as JSON-safe values. */
export type { RngState };

export function captureRngState(rng: Rng): RngState {
  return rng.getState();
}

/** A new Rng continuing exactly where the captured one stood. */
export function restoreRngState(state: RngState): Rng {
  return Rng.fromState(state);
}
