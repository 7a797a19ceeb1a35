/**
 * Hand-designed baseline optimizers (SGD, momentum / Nesterov, RMSProp, Adam) as pure {@link Optimizer}s.
 *
 * Each update reproduces the formula of the TensorFlow.js 4.22 optimizer of the same name op for op, so that
 * a baseline run here and `tf.train.<name>` agree to float32 rounding (tested step by step in
 * `tests/models/optimizers/baselines_test.ts`). With g the gradient, θ the parameters and `update` the additive change
 * returned (θ' = θ + update):
 *
 * - **sgd** (`tf.train.sgd`): update = −lr·g.
 * - **momentum** (`tf.train.momentum`): a' = μ·a + g; update = −lr·a', or with Nesterov −lr·(g + μ·a').
 * - **rmsprop** (`tf.train.rmsprop`): ms' = ρ·ms + (1−ρ)·g²; plain: mom' = μ·mom + lr·g / √(ms' + ε).
 *   Centered: mg' = ρ·mg + (1−ρ)·g; mom' = μ·mom + lr·g / √(ms' − (mg'² + ε)) — note that tfjs SUBTRACTS ε
 *   inside the root in the centered variant (TF Python adds it); we match tfjs. update = −mom'.
 * - **adam** (`tf.train.adam`): m' = β1·m + (1−β1)·g; v' = β2·v + (1−β2)·g²; with B1, B2 the running products
 *   β1^t, β2^t kept in float32 state (as tfjs does): update = −lr·(m'/(1−B1)) / (√(v'/(1−B2)) + ε), ε outside
 *   the root.
 *
 * All math is tfjs ops inside `tf.tidy`, so updates are differentiable with respect to gradients, state and
 * params (the baselines can sit inside a meta-training graph). Inputs are never mutated nor disposed; the
 * caller owns (and disposes) both the old and the new state.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Optimizer, OptState, UpdateResult } from "../../lib/optimizer.ts";

/** Names accepted by {@link makeBaseline}. */
export const BASELINE_NAMES = ["sgd", "momentum", "nesterov", "rmsprop", "adam"] as const;
/** One of {@link BASELINE_NAMES}. */
export type BaselineName = typeof BASELINE_NAMES[number];

/**
 * Default ε of RMSProp and Adam: 1e-7, which is what tfjs uses on float32 backends (`backend.epsilon()` on
 * cpu, wasm and tensorflow). It is fixed here rather than read from the backend so results do not depend on it.
 */
export const DEFAULT_EPSILON = 1e-7;

/** Hyperparameters of {@link sgd}. */
export interface SgdHparams {
  /** Step size (required, ≥ 0). */
  learningRate: number;
}

/** Hyperparameters of {@link momentum}. */
export interface MomentumHparams {
  /** Step size (required, ≥ 0). */
  learningRate: number;
  /** Momentum coefficient μ in [0, 1) (required). */
  momentum: number;
  /** Nesterov variant (default false). */
  useNesterov?: boolean;
}

/** Hyperparameters of {@link rmsprop}; defaults as `tf.train.rmsprop`. */
export interface RmspropHparams {
  /** Step size (required, ≥ 0). */
  learningRate: number;
  /** Mean-square decay ρ in [0, 1] (default 0.9). */
  decay?: number;
  /** Momentum μ in [0, 1) (default 0). */
  momentum?: number;
  /** ε ≥ 0 (default {@link DEFAULT_EPSILON}). */
  epsilon?: number;
  /** Centered variant: normalise by the variance instead of the raw second moment (default false). */
  centered?: boolean;
  /** Initial value of the mean-square accumulator ms, ≥ 0 (default 0 as tfjs; TF1's RMSProp starts at 1). */
  initialAccumulator?: number;
}

/** Hyperparameters of {@link adam}; defaults as `tf.train.adam`. */
export interface AdamHparams {
  /** Step size ≥ 0 (default 0.001). */
  learningRate?: number;
  /** First-moment decay β1 in [0, 1) (default 0.9). */
  beta1?: number;
  /** Second-moment decay β2 in [0, 1) (default 0.999). */
  beta2?: number;
  /** ε ≥ 0, added outside the square root (default {@link DEFAULT_EPSILON}). */
  epsilon?: number;
}

