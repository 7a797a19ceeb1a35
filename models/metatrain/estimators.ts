/**
 * Meta-gradient estimators, kept separate from the learned optimizer (learned_optimization's
 * GradientEstimator): truncated backprop through one partial unroll (TBPTT, the paper's method) and
 * persistent evolution strategies (PES, Vicol et al. 2021) with antithetic pairs.
 *
 * An estimator works on an {@link EstimatorCarry}: one trajectory for TBPTT, one per particle for PES (plus
 * PES's persistent perturbation accumulators). Estimates are returned with the new carry; the caller owns and
 * disposes both the old and the new carry. Gradients are cleaned by {@link cleanGradients} before return.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import type { OptState } from "../../lib/optimizer.ts";
import type { Problem } from "../../tasks/problem.ts";
import type { LearnedOptimizer } from "../optimizers/learned.ts";
import { disposeTree } from "../../lib/state_tree.ts";
import { chain, clipByGlobalNorm, clipByValue, zeroNonFinite } from "../optimizers/transforms.ts";
import {
  type BatchUnrollResult,
  unrollBatch,
  type UnrollCarry,
  type UnrollConfig,
  type UnrollStop,
} from "./unroll.ts";
import { scoped } from "./tape.ts";
import { type BatchedProblem, isBatchedProblem, stackInstances } from "../../tasks/batched.ts";

/** Estimator choice and its parameters. */
export interface EstimatorConfig {
  /** `tbptt` (truncated backprop, the paper) or `pes`. */
  kind: "tbptt" | "pes";
  /** PES: number of antithetic pairs (2× as many particles). */
  pesPairs: number;
  /** PES: perturbation std σ. */
  pesSigma: number;
  /** Element-wise clip of the meta-gradient after zeroing non-finite entries (paper: 1e4; ≤ 0 disables). */
  clip: number;
  /** Optional global-norm clip applied after the element-wise clip (≤ 0 disables; paper: off). */
  globalNormClip: number;
  /**
   * TBPTT with batched instances: clean (zero non-finite entries, clip, global-norm clip) each instance's
   * meta-gradient on its own before averaging them, as separate slots are, instead of cleaning their mean.
   * One instance whose trajectory blows up then weighs as much as any other, not more. The instances get
   * their own copies of the meta-parameters (so the backward pass keeps their gradients apart) and their
   * own HRNN update calls; the problem still runs all instances in one set of ops.
   */
  clipPerInstance: boolean;
}

/** Paper defaults (TBPTT, clip 1e4, no global-norm clip); PES values are ours. */
export const DEFAULT_ESTIMATOR: EstimatorConfig = {
  kind: "tbptt",
  pesPairs: 4,
  pesSigma: 0.01,
  clip: 1e4,
  globalNormClip: 0,
  clipPerInstance: false,
};

/** What an estimator carries between partial unrolls. */
export interface EstimatorCarry {
  /** One trajectory (TBPTT) or one per particle (PES: particle 2j is +ε_j, 2j+1 is −ε_j). */
  trajectories: UnrollCarry[];
  /** PES only: per pair, the perturbation ξ_j accumulated since the trajectory started (the + particle's). */
  pesAccum: Record<string, tf.Tensor>[] | null;
}

/** One meta-gradient estimate. */
export interface GradientEstimate {
  /** Meta-loss (TBPTT: of the unperturbed unroll; PES: mean over particles with a finite loss). */
  loss: number;
  /** Cleaned meta-gradient, one tensor per meta-parameter (caller disposes). */
  grads: Record<string, tf.Tensor>;
  /** The carry after this unroll (caller disposes; the input carry is left untouched). */
  carry: EstimatorCarry;
  /** Inner optimizer steps run, summed over particles. */
  innerSteps: number;
  /** Planned-length steps of the (first) trajectory. */
  steps: number;
  /** Worst stop reason over the trajectories (`length` when all ran to the end). */
  stop: UnrollStop;
}

