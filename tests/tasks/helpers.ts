/**
 * Test helpers for tasks/: finite-difference gradient checks and small tensor utilities.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import type { Batch, Problem } from "../../tasks/problem.ts";

/** Options of {@link checkGradientFd}. */
export interface FdOptions {
  /** Coordinates checked per tensor (default 4). */
  perTensor?: number;
  /** Step relative to max(1, rms of the tensor) (default 1e-2); `absStep` overrides. */
  relStep?: number;
  /** Fixed step. */
  absStep?: number;
  /** Relative tolerance (default 2e-2). */
  rtol?: number;
  /** Seed of the coordinate choice. */
  seed?: number;
}

/**
 * Compares `problem.gradients` (noise-free problems) with central finite differences of `problem.objective`
 * at `params` on `batch`, on a few random coordinates per tensor. Throws with details on mismatch.
 */
export function checkGradientFd(
  problem: Problem,
  params: tf.Tensor[],
  batch: Batch | null,
  opts: FdOptions = {},
): void {
  const rng = new Rng(opts.seed ?? 7);
  const rtol = opts.rtol ?? 2e-2;
  const { loss, grads } = problem.gradients(params, batch, new Rng(1));
  const f0 = loss.dataSync()[0];
  const g = grads.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose([loss, grads]);
  const gInf = Math.max(1e-12, ...g.map((a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  const values = params.map((p) => p.dataSync().slice() as Float32Array);
  for (let t = 0; t < params.length; t++) {
    const n = values[t].length;
    const rms = Math.sqrt(values[t].reduce((s, v) => s + v * v, 0) / Math.max(1, n));
    const h = opts.absStep ?? (opts.relStep ?? 1e-2) * Math.max(1, rms);
    const count = Math.min(n, opts.perTensor ?? 4);
    for (let c = 0; c < count; c++) {
      const i = count === n ? c : rng.int(n);
      const evalAt = (delta: number) => {
        const v = values[t].slice();
        v[i] += delta;
        const ps = params.map((p, k) => (k === t ? tf.tensor(v, p.shape) : p));
        const f = problem.objective(ps, batch);
        const out = f.dataSync()[0];
        f.dispose();
        ps[t].dispose();
        return out;
      };
      const fd = (evalAt(h) - evalAt(-h)) / (2 * h);
      const err = Math.abs(fd - g[t][i]);
      const tol = rtol * Math.abs(g[t][i]) + 1e-2 * gInf * rtol * 5 + 1e-6 * Math.abs(f0) / h;
      if (!(err <= tol)) {
        throw new Error(
          `${problem.spec.family}: gradient mismatch at tensor ${t} (${problem.paramNames[t]}) index ${i}: ` +
            `autodiff ${g[t][i]}, finite difference ${fd} (h ${h}, tol ${tol})`,
        );
      }
    }
  }
}

/** Mean and standard deviation of all entries of the tensors. */
export function meanStd(ts: tf.Tensor[]): { mean: number; std: number; n: number } {
  let s = 0, s2 = 0, n = 0;
  for (const t of ts) {
    for (const v of t.dataSync()) {
      s += v;
      s2 += v * v;
      n++;
    }
  }
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)), n };
}

/** The scalar value of a tensor, disposing it. */
export function num(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/** Evaluates `problem.objective` at plain arrays (one per tensor) on the full data, returning a number. */
export function objectiveAt(problem: Problem, arrays: number[][]): number {
  const ps = arrays.map((a, i) => tf.tensor(a, problem.paramShapes[i]));
  const v = num(problem.fullObjective(ps));
  tf.dispose(ps);
  return v;
}

/** Asserts |a − b| <= tol with a readable message. */
export function close(a: number, b: number, tol: number, what = ""): void {
  if (!(Math.abs(a - b) <= tol)) throw new Error(`${what} expected ${b} ± ${tol}, got ${a}`);
}
