/**
 * The import rule of docs/ARCHITECTURE.md: a folder of src/ imports only from folders below it, and no file
 * imports itself through a cycle. Parsed from the sources (static and dynamic imports alike), so a cycle cannot
 * hide behind `await import(...)`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importGraph, LAYERS, layerOf, layerViolations, fileCycles } from '../../tools/layout/importGraph.js';
import { REPO_ROOT } from '../helpers.js';
import { join } from 'node:path';

const SRC = join(REPO_ROOT, 'src');

test('every file of src/ belongs to a known layer', async () => {
  const graph = await importGraph(SRC);
  const unknown = [...graph.keys()].filter((f) => layerOf(f) === undefined);
  assert.deepEqual(unknown, [], `files outside the layers ${LAYERS.join(', ')}`);
});

test('no folder imports from a folder above it', async () => {
  const violations = layerViolations(await importGraph(SRC));
  assert.deepEqual(violations, []);
});

test('no import cycle between files', async () => {
  assert.deepEqual(fileCycles(await importGraph(SRC)), []);
});

test('the check sees a violation and a cycle when there is one', () => {
  const graph = new Map<string, string[]>([
    ['core/a.ts', ['apps/b.ts']],
    ['apps/b.ts', ['core/a.ts']],
  ]);
  assert.deepEqual(layerViolations(graph), ['core/a.ts imports apps/b.ts (core may import only from layers below it)']);
  assert.equal(fileCycles(graph).length, 1);
});