/** State of {@link sgd}: empty. */
export type SgdState = Record<string, never>;
/** State of {@link momentum}: one accumulator per parameter tensor. */
export type MomentumState = { accum: tf.Tensor[] };
/** State of {@link rmsprop}: mean squares, momenta and (centered only) mean gradients per tensor. */
export type RmspropState = { ms: tf.Tensor[]; mom: tf.Tensor[]; mg: tf.Tensor[] };
/** State of {@link adam}: moments per tensor and the running products β1^t, β2^t (float32 scalars). */
export type AdamState = { m: tf.Tensor[]; v: tf.Tensor[]; accBeta1: tf.Scalar; accBeta2: tf.Scalar };

/** A baseline optimizer: an {@link Optimizer} that also exposes its resolved hyperparameters. */
export interface BaselineOptimizer<S extends OptState, H> extends Optimizer<S> {
  /** The hyperparameters with defaults filled in (JSON-serialisable). */
  readonly hparams: Readonly<H>;
}

/**
 * Plain stochastic gradient descent, as `tf.train.sgd(learningRate)`.
 *
 * @example
 * ```ts
 * model.compile({ optimizer: toTfOptimizer(sgd({ learningRate: 0.1 })), loss: "meanSquaredError" });
 * ```
 */
export function sgd(hparams: SgdHparams): BaselineOptimizer<SgdState, Required<SgdHparams>> {
  const h = { learningRate: checkLr("sgd", hparams.learningRate, true) };
  return {
    name: "sgd",
    hparams: h,
    init: () => ({}),
    update(grads: tf.Tensor[], state: SgdState, params: tf.Tensor[]): UpdateResult<SgdState> {
      checkLengths("sgd", grads, params);
      return tf.tidy(() => {
        const c = tf.scalar(-h.learningRate);
        return { updates: grads.map((g) => tf.mul(c, g)), state: { ...state } };
      });
    },
  };
}

/**
 * Heavy-ball momentum (optionally Nesterov), as `tf.train.momentum(learningRate, momentum, useNesterov)`.
 *
 * @example
 * ```ts
 * const opt = momentum({ learningRate: 0.03, momentum: 0.9 });
 * ```
 */
export function momentum(
  hparams: MomentumHparams,
): BaselineOptimizer<MomentumState, Required<MomentumHparams>> {
  const h = {
    learningRate: checkLr("momentum", hparams.learningRate, true),
    momentum: checkUnit("momentum", "momentum", hparams.momentum, undefined, false),
    useNesterov: checkBool("momentum", "useNesterov", hparams.useNesterov, false),
  };
  return {
    name: h.useNesterov ? "nesterov" : "momentum",
    hparams: h,
    init: (params) => ({ accum: params.map((p) => tf.zerosLike(p)) }),
    update(grads: tf.Tensor[], state: MomentumState, params: tf.Tensor[]): UpdateResult<MomentumState> {
      checkLengths("momentum", grads, params, state.accum);
      return tf.tidy(() => {
        const c = tf.scalar(-h.learningRate);
        const m = tf.scalar(h.momentum);
        const accum: tf.Tensor[] = [];
        const updates = grads.map((g, i) => {
          const a = tf.add(tf.mul(m, state.accum[i]), g);
          accum.push(a);
          return h.useNesterov ? tf.mul(c, tf.add(g, tf.mul(a, m))) : tf.mul(c, a);
        });
        return { updates, state: { accum } };
      });
    },
  };
}

/**
 * RMSProp with optional momentum and centering, as `tf.train.rmsprop(lr, decay, momentum, epsilon, centered)`.
 *
 * @example
 * ```ts
 * const opt = rmsprop({ learningRate: 1e-3 });
 * ```
 */
