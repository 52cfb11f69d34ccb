import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { b64, scenePng, tinyServer, TINY, TINY_REG } from './helpers.js';
import { maxAbsDiff, withTempDir } from '../helpers.js';
import { buildServer, serve } from '../../src/serve/server.js';
import { loadModelByNameOrPath } from '../../src/hub/loadModel.js';
import { embed } from '../../src/apps/embed.js';
import { makeLinearHead, saveLinearHead } from '../../src/heads/classifier.js';
import { modelBytes } from '../../src/serve/modelPool.js';
import { isBlockedAddress } from '../../src/serve/images.js';

const errorOf = (body: string): { message: string; code: string } => JSON.parse(body).error;

function metricValue(text: string, line: string): number {
  const row = text.split('\n').find((l) => l.startsWith(line + ' '));
  assert.ok(row, `metric ${line} missing`);
  return Number(row.split(' ').pop());
}

test('embeddings equal the offline embed of the same images (cls, mean, base64), batched into one forward pass', async () => {
  const imgs = [await scenePng(1), await scenePng(2, 80, 40), await scenePng(3, 30, 70)];
  const model = await loadModelByNameOrPath(TINY);
  const cls = await embed(imgs.map((b) => new Uint8Array(b)), { model, size: 224, pool: 'cls' });
  const mean = await embed(imgs.map((b) => new Uint8Array(b)), { model, size: 224, pool: 'mean' });
  await model.dispose();
  const app = await tinyServer({ maxWaitMs: 300, preprocessWorkers: 2 });
  try {
    // Three concurrent single-image requests: the batcher puts them in one forward pass.
    const rs = await Promise.all(imgs.map((im) => app.inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'tiny', input: [b64(im)] } })));
    rs.forEach((r, i) => {
      assert.equal(r.statusCode, 200, r.body);
      const body = JSON.parse(r.body);
      assert.equal(body.object, 'list');
      assert.equal(body.model, 'tiny');
      assert.equal(body.data[0].index, 0);
      assert.ok(maxAbsDiff(body.data[0].embedding, cls.embeddings.data.subarray(i * cls.embeddings.shape[1]!, (i + 1) * cls.embeddings.shape[1]!)) < 1e-5);
      assert.ok(body.usage.total_tokens > 0);
    });
    // Decoding and the transform ran on the preprocessing worker threads, not the main thread.
    assert.equal(app.dinov2.prep.size, 2);
    assert.equal(app.dinov2.prep.completed, 3);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    assert.equal(metricValue(metrics, 'dinov2_batch_size_count{model="tiny"}'), 1);
    assert.equal(metricValue(metrics, 'dinov2_batch_size_sum{model="tiny"}'), 3);
    assert.equal(metricValue(metrics, 'dinov2_http_requests_total{route="/v1/embeddings",method="POST",status="200",model="tiny"}'), 3);
    assert.match(metrics, /dinov2_http_request_duration_seconds_bucket\{le="[^"]+",route="\/v1\/embeddings",model="tiny"\}/);
    assert.match(metrics, /dinov2_model_memory_bytes\{model="tiny"\} [1-9]/);
    assert.match(metrics, /dinov2_queue_depth 0/);

    const D = cls.embeddings.shape[1]!;
    const r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: imgs.map((b) => `data:image/png;base64,${b64(b)}`), pooling: 'cls+mean', encoding_format: 'base64' } });
    assert.equal(r.statusCode, 200, r.body);
    JSON.parse(r.body).data.forEach((d: { embedding: string; index: number }, i: number) => {
      const buf = Buffer.from(d.embedding, 'base64');
      const v = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      assert.equal(v.length, 2 * D);
      assert.equal(d.index, i);
      assert.ok(maxAbsDiff(v.subarray(0, D), cls.embeddings.data.subarray(i * D, (i + 1) * D)) < 1e-5);
      assert.ok(maxAbsDiff(v.subarray(D), mean.embeddings.data.subarray(i * D, (i + 1) * D)) < 1e-5);
    });

    // Multipart upload: the same numbers.
    const form = new FormData();
    form.append('model', 'tiny');
    form.append('normalize', 'true');
    form.append('input', new Blob([new Uint8Array(imgs[0]!)], { type: 'image/png' }), 'a.png');
    const req = new Request('http://x/', { method: 'POST', body: form });
    const payload = Buffer.from(await req.arrayBuffer());
    const m = await app.inject({ method: 'POST', url: '/v1/embeddings', payload, headers: { 'content-type': req.headers.get('content-type')! } });
    assert.equal(m.statusCode, 200, m.body);
    const e = JSON.parse(m.body).data[0].embedding as number[];
    const ref = cls.embeddings.data.subarray(0, D);
    const norm = Math.hypot(...ref);
    assert.ok(maxAbsDiff(e, Array.from(ref, (x) => x / norm)) < 1e-5);
  } finally {
    await app.close();
  }
});