/** A meta-gradient estimator. */
export interface GradientEstimator {
  /** The configuration it was made from. */
  readonly config: EstimatorConfig;
  /** Trajectories per problem instance (1 for TBPTT, 2·pairs for PES). */
  readonly particles: number;
  /**
   * Trajectories a carry holds for a batch of `instances` problem instances (TBPTT: one per instance; PES
   * runs single instances only and throws otherwise).
   */
  trajectoriesFor(instances: number): number;
  /**
   * The carry of a new trajectory: every particle starts from the same `start` (params are cloned per
   * particle; `start` stays owned by the caller) with the given optimizer states (null: reset inside the
   * unroll; one per trajectory, ownership passes to the carry). PES accumulators start at zero. TBPTT also
   * takes one start per instance of a batched problem.
   */
  initCarry(
    start: UnrollCarry | UnrollCarry[],
    optStates: (OptState | null)[],
    metaParams: Record<string, tf.Tensor>,
  ): EstimatorCarry;
  /**
   * Estimates the meta-gradient of one partial unroll of `length` steps. All particles see the same
   * minibatches, gradient noise and optimizer-init randomness (derived from `seed`); the instances of a
   * batched problem each get their own streams ({@link instanceRngs}) and the estimate is the mean over them.
   */
  estimate(
    learned: LearnedOptimizer,
    metaParams: Record<string, tf.Tensor>,
    problem: Problem | BatchedProblem,
    carry: EstimatorCarry,
    length: number,
    seed: number,
    unrollCfg: UnrollConfig,
  ): GradientEstimate;
}

/**
 * Disposes every tensor of a carry.
 *
 * @example
 * ```ts
 * const est = estimator.estimate(learned, metaParams, problem, carry, 20, seed, PAPER_UNROLL_CONFIG);
 * disposeCarry(carry); // the old carry; est.carry replaces it
 * ```
 */
export function disposeCarry(carry: EstimatorCarry | null | undefined): void {
  if (!carry) return;
  for (const t of carry.trajectories) {
    tf.dispose(t.params);
    disposeTree(t.optState);
  }
  for (const a of carry.pesAccum ?? []) tf.dispose(Object.values(a));
}

/**
 * Meta-gradient hygiene (§6.5 and learned_optimization), the chain {@link zeroNonFinite} →
 * {@link clipByValue}(`clip`) → {@link clipByGlobalNorm}(`globalNormClip`), applied to each estimate before
 * estimates are averaged. Returns new tensors; inputs are not disposed.
 *
 * @example
 * ```ts
 * const cleaned = cleanGradients({ w: tf.tensor1d([NaN, 2e5, -3]) }, 1e4, 0); // w: [0, 1e4, -3]
 * ```
 */
export function cleanGradients(
  grads: Record<string, tf.Tensor>,
  clip: number,
  globalNormClip: number,
): Record<string, tf.Tensor> {
  const names = Object.keys(grads).sort();
  const list = names.map((n) => grads[n]);
  const hygiene = chain(zeroNonFinite(), clipByValue(clip), clipByGlobalNorm(globalNormClip));
  const { updates } = hygiene.update(list, hygiene.init(list), list);
  return Object.fromEntries(names.map((n, i) => [n, updates[i]]));
}

/** The element-wise mean of several gradient maps with the same keys; disposes the inputs. */
function meanOf(maps: Record<string, tf.Tensor>[]): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const n of Object.keys(maps[0])) {
    out[n] = tf.tidy(() => tf.div(tf.addN(maps.map((m) => m[n])), maps.length));
  }
  for (const m of maps) tf.dispose(Object.values(m));
  return out;
}

/**
 * Builds the estimator selected by `config.kind`.
 *
 * @example
 * ```ts
 * const pes = makeEstimator({ kind: "pes", pesPairs: 8, pesSigma: 0.01 });
 * pes.particles; // 16
 * ```
 */
export function makeEstimator(config: Partial<EstimatorConfig> = {}): GradientEstimator {
  const cfg = { ...DEFAULT_ESTIMATOR, ...config };
  if (cfg.kind === "tbptt") return makeTbptt(cfg);
  if (cfg.kind === "pes") return makePes(cfg);
  throw new Error(`unknown gradient estimator '${cfg.kind}'; choose 'tbptt' or 'pes'`);
}

/** The two random streams of one unroll: minibatches/noise and optimizer init. */
function unrollRngs(seed: number): { batch: Rng; opt: Rng } {
  const root = new Rng(seed);
  return { batch: root.fork("batches"), opt: root.fork("optimizer-init") };
}

/**
 * The random streams (minibatches/noise, optimizer init) of instance `b` of a batched unroll with `seed`;
 * instance 0's are those of an unbatched unroll with the same seed.
 *
 * @example
 * ```ts
 * const { batch, opt } = instanceRngs(seed, 1); // streams of the second instance
 * ```
 */
export function instanceRngs(seed: number, b: number): { batch: Rng; opt: Rng } {
  if (b === 0) return unrollRngs(seed);
  const root = new Rng(seed).fork(`instance/${b}`);
  return { batch: root.fork("batches"), opt: root.fork("optimizer-init") };
}

