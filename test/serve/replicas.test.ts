/**
 * `dinov2 serve` as stateless replicas: two server processes on one collection folder (what a shared
 * filesystem gives several pods). What one acknowledges, the other serves; concurrent adds through both
 * leave every id once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { b64, scenePng, startChild, tinyServer } from './helpers.js';
import { withTempDir } from '../helpers.js';

async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  return { status: r.status, json: await r.json() };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((res) => child.once('exit', res));
  child.kill('SIGTERM');
  await exited;
}

test('two serve replicas on one collection folder: adds, searches and deletes cross over; concurrent adds keep each id once', { timeout: 300_000 }, async () => {
  await withTempDir(async (dir) => {
    const scenes = await Promise.all(Array.from({ length: 8 }, (_, i) => scenePng(300 + i, 64, 48)));
    const [a, b] = await Promise.all([startChild(dir, ['--db', dir]), startChild(dir, ['--db', dir])]);
    try {
      // Created through A; B sees the same collection (201 then 200, same config).
      let r = await call(a.url, 'PUT', '/v1/collections/shared', { size: 56 });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      r = await call(b.url, 'PUT', '/v1/collections/shared', { size: 56 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.size, 56);
      r = await call(b.url, 'PUT', '/v1/collections/shared', { size: 112 });
      assert.equal(r.status, 409);

      // Added through A, found through B.
      r = await call(a.url, 'POST', '/v1/collections/shared/images', { images: [0, 1, 2].map((i) => ({ id: `scene-${i}`, image: b64(scenes[i]!) })) });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      r = await call(b.url, 'POST', '/v1/collections/shared/search', { image: b64(scenes[1]!), k: 3 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.data[0].id, 'scene-1');
      assert.ok(r.json.data[0].similarity > 0.999);
      assert.equal(r.json.data.length, 3);

      // Deleted through B, gone through A.
      r = await call(b.url, 'DELETE', '/v1/collections/shared/images/scene-1');
      assert.equal(r.status, 200, JSON.stringify(r.json));
      r = await call(a.url, 'POST', '/v1/collections/shared/search', { image: b64(scenes[1]!), k: 5 });
      assert.deepEqual(r.json.data.map((h: { id: string }) => h.id).sort(), ['scene-0', 'scene-2']);
      r = await call(a.url, 'GET', '/v1/collections/shared');
      assert.equal(r.json.count, 2);

      // Concurrent adds through both replicas, every id sent by both (several requests each).
      const ids = Array.from({ length: 8 }, (_, i) => `c-${i}`);
      const batches = [ids.slice(0, 4), ids.slice(4), ids.slice(2, 6), ids];
      const sends = [a, b].flatMap((srv) =>
        batches.map((batch) => call(srv.url, 'POST', '/v1/collections/shared/images', { images: batch.map((id) => ({ id, image: b64(scenes[Number(id.slice(2))]!), metadata: { via: srv === a ? 'a' : 'b' } })) })),
      );
      for (const s of await Promise.all(sends)) assert.equal(s.status, 200, JSON.stringify(s.json));
      for (const srv of [a, b]) {
        r = await call(srv.url, 'GET', '/v1/collections/shared/images?limit=100');
        assert.equal(r.status, 200, JSON.stringify(r.json));
        const listed = r.json.data.map((x: { id: string }) => x.id);
        assert.deepEqual(listed, [...ids, 'scene-0', 'scene-2'].sort(), 'every id exactly once');
        r = await call(srv.url, 'GET', '/v1/collections/shared');
        assert.equal(r.json.count, 10);
      }
      // Each of the concurrently written rows is whole: searching with its image finds it first.
      r = await call(b.url, 'POST', '/v1/collections/shared/search', { image: b64(scenes[5]!), k: 1 });
      assert.equal(r.json.data[0].id, 'c-5');
    } finally {
      await Promise.all([stop(a.child), stop(b.child)]);
    }
  });
});

// s3rver ignores conditional writes (see test/apps/scale/storage.test.ts), so on it the replicas take turns;
// concurrent writers on a real S3 are not checked here (docs/SCALING.md).
test('two replicas on s3:// (s3rver on 127.0.0.1): the collection, its rows and deletes are shared through the store', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dinov2-serve-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'dinov2', configs: [] }] });
  const { port } = await server.run();
  const keys = ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const;
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  Object.assign(process.env, { AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  const db = 's3://dinov2/serve/collections';
  const a = await tinyServer({ collectionsDir: db, inferenceThread: false });
  const b = await tinyServer({ collectionsDir: db, inferenceThread: false });
  try {
    const scenes = await Promise.all([0, 1, 2].map((i) => scenePng(350 + i, 64, 48)));
    const json = (r: { body: string }) => JSON.parse(r.body);
    let r = await a.inject({ method: 'PUT', url: '/v1/collections/photos', payload: { size: 56 } });
    assert.equal(r.statusCode, 201, r.body);
    r = await b.inject({ url: '/v1/collections' });
    assert.deepEqual(json(r).data.map((c: { name: string; size: number }) => [c.name, c.size]), [['photos', 56]]);
    r = await b.inject({ method: 'PUT', url: '/v1/collections/photos', payload: { size: 56 } });
    assert.equal(r.statusCode, 200, r.body);
    r = await a.inject({ method: 'POST', url: '/v1/collections/photos/images', payload: { images: scenes.map((s, i) => ({ id: `s-${i}`, image: b64(s) })) } });
    assert.equal(r.statusCode, 200, r.body);
    r = await b.inject({ method: 'POST', url: '/v1/collections/photos/search', payload: { image: b64(scenes[2]!), k: 1 } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(json(r).data[0].id, 's-2');
    r = await b.inject({ method: 'DELETE', url: '/v1/collections/photos/images/s-2' });
    assert.equal(r.statusCode, 200, r.body);
    r = await a.inject({ url: '/v1/collections/photos' });
    assert.equal(json(r).count, 2);
    r = await b.inject({ method: 'DELETE', url: '/v1/collections/photos' });
    assert.equal(r.statusCode, 200, r.body);
    r = await a.inject({ url: '/v1/collections/photos' });
    assert.equal(r.statusCode, 404);
  } finally {
    await a.close();
    await b.close();
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
