/**
 * Collections written by several processes: at once on a shared folder (what an NFS/EFS mount gives every
 * pod), and in turn on an S3-compatible server on 127.0.0.1 (s3rver, an npm package: the s3:// path with
 * AWS settings from the environment). Each writer commits several upserts; some ids are written by every
 * writer. Afterwards every row is there exactly once, and each shared id holds one writer's values whole.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';
import { connectDb, isObjectStoreUri, storageOptionsFor } from '../../../src/apps/scale/storage.js';
import { REPO_ROOT, withTempDir } from '../../helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const WRITERS = 4;
const COMMITS = 5;
const PER = 6;

function runWriter(db: string, w: number, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'writerProcess.ts'), db, String(w), String(COMMITS), String(PER)], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${w} exited ${code}: ${err.slice(-2000)}`))));
  });
}

async function checkCollection(db: string): Promise<void> {
  const t = await (await connectDb(db)).openTable('images');
  const rows = await t.query().toArray();
  const ids = rows.map((r) => r.id as string);
  assert.equal(new Set(ids).size, ids.length, 'no id twice');
  const expected = new Set<string>();
  for (let w = 0; w < WRITERS; w++) for (let j = 0; j < COMMITS * PER; j++) expected.add(`row-${w}-${j}`);
  for (let c = 0; c < COMMITS; c++) expected.add(`shared-${c}`);
  assert.deepEqual(new Set(ids), expected);
  for (const r of rows) {
    const v = r.size as number;
    assert.deepEqual(Array.from(r.embedding as ArrayLike<number>), [v, v + 1, v + 2, v + 3], `row ${r.id} is one writer's, whole`);
    if ((r.id as string).startsWith('shared-')) assert.ok(v >= 0 && v < WRITERS);
  }
}

test(`${WRITERS} processes upsert into one collection on a shared folder: every row exactly once`, { timeout: 180000 }, async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'shared-fs', 'collection');
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => runWriter(db, w, process.env)));
    await checkCollection(db);
  });
});

test('storage options for s3:// come from the AWS environment', () => {
  assert.deepEqual(storageOptionsFor('s3://b/p', { AWS_ENDPOINT_URL: 'http://127.0.0.1:9000', AWS_REGION: 'eu-west-1' }), { aws_endpoint: 'http://127.0.0.1:9000', allow_http: 'true', aws_region: 'eu-west-1' });
  assert.deepEqual(storageOptionsFor('s3://b/p', { AWS_ENDPOINT: 'https://s3.example', AWS_DEFAULT_REGION: 'us-east-1' }), { aws_endpoint: 'https://s3.example', aws_region: 'us-east-1' });
  assert.deepEqual(storageOptionsFor('/mnt/shared/db', { AWS_ENDPOINT_URL: 'http://x' }), {});
  assert.ok(isObjectStoreUri('s3://b/p') && isObjectStoreUri('gs://b') && !isObjectStoreUri('/mnt/x') && !isObjectStoreUri('file:///mnt/x'));
});

// s3rver ignores conditional writes (a second PUT with If-None-Match: * succeeds instead of failing with
// 412), which LanceDB's commits rely on to detect a concurrent writer on S3; so here the writers run one
// after another (each twice: a rerun changes nothing). Concurrent writers on a store with conditional
// writes (AWS S3, MinIO) are not checked here — see docs/SCALING.md.
test(`s3:// on an S3-compatible server (s3rver on 127.0.0.1): ${WRITERS} writers in turn, each twice, every row exactly once`, { timeout: 180000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dinov2-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'dinov2', configs: [] }] });
  const { port } = await server.run();
  const env = { ...process.env, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const db = 's3://dinov2/collections/test';
    for (let w = 0; w < WRITERS; w++) for (let again = 0; again < 2; again++) await runWriter(db, w, env);
    await checkCollection(db);
  } finally {
    for (const k of ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