test('embeddings: bad input is refused with the status and a message naming the problem', async () => {
  const img = b64(await scenePng(4));
  const app = await tinyServer({ maxImages: 2, maxPixels: 2000, bodyLimit: 200_000 });
  try {
    const post = (payload: unknown) => app.inject({ method: 'POST', url: '/v1/embeddings', payload: payload as Record<string, unknown> });
    let r = await post({ input: [b64(Buffer.from('this is not an image at all'))] });
    assert.equal(r.statusCode, 422);
    assert.match(errorOf(r.body).message, /input\[0\]: cannot decode the image/);
    const big = await scenePng(5, 64, 48); // 3072 pixels > 2000
    r = await post({ input: [b64(big)] });
    assert.equal(r.statusCode, 413);
    assert.match(errorOf(r.body).message, /input\[0\]: image is 64x48 = 3072 pixels, above the limit of 2000/);
    const small = b64(await scenePng(6, 40, 40));
    r = await post({ input: [small], size: 200 });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /size 200 is not a multiple of the patch size/);
    r = await post({ input: [small], model: 'nope' });
    assert.equal(r.statusCode, 404);
    assert.match(errorOf(r.body).message, /unknown model 'nope'; this server has tiny/);
    r = await post({ input: ['/etc/passwd'] });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /input\[0\]: not base64 image data.*server paths are never read/);
    r = await post({ input: ['file:///etc/passwd'] });
    assert.equal(r.statusCode, 400);
    r = await post({ input: ['https://example.com/cat.png'] });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /URL inputs are disabled/);
    r = await post({ input: [small, small, small] });
    assert.equal(r.statusCode, 413);
    assert.match(errorOf(r.body).message, /too many images: 3 given, at most 2/);
    r = await post({ input: ['A'.repeat(300_000)] });
    assert.equal(r.statusCode, 413);
    assert.match(errorOf(r.body).message, /larger than the limit of 200000 bytes/);
    r = await post({ inputs: [img] });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /body must have required property 'input'|must NOT have additional properties/);
    r = await post({ input: [small], pooling: 'max' });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /pooling/);
    r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /the body must be a JSON object/);
    r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: 'x', headers: { 'content-type': 'application/xml' } });
    assert.equal(r.statusCode, 415);
  } finally {
    await app.close();
  }
});

test('backpressure: a request beyond the queue bound gets 503 + Retry-After; a deadline gives 504 and empties the queue', async () => {
  const small = b64(await scenePng(7, 40, 40));
  const app = await tinyServer({ maxQueue: 2, maxWaitMs: 5000, requestTimeoutMs: 400 });
  try {
    let r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [small, small, small] } });
    assert.equal(r.statusCode, 503);
    assert.match(errorOf(r.body).message, /server busy: 0 images are queued \(limit 2\)/);
    assert.ok(Number(r.headers['retry-after']) >= 1);
    // maxWaitMs 5 s: a lone image waits past the 400 ms deadline, is answered 504 and leaves the queue.
    r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [small] } });
    assert.equal(r.statusCode, 504);
    assert.match(errorOf(r.body).message, /request timed out after 400 ms/);
    assert.equal(app.dinov2.batcher.depth, 0);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    assert.equal(metricValue(metrics, 'dinov2_rejected_total'), 1);
  } finally {
    await app.close();
  }
});

