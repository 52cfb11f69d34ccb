/**
 * A graph compiled on first use and then kept: heads and side graphs (depth, segmentation, attention maps)
 * cost nothing until they run. A failed compilation is forgotten, so the next call tries again.
 */
import { Tensor } from '../core/tensor.js';
import type { GraphIR } from './ir.js';
import { compileGraph, type CompiledGraph, type RuntimeOptions } from './runtime.js';

export class LazyGraph {
  private compiled: Promise<CompiledGraph> | null = null;

  constructor(
    /** Builds the graph; may be async (e.g. to read a few weights that decide its form). */
    private readonly build: () => GraphIR | Promise<GraphIR>,
    private readonly runtime: RuntimeOptions = {},
  ) {}

  private session(): Promise<CompiledGraph> {
    if (!this.compiled) {
      const pending = Promise.resolve()
        .then(() => this.build())
        .then((ir) => compileGraph(ir, this.runtime));
      pending.catch(() => {
        if (this.compiled === pending) this.compiled = null;
      });
      this.compiled = pending;
    }
    return this.compiled;
  }

  /** Runs the graph; `outputs` selects what is copied back (default: every output), `into` see CompiledGraph.run. */
  async run(feeds: Record<string, Tensor>, outputs?: readonly string[], into?: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    return (await this.session()).run(feeds, outputs, into);
  }

  /** The names of the graph's inputs (compiles it if it is not yet). */
  async inputNames(): Promise<string[]> {
    return (await this.session()).ir.inputs.map((i) => i.name);
  }

  /** The names of the graph's outputs (compiles it if it is not yet). */
  async outputNames(): Promise<string[]> {
    return (await this.session()).ir.outputs.map((o) => o.name);
  }

  /** Releases the session; a later run compiles it again. */
  async dispose(): Promise<void> {
    const pending = this.compiled;
    this.compiled = null;
    if (pending) await (await pending.catch(() => null))?.dispose();
  }
}

/** The `out_size` feed [2] (height, width) of head graphs that resize their output to the input image. */
export function outSizeFeed(height: number, width: number): Tensor<'int64'> {
  return new Tensor('int64', BigInt64Array.from([BigInt(height), BigInt(width)]), [2]);
}
