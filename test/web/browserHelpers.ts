/** Headless Chromium (Debian's `chromium`, driven by playwright-core) serving the web build from 127.0.0.1. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CONFORMANCE_DIR, maxAbsDiff } from '../helpers.js';
import { resize } from '../../src/data/resample.js';
import { batchTensors, evalTransform, normalize, toTensor } from '../../src/data/transforms.js';
import type { RgbImage } from '../../src/data/image.js';
import type { Dinov2 } from '../../src/models/dinov2.js';
import type { Tensor } from '../../src/core/tensor.js';
import { hubConfig, type HubModelName } from '../../src/models/config.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { writeSafetensors } from '../../src/formats/safetensorsWriter.js';
import { buildWeb } from '../../tools/buildWeb.js';
import { startStaticServer, type StaticServer } from '../../tools/staticServer.js';

/** The Chromium binary ($CHROMIUM_PATH, or Debian's), or null when none is installed. */
export function findChromium(): string | null {
  for (const p of [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && existsSync(p)) return p;
  }
  return null;
}

export interface WebFixture {
  page: Page;
  server: StaticServer;
  /** Folder served under /tmp/. */
  tmp: string;
  close(): Promise<void>;
}

const PAGE = '<!doctype html><meta charset="utf-8"><title>dinov2-ts/web test</title><body></body>';

/** Chromium's arguments: no GPU process (the default), or WebGPU on the SwiftShader software adapter that Chromium ships. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'];
export const CHROMIUM_WEBGPU_ARGS = ['--no-sandbox', '--disable-dev-shm-usage', '--enable-unsafe-webgpu'];

/**
 * Builds the bundle into a temp folder and serves it at /lib/, `mounts` beside it, and a blank page at
 * /index.html; opens that page (cross-origin isolated) in headless Chromium, launched with `chromiumArgs`
 * (default CHROMIUM_ARGS).
 */
export async function openWebFixture(mounts: Record<string, string>, opts: { noRangesUnder?: string[]; chromiumArgs?: string[] } = {}): Promise<WebFixture> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no chromium');
  const tmp = await mkdtemp(join(tmpdir(), 'dinov2-web-test-'));
  let server: StaticServer | null = null;
  let browser: Browser | null = null;
  try {
    const { outdir } = await buildWeb({ outdir: join(tmp, 'lib'), minify: false });
    await writeFile(join(tmp, 'index.html'), PAGE);
    server = await startStaticServer({ mounts: { '/lib/': outdir, '/tmp/': tmp, '/': tmp, ...mounts }, ...(opts.noRangesUnder ? { noRangesUnder: opts.noRangesUnder } : {}) });
    browser = await chromium.launch({ executablePath, headless: true, args: opts.chromiumArgs ?? CHROMIUM_ARGS });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/index.html`);
    const b = browser;
    const s = server;
    return {
      page,
      server,
      tmp,
      close: async () => {
        await b.close();
        await s.close();
        await rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser?.close();
    await server?.close();
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Float32 data ↔ base64 (how tensors cross between the page and Node). */
export function fromBase64F32(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/**
 * Page-side helpers, defined once per page: window.__b64(typedArray), and the `__name` helper that tsx's
 * esbuild transform inserts into functions passed to page.evaluate.
 */
export const PAGE_HELPERS = `
window.__name = (f) => f;
window.__b64 = (a) => {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
  return btoa(s);
};
`;

export const IMAGES = ['astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg'];
export const TINY = ['tiny-mlp', 'tiny-swiglu', 'tiny-reg4', 'tiny-d4'];
/** The non-square input size (height, width), both multiples of 14. */
export const NON_SQUARE: [number, number] = [196, 280];
export const TOLERANCE = 1e-4;
/** What the shapes of a checkpoint do not say (the head count), from the conformance manifest. */
export function manifestConfig(name: string): { num_heads: number } {
  const manifest = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'manifest.json'), 'utf8')) as { models: Record<string, { config: { num_heads: number } }> };
  return { num_heads: manifest.models[name]!.config.num_heads };
}

/** The two inputs of the comparison, preprocessed in Node: eval transform 224, and a plain resize to NON_SQUARE. */
export function nodeInputs(images: RgbImage[]): { at224: Tensor<'float32'>; nonSquare: Tensor<'float32'> } {
  return {
    at224: batchTensors(images.map((img) => evalTransform(img))),
    nonSquare: batchTensors(images.map((img) => normalize(toTensor(resize(img, NON_SQUARE[1], NON_SQUARE[0], 'bicubic'))))),
  };
}

export interface PageFeatures {
  cls: string;
  patch: string;
  reg: string;
  shape: number[];
}

export function compare(what: string, page: PageFeatures, node: Awaited<ReturnType<Dinov2['forwardFeatures']>>): void {
  assert.deepEqual(page.shape, node.patchTokens.shape, `${what}: patch token shape`);
  const errCls = maxAbsDiff(fromBase64F32(page.cls), node.clsToken.data);
  const errPatch = maxAbsDiff(fromBase64F32(page.patch), node.patchTokens.data);
  const errReg = maxAbsDiff(fromBase64F32(page.reg), node.regTokens.data);
  assert.ok(errCls <= TOLERANCE, `${what}: CLS max |err| ${errCls}`);
  assert.ok(errPatch <= TOLERANCE, `${what}: patch max |err| ${errPatch}`);
  assert.ok(errReg <= TOLERANCE, `${what}: register max |err| ${errReg}`);
  console.log(`# ${what}: max |err| CLS ${errCls.toExponential(2)}, patch ${errPatch.toExponential(2)}, registers ${errReg.toExponential(2)}`);
}

