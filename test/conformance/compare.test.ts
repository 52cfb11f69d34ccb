import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareClose } from '../../tools/conformance/compare.js';
import { compareExpected } from '../../tools/conformance/kinds/expectedTensors.js';
import { Tensor } from '../../src/core/tensor.js';

test('closeness uses atol + rtol·|expected| element-wise', () => {
  assert.equal(compareClose('x', [1.00005], [1], 1e-4, 0).ok, true);
  assert.equal(compareClose('x', [1.0003], [1], 1e-4, 0).ok, false);
  assert.equal(compareClose('x', [100.005], [100], 0, 1e-4).ok, true);
  assert.equal(compareClose('x', [1, 2], [1], 1, 1).ok, false);
});

test('a NaN in the reference only matches a NaN; a NaN in the result never matches a number', () => {
  assert.equal(compareClose('x', [NaN, 1], [NaN, 1], 1e-5, 0).ok, true);
  assert.equal(compareClose('x', [0, 1], [NaN, 1], 1e-5, 0).ok, false);
  assert.equal(compareClose('x', [NaN], [0], 1e-5, 0).ok, false);
  assert.equal(compareClose('x', [Infinity], [Infinity], 0, 0).ok, true);
  assert.equal(compareClose('x', [-Infinity], [Infinity], 0, 0).ok, false);
});

test('compareExpected: expected NaN only matches NaN (error Infinity otherwise); sizes must agree', () => {
  const t = (v: number[]) => Tensor.float32(Float32Array.from(v), [v.length]);
  const same = compareExpected('y', t([NaN, 1, 2]), t([NaN, 1, 2.5]), 1e-5, 0);
  assert.equal(same.ok, false);
  assert.equal(same.maxAbsError, 0.5);
  assert.equal(same.firstBad, 2);
  const nanMissed = compareExpected('y', t([0, 1]), t([NaN, 1]), 1e-5, 0);
  assert.equal(nanMissed.ok, false);
  assert.equal(nanMissed.maxAbsError, Infinity);
  assert.match(nanMissed.detail!, /expected NaN/);
  assert.equal(compareExpected('y', t([NaN, 1]), t([NaN, 1]), 0, 0).ok, true);
  const sized = compareExpected('y', t([1, 2]), Tensor.float32(Float32Array.of(1, 2, 3), [3]), 1, 1);
  assert.equal(sized.ok, false);
  assert.match(sized.detail!, /shape \[2\], expected \[3\]/);
});
