/**
 * Self-benchmarks of the bench harness: the per-iteration overhead of an empty bench, and a small CPU-bound
 * loop as a machine-speed reference.
 *
 * @module
 */

import { registerBench } from "../pipeline/bench.ts";

registerBench({
  group: "harness",
  name: "noop",
  unit: "call",
  iterations: 200,
  warmup: 10,
  fn: () => {},
});

registerBench({
  group: "harness",
  name: "float-sum-1e6",
  unit: "1e6 adds",
  iterations: 20,
  setup: () => Float64Array.from({ length: 1_000_000 }, (_, i) => (i % 97) * 0.5),
  fn: (xs) => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[i];
    return { sum: s };
  },
});
