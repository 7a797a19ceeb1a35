/**
 * Test helper: gradients of a random linear functional of every output of a few taped HRNN updates, on the
 * ops path and on the differentiable fused path, w.r.t. every input (meta-parameters, gradients of each step,
 * and every tensor of the starting state), and their worst relative difference. Used in-process by
 * `fused_taped_test.ts` and in child processes (one per native library).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../lib/rng.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { type HrnnState, makeHrnn } from "../../../models/hrnn/hrnn.ts";
import {
  createMetaParams,
  disposeMetaParams,
  metaParamList,
  metaParamsFromList,
} from "../../../models/hrnn/meta_params.ts";

/** Every tensor of a state in a fixed order (the same order {@link stateFromList} reads). */
export function stateList(s: HrnnState): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const t of s.tensors) {
    out.push(t.parameter, t.scl_decay, t.inp_decay, ...t.grad_accum, ...t.ms);
    if (t.layer) out.push(t.layer);
    if (t.log_learning_rate) out.push(t.log_learning_rate);
  }
  if (s.global) out.push(s.global);
  return out;
}

/** Rebuilds a state shaped like `like` from a list in {@link stateList} order. */
export function stateFromList(list: tf.Tensor[], like: HrnnState): HrnnState {
  let q = 0;
  const next = () => list[q++] as tf.Tensor2D;
  const tensors = like.tensors.map((t) => {
    const s = {
      parameter: next(),
      scl_decay: next(),
      inp_decay: next(),
      grad_accum: t.grad_accum.map(next),
      ms: t.ms.map(next),
    } as HrnnState["tensors"][number];
    if (t.layer) s.layer = next();
    if (t.log_learning_rate) s.log_learning_rate = next();
    return s;
  });
  const out: HrnnState = { tensors };
  if (like.global) out.global = next();
  return out;
}

/** What {@link compareTapedGradients} measured. */
export interface TapedComparison {
  /** Per input: its name and max|a − b| / max|a| (ops path a, fused path b). */
  perInput: { what: string; rel: number }[];
  /** Worst over inputs of max|a − b| / max|a| (per input tensor). */
  worstGrad: number;
  /** Which input was worst. */
  worstWhat: string;
  /** Worst relative difference of the forward outputs (updates, per tensor relative to its largest entry). */
  worstValue: number;
  /** Number of input tensors compared. */
  inputs: number;
}

/**
 * Runs `steps` taped updates from a state reached by `warm` untaped ops steps, on the ops path and on
 * `kernel`, and compares gradients of Σ_outputs ⟨w, output⟩ w.r.t. meta-parameters, gradients and state.
 */
