/** `dinov2 init`: flags → `initBackbone` / `initHead` (apps/init.ts). */
import { Option, type Command } from 'commander';
import { INIT_HEAD_KINDS, initArchitecture, initBackbone, initHead, type InitHeadKind } from '../../apps/init.js';
import { openWeights } from '../../formats/open.js';
import { detectConfig } from '../../models/load.js';
import { HUB_MODELS } from '../../models/config.js';
import { nonNegativeInt, positiveInt } from '../inputs.js';
import { addArchitectureOptions, architectureFromCli } from '../modelOptions.js';

interface InitCliOptions {
  arch?: string;
  head?: InitHeadKind;
  model?: string;
  out: string;
  layers: string;
  classes?: number;
  seed: number;
  numHeads?: number;
}

export function registerInit(program: Command): void {
  const cmd = program
    .command('init')
    .description('weights without a download: a backbone with the official initialisation (architecture in the metadata), or a random depth/segmentation/classifier head')
    .addOption(new Option('--arch <name>', `backbone architecture: ${HUB_MODELS.join(', ')}`))
    .addOption(new Option('--head <kind>', 'a random head instead of a backbone').choices(INIT_HEAD_KINDS))
    .option('--model <name|path>', 'with --head: the backbone the head is for (its width), a hub name or checkpoint (default: --arch)')
    .requiredOption('--out <file.safetensors>', 'where to write')
    .addOption(new Option('--layers <1|4>', 'with --head: blocks read (1: linear, 4: linear4/ms)').choices(['1', '4']).default('1'))
    .addOption(new Option('--classes <n>', 'with --head seg-linear (default 150) or classifier (default 1000)').argParser(positiveInt))
    .addOption(new Option('--seed <n>', 'seed of the random values').argParser(nonNegativeInt).default(0));
  addArchitectureOptions(cmd)
    .addHelpText(
      'after',
      [
        '',
        'Random weights give meaningless features and predictions: for trying commands offline and for tests.',
        '',
        'Examples:',
        '  $ dinov2 init --arch dinov2_vits14 --out vits14-random.safetensors',
        '  $ dinov2 init --head depth-linear --model vits14-random.safetensors --out depth-head.safetensors',
        '  $ dinov2 depth room.jpg --model vits14-random.safetensors --head depth-head.safetensors --out depth.png',
      ].join('\n'),
    )
    .action(async (opts: InitCliOptions) => {
      if (!/\.safetensors$/i.test(opts.out)) throw new Error(`--out ${opts.out}: init writes .safetensors`);
      if (!opts.head) {
        if (!opts.arch) throw new Error('give --arch (a backbone) or --head (a head)');
        await initBackbone(opts.out, { ...initArchitecture(opts.arch), ...architectureFromCli(opts) }, { seed: opts.seed });
        console.error(`wrote ${opts.out} (${opts.arch}, official initialisation, seed ${opts.seed})`);
        return;
      }
      const embedDim = await backboneWidth(opts);
      await initHead(opts.out, opts.head, { embedDim, layers: Number(opts.layers) as 1 | 4, ...(opts.classes ? { classes: opts.classes } : {}), seed: opts.seed });
      console.error(`wrote ${opts.out} (random ${opts.head} head for embed_dim ${embedDim}, seed ${opts.seed})`);
    });
}

async function backboneWidth(opts: InitCliOptions): Promise<number> {
  const model = opts.model ?? opts.arch;
  if (!model) throw new Error('--head needs the backbone it is for: --model <hub name|checkpoint> or --arch <hub name>');
  if (HUB_MODELS.includes(model as (typeof HUB_MODELS)[number])) return initArchitecture(model).embed_dim;
  const source = await openWeights(model);
  try {
    return detectConfig(source).embed_dim;
  } finally {
    await source.close();
  }
}
