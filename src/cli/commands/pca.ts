/** `dinov2 pca <image> --out pca.png`: the patch-feature PCA visualisation beside the image. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { pcaImage } from '../../apps/pca.js';
import { positiveInt } from '../inputs.js';
import { addModelOptions, loadModelFromCli, type ModelCliOptions } from '../modelOptions.js';

interface PcaCliOptions extends ModelCliOptions {
  out: string;
  dense: number;
  threshold: number | 'auto';
  upsample: 'nearest' | 'bilinear';
  json?: boolean;
}

function parseThreshold(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const t = Number(value);
  if (value.trim() === '' || !Number.isFinite(t)) throw new InvalidArgumentError(`'${value}' is neither a number nor 'auto'`);
  return t;
}

export function registerPca(program: Command): void {
  const cmd = program
    .command('pca')
    .description('PCA of the patch features: foreground by the first component, then 3 components as RGB, beside the image')
    .argument('<image>', 'an image file');
  addModelOptions(cmd);
  cmd
    .requiredOption('--out <file.png>', 'the PNG to write (image and PCA map side by side)')
    .addOption(new Option('--dense <pixels>', 'shorter side of the model input (aspect ratio kept)').argParser(positiveInt).default(518))
    .addOption(
      new Option('--threshold <t|auto>', "foreground = first-component projection > t (oriented so that side is the smaller); 'auto' = Otsu")
        .argParser(parseThreshold)
        .default(0),
    )
    .addOption(new Option('--upsample <mode>', 'patch map to pixels').choices(['nearest', 'bilinear']).default('nearest'))
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText('after', '\nExample:\n  $ dinov2 pca dog.jpg --model dinov2_vitb14_reg --out dog_pca.png')
    .action(async (image: string, opts: PcaCliOptions) => {
      const model = await loadModelFromCli(opts);
      try {
        const r = await pcaImage(image, { model, dense: opts.dense, threshold: opts.threshold, upsample: opts.upsample });
        await writeFile(opts.out, r.png);
        const fg = r.foregroundMask.reduce((a, b) => a + b, 0);
        if (opts.json) console.log(JSON.stringify({ out: opts.out, width: 2 * r.width, height: r.height, grid: r.grid, threshold: r.threshold, foregroundPatches: fg }));
        console.error(
          `foreground: ${fg} of ${r.foregroundMask.length} patches (${r.grid.join('×')} grid, threshold ${r.threshold.toPrecision(4)}) → ${opts.out} (${2 * r.width}×${r.height})`,
        );
      } finally {
        await model.dispose();
      }
    });
}
