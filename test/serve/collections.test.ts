import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { b64, scenePng, startChild, tinyServer } from './helpers.js';
import { withTempDir } from '../helpers.js';

const errorOf = (body: string): { message: string } => JSON.parse(body).error;

async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  return { status: r.status, json: await r.json() };
}

/** The scene with every pixel brightened a little: a near-duplicate. */
async function nearDuplicate(png: Buffer): Promise<Buffer> {
  return sharp(png).linear(1, 6).png().toBuffer();
}

test('collections: every acknowledged write survives kill -9; search finds the planted near-duplicate first; duplicates, curate, deletes', { timeout: 240_000 }, async () => {
  await withTempDir(async (dir) => {
    const scenes = await Promise.all(Array.from({ length: 6 }, (_, i) => scenePng(100 + i, 96, 72)));
    const planted = await nearDuplicate(scenes[2]!);
    let { child, url } = await startChild(dir);
    try {
      let r = await call(url, 'PUT', '/v1/collections/photos', { size: 112 });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.equal(r.json.model, 'tiny');
      r = await call(url, 'POST', '/v1/collections/photos/images', { images: scenes.map((s, i) => ({ id: `scene-${i}`, image: b64(s), metadata: { kind: i % 2 ? 'odd' : 'even' } })) });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.count, 6);
      r = await call(url, 'POST', '/v1/collections/photos/images', { images: [{ id: 'planted', image: b64(planted), metadata: { kind: 'copy' } }] });
      assert.equal(r.status, 200);
      assert.equal(r.json.count, 7);
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));

      ({ child, url } = await startChild(dir));
      r = await call(url, 'GET', '/v1/collections/photos');
      assert.equal(r.status, 200);
      assert.equal(r.json.count, 7, 'all acknowledged images are there after kill -9');
      const form = new FormData();
      form.append('image', new Blob([new Uint8Array(scenes[2]!)], { type: 'image/png' }), 'query.png');
      form.append('k', '3');
      const s = await fetch(`${url}/v1/collections/photos/search`, { method: 'POST', body: form });
      const hits = (await s.json()) as { data: { id: string; similarity: number }[] };
      assert.equal(s.status, 200);
      assert.deepEqual(hits.data.slice(0, 2).map((h) => h.id).sort(), ['planted', 'scene-2']);
      assert.ok(hits.data[0]!.similarity > 0.99);
      // By id (the image itself excluded), with a metadata filter.
      r = await call(url, 'POST', '/v1/collections/photos/search', { id: 'scene-2', k: 1 });
      assert.equal(r.json.data[0].id, 'planted');
      r = await call(url, 'POST', '/v1/collections/photos/search', { id: 'scene-2', k: 10, filter: { kind: 'odd' } });
      assert.deepEqual(r.json.data.map((h: { id: string }) => h.id).sort(), ['scene-1', 'scene-3', 'scene-5']);
      r = await call(url, 'GET', '/v1/collections/photos/duplicates?threshold=0.99');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.groups.map((g: { ids: string[] }) => [...g.ids].sort()), [['planted', 'scene-2']]);
      r = await call(url, 'POST', '/v1/collections/photos/curate', { budget: 3, levels: [3] });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.selected.length, 3);
      assert.equal(r.json.levels[0].clusters.flat().length, 7);
      const thumb = await fetch(`${url}/v1/collections/photos/images/planted/thumbnail`);
      assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
      r = await call(url, 'DELETE', '/v1/collections/photos/images/planted');
      assert.equal(r.status, 200);
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));

      ({ child, url } = await startChild(dir));
      r = await call(url, 'GET', '/v1/collections/photos/images');
      assert.deepEqual(r.json.data.map((x: { id: string }) => x.id), ['scene-0', 'scene-1', 'scene-2', 'scene-3', 'scene-4', 'scene-5']);
      r = await call(url, 'DELETE', '/v1/collections/photos');
      assert.equal(r.status, 200);
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));
      ({ child, url } = await startChild(dir));
      r = await call(url, 'GET', '/v1/collections/photos');
      assert.equal(r.status, 404);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

test('collections: bad input — names, unknown collection, search without a query, wrong vector, corrupt image, disabled', async () => {
  await withTempDir(async (dir) => {
    const app = await tinyServer({ collectionsDir: dir });
    const img = b64(await scenePng(200, 40, 40));
    try {
      let r = await app.inject({ method: 'PUT', url: '/v1/collections/..%2Fetc', payload: {} });
      assert.equal(r.statusCode, 400);
      assert.match(errorOf(r.body).message, /invalid collection name/);
      r = await app.inject({ method: 'PUT', url: '/v1/collections/a', payload: { model: 'nope' } });
      assert.equal(r.statusCode, 404);
      r = await app.inject({ method: 'POST', url: '/v1/collections/missing/search', payload: { image: img } });
      assert.equal(r.statusCode, 404);
      assert.match(errorOf(r.body).message, /no collection 'missing'/);
      r = await app.inject({ method: 'PUT', url: '/v1/collections/c1', payload: { size: 28 } });
      assert.equal(r.statusCode, 201);
      r = await app.inject({ method: 'PUT', url: '/v1/collections/c1', payload: { size: 42 } });
      assert.equal(r.statusCode, 409);
      r = await app.inject({ method: 'POST', url: '/v1/collections/c1/images', payload: { images: [{ id: 'a', image: img }, { id: 'b', image: b64(Buffer.from('not an image, really not')) }] } });
      assert.equal(r.statusCode, 422);
      assert.match(errorOf(r.body).message, /images\[1\]\.image: cannot decode/);
      r = await app.inject({ url: '/v1/collections/c1' });
      assert.equal(JSON.parse(r.body).count, 0, 'nothing written when one image of the request is bad');
      r = await app.inject({ method: 'POST', url: '/v1/collections/c1/search', payload: { k: 3 } });
      assert.equal(r.statusCode, 400);
      assert.match(errorOf(r.body).message, /exactly one of: image, id, vector/);
      r = await app.inject({ method: 'POST', url: '/v1/collections/c1/search', payload: { vector: [1, 2, 3] } });
      assert.equal(r.statusCode, 400);
      assert.match(errorOf(r.body).message, /vector must be \d+ finite numbers/);
      r = await app.inject({ method: 'POST', url: '/v1/collections/c1/search', payload: { id: 'zzz' } });
      assert.equal(r.statusCode, 404);
      r = await app.inject({ method: 'POST', url: '/v1/collections/c1/curate', payload: { budget: 1 } });
      assert.equal(r.statusCode, 400);
      assert.match(errorOf(r.body).message, /curation needs at least 2/);
    } finally {
      await app.close();
    }
    const off = await tinyServer();
    try {
      const r = await off.inject({ url: '/v1/collections' });
      assert.equal(r.statusCode, 404);
      assert.match(errorOf(r.body).message, /collections are disabled/);
    } finally {
      await off.close();
    }
  });
});
