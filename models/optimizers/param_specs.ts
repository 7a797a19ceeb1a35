/**
 * Meta-parameters described by a list of {@link MetaParamSpec}s (name, shape, initial distribution): seeded
 * creation and shape validation for learned optimizers other than the HRNN (which has its own, config-driven
 * lists in `models/hrnn/meta_params.ts`; the spec type is shared).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import type { MetaParamSpec } from "../hrnn/meta_params.ts";

/**
 * Creates the meta-parameters of `specs`, each tensor from its own stream `rng.fork(name)` (so one seed fixes
 * every value and adding a tensor does not shift the others). The caller owns the tensors.
 *
 * @example
 * ```ts
 * const mp = createFromSpecs([{ name: "w", shape: [2, 3], init: { kind: "normal", mean: 0, std: 0.1 } }], 0);
 * ```
 */
export function createFromSpecs(specs: MetaParamSpec[], seed: number): Record<string, tf.Tensor> {
  const rng = new Rng(seed);
  const out: Record<string, tf.Tensor> = {};
  for (const s of specs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const init = s.init;
    let data: Float32Array;
    if (init.kind === "normal") data = rng.fork(s.name).normalArray(size, init.mean, init.std);
    else if (init.kind === "uniform") data = rng.fork(s.name).uniformArray(size, init.lo, init.hi);
    else if (init.kind === "constant") data = new Float32Array(size).fill(init.value);
    else throw new Error(`meta-parameter ${s.name}: init kind "copy" is only supported by the HRNN`);
    out[s.name] = tf.tensor(data, s.shape, "float32");
  }
  return out;
}

/**
 * Checks that `params` holds exactly the tensors of `specs` with their shapes and float32 dtype; throws one
 * Error naming `who` and listing what is missing, extra or mis-shaped.
 *
 * @example
 * ```ts
 * checkAgainstSpecs(mp, l2lLstmSpecs(config), "L2L LSTM weights in w.weights");
 * ```
 */
export function checkAgainstSpecs(
  params: Record<string, tf.Tensor>,
  specs: MetaParamSpec[],
  who: string,
): void {
  const shapes = new Map(specs.map((s) => [s.name, s.shape]));
  const missing = specs.filter((s) => !(s.name in params)).map((s) => s.name);
  const extra = Object.keys(params).filter((n) => !shapes.has(n));
  const wrong = specs.filter((s) =>
    s.name in params &&
    (params[s.name].shape.length !== s.shape.length || params[s.name].shape.some((d, i) => d !== s.shape[i]))
  ).map((s) => `${s.name} is [${params[s.name].shape.join(",")}], expected [${s.shape.join(",")}]`);
  const notF32 = specs.filter((s) => s.name in params && params[s.name].dtype !== "float32").map((s) =>
    s.name
  );
  const problems: string[] = [];
  if (missing.length) problems.push(`missing tensor(s): ${missing.join(", ")}`);
  if (extra.length) problems.push(`tensor(s) not used by this config: ${extra.join(", ")}`);
  if (wrong.length) problems.push(`wrong shape(s): ${wrong.join("; ")}`);
  if (notF32.length) problems.push(`not float32: ${notF32.join(", ")}`);
  if (problems.length) throw new Error(`${who} do not match the config: ${problems.join("; ")}.`);
}

/**
 * Number of scalars of `specs`.
 *
 * @example
 * ```ts
 * countSpecs([{ name: "b", shape: [4], init: { kind: "constant", value: 0 } }]); // 4
 * ```
 */
export function countSpecs(specs: MetaParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
