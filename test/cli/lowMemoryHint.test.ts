import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOW_MEMORY_TUNABLES, lowMemoryHint } from '../../src/cli/commands/train.js';

test('--low-memory on Linux without glibc heap settings says how to start the command', () => {
  const hint = lowMemoryHint('linux', { PATH: '/usr/bin' });
  assert.ok(hint?.includes(`GLIBC_TUNABLES=${LOW_MEMORY_TUNABLES}`), hint);
  // Other tunables alone do not count.
  assert.ok(lowMemoryHint('linux', { GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }));
});

test('--low-memory says nothing where glibc is already set up, or off Linux', () => {
  assert.equal(lowMemoryHint('linux', { GLIBC_TUNABLES: `glibc.pthread.rseq=0:${LOW_MEMORY_TUNABLES}` }), undefined);
  assert.equal(lowMemoryHint('linux', { MALLOC_MMAP_MAX_: '0' }), undefined);
  assert.equal(lowMemoryHint('darwin', {}), undefined);
});

test('the tunables are ones glibc reads: mmap off, trimming only past 256 MiB', () => {
  const pairs = Object.fromEntries(LOW_MEMORY_TUNABLES.split(':').map((kv) => kv.split('=') as [string, string]));
  assert.deepEqual(pairs, { 'glibc.malloc.mmap_max': '0', 'glibc.malloc.trim_threshold': String(256 * 2 ** 20) });
});
