/**
 * Everything a DINOv2 training step reads and writes besides the data: the student's trainable parameters
 * (official keys: `backbone.*`, `dino_head.*`, `ibot_head.*`), their gradients, the AdamW moments and step
 * counts, the EMA teacher, and small buffers such as the DINO / iBOT centers.
 *
 * Why flat: the optimiser, the clipping and the EMA are element-wise over every parameter, so they run as
 * onnxruntime graphs over a few big vectors instead of hundreds of small tensors (or a JS loop). Each
 * parameter is a view into a "chunk": the parameters of one optimizer group (the official fused groups:
 * same lr multiplier, wd multiplier and last-layer flag, fused per student module), contiguous, cut where
 * a chunk would pass `maxChunkElements` (default 2^24 elements, 64 MiB — typed arrays, ORT tensors and the
 * update's temporaries all get unwieldy past that). One group per chunk means one set of hyper-parameters
 * per chunk: the update graphs take them as scalars, and a single graph with a symbolic length serves
 * every chunk.
 *
 * The optimiser, the EMA and clipping write their results into the chunk arrays in place (no second copy
 * of the state during a step), so views taken with `param()` etc. see the new values after each step;
 * copy them (`Float32Array.from`) to keep a snapshot. Loading state may replace the arrays: take views
 * again after `load` / `setParam`-style calls.
 */
import { fuseParamsGroups, studentParamGroups, type ParamGroupOptions } from './paramGroups.js';
import { Tensor } from '../../core/tensor.js';

/** Default largest chunk, in elements. A parameter larger than this gets a chunk of its own. */
export const DEFAULT_MAX_CHUNK_ELEMENTS = 1 << 24;

export interface ParamInit {
  /** Official student key, e.g. `backbone.blocks.0.attn.qkv.weight`. */
  name: string;
  shape: readonly number[];
  /** Initial values (copied). Zeros when absent. */
  data?: Float32Array;
  /** Initial teacher values (copied); the student's values when absent, as the official start does. */
  teacher?: Float32Array;
}

export interface ParamStoreOptions {
  /** How the official code builds parameter groups (layer-wise decay, patch-embed multiplier). */
  groups: ParamGroupOptions;
  maxChunkElements?: number;
}

/** One optimizer group: the official fused group of one student module. */
export interface OptimGroup {
  module: string;
  lrMultiplier: number;
  wdMultiplier: number;
  isLastLayer: boolean;
  params: readonly string[];
}

export interface ParamSlot {
  name: string;
  shape: readonly number[];
  size: number;
  /** Student module: the key's first component. */
  module: string;
  group: number;
  chunk: number;
  /** Element offset inside the chunk. */
  offset: number;
}

export interface ChunkLayout {
  size: number;
  /** The optimizer group all of the chunk's parameters belong to. */
  group: number;
  /** Parameter names in placement order (offset order). */
  params: readonly string[];
}

