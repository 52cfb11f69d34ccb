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

export interface KindHandler {
  /** Exact kind name from the manifest, e.g. 'backbone.forward_features'. */
  kind: string;
  /** Runs one case, returning one result per weight format it was checked with. */
  run(manifest: Manifest, c: CaseEntry): Promise<CaseResult[]>;
}
