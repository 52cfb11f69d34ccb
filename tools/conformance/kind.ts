/** The contract between the conformance runner and the code that checks one case kind. */
import type { CaseEntry, Manifest } from './manifest.js';

export type CaseStatus = 'pass' | 'fail' | 'skip';

export interface CaseResult {
  id: string;
  kind: string;
  /** Weight format the case ran with ('pth' | 'safetensors' | 'hf'), or '-' when none applies. */
  format: string;
  status: CaseStatus;
  maxAbsError: number;
  detail?: string;
}

export interface ConformanceContext {
  /** The backbone `name` of the manifest loaded from `format` (cached across cases). */
  backbone(name: string, format: WeightFormatName): Promise<import('../../src/models/dinov2.js').Dinov2>;
  /** Weight formats the manifest offers for model `name`. */
  formats(name: string): WeightFormatName[];
}

export type WeightFormatName = 'pth' | 'safetensors' | 'hf';

export interface KindHandler {
  /** Exact kind name from the manifest, e.g. 'backbone.forward_features'. */
  kind: string;
  /** Runs one case, returning one result per weight format it was checked with. */
  run(manifest: Manifest, c: CaseEntry, ctx: ConformanceContext): Promise<CaseResult[]>;
}
