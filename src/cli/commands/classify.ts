/** `dinov2 classify <images...>`: labels and probabilities from an official linear head or one trained by `dinov2 linear`. */
import { stat } from 'node:fs/promises';
import { checkHeadBackbone } from '../../heads/backboneIdentity.js';
import { Option, type Command } from 'commander';
import { batchTensors } from '../../data/transforms.js';
import { embedTransform, prepareImages, type PreparedImage } from '../../data/imagePipeline.js';
import { LinearClassifier, hubModelOf, loadLinearHead, type LinearHead, type Prediction } from '../../heads/classifier.js';
import { headArtifact } from '../../hub/registry.js';
import { resolveArtifact } from '../../hub/resolve.js';
import { expandInputs } from '../../data/inputs.js';
import { isHubModelName } from '../../models/config.js';
import type { Dinov2 } from '../../models/dinov2.js';
import type { Tensor } from '../../core/tensor.js';
import { positiveInt } from '../inputs.js';
import { addModelOptions, loadModelFromCli, runtimeFromCli, type ModelCliOptions } from '../modelOptions.js';
import { createProgressBar } from '../progressBar.js';

interface ClassifyCliOptions extends ModelCliOptions {
  head: string;
  top: number;
  size?: number;
  batch: number;
  json?: boolean;
  quiet?: boolean;
  force?: boolean;
}

/**
 * The head `spec` names: `linear` / `linear4` (the released ImageNet-1k heads of the model's hub name, from
 * the cache or downloaded) or a head file.
 */
export async function resolveHead(spec: string, model: Dinov2, opts: { modelName?: string; offline?: boolean }): Promise<LinearHead> {
  if (spec === 'linear' || spec === 'linear4') {
    const isFile = await stat(spec).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!isFile) {
      const hub = opts.modelName && isHubModelName(opts.modelName) ? opts.modelName : hubModelOf(model.config);
      if (!hub) {
        throw new Error(`--head ${spec} needs a hub model (dinov2_vits14, …): ${model.name} is not one; give --model <hub name> or --head <file>`);
      }
      const path = await resolveArtifact(headArtifact(hub, spec), opts.offline ? { offline: true } : {});
      return loadLinearHead(path, { layers: spec === 'linear' ? 1 : 4 });
    }
  }
  return loadLinearHead(spec);
}

export function formatPredictions(path: string, preds: readonly Prediction[]): string {
  const rows = preds.map((p, i) => `  ${String(i + 1).padStart(2)}  ${(100 * p.probability).toFixed(2).padStart(6)}%  ${p.label}${p.label === String(p.index) ? '' : `  (${p.index})`}`);
  return [path, ...rows].join('\n');
}

export function registerClassify(program: Command): void {
  const cmd = program
    .command('classify')
    .description('classify images with an official ImageNet-1k linear head or a head trained by "dinov2 linear"')
    .argument('<images...>', 'image files, folders (searched recursively) or quoted globs');
  addModelOptions(cmd);
  cmd
    .option('--head <linear|linear4|file>', 'released head of the hub model (1 or 4 layers) or a head file (.pth, .safetensors)', 'linear4')
    .addOption(new Option('--top <n>', 'classes shown per image').argParser(positiveInt).default(5))
    .addOption(new Option('--size <pixels>', 'eval transform crop (default: the head file\'s image_size, else 224)').argParser(positiveInt))
    .addOption(new Option('--batch <n>', 'images per forward pass').argParser(positiveInt).default(8))
    .option('--json', 'print JSON: [{path, predictions: [{index, label, probability, logit}]}]')
    .option('--force', 'run a head trained on another backbone (refused otherwise)')
    .addHelpText(
      'after',
      [
        '',
        'Probabilities are the softmax of the head\'s logits. Unreadable files are reported and skipped (exit status 1).',
        '',
        'Examples:',
        '  $ dinov2 classify cat.jpg --model dinov2_vitb14',
        '  $ dinov2 classify photos/ --model dinov2_vits14_reg --head linear --top 3 --json',
        '  $ dinov2 classify a.png --model dinov2_vits14 --head my_head.safetensors',
      ].join('\n'),
    )
    .action(async (images: string[], opts: ClassifyCliOptions) => {
      await runClassify(images, opts);
    });
}

async function runClassify(images: string[], opts: ClassifyCliOptions): Promise<void> {
  const { files, problems } = await expandInputs(images);
  for (const p of problems) console.error(`skipped ${p.path}: ${p.reason}`);
  const model = await loadModelFromCli(opts);
  let classifier: LinearClassifier | null = null;
  const results: { path: string; predictions: Prediction[] }[] = [];
  let failed = problems.length;
  const bar = createProgressBar({ total: files.length, ...(opts.quiet ? { quiet: true } : {}) });
  try {
    const head = await resolveHead(opts.head, model, { ...(opts.model !== undefined ? { modelName: opts.model } : {}), ...(opts.offline ? { offline: true } : {}) });
    // A head trained by `dinov2 linear` records its backbone: another one is refused unless --force.
    await checkHeadBackbone(opts.head, head.info, model, { force: !!opts.force });
    const linear = new LinearClassifier(model, head, runtimeFromCli(opts));
    classifier = linear;
    const size = opts.size ?? (Number(head.info?.['image_size']) || 224);
    const transform = embedTransform({ size }, model.patchSize);
    const classifyChunk = async (chunk: readonly PreparedImage[]): Promise<void> => {
      const ok = chunk.filter((p): p is PreparedImage & { x: Tensor<'float32'> } => p.x !== undefined);
      for (const p of chunk) {
        if (p.x === undefined) {
          bar.log(`skipped ${p.path}: ${p.reason}`);
          failed++;
        }
      }
      if (ok.length > 0) {
        const preds = await linear.predict(batchTensors(ok.map((p) => p.x)), opts.top);
        ok.forEach((p, i) => results.push({ path: p.path, predictions: preds[i]! }));
      }
      bar.tick(chunk.length);
    };
    // Files are decoded ahead (two batches in flight) while the model runs; results keep the input order.
    let chunk: PreparedImage[] = [];
    for await (const item of prepareImages(files, transform, 2 * opts.batch)) {
      chunk.push(item);
      if (chunk.length >= opts.batch) {
        await classifyChunk(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) await classifyChunk(chunk);
  } finally {
    bar.stop();
    await classifier?.dispose();
    await model.dispose();
  }
  // Results go to stdout once the bar (on stderr) is gone, so that piping them works.
  if (opts.json) console.log(JSON.stringify(results, null, 2));
  else for (const r of results) console.log(formatPredictions(r.path, r.predictions));
  if (failed > 0) throw new Error(`${failed} of ${files.length + problems.length} inputs could not be read (listed above)`);
}
