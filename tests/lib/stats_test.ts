import assert from "node:assert/strict";
import { logGrid, median } from "../../lib/stats.ts";

Deno.test("median: odd, even, empty, infinities and NaN", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(median([1, Infinity, Infinity, 0]), Infinity);
  assert.equal(median([1, 2, NaN]), 2);
});

Deno.test("logGrid: ends included, log spacing, rounding, errors", () => {
  assert.deepEqual(logGrid(1e-3, 1, 4), [0.001, 0.01, 0.1, 1]);
  assert.deepEqual(logGrid(1e-3, 2e-3, 3, 3), [0.001, 0.00141, 0.002]);
  assert.deepEqual(logGrid(0.5, 4, 1), [0.5]);
  assert.throws(() => logGrid(0, 1, 3), /> 0/);
  assert.throws(() => logGrid(2, 1, 3), /upper end/);
  assert.throws(() => logGrid(1, 2, 0), /integer/);
});
