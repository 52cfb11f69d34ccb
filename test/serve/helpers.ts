/** Shared by the serve tests: the tiny conformance model, generated images, a server on 127.0.0.1. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import sharp from 'sharp';
import { CONFORMANCE_DIR, REPO_ROOT } from '../helpers.js';
import { buildServer, type ServeOptions } from '../../src/serve/server.js';

export const TINY = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
export const TINY_REG = join(CONFORMANCE_DIR, 'models', 'tiny-reg4.safetensors');

/** A W×H PNG: a gradient with a disc whose place depends on `seed`. */
export async function scenePng(seed: number, W = 64, H = 48): Promise<Buffer> {
  const data = Buffer.alloc(W * H * 3);
  const h = (k: number) => (((Math.sin(seed * 12.9898 + k * 78.233) * 43758.5453) % 1) + 1) % 1;
  const [cx, cy, r] = [h(1) * W, h(2) * H, 6 + h(3) * 12];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      data[i] = inside ? 230 : Math.round((x / W) * 255 * h(4));
      data[i + 1] = inside ? 40 : Math.round((y / H) * 255 * h(5));
      data[i + 2] = inside ? 60 : Math.round(128 * h(6));
    }
  }
  return sharp(data, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
}

export const b64 = (b: Buffer): string => b.toString('base64');

export async function tinyServer(extra: Partial<ServeOptions> = {}) {
  return buildServer({ models: [`tiny=${TINY}`], logLevel: false, ...extra });
}

/** `dinov2 serve` as a child process on 127.0.0.1, port chosen by the OS (read from its JSON log). */
export async function startChild(dir: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'serve', '--model', `tiny=${TINY}`, '--port', '0', '--collections', dir, '--max-wait-ms', '2', ...extra], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}\n${err}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}\n${err}`)));
  });
  return { child, url };
}

