import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareClose } from '../../src/conformance/compare.js';

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