test('a client that disconnects takes its queued images out of the queue', async () => {
  const small = b64(await scenePng(8, 40, 40));
  const running = await serve({ models: [`tiny=${TINY}`], logLevel: false, port: 0, maxWaitMs: 10_000 });
  try {
    // Load the model first so that the request below only waits in the queue.
    await running.app.dinov2.pool.preload('tiny');
    const ac = new AbortController();
    const pending = fetch(`${running.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: [small, small] }), signal: ac.signal }).catch((e: Error) => e);
    for (let i = 0; i < 100 && running.app.dinov2.batcher.depth < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(running.app.dinov2.batcher.depth, 2);
    ac.abort();
    assert.ok((await pending) instanceof Error);
    for (let i = 0; i < 100 && running.app.dinov2.batcher.depth > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(running.app.dinov2.batcher.depth, 0);
  } finally {
    await running.close();
  }
});

test('auth: bearer keys on every API route, probes public; a public bind without keys is refused', async () => {
  await assert.rejects(buildServer({ models: [TINY], host: '0.0.0.0', logLevel: false }), /refusing to listen on 0\.0\.0\.0 \(not loopback\) without API keys/);
  const app = await tinyServer({ apiKeys: ['secret-key-1'], host: '0.0.0.0' });
  try {
    const small = b64(await scenePng(9, 28, 28));
    let r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [small] } });
    assert.equal(r.statusCode, 401);
    assert.match(errorOf(r.body).message, /missing API key/);
    r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [small] }, headers: { authorization: 'Bearer wrong-key-00' } });
    assert.equal(r.statusCode, 401);
    assert.match(errorOf(r.body).message, /invalid API key/);
    r = await app.inject({ url: '/metrics' });
    assert.equal(r.statusCode, 401);
    r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [small] }, headers: { authorization: 'Bearer secret-key-1' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
    const doc = JSON.parse((await app.inject({ url: '/openapi.json' })).body);
    assert.deepEqual(doc.security, [{ bearer: [] }]);
  } finally {
    await app.close();
  }
});

test('URL inputs (with allowUrls) never reach private or loopback addresses', async () => {
  assert.equal(isBlockedAddress('127.0.0.1'), true);
  assert.equal(isBlockedAddress('10.1.2.3'), true);
  assert.equal(isBlockedAddress('192.168.0.4'), true);
  assert.equal(isBlockedAddress('169.254.169.254'), true);
  assert.equal(isBlockedAddress('::1'), true);
  assert.equal(isBlockedAddress('::ffff:127.0.0.1'), true);
  assert.equal(isBlockedAddress('fd00::1'), true);
  assert.equal(isBlockedAddress('93.184.216.34'), false);
  const app = await tinyServer({ allowUrls: true, lookupHost: async () => ['10.0.0.7'] });
  try {
    let r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: ['http://127.0.0.1:9/x.png'] } });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /127\.0\.0\.1 is a private or loopback address/);
    r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: ['http://images.internal.example/x.png'] } });
    assert.equal(r.statusCode, 400);
    assert.match(errorOf(r.body).message, /resolves to 10\.0\.0\.7, a private or loopback address/);
    r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: ['ftp://example.com/x.png'] } });
    assert.equal(r.statusCode, 400);
  } finally {
    await app.close();
  }
});

test('models: loaded on first use, least recently used evicted under the memory budget, /ready after preload', async () => {
  const model = await loadModelByNameOrPath(TINY);
  const bytes = modelBytes(model.config);
  await model.dispose();
  const reg = await loadModelByNameOrPath(TINY_REG);
  const regBytes = modelBytes(reg.config);
  await reg.dispose();
  // With the inference thread every model is held twice (main thread + worker): 3× one copy holds one
  // model, not two — counting one copy per model (as before) would keep both and evict nothing.
  assert.ok(bytes + regBytes < bytes * 3 && 2 * (bytes + regBytes) > bytes * 3);
  const app = await buildServer({ models: [`tiny=${TINY}`, `reg=${TINY_REG}`], logLevel: false, memoryBudget: Math.floor(bytes * 3), preload: ['tiny'] });
  try {
    await app.ready();
    let ready = await app.inject({ url: '/ready' });
    for (let i = 0; i < 100 && ready.statusCode !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await app.inject({ url: '/ready' });
    }
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(JSON.parse(ready.body).models, ['tiny']);
    const small = b64(await scenePng(10, 28, 28));
    const r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'reg', input: [small] } });
    assert.equal(r.statusCode, 200, r.body);
    const models = JSON.parse((await app.inject({ url: '/v1/models' })).body);
    assert.deepEqual(
      models.data.map((m: { id: string; loaded: boolean }) => [m.id, m.loaded]),
      [
        ['tiny', false],
        ['reg', true],
      ],
    );
    const metrics = (await app.inject({ url: '/metrics' })).body;
    assert.equal(metricValue(metrics, 'dinov2_model_evictions_total{model="tiny"}'), 1);
    assert.equal(metricValue(metrics, 'dinov2_model_memory_bytes{model="tiny"}'), 0);
    assert.equal(metricValue(metrics, 'dinov2_model_memory_bytes{model="reg"}'), 2 * regBytes);
    assert.equal(models.data[1].memory_bytes, 2 * regBytes);
  } finally {
    await app.close();
  }
});

test('models: the memory budget counts the inference worker\'s copy of the weights', async () => {
  const model = await loadModelByNameOrPath(TINY);
  const bytes = modelBytes(model.config);
  await model.dispose();
  const small = b64(await scenePng(10, 28, 28));
  // 1.5 copies: enough for the main thread's model alone, not for it plus the worker's.
  const threaded = await tinyServer({ memoryBudget: Math.floor(bytes * 1.5) });
  try {
    const r = await threaded.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [small] } });
    assert.equal(r.statusCode, 503, r.body);
    assert.equal(errorOf(r.body).code, 'model_too_large');
    assert.match(errorOf(r.body).message, new RegExp(`needs ${2 * bytes} bytes \\(2 copies of its weights\\)`));
  } finally {
    await threaded.close();
  }
  const single = await tinyServer({ memoryBudget: Math.floor(bytes * 1.5), inferenceThread: false });
  try {
    const r = await single.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [small] } });
    assert.equal(r.statusCode, 200, r.body);
    const models = JSON.parse((await single.inject({ url: '/v1/models' })).body);
    assert.equal(models.data[0].memory_bytes, bytes);
  } finally {
    await single.close();
  }
});

test('features: JSON, safetensors and npy agree; intermediate layers; bad layer index refused', async () => {
  const imgs = [await scenePng(11, 50, 40), await scenePng(12, 40, 50)];
  const app = await tinyServer();
  try {
    const payload = { input: imgs.map(b64), size: 28, layers: 2 };
    const j = await app.inject({ method: 'POST', url: '/v1/features', payload });
    assert.equal(j.statusCode, 200, j.body);
    const body = JSON.parse(j.body);
    assert.deepEqual(body.grid, [2, 2]);
    assert.equal(body.data.length, 2);
    assert.equal(body.data[0].patch_tokens.length, 4);
    assert.equal(body.data[0].layers.length, 2);
    const D = body.data[0].cls.length;
    const st = await app.inject({ method: 'POST', url: '/v1/features', payload, headers: { accept: 'application/vnd.safetensors' } });
    assert.equal(st.statusCode, 200);
    assert.equal(st.headers['content-type'], 'application/vnd.safetensors');
    const raw = st.rawPayload;
    const n = Number(raw.readBigUInt64LE(0));
    const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
    assert.deepEqual(header.cls.shape, [2, D]);
    assert.deepEqual(header.patch_tokens.shape, [2, 4, D]);
    const [a, b] = header.cls.data_offsets;
    const cls = new Float32Array(raw.buffer.slice(raw.byteOffset + 8 + n + a, raw.byteOffset + 8 + n + b));
    assert.ok(maxAbsDiff(cls.subarray(D), body.data[1].cls) === 0);
    const npy = await app.inject({ method: 'POST', url: '/v1/features', payload: { ...payload, output: 'cls' }, headers: { accept: 'application/x-npy' } });
    assert.equal(npy.statusCode, 200);
    assert.equal(npy.rawPayload.subarray(1, 6).toString('latin1'), 'NUMPY');
    assert.match(npy.rawPayload.toString('latin1', 10, 80), new RegExp(`'shape': \\(2, ${D}\\)`));
    const bad = await app.inject({ method: 'POST', url: '/v1/features', payload: { input: [b64(imgs[0]!)], size: 28, blocks: [99] } });
    assert.equal(bad.statusCode, 400);
    assert.match(errorOf(bad.body).message, /layers: block 99 is out of range/);
    const corrupt = await app.inject({ method: 'POST', url: '/v1/features', payload: { input: [b64(Buffer.from('GIF89a broken'))] } });
    assert.equal(corrupt.statusCode, 422);
  } finally {
    await app.close();
  }
});

test('pca and attention: pictures at the image size (JSON data URI and image/png); heads not configured → 404', async () => {
  const img = await scenePng(13, 70, 42);
  const app = await tinyServer();
  try {
    const r = await app.inject({ method: 'POST', url: '/v1/pca', payload: { input: b64(img), dense: 112 } });
    assert.equal(r.statusCode, 200, r.body);
    const body = JSON.parse(r.body);
    assert.equal(body.width, 70);
    assert.equal(body.height, 42);
    const meta = await sharp(Buffer.from(body.image.split(',')[1], 'base64')).metadata();
    assert.deepEqual([meta.width, meta.height], [70, 42]);
    const png = await app.inject({ method: 'POST', url: '/v1/pca', payload: { input: b64(img), dense: 112 }, headers: { accept: 'image/png' } });
    assert.equal(png.headers['content-type'], 'image/png');
    const stats = await sharp(png.rawPayload).stats();
    assert.ok(stats.channels.some((c) => c.max > 0), 'the PCA map is not blank');
    const a = await app.inject({ method: 'POST', url: '/v1/attention', payload: { input: b64(img), dense: 28 } });
    assert.equal(a.statusCode, 200, a.body);
    const att = JSON.parse(a.body);
    assert.equal(att.maps.length, att.heads);
    assert.equal(att.maps[0].length, att.grid[0] * att.grid[1]);
    for (const m of att.maps) {
      const s = m.reduce((x: number, y: number) => x + y, 0);
      assert.ok(s > 0 && s <= 1 + 1e-5, `attention of the class token to the patches sums to ${s}`);
    }
    const bad = await app.inject({ method: 'POST', url: '/v1/attention', payload: { input: b64(img), dense: 28, head: 99 } });
    assert.equal(bad.statusCode, 400);
    assert.match(errorOf(bad.body).message, /head 99 is out of range/);
    const two = await app.inject({ method: 'POST', url: '/v1/pca', payload: { input: [b64(img), b64(img)] } });
    assert.equal(two.statusCode, 400);
    for (const route of ['/v1/classify', '/v1/depth', '/v1/segment']) {
      const h = await app.inject({ method: 'POST', url: route, payload: { input: b64(img) } });
      assert.equal(h.statusCode, 404);
      assert.match(errorOf(h.body).message, /this server has no (classify|depth|segment) head/);
    }
  } finally {
    await app.close();
  }
});

test('classify with a head file: softmax of the head logits', async () => {
  await withTempDir(async (dir) => {
    const model = await loadModelByNameOrPath(TINY);
    const D = model.embedDim;
    await model.dispose();
    const bias = Float32Array.from([0, 5, 1]);
    const head = makeLinearHead(new Float32Array(3 * D), bias, { numClasses: 3, inFeatures: D }, { nLastBlocks: 1, avgpool: false, classNames: ['cat', 'dog', 'fox'] });
    const path = join(dir, 'head.safetensors');
    await saveLinearHead(path, head);
    const app = await tinyServer({ heads: { classify: path } });
    try {
      const r = await app.inject({ method: 'POST', url: '/v1/classify', payload: { input: b64(await scenePng(14)), top: 2 } });
      assert.equal(r.statusCode, 200, r.body);
      const p = JSON.parse(r.body).predictions;
      const z = 1 + Math.exp(5) + Math.exp(1);
      assert.deepEqual(p.map((x: { label: string }) => x.label), ['dog', 'fox']);
      assert.ok(Math.abs(p[0].probability - Math.exp(5) / z) < 1e-5);
      assert.ok(Math.abs(p[1].probability - Math.exp(1) / z) < 1e-5);
      const wrong = await app.inject({ method: 'POST', url: '/v1/classify', payload: { input: b64(await scenePng(14)), model: 'other' } });
      assert.equal(wrong.statusCode, 400);
    } finally {
      await app.close();
    }
  });
});

test('operations: OpenAPI 3.1 from the route schemas, /docs page, request ids, unknown route', async () => {
  const app = await tinyServer();
  try {
    const doc = JSON.parse((await app.inject({ url: '/openapi.json' })).body);
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/v1/embeddings'].post.requestBody.content['application/json'].schema.properties.input);
    assert.ok(doc.paths['/v1/collections/{name}/search']);
    const docs = await app.inject({ url: '/docs' });
    assert.match(docs.headers['content-type'] as string, /text\/html/);
    const h = await app.inject({ url: '/health', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(h.headers['x-request-id'], 'abc-123');
    const nf = await app.inject({ url: '/v2/nothing' });
    assert.equal(nf.statusCode, 404);
    assert.match(errorOf(nf.body).message, /no route GET \/v2\/nothing/);
  } finally {
    await app.close();
  }
});

test('the inference thread and the main thread give the same embeddings', async () => {
  const imgs = [b64(await scenePng(500, 50, 50)), b64(await scenePng(501, 60, 30))];
  const results: number[][][] = [];
  for (const inferenceThread of [true, false]) {
    const app = await tinyServer({ inferenceThread });
    try {
      const r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: imgs, pooling: 'cls+mean' } });
      assert.equal(r.statusCode, 200, r.body);
      results.push(JSON.parse(r.body).data.map((d: { embedding: number[] }) => d.embedding));
    } finally {
      await app.close();
    }
  }
  for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(results[0]![i]!, results[1]![i]!) < 1e-5);
});

test('preprocessing on worker threads gives exactly the embeddings, features and errors of the main thread', async () => {
  const imgs = [b64(await scenePng(600, 50, 50)), b64(await scenePng(601, 60, 30))];
  const results: { emb: number[][]; feat: number[][] }[] = [];
  for (const preprocessWorkers of [2, 0]) {
    const app = await tinyServer({ preprocessWorkers, inferenceThread: false, maxPixels: 4000 });
    try {
      const r = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: imgs, pooling: 'cls+mean' } });
      assert.equal(r.statusCode, 200, r.body);
      const f = await app.inject({ method: 'POST', url: '/v1/features', payload: { input: imgs, size: 56 } });
      assert.equal(f.statusCode, 200, f.body);
      results.push({ emb: JSON.parse(r.body).data.map((d: { embedding: number[] }) => d.embedding), feat: JSON.parse(f.body).data.map((d: { cls: number[] }) => d.cls) });
      assert.equal(app.dinov2.prep.completed, preprocessWorkers > 0 ? 4 : 0);
      const garbage = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [imgs[0], Buffer.from('not an image at all').toString('base64')] } });
      assert.equal(garbage.statusCode, 422, garbage.body);
      assert.match(errorOf(garbage.body).message, /input\[1\]/);
      const big = await app.inject({ method: 'POST', url: '/v1/embeddings', payload: { input: [b64(await scenePng(602, 100, 50))] } });
      assert.equal(big.statusCode, 413, big.body);
      assert.match(errorOf(big.body).message, /input\[0\].*5000 pixels.*server's pixel limit/);
    } finally {
      await app.close();
    }
  }
  assert.deepEqual(results[0], results[1]);
});
