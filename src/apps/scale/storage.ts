/**
 * Where collections live: a local or shared-filesystem folder (NFS, CephFS, EFS, …) or an object store
 * URI (`s3://bucket/path`, also `gs://`, `az://`). For S3 the credentials and settings come from the
 * standard AWS environment variables, which LanceDB's object store reads itself (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION); an S3-compatible server
 * (MinIO, Ceph RGW, …) is named by AWS_ENDPOINT_URL (or AWS_ENDPOINT), and a plain-http endpoint is allowed
 * when the URL says http://.
 */
import { resolve } from 'node:path';
import * as lancedb from '@lancedb/lancedb';

export function isObjectStoreUri(db: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(db) && !/^file:\/\//i.test(db);
}

/** LanceDB storage options derived from the environment for an s3:// URI (empty for anything else). */
export function storageOptionsFor(db: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!/^s3(\+ddb)?:\/\//i.test(db)) return {};
  const out: Record<string, string> = {};
  const endpoint = env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'] ?? env['AWS_ENDPOINT'];
  if (endpoint) {
    out['aws_endpoint'] = endpoint;
    if (/^http:\/\//i.test(endpoint)) out['allow_http'] = 'true';
  }
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  if (region) out['aws_region'] = region;
  return out;
}

/**
 * Connects to a collection folder or URI. A local folder is passed as an absolute path: LanceDB reads a
 * relative name beginning with 'db' (`dbfoo`, `db-test`) as a LanceDB Cloud URI. Only an explicit URI
 * (`s3://…`, `gs://…`, `az://…`, `db://…`, `file://…`) is passed through as given, with the storage options
 * the environment gives it.
 */
export async function connectDb(db: string): Promise<lancedb.Connection> {
  const uri = /^[a-z][a-z0-9+.-]*:\/\//i.test(db) ? db : resolve(db);
  const storageOptions = storageOptionsFor(uri);
  return Object.keys(storageOptions).length > 0 ? lancedb.connect(uri, { storageOptions }) : lancedb.connect(uri);
}
