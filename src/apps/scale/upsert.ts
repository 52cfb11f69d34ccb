/**
 * Idempotent writes to a LanceDB collection shared by several writers (processes or machines on one
 * shared folder or object store). Rows are upserted by a key column with `mergeInsert`, so writing the
 * same rows twice — a retried job, a worker that died after writing but before acknowledging — leaves
 * one row per key. LanceDB commits optimistically: when another writer committed first, the commit can
 * fail with a conflict; such writes are retried with backoff here (the upsert makes the retry safe).
 */
import type * as lancedb from '@lancedb/lancedb';

export interface UpsertOptions {
  /** Tries on a commit conflict before giving up (default 20). */
  tries?: number;
  /** First backoff in ms, doubled per try with jitter, capped at 2 s (default 25). */
  backoffMs?: number;
}

/** True for LanceDB's optimistic-concurrency failures (another writer committed in between). */
export function isCommitConflict(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return /conflict|concurrent|retryable|Commit|version .* already exists|already exists/i.test(m) && !/schema/i.test(m);
}

/** Upserts `rows` into `table` keyed by `key` (insert new keys, replace existing ones). */
export async function upsertRows(table: lancedb.Table, key: string, rows: Record<string, unknown>[], opts: UpsertOptions = {}): Promise<void> {
  if (rows.length === 0) return;
  const tries = opts.tries ?? 20;
  let wait = opts.backoffMs ?? 25;
  for (let attempt = 1; ; attempt++) {
    try {
      await table.mergeInsert(key).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows);
      return;
    } catch (e) {
      if (attempt >= tries || !isCommitConflict(e)) throw e;
      await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
      wait = Math.min(2000, wait * 2);
      await table.checkoutLatest().catch(() => undefined);
    }
  }
}