export interface Buffer32 {
  shape: readonly number[];
  data: Float32Array;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`ParamStore: invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export class ParamStore {
  /** Parameters in the order they were given (the official `named_parameters` order). */
  readonly slots: readonly ParamSlot[];
  readonly groups: readonly OptimGroup[];
  readonly chunks: readonly ChunkLayout[];
  readonly groupOptions: ParamGroupOptions;
  readonly maxChunkElements: number;

  /** Flat state, one array per chunk (see the file comment: replaced by each update). */
  student: Float32Array[];
  teacher: Float32Array[];
  grad: Float32Array[];
  expAvg: Float32Array[];
  expAvgSq: Float32Array[];
  /** AdamW `state['step']` per parameter (slot order): steps taken so far. */
  readonly steps: Float64Array;
  /** Non-trainable state saved with the run, by official key (`dino_loss.center`, `ibot_patch_loss.center`). */
  readonly buffers = new Map<string, Buffer32>();
  /** Training-loop iteration (the index into the schedules) of the next step. */
  iteration = 0;

  private readonly bySlot = new Map<string, ParamSlot>();
  private readonly slotIndex = new Map<string, number>();

  private constructor(slots: ParamSlot[], groups: OptimGroup[], chunks: ChunkLayout[], options: ParamStoreOptions) {
    this.slots = slots;
    this.groups = groups;
    this.chunks = chunks;
    this.groupOptions = { ...options.groups };
    this.maxChunkElements = options.maxChunkElements ?? DEFAULT_MAX_CHUNK_ELEMENTS;
    slots.forEach((s, i) => {
      this.bySlot.set(s.name, s);
      this.slotIndex.set(s.name, i);
    });
    const alloc = (): Float32Array[] => chunks.map((c) => new Float32Array(c.size));
    this.student = alloc();
    this.teacher = alloc();
    this.grad = alloc();
    this.expAvg = alloc();
    this.expAvgSq = alloc();
    this.steps = new Float64Array(slots.length);
  }

  /** Lays the parameters out (groups as the official optimizer builds them) and copies the initial values in. */
  static create(params: readonly ParamInit[], options: ParamStoreOptions): ParamStore {
    const maxChunk = options.maxChunkElements ?? DEFAULT_MAX_CHUNK_ELEMENTS;
    if (!Number.isSafeInteger(maxChunk) || maxChunk < 1) throw new Error(`ParamStore: maxChunkElements must be a positive integer, got ${maxChunk}`);
    const seen = new Set<string>();
    for (const p of params) {
      if (seen.has(p.name)) throw new Error(`ParamStore: parameter '${p.name}' is given twice`);
      seen.add(p.name);
      if (numel(p.shape) === 0) throw new Error(`ParamStore: parameter '${p.name}' has no elements`);
    }
    const entries = studentParamGroups(params, options.groups);

    // Fused per module, as `SSLMetaArch.get_params_groups` fuses each student sub-module on its own.
    const groups: OptimGroup[] = [];
    const groupOf = new Map<string, number>();
    const modules = [...new Set(entries.map((e) => e.name.slice(0, e.name.indexOf('.'))))];
    for (const module of modules) {
      for (const f of fuseParamsGroups(entries.filter((e) => e.name.startsWith(`${module}.`)))) {
        for (const n of f.params) groupOf.set(n, groups.length);
        groups.push({ module, lrMultiplier: f.lrMultiplier, wdMultiplier: f.wdMultiplier, isLastLayer: f.isLastLayer, params: f.params });
      }
    }

    const slots: ParamSlot[] = params.map((p) => ({
      name: p.name,
      shape: [...p.shape],
      size: numel(p.shape),
      module: p.name.slice(0, p.name.indexOf('.')),
      group: groupOf.get(p.name)!,
      chunk: -1,
      offset: -1,
    }));
    const slotByName = new Map(slots.map((s) => [s.name, s]));

    // Placement: group after group; a new chunk for each group and wherever the next parameter would overflow.
    const chunks: { size: number; group: number; params: string[] }[] = [];
    groups.forEach((grp, gi) => {
      let cur: (typeof chunks)[number] | undefined;
      for (const name of grp.params) {
        const s = slotByName.get(name)!;
        if (!cur || (cur.size > 0 && cur.size + s.size > maxChunk)) {
          cur = { size: 0, group: gi, params: [] };
          chunks.push(cur);
        }
        s.chunk = chunks.length - 1;
        s.offset = cur.size;
        cur.params.push(name);
        cur.size += s.size;
      }
    });

    const store = new ParamStore(slots, groups, chunks, { ...options, maxChunkElements: maxChunk });
    // The chunks start as zeros: only given values are copied in.
    for (const p of params) {
      const s = slotByName.get(p.name)!;
      if (p.data) store.param(p.name).set(checkLength(p.name, p.data, s.size));
      const teacher = p.teacher ?? p.data;
      if (teacher) store.teacherParam(p.name).set(checkLength(`${p.name} (teacher)`, teacher, s.size));
    }
    return store;
  }

  slot(name: string): ParamSlot {
    const s = this.bySlot.get(name);
    if (!s) throw new Error(`ParamStore: no parameter named '${name}'`);
    return s;
  }

  has(name: string): boolean {
    return this.bySlot.has(name);
  }

  /** Student modules in order of first appearance (the official `model.student.keys()` order). */
  get modules(): string[] {
    return [...new Set(this.slots.map((s) => s.module))];
  }

  private view(arrays: Float32Array[], name: string): Float32Array {
    const s = this.slot(name);
    return arrays[s.chunk]!.subarray(s.offset, s.offset + s.size);
  }

  /** The student's value (a live view, valid until the next update). */
  param(name: string): Float32Array {
    return this.view(this.student, name);
  }

  teacherParam(name: string): Float32Array {
    return this.view(this.teacher, name);
  }

  gradOf(name: string): Float32Array {
    return this.view(this.grad, name);
  }

  expAvgOf(name: string): Float32Array {
    return this.view(this.expAvg, name);
  }

  expAvgSqOf(name: string): Float32Array {
    return this.view(this.expAvgSq, name);
  }

  /** Position of a parameter in `slots` (and `steps`). */
  indexOf(name: string): number {
    const i = this.slotIndex.get(name);
    if (i === undefined) throw new Error(`ParamStore: no parameter named '${name}'`);
    return i;
  }

  stepOf(name: string): number {
    return this.steps[this.indexOf(name)]!;
  }

  /**
   * The gradient buffers as tensors keyed by a training graph's output names (`outputName(key)`), for
   * `CompiledGraph.run`'s `into`: onnxruntime writes the gradients straight into the store, so a step
   * allocates no parameter-sized outputs and copies nothing.
   */
  gradTargets(outputName: (key: string) => string): Record<string, Tensor> {
    const into: Record<string, Tensor> = {};
    for (const s of this.slots) into[outputName(s.name)] = Tensor.float32(this.gradOf(s.name), s.shape);
    return into;
  }

  /** Copies a gradient (e.g. a training-graph output) into the flat gradient buffer. */
  setGrad(name: string, data: Float32Array): void {
    const s = this.slot(name);
    this.gradOf(name).set(checkLength(`gradient of ${name}`, data, s.size));
  }

  setBuffer(name: string, shape: readonly number[], data: Float32Array): void {
    this.buffers.set(name, { shape: [...shape], data: Float32Array.from(checkLength(name, data, numel(shape))) });
  }

  buffer(name: string): Buffer32 {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`ParamStore: no buffer named '${name}'`);
    return b;
  }

  /** The parameters of one student module, in slot order. */
  moduleSlots(module: string): ParamSlot[] {
    return this.slots.filter((s) => s.module === module);
  }
}

function checkLength(what: string, data: Float32Array, size: number): Float32Array {
  if (!(data instanceof Float32Array)) throw new Error(`ParamStore: ${what} must be a Float32Array`);
  if (data.length !== size) throw new Error(`ParamStore: ${what} has ${data.length} values, the parameter has ${size}`);
  return data;
}