export function rmsprop(hparams: RmspropHparams): BaselineOptimizer<RmspropState, Required<RmspropHparams>> {
  const h = {
    learningRate: checkLr("rmsprop", hparams.learningRate, true),
    decay: checkUnit("rmsprop", "decay", hparams.decay, 0.9, true),
    momentum: checkUnit("rmsprop", "momentum", hparams.momentum, 0, false),
    epsilon: checkEps("rmsprop", hparams.epsilon),
    centered: checkBool("rmsprop", "centered", hparams.centered, false),
    initialAccumulator: checkNonNegative("rmsprop", "initialAccumulator", hparams.initialAccumulator, 0),
  };
  return {
    name: "rmsprop",
    hparams: h,
    init: (params) => ({
      ms: params.map((p) =>
        h.initialAccumulator === 0 ? tf.zerosLike(p) : tf.fill(p.shape, h.initialAccumulator)
      ),
      mom: params.map((p) => tf.zerosLike(p)),
      mg: h.centered ? params.map((p) => tf.zerosLike(p)) : [],
    }),
    update(grads: tf.Tensor[], state: RmspropState, params: tf.Tensor[]): UpdateResult<RmspropState> {
      checkLengths("rmsprop", grads, params, state.ms, state.mom);
      if (h.centered) checkLengths("rmsprop", grads, state.mg);
      return tf.tidy(() => {
        const ms: tf.Tensor[] = [];
        const mom: tf.Tensor[] = [];
        const mg: tf.Tensor[] = [];
        const updates = grads.map((g, i) => {
          const newMs = tf.add(tf.mul(state.ms[i], h.decay), tf.mul(tf.square(g), 1 - h.decay));
          let denom: tf.Tensor;
          if (h.centered) {
            const newMg = tf.add(tf.mul(state.mg[i], h.decay), tf.mul(g, 1 - h.decay));
            mg.push(newMg);
            // tfjs quirk, matched on purpose: ε is subtracted inside the root.
            denom = tf.sqrt(tf.sub(newMs, tf.add(tf.square(newMg), h.epsilon)));
          } else {
            denom = tf.sqrt(tf.add(newMs, h.epsilon));
          }
          const newMom = tf.add(tf.mul(state.mom[i], h.momentum), tf.div(tf.mul(g, h.learningRate), denom));
          ms.push(newMs);
          mom.push(newMom);
          return tf.neg(newMom);
        });
        return { updates, state: { ms, mom, mg } };
      });
    },
  };
}

/**
 * Adam, as `tf.train.adam(learningRate, beta1, beta2, epsilon)` (bias-corrected moments, ε outside the root).
 *
 * @example
 * ```ts
 * const opt = adam({ learningRate: 3e-3 });
 * let state = opt.init(params);
 * const { updates, state: next } = opt.update(grads, state, params); // new params = params + updates
 * ```
 */
export function adam(hparams: AdamHparams = {}): BaselineOptimizer<AdamState, Required<AdamHparams>> {
  const h = {
    learningRate: checkLr("adam", hparams.learningRate ?? 0.001, false),
    beta1: checkUnit("adam", "beta1", hparams.beta1, 0.9, false),
    beta2: checkUnit("adam", "beta2", hparams.beta2, 0.999, false),
    epsilon: checkEps("adam", hparams.epsilon),
  };
  return {
    name: "adam",
    hparams: h,
    init: (params) =>
      tf.tidy(() => ({
        m: params.map((p) => tf.zerosLike(p)),
        v: params.map((p) => tf.zerosLike(p)),
        accBeta1: tf.scalar(h.beta1),
        accBeta2: tf.scalar(h.beta2),
      })),
    update(grads: tf.Tensor[], state: AdamState, params: tf.Tensor[]): UpdateResult<AdamState> {
      checkLengths("adam", grads, params, state.m, state.v);
      return tf.tidy(() => {
        const oneMinusAccBeta1 = tf.sub(1, state.accBeta1);
        const oneMinusAccBeta2 = tf.sub(1, state.accBeta2);
        const m: tf.Tensor[] = [];
        const v: tf.Tensor[] = [];
        const updates = grads.map((g, i) => {
          const newM = tf.add(tf.mul(state.m[i], h.beta1), tf.mul(g, 1 - h.beta1));
          const newV = tf.add(tf.mul(state.v[i], h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
          m.push(newM);
          v.push(newV);
          const mHat = tf.div(newM, oneMinusAccBeta1);
          const vHat = tf.div(newV, oneMinusAccBeta2);
          return tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), h.epsilon)), -h.learningRate);
        });
        return {
          updates,
          state: {
            m,
            v,
            accBeta1: tf.mul(state.accBeta1, h.beta1) as tf.Scalar,
            accBeta2: tf.mul(state.accBeta2, h.beta2) as tf.Scalar,
          },
        };
      });
    },
  };
}

