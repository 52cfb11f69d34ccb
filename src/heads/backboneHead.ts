/**
 * What every dense head on a backbone shares (`Depther`, `Segmenter`): the width check against the backbone,
 * the blocks it reads, its own graph compiled on first use, and the release of that graph — plus whatever the
 * head's loader holds open (`onDispose`: the head file its weights are read from).
 */
import { LazyGraph } from '../graph/lazyGraph.js';
import type { GraphIR } from '../graph/ir.js';
import type { RuntimeOptions } from '../graph/runtime.js';
import type { Dinov2 } from '../models/dinov2.js';

export interface BackboneHeadOptions extends RuntimeOptions {
  /** Called once the head's graph is released (e.g. closing the file its weights are read from). */
  onDispose?: () => Promise<void>;
}

export abstract class BackboneHead {
  protected readonly graph: LazyGraph;
  private readonly onDispose: (() => Promise<void>) | undefined;

  protected constructor(
    readonly backbone: Dinov2,
    what: string,
    embedDim: number,
    /** Backbone blocks the head reads, ascending. */
    readonly outIndex: readonly number[],
    build: () => GraphIR,
    options: BackboneHeadOptions,
  ) {
    backbone.checkHeadWidth(what, embedDim);
    const { onDispose, ...runtime } = options;
    this.onDispose = onDispose;
    this.graph = new LazyGraph(build, runtime);
  }

  /** Releases the head's session and what its loader holds (the backbone belongs to the caller). */
  async dispose(): Promise<void> {
    try {
      await this.graph.dispose();
    } finally {
      await this.onDispose?.();
    }
  }
}