export function compareTapedGradients(
  overrides: Partial<HrnnConfig>,
  sizes: number[],
  opts: {
    steps?: number;
    warm?: number;
    seed?: number;
    gradScale?: number;
    kernel?: "fused" | "native";
    /** Share of gradient entries set to exactly 0 in every compared step (default 0; warm-up is dense). */
    zeroShare?: number;
  } = {},
): TapedComparison {
  const { steps = 2, warm = 1, seed = 3, gradScale = 0.1, kernel = "fused", zeroShare = 0 } = opts;
  const config = makeHrnnConfig({ zeroInitLrWeights: false, ...overrides });
  const mp = createMetaParams(config, seed);
  const rng = new Rng(seed + 1);
  const params = sizes.map((n) => tf.tensor1d(rng.normalArray(n)));
  const gradAt = (zeroShare: number) =>
    sizes.map((n) =>
      tf.tensor1d(
        rng.normalArray(n).map((v) => (zeroShare > 0 && rng.uniform(0, 1) < zeroShare ? 0 : v * gradScale)),
      )
    );
  // Warm-up (untaped, ops) to a state with non-zero decays and mean squares.
  const warmOpt = makeHrnn(mp, config, { seed, kernel: "ops" });
  let s0 = warmOpt.init(params);
  for (let t = 0; t < warm; t++) {
    const g = gradAt(0);
    const r = warmOpt.update(g, s0, params);
    tf.dispose([g, r.updates, s0]);
    s0 = r.state;
  }
  const grads = Array.from({ length: steps }, () => gradAt(zeroShare));
  // Every meta-parameter but the initial states (init/…: not used by update).
  const fullList = metaParamList(mp, config);
  const metaNames = Object.keys(mp).filter((k) => !k.startsWith("init/"));
  const metaList = metaNames.map((k) => mp[k]);
  const sList = stateList(s0);
  const xs = [...metaList, ...grads.flat(), ...sList];
  const names = [
    ...metaNames.map((k) => `meta ${k}`),
    ...grads.flatMap((gs, t) => gs.map((_, j) => `grad step ${t} tensor ${j}`)),
    ...sList.map((_, i) => `state[${i}]`),
  ];
  // Random weights of the linear functional, one per output (drawn on the first run).
  const weights: tf.Tensor[] = [];
  const f = (useKernel: "ops" | "fused" | "native") => (...x: tf.Tensor[]) => {
    const meta: Record<string, tf.Tensor> = { ...mp };
    metaNames.forEach((k, i) => (meta[k] = x[i]));
    const opt = makeHrnn(meta, config, { seed, kernel: useKernel });
    let q = metaList.length;
    const gs = grads.map((g) => g.map(() => x[q++]));
    let state = stateFromList(x.slice(q), s0);
    const outs: tf.Tensor[] = [];
    for (let t = 0; t < steps; t++) {
      const r = opt.update(gs[t], state, params);
      outs.push(...r.updates);
      state = r.state;
    }
    outs.push(...stateList(state));
    let w = 0;
    const terms = outs.map((o) => {
      if (weights.length <= w) weights.push(tf.keep(tf.tensor(rng.normalArray(o.size), o.shape)));
      return tf.sum(tf.mul(o, weights[w++]));
    });
    // A zero term per input keeps inputs the updates do not read (e.g. inp_decay with K = 1) on the tape.
    for (const xi of x) terms.push(tf.mul(tf.sum(xi), 0));
    return tf.addN(terms) as tf.Scalar;
  };
  const ga = tf.grads(f("ops"))(xs);
  const gb = tf.grads(f(kernel))(xs);
  let worstGrad = 0, worstWhat = "";
  const perInput: { what: string; rel: number }[] = [];
  ga.forEach((a, i) => {
    const x = a.dataSync(), y = gb[i].dataSync();
    let scale = 0, diff = 0;
    for (let p = 0; p < x.length; p++) {
      scale = Math.max(scale, Math.abs(x[p]));
      diff = Math.max(diff, Math.abs(x[p] - y[p]));
    }
    const rel = Number.isFinite(diff) ? diff / (scale + 1e-30) : Infinity;
    perInput.push({ what: names[i], rel: Number.isNaN(rel) ? Infinity : rel });
    if (rel > worstGrad || Number.isNaN(rel)) {
      worstGrad = Number.isNaN(rel) ? Infinity : rel;
      worstWhat = `${names[i]} (max |grad| ${scale.toExponential(2)})`;
    }
  });
  // Forward values of the taped fused path vs the ops path (recorded under a tape).
  let worstValue = 0;
  tf.tidy(() => {
    const grab = (k: "ops" | "fused" | "native") => {
      let out: tf.Tensor[] = [];
      tf.grad((x: tf.Tensor) => {
        const meta = { ...metaParamsFromList(fullList, config), "readout/update_w": x };
        const opt = makeHrnn(meta, config, { seed, kernel: k });
        const r = opt.update(grads[0], s0, params);
        out = [...r.updates, ...stateList(r.state)].map((t) => tf.keep(t.clone()));
        return tf.sum(r.updates[0]);
      })(mp["readout/update_w"]);
      return out;
    };
    const va = grab("ops"), vb = grab(kernel);
    va.forEach((a, i) => {
      const x = a.dataSync(), y = vb[i].dataSync();
      const scale = Math.max(...Array.from(x, Math.abs)) + 1e-30;
      for (let p = 0; p < x.length; p++) worstValue = Math.max(worstValue, Math.abs(x[p] - y[p]) / scale);
    });
    tf.dispose([va, vb]);
  });
  tf.dispose([ga, gb, weights, grads, params, s0]);
  disposeMetaParams(mp);
  return { perInput, worstGrad, worstWhat, worstValue, inputs: xs.length };
}