function cloneStart(start: UnrollCarry, optState: OptState | null): UnrollCarry {
  return { params: start.params.map((p) => p.clone()), optState, f0: start.f0 };
}

const STOP_RANK: Record<UnrollStop, number> = { length: 0, multiplier: 1, nonfinite: 2 };

function worstStop(stops: UnrollStop[]): UnrollStop {
  return stops.reduce((a, b) => (STOP_RANK[b] > STOP_RANK[a] ? b : a), "length" as UnrollStop);
}

function makeTbptt(cfg: EstimatorConfig): GradientEstimator {
  return {
    config: cfg,
    particles: 1,
    trajectoriesFor: (instances) => instances,
    initCarry(start, optStates) {
      const starts = Array.isArray(start) ? start : [start];
      if (optStates.length !== starts.length) {
        throw new Error(
          `TBPTT carries ${starts.length} trajectories (one per instance), got ${optStates.length} states`,
        );
      }
      return { trajectories: starts.map((s, b) => cloneStart(s, optStates[b])), pesAccum: null };
    },
    estimate(learned, metaParams, problem, carry, length, seed, unrollCfg) {
      const batch = asBatch(problem);
      if (carry.trajectories.length !== batch.size) {
        throw new Error(
          `TBPTT estimate: the carry has ${carry.trajectories.length} trajectories for ${batch.size} instances`,
        );
      }
      const names = Object.keys(metaParams).sort();
      const separate = cfg.clipPerInstance && batch.size > 1;
      // With per-instance cleaning every instance differentiates its own copy of the meta-parameters.
      const copies = separate ? batch.size : 1;
      const xs = Array.from({ length: copies }, () => names.map((n) => metaParams[n])).map((list) =>
        separate ? list.map((t) => t.clone()) : list
      );
      const rngs = Array.from({ length: batch.size }, (_, b) => instanceRngs(seed, b));
      const holder: { result?: BatchUnrollResult } = {};
      // allowNoGradients: a meta-param may not influence this unroll (e.g. a 1-step unroll whose only update
      // never reaches an objective); its gradient is then 0.
      const { value, grads } = tf.engine().gradients(
        () => {
          const maps = xs.map((list) => {
            const mp: Record<string, tf.Tensor> = {};
            names.forEach((n, i) => (mp[n] = list[i]));
            return mp;
          });
          holder.result = unrollBatch(
            rngs.map((r, b) => learned.optimizer(maps[separate ? b : 0], { rng: r.opt })),
            batch,
            carry.trajectories,
            length,
            rngs.map((r) => r.batch),
            unrollCfg,
            { taped: true, sharedUpdate: !separate },
          );
          return holder.result.loss;
        },
        xs.flat(),
        undefined,
        true,
      );
      const loss = value.dataSync()[0];
      value.dispose();
      const cleaned = xs.map((list, c) => {
        const raw: Record<string, tf.Tensor> = {};
        names.forEach((n, i) => {
          const g = grads[c * names.length + i];
          // The batch loss is the mean over instances: instance c's own meta-gradient is B times its share.
          raw[n] = g ? (separate ? tf.mul(g, batch.size) : g) : tf.zerosLike(list[i]);
        });
        const out = cleanGradients(raw, cfg.clip, cfg.globalNormClip);
        tf.dispose(Object.values(raw));
        return out;
      });
      if (separate) tf.dispose([...grads.filter((g) => g), ...xs.flat()]);
      const clean = cleaned.length === 1 ? cleaned[0] : meanOf(cleaned);
      const r = holder.result as BatchUnrollResult;
      return {
        loss,
        grads: clean,
        carry: { trajectories: r.carries, pesAccum: null },
        innerSteps: r.steps * batch.size,
        steps: r.steps,
        stop: r.stop,
      };
    },
  };
}

const PES_SINGLE =
  "the PES estimator runs one problem instance per slot; use meta-train.instances=1 with PES " +
  "(or the tbptt estimator for batched instances)";

/** A single problem as a batch of one. */
function asBatch(problem: Problem | BatchedProblem): BatchedProblem {
  return isBatchedProblem(problem) ? problem : stackInstances([problem]);
}

