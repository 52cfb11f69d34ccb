/**
 * `--model` / `--weights` of the commands that load a bare backbone through `loadModelByNameOrPath` (attention,
 * depth, segment, segment-train); each declares its own --offline, whose help says what it keeps from downloading.
 */
import type { Command } from 'commander';
import type { LoadModelOptions } from '../hub/loadModel.js';

export interface BackboneCliOptions {
  model?: string;
  weights?: string;
  offline?: boolean;
}

/** Adds --model and --weights to a command. */
export function addBackboneOptions(cmd: Command): Command {
  return cmd
    .option('--model <name|path>', 'hub backbone name (dinov2_vits14 …) or backbone checkpoint')
    .option('--weights <file>', 'backbone weights (with --model as a hub name: the architecture they must have)');
}

/** The --weights and --offline of a command as `loadModelByNameOrPath` / `resolveCheckpoint` take them. */
export function backboneLoadOptions(opts: BackboneCliOptions): Pick<LoadModelOptions, 'weights' | 'offline'> {
  return { ...(opts.weights ? { weights: opts.weights } : {}), ...(opts.offline !== undefined ? { offline: opts.offline } : {}) };
}
