/**
 * Micro-benchmark of one HRNN update (paper config) on a single parameter tensor of n coordinates.
 *
 * Run: `deno run -A models/hrnn/bench.ts [n] [reps]` (defaults 100000 and 20); prints the median and minimum
 * time of `update` (forward only, no gradient tape) on the current backend. Exported for `deno task bench`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { median } from "../../lib/stats.ts";
import { makeHrnnConfig } from "./config.ts";
import { type HrnnState, makeHrnn } from "./hrnn.ts";
import { createMetaParams, disposeMetaParams } from "./meta_params.ts";

/**
 * Median and minimum wall time (ms) of one update on n coordinates, after 3 warm-up steps.
 *
 * @example
 * ```ts
 * const { medianMs, minMs } = benchHrnnUpdate(10_000, 5);
 * ```
 */
export function benchHrnnUpdate(n = 100_000, reps = 20): { medianMs: number; minMs: number } {
  const config = makeHrnnConfig();
  const mp = createMetaParams(config, 0);
  const opt = makeHrnn(mp, config, { seed: 0 });
  const params = [tf.randomNormal([n])];
  const grads = [tf.randomNormal([n])];
  let state: HrnnState = opt.init(params);
  const times: number[] = [];
  for (let i = 0; i < reps + 3; i++) {
    const t0 = performance.now();
    const next = tf.tidy(() => {
      const r = opt.update(grads, state, params);
      r.updates[0].dataSync();
      return r.state;
    });
    if (i >= 3) times.push(performance.now() - t0);
    tf.dispose(state);
    state = next;
  }
  tf.dispose([params, grads, state]);
  disposeMetaParams(mp);
  return { medianMs: median(times), minMs: Math.min(...times) };
}

if (import.meta.main) {
  const backend = await initBackend();
  const n = Number(Deno.args[0] ?? 100_000);
  const reps = Number(Deno.args[1] ?? 20);
  const r = benchHrnnUpdate(n, reps);
  console.log(
    `hrnn update, n=${n}, backend ${backend}: median ${r.medianMs.toFixed(1)} ms, min ${
      r.minMs.toFixed(1)
    } ms`,
  );
}