/** Page side: loads `weights` with `options` and returns forward_features of `images` (default the four) at both sizes. */
export async function pageFeatures(f: WebFixture, weights: string, options: Record<string, unknown>, images: readonly string[] = IMAGES): Promise<{ at224: PageFeatures; nonSquare: PageFeatures; progress: string[] }> {
  return f.page.evaluate(
    async ({ weights, options, images, size }) => {
      const w = await import('/lib/dinov2-web.js' as string);
      const progress: string[] = [];
      const model = await w.loadDinov2(weights, { ...options, onProgress: (p: { phase: string }) => progress.push(p.phase) });
      const decoded = await Promise.all(images.map(async (name: string) => w.decodeImage(await (await fetch(`/conformance/images/${name}`)).blob(), { name })));
      const b64 = (window as unknown as { __b64: (a: Float32Array) => string }).__b64;
      const run = async (x: unknown) => {
        const out = await model.forwardFeatures(x);
        return { cls: b64(out.clsToken.data), patch: b64(out.patchTokens.data), reg: b64(out.regTokens.data), shape: out.patchTokens.shape };
      };
      const at224 = await run(w.batchTensors(decoded.map((img: unknown) => w.evalTransform(img))));
      const nonSquare = await run(w.batchTensors(decoded.map((img: unknown) => w.normalize(w.toTensor(w.resize(img, size[1], size[0], 'bicubic'))))));
      await model.dispose();
      return { at224, nonSquare, progress };
    },
    { weights, options, images: [...images], size: NON_SQUARE },
  );
}

/** Writes a random backbone of a hub architecture (randomBackboneWeights, seeded) as float32 .safetensors. */
export async function writeRandomBackbone(path: string, name: HubModelName, seed: number): Promise<void> {
  const weights = randomBackboneWeights(hubConfig(name), seed);
  await writeSafetensors(path, [...weights].map(([key, w]) => ({ key, dtype: 'F32' as const, shape: w.shape, data: async () => new Float32Array((await w.source.bytes()).slice().buffer) })));
}

/**
 * Page-side instrumentation of WebGPU: counts compute dispatches and records the labels of the shader
 * modules created (onnxruntime-web labels them with the kernel's name), in window.__gpu.
 */
export const GPU_PROBE = `
window.__gpu = { dispatches: 0, shaders: new Set() };
if (globalThis.GPUComputePassEncoder) {
  const dispatch = GPUComputePassEncoder.prototype.dispatchWorkgroups;
  GPUComputePassEncoder.prototype.dispatchWorkgroups = function (...a) { window.__gpu.dispatches++; return dispatch.apply(this, a); };
  const createShaderModule = GPUDevice.prototype.createShaderModule;
  GPUDevice.prototype.createShaderModule = function (desc) { window.__gpu.shaders.add(String(desc && desc.label)); return createShaderModule.apply(this, arguments); };
}
`;

/** What GPU_PROBE recorded so far in the page. */
export async function gpuActivity(page: Page): Promise<{ dispatches: number; shaders: string[] }> {
  return page.evaluate(() => {
    const g = (window as unknown as { __gpu: { dispatches: number; shaders: Set<string> } }).__gpu;
    return { dispatches: g.dispatches, shaders: [...g.shaders] };
  });
}