/** Allowed hyperparameter keys per baseline (for error messages on typos). */
const ALLOWED: Record<BaselineName, readonly string[]> = {
  sgd: ["learningRate"],
  momentum: ["learningRate", "momentum", "useNesterov"],
  nesterov: ["learningRate", "momentum"],
  rmsprop: ["learningRate", "decay", "momentum", "epsilon", "centered", "initialAccumulator"],
  adam: ["learningRate", "beta1", "beta2", "epsilon"],
};

/**
 * Builds a baseline by name from a plain hyperparameter object (e.g. stage params or JSON). `nesterov` is
 * `momentum` with `useNesterov: true`. Throws a message naming the problem for an unknown name, an unknown
 * hyperparameter key, a missing required value or one out of range.
 *
 * @example
 * ```ts
 * const opt = makeBaseline("nesterov", { learningRate: 0.01, momentum: 0.9 });
 * ```
 */
export function makeBaseline(
  name: BaselineName | string,
  hparams: Record<string, unknown> = {},
): BaselineOptimizer<OptState, Record<string, number | boolean>> {
  if (!(BASELINE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`Unknown baseline optimizer '${name}'. Choose one of: ${BASELINE_NAMES.join(", ")}.`);
  }
  const n = name as BaselineName;
  if (hparams === null || typeof hparams !== "object" || Array.isArray(hparams)) {
    throw new Error(`Hyperparameters of '${n}' must be an object, got ${JSON.stringify(hparams)}.`);
  }
  const unknown = Object.keys(hparams).filter((k) => !ALLOWED[n].includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `Unknown hyperparameter(s) ${unknown.map((k) => `'${k}'`).join(", ")} for '${n}'. ` +
        `Allowed: ${ALLOWED[n].join(", ")}.`,
    );
  }
  // Values are type-checked by the constructors below (check* helpers), so the casts only satisfy tsc.
  // deno-lint-ignore no-explicit-any
  const h = hparams as any;
  let opt:
    | BaselineOptimizer<SgdState, unknown>
    | BaselineOptimizer<MomentumState, unknown>
    | BaselineOptimizer<RmspropState, unknown>
    | BaselineOptimizer<AdamState, unknown>;
  switch (n) {
    case "sgd":
      opt = sgd(h);
      break;
    case "momentum":
      opt = momentum(h);
      break;
    case "nesterov":
      opt = momentum({ ...h, useNesterov: true });
      break;
    case "rmsprop":
      opt = rmsprop(h);
      break;
    case "adam":
      opt = adam(h);
      break;
  }
  return opt as BaselineOptimizer<OptState, Record<string, number | boolean>>;
}

function checkLr(opt: string, v: unknown, required: boolean): number {
  if (v === undefined && required) {
    throw new Error(`'${opt}' needs a learningRate (a finite number ≥ 0), e.g. {learningRate: 0.01}.`);
  }
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new Error(`learningRate of '${opt}' must be a finite number ≥ 0, got ${String(v)}.`);
  }
  return v;
}

function checkUnit(
  opt: string,
  key: string,
  v: unknown,
  dflt: number | undefined,
  closedAtOne: boolean,
): number {
  if (v === undefined) {
    if (dflt === undefined) throw new Error(`'${opt}' needs '${key}' (a number in [0, 1)).`);
    return dflt;
  }
  const range = closedAtOne ? "[0, 1]" : "[0, 1)";
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (closedAtOne ? v > 1 : v >= 1)) {
    throw new Error(`'${key}' of '${opt}' must be a number in ${range}, got ${String(v)}.`);
  }
  return v;
}

function checkEps(opt: string, v: unknown): number {
  return checkNonNegative(opt, "epsilon", v, DEFAULT_EPSILON);
}

function checkNonNegative(opt: string, key: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new Error(`'${key}' of '${opt}' must be a finite number ≥ 0, got ${String(v)}.`);
  }
  return v;
}

function checkBool(opt: string, key: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") {
    throw new Error(`'${key}' of '${opt}' must be true or false, got ${String(v)}.`);
  }
  return v;
}

function checkLengths(opt: string, grads: tf.Tensor[], ...others: tf.Tensor[][]): void {
  for (const o of others) {
    if (o.length !== grads.length) {
      throw new Error(
        `${opt}: got ${grads.length} gradient tensors but ${o.length} params/state tensors; ` +
          "the state must come from init() on the same parameter list.",
      );
    }
  }
}
