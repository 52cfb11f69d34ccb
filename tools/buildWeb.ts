/**
 * Builds `dinov2-ts/web`: src/web/index.ts bundled for browsers by esbuild into dist/web/ (ESM, code-split so
 * that the WASM or the WebGPU build of onnxruntime-web loads only when a model runs on it), with
 * onnxruntime-web's WASM files copied to dist/web/ort/, and the same folder copied to examples/browser/lib/.
 *
 * The model code is shared with Node; the modules where Node and a page differ are substituted here (the
 * "platform modules"), and the build fails if anything else reaches a Node built-in or a Node-only package:
 *   src/graph/runtime.ts    → src/web/runtime.ts      (onnxruntime-web, in-memory ONNX)
 *   src/core/cpuFeatures.ts → src/web/cpuFeatures.ts  (no /proc/cpuinfo)
 *   src/hub/loadModel.ts, src/formats/open.ts → src/web/nodeOnly.ts (file-system loaders: a clear error)
 *
 *   node --import tsx tools/buildWeb.ts [--no-minify]
 */
import { build, type Plugin } from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = (p: string): string => join(root, 'src', p);

export const PLATFORM_MODULES: Record<string, string> = {
  [src('graph/runtime.ts')]: src('web/runtime.ts'),
  [src('core/cpuFeatures.ts')]: src('web/cpuFeatures.ts'),
  [src('hub/loadModel.ts')]: src('web/nodeOnly.ts'),
  [src('formats/open.ts')]: src('web/nodeOnly.ts'),
};

const NODE_ONLY_PACKAGES = ['onnxruntime-node', 'sharp', '@lancedb/lancedb', 'apache-arrow', 'commander', 'cli-progress'];
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const platformPlugin: Plugin = {
  name: 'dinov2-platform',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      const swapped = PLATFORM_MODULES[target];
      return swapped ? { path: swapped } : undefined;
    });
    b.onResolve({ filter: /.*/ }, (args) => {
      const pkg = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0]!;
      if (builtins.has(args.path) || builtins.has(pkg) || NODE_ONLY_PACKAGES.includes(pkg)) {
        return { errors: [{ text: `'${args.path}' (Node only) is reachable from the browser entry via ${args.importer.replace(root + '/', '')}` }] };
      }
      return undefined;
    });
  },
};

const ORT_FILES = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

async function copyDir(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.isDirectory()) await copyDir(join(from, e.name), join(to, e.name));
    else await copyFile(join(from, e.name), join(to, e.name));
  }
}

export async function buildWeb(opts: { minify?: boolean; outdir?: string } = {}): Promise<{ outdir: string; gzipBytes: Record<string, number> }> {
  const outdir = opts.outdir ?? join(root, 'dist', 'web-bundle');
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { 'dinov2-web': src('web/index.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: opts.minify ?? true,
    sourcemap: true,
    metafile: true,
    // The builds of onnxruntime-web that load their WASM glue (.mjs) from env.wasm.wasmPaths at run time,
    // so that its worker threads start from that file and not from our bundle.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [platformPlugin],
    logLevel: 'warning',
  });
  const ortDir = join(root, 'node_modules', 'onnxruntime-web', 'dist');
  await mkdir(join(outdir, 'ort'), { recursive: true });
  for (const f of ORT_FILES) await copyFile(join(ortDir, f), join(outdir, 'ort', f));
  const gzipBytes: Record<string, number> = {};
  for (const file of Object.keys(result.metafile.outputs)) {
    const path = resolve(root, file);
    if (file.endsWith('.js')) gzipBytes[relative(outdir, path)] = gzipSync(readFileSync(path), { level: 9 }).length;
  }
  return { outdir, gzipBytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { outdir, gzipBytes } = await buildWeb({ minify: !process.argv.includes('--no-minify') });
  const example = join(root, 'examples', 'browser', 'lib');
  await rm(example, { recursive: true, force: true });
  await copyDir(outdir, example);
  const total = Object.values(gzipBytes).reduce((a, b) => a + b, 0);
  console.error(`dinov2-ts/web → ${outdir.replace(root + '/', '')} (+ examples/browser/lib): ${Object.keys(gzipBytes).length} JS files, ${(total / 1024).toFixed(1)} kB gzip in all (WASM binaries not counted)`);
}
