/** `dinov2 attention <image>`: flags → `attentionGrid` (apps/attention.ts). */
import type { Command } from 'commander';
import { attentionGrid } from '../../apps/attention.js';
import { COLORMAPS, isColormapName } from '../../apps/viz/colormap.js';
import { decodeImage } from '../../data/decode.js';
import { writeRgbPng } from '../../formats/png.js';
import { loadModelByNameOrPath } from '../../hub/loadModel.js';
import { addModelOptions, modelLoadOptions, modelNameFromCli, type ModelCliOptions } from '../modelOptions.js';

interface AttentionOptions extends ModelCliOptions {
  out: string;
  size: string;
  tile?: string;
  alpha: string;
  colormap: string;
  showRegisters?: boolean;
  json?: boolean;
}

export async function runAttention(image: string, opts: AttentionOptions): Promise<{ width: number; height: number; heads: number; registers: number; tile: [number, number] }> {
  if (!isColormapName(opts.colormap)) throw new Error(`--colormap '${opts.colormap}' is not one of ${COLORMAPS.join(', ')}`);
  const alpha = Number(opts.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`--alpha must be between 0 and 1, got '${opts.alpha}'`);
  const size = Number(opts.size);
  if (!Number.isInteger(size) || size <= 0) throw new Error(`--size must be a positive integer, got '${opts.size}'`);
  const tileMax = opts.tile === undefined ? Infinity : Number(opts.tile);
  if (!(tileMax > 0)) throw new Error(`--tile must be a positive integer, got '${opts.tile}'`);
  const img = await decodeImage(image);
  const backbone = await loadModelByNameOrPath(modelNameFromCli(opts), modelLoadOptions(opts));
  try {
    const grid = await attentionGrid(backbone, img, { size, tileMax, alpha, colormap: opts.colormap, showRegisters: !!opts.showRegisters });
    await writeRgbPng(opts.out, grid.image);
    return { width: grid.image.width, height: grid.image.height, heads: grid.heads, registers: grid.registers, tile: grid.tile };
  } finally {
    await backbone.dispose();
  }
}

export function registerAttention(program: Command): void {
  addModelOptions(
    program
      .command('attention')
      .description("the last block's class-token attention per head, as a grid of maps over the image")
      .argument('<image>', 'image file'),
  )
    .requiredOption('--out <file.png>', 'the grid: ⌈√heads⌉ tiles per row, each tile the image size (see --tile), 2 px apart')
    .option('--size <pixels>', 'shorter side of the image fed to the model (rounded to the patch size)', '448')
    .option('--tile <pixels>', 'shrink tiles so their longer side is at most this (default: the image size)')
    .option('--alpha <a>', 'opacity of the map over the image', '0.6')
    .option('--colormap <name>', `colour map: ${COLORMAPS.join(', ')}`, 'turbo')
    .option('--show-registers', 'one row per head, with each register\'s attention as an extra tile (register models)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ dinov2 attention cat.jpg --model dinov2_vits14 --out attn.png\n  $ dinov2 attention cat.jpg --model dinov2_vitb14_reg --show-registers --tile 256 --out attn.png')
    .action(async (image: string, opts: AttentionOptions) => {
      const r = await runAttention(image, opts);
      if (opts.json) console.log(JSON.stringify({ out: opts.out, ...r }));
      else console.log(`${opts.out}: ${r.width}×${r.height}, ${r.heads} heads${r.registers ? ` (${r.registers} registers${opts.showRegisters ? ' shown' : ' excluded'})` : ''}, tiles ${r.tile[0]}×${r.tile[1]}`);
    });
}