function makePes(cfg: EstimatorConfig): GradientEstimator {
  if (!Number.isInteger(cfg.pesPairs) || cfg.pesPairs < 1) {
    throw new Error(`PES needs pesPairs >= 1 (got ${cfg.pesPairs})`);
  }
  if (!(cfg.pesSigma > 0)) throw new Error(`PES needs pesSigma > 0 (got ${cfg.pesSigma})`);
  const pairs = cfg.pesPairs;
  return {
    config: cfg,
    particles: 2 * pairs,
    trajectoriesFor(instances) {
      if (instances !== 1) throw new Error(PES_SINGLE);
      return 2 * pairs;
    },
    initCarry(starts, optStates, metaParams) {
      if (Array.isArray(starts) && starts.length !== 1) throw new Error(PES_SINGLE);
      const start = Array.isArray(starts) ? starts[0] : starts;
      if (optStates.length !== 2 * pairs) {
        throw new Error(
          `PES with ${pairs} pairs carries ${2 * pairs} trajectories, got ${optStates.length} states`,
        );
      }
      const zeros = () => {
        const r: Record<string, tf.Tensor> = {};
        for (const n of Object.keys(metaParams)) r[n] = tf.zerosLike(metaParams[n]);
        return r;
      };
      return {
        trajectories: optStates.map((s) => cloneStart(start, s)),
        pesAccum: Array.from({ length: pairs }, zeros),
      };
    },
    estimate(learned, metaParams, problemOrBatch, carry, length, seed, unrollCfg) {
      const batch = asBatch(problemOrBatch);
      if (batch.size !== 1) throw new Error(PES_SINGLE);
      if (!carry.pesAccum || carry.trajectories.length !== 2 * pairs) {
        throw new Error(
          "PES estimate got a carry that was not made by this PES estimator (wrong particle count)",
        );
      }
      const names = Object.keys(metaParams).sort();
      const noise = new Rng(seed).fork("pes-perturbations");
      const trajectories: UnrollCarry[] = [];
      const accum: Record<string, tf.Tensor>[] = [];
      const losses: number[] = [];
      const stops: UnrollStop[] = [];
      let innerSteps = 0, steps = 0;
      for (let j = 0; j < pairs; j++) {
        const eps: Record<string, tf.Tensor> = {};
        for (const n of names) {
          const m = metaParams[n];
          eps[n] = tf.tensor(noise.normalArray(m.size, 0, cfg.pesSigma), m.shape, "float32");
        }
        for (const sign of [1, -1]) {
          const i = 2 * j + (sign > 0 ? 0 : 1);
          const rngs = unrollRngs(seed);
          const out = scoped(() => {
            const mp: Record<string, tf.Tensor> = {};
            for (const n of names) mp[n] = tf.add(metaParams[n], tf.mul(sign, eps[n]));
            const r = unrollBatch(
              [learned.optimizer(mp, { rng: rngs.opt })],
              batch,
              [carry.trajectories[i]],
              length,
              [rngs.batch],
              unrollCfg,
              { taped: false },
            );
            return { r: { carry: r.carries[0], stop: r.stop, steps: r.steps }, loss: r.loss.dataSync()[0] };
          });
          trajectories.push(out.r.carry);
          losses.push(out.loss);
          stops.push(out.r.stop);
          innerSteps += out.r.steps;
          if (i === 0) steps = out.r.steps;
        }
        const acc: Record<string, tf.Tensor> = {};
        for (const n of names) acc[n] = tf.add(carry.pesAccum[j][n], eps[n]);
        accum.push(acc);
        tf.dispose(Object.values(eps));
      }
      // g = Σ_j ξ_j (L_j⁺ − L_j⁻) / (2 σ² · pairs); pairs with a non-finite difference contribute nothing.
      const raw = tf.tidy(() => {
        const rec: Record<string, tf.Tensor> = {};
        for (const n of names) {
          let g: tf.Tensor = tf.zerosLike(metaParams[n]);
          for (let j = 0; j < pairs; j++) {
            const d = losses[2 * j] - losses[2 * j + 1];
            if (!Number.isFinite(d)) continue;
            g = tf.add(g, tf.mul(accum[j][n], d / (2 * cfg.pesSigma * cfg.pesSigma * pairs)));
          }
          rec[n] = g;
        }
        return rec;
      });
      const clean = cleanGradients(raw, cfg.clip, cfg.globalNormClip);
      tf.dispose(Object.values(raw));
      const finite = losses.filter(Number.isFinite);
      return {
        loss: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN,
        grads: clean,
        carry: { trajectories, pesAccum: accum },
        innerSteps,
        steps,
        stop: worstStop(stops),
      };
    },
  };
}
