/**
 * Adapter that turns any lopt {@link Optimizer} (baselines now, the learned HRNN later) into a `tf.Optimizer`, so
 * it can be passed to `model.compile({optimizer})` and used by `model.fit`, or by `optimizer.minimize(f)`.
 *
 * - State is kept per set of variables (keyed by the sorted variable names), so one adapter can serve several
 *   disjoint variable lists. Within a set, the order is the order the variables were first seen in, and later
 *   calls are reordered to it (a `NamedTensorMap` whose key order changes cannot permute the state).
 * - Variables whose gradient is null are left out of the step (as tfjs' own optimizers skip them); note that
 *   this changes the key, i.e. that subset gets its own state.
 * - Each step assigns `variable ← variable + update`. For optimizers with attention the variables therefore hold
 *   the attended point (where the next gradient is taken, as the paper's `apply_gradients` does) and
 *   {@link LoptTfOptimizer.withEvalParams} / {@link LoptTfOptimizer.assignEvalParams} swap in the true
 *   parameters for evaluation.
 * - Replaced state is disposed after every step; `dispose()` frees everything.
 * - `getWeights` / `setWeights` save and restore the state (as named tensors, paths taken from `init`'s tree),
 *   so `model.save(..., {includeOptimizer: true})` round-trips. `getConfig` / `fromConfig` rebuild baselines
 *   (via {@link makeBaseline}); other optimizers must be passed to {@link toTfOptimizer} again.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { makeBaseline } from "./baselines.ts";
import { disposeReplaced } from "../../lib/state_tree.ts";
import { treeLeaves, treeTensors } from "../../lib/state_tree.ts";
import type { Optimizer, OptState } from "../../lib/optimizer.ts";

interface Slot {
  /** Variable names in the optimizer's parameter order. */
  names: string[];
  state: OptState;
}

type NamedTensorMap = { [name: string]: tf.Tensor };
type NamedTensor = { name: string; tensor: tf.Tensor };

const KEY_SEP = "\u0000";
const WEIGHT_PREFIX = "lopt";

/**
 * A `tf.Optimizer` that delegates every step to a pure lopt {@link Optimizer}.
 *
 * @example
 * ```ts
 * const opt = new LoptTfOptimizer(adam({ learningRate: 1e-3 })); // or toTfOptimizer(adam(...))
 * model.compile({ optimizer: opt, loss: "meanSquaredError" });
 * ```
 */
export class LoptTfOptimizer extends tf.Optimizer {
  /** Name under which the class is registered for (de)serialisation. */
  static get className(): string {
    return "LoptOptimizer";
  }

  /** The wrapped pure optimizer. */
  readonly inner: Optimizer;
  readonly #slots = new Map<string, Slot>();
  /** Restored weights waiting for the first step on a matching variable set: key → (path → tensor). */
  #pending = new Map<string, { names: string[]; tensors: Map<string, tf.Tensor> }>();

  /** Wraps `inner`; prefer {@link toTfOptimizer}. */
  constructor(inner: Optimizer) {
    super();
    this.inner = inner;
  }

  /** Applies one step of the wrapped optimizer to the named variables (called by `minimize` / `model.fit`). */
  override applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    const entries: NamedTensor[] = Array.isArray(variableGradients)
      ? variableGradients.filter((e) => e.tensor != null)
      : Object.keys(variableGradients).filter((n) => variableGradients[n] != null)
        .map((name) => ({ name, tensor: variableGradients[name] }));
    if (entries.length === 0) {
      this.incrementIterations();
      return;
    }
    const byName = new Map(entries.map((e) => [e.name, e.tensor]));
    const key = [...byName.keys()].sort().join(KEY_SEP);
    let slot = this.#slots.get(key);
    const names = slot ? slot.names : [...byName.keys()];
    const vars = names.map((n) => {
      const v = tf.engine().registeredVariables[n];
      if (v === undefined) {
        throw new Error(`LoptTfOptimizer: no registered variable named '${n}' (was it disposed?).`);
      }
      return v;
    });
    const grads = names.map((n) => byName.get(n)!);
    // Snapshots of the variables: the optimizer may keep them in its state, and `assign` must not change them.
    const params = vars.map((v) => tf.keep(tf.clone(v)));
    if (!slot) {
      slot = { names, state: this.#initState(key, names, params) };
      this.#slots.set(key, slot);
    }
    const old = slot.state;
    const { updates, state } = tf.tidy(() => {
      const r = this.inner.update(grads, old, params);
      return { updates: r.updates, state: r.state };
    });
    treeTensors(state).forEach((t) => tf.keep(t));
    tf.tidy(() => vars.forEach((v, i) => v.assign(tf.add(params[i], updates[i]))));
    disposeReplaced([old, params, updates], state);
    slot.state = state;
    this.incrementIterations();
  }

  /**
   * Runs `fn` with every variable temporarily set to the optimizer's evaluation point (`evalParams`, the true
   * parameters of an optimizer with attention), then restores the attended point. Without `evalParams` it just
   * runs `fn`.
   */
  async withEvalParams<T>(fn: () => T | Promise<T>): Promise<T> {
    if (!this.inner.evalParams) return await fn();
    const saved = [...this.#slots.values()].flatMap((s) =>
      s.names.map((n) => {
        const v = tf.engine().registeredVariables[n];
        return { v, value: tf.keep(tf.clone(v)) };
      })
    );
    this.assignEvalParams();
    try {
      return await fn();
    } finally {
      for (const { v, value } of saved) {
        v.assign(value);
        value.dispose();
      }
    }
  }

  /**
   * Sets every variable to the optimizer's evaluation point for good (e.g. at the end of training). No-op for
   * optimizers without `evalParams`. Training on afterwards would take the next gradient at the true point.
   */
  assignEvalParams(): void {
    const evalParams = this.inner.evalParams?.bind(this.inner);
    if (!evalParams) return;
    for (const slot of this.#slots.values()) {
      const vars = slot.names.map((n) => tf.engine().registeredVariables[n]);
      tf.tidy(() => {
        const params = vars.map((v) => tf.clone(v));
        const ev = evalParams(slot.state, params);
        vars.forEach((v, i) => v.assign(ev[i]));
      });
    }
  }

  /** Frees all optimizer state (and any restored weights not yet used). */
  override dispose(): void {
    for (const slot of this.#slots.values()) disposeReplaced(slot.state);
    this.#slots.clear();
    for (const p of this.#pending.values()) p.tensors.forEach((t) => t.dispose());
    this.#pending.clear();
    super.dispose();
  }

  /** The wrapped optimizer's name and, for baselines, its hyperparameters. */
  override getConfig(): tf.serialization.ConfigDict {
    const hparams = (this.inner as { hparams?: unknown }).hparams;
    const config: tf.serialization.ConfigDict = { name: this.inner.name };
    if (hparams !== undefined) config.hparams = JSON.parse(JSON.stringify(hparams));
    return config;
  }

  /** Rebuilds a baseline from {@link getConfig}'s output; other optimizers cannot be rebuilt from a config. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const name = String(config.name);
    if (config.hparams === undefined) {
      throw new Error(
        `Cannot rebuild lopt optimizer '${name}' from a config: only baselines can. ` +
          "Build the optimizer yourself and wrap it with toTfOptimizer().",
      );
    }
    const inner = makeBaseline(name, config.hparams as Record<string, unknown>);
    return new (cls as unknown as new (o: Optimizer) => T)(inner);
  }

  /**
   * The iteration count followed by every state tensor, named `lopt/<set>/<path>` where `<set>` is the index
   * of the variable set and `<path>` the tensor's path in the state tree; numbers in the state are saved as
   * scalars. The variable names of set i are saved in the name of a marker entry `lopt/<i>#names=<json>`.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    [...this.#slots.values()].forEach((slot, i) => {
      out.push({ name: `${WEIGHT_PREFIX}/${i}#names=${JSON.stringify(slot.names)}`, tensor: tf.scalar(0) });
      for (const [path, leaf] of treeLeaves(slot.state)) {
        out.push({
          name: `${WEIGHT_PREFIX}/${i}/${path}`,
          tensor: typeof leaf === "number" ? tf.scalar(leaf) : leaf,
        });
      }
    });
    return out;
  }

  /**
   * Restores weights saved by {@link getWeights}. The state of a variable set is rebuilt on its first step
   * from `init`'s tree with the saved leaves put in; a set is matched by its variable names, or, when the names
   * changed (a model loaded again gets new variable names), by position among sets with the same size.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    for (const p of this.#pending.values()) p.tensors.forEach((t) => t.dispose());
    this.#pending.clear();
    const sets = new Map<string, { names: string[]; tensors: Map<string, tf.Tensor> }>();
    for (const { name, tensor } of rest) {
      const m = /^lopt\/(\d+)(?:#names=(.*)|\/(.*))$/s.exec(name);
      if (!m) throw new Error(`LoptTfOptimizer.setWeights: unexpected weight name '${name}'.`);
      const set = sets.get(m[1]) ?? { names: [], tensors: new Map() };
      sets.set(m[1], set);
      if (m[2] !== undefined) set.names = JSON.parse(m[2]);
      else set.tensors.set(m[3], tf.keep(tf.clone(tensor)));
    }
    for (const set of sets.values()) this.#pending.set([...set.names].sort().join(KEY_SEP), set);
  }

  #initState(key: string, names: string[], params: tf.Tensor[]): OptState {
    const fresh = tf.tidy(() => this.inner.init(params));
    treeTensors(fresh).forEach((t) => tf.keep(t));
    let saved = this.#pending.get(key);
    let savedKey = key;
    if (!saved) {
      const sameSize = [...this.#pending.entries()].filter(([, s]) => s.names.length === names.length);
      if (sameSize.length > 0) [savedKey, saved] = sameSize[0];
    }
    if (!saved) return fresh;
    this.#pending.delete(savedKey);
    const used = new Set<string>();
    let restored: OptState;
    try {
      restored = fill(fresh, "", saved.tensors, used);
    } catch (e) {
      disposeReplaced([fresh, [...saved.tensors.values()]]);
      throw e;
    }
    disposeReplaced([fresh, [...saved.tensors.values()]], restored);
    const unused = [...saved.tensors.keys()].filter((p) => !used.has(p));
    if (unused.length > 0) {
      disposeReplaced(restored);
      throw new Error(
        `LoptTfOptimizer.setWeights: saved state entries ${unused.join(", ")} have no place in ` +
          `${this.inner.name}'s state; the weights were saved from a different optimizer.`,
      );
    }
    return restored;
  }
}

/** A copy of `template` with every leaf whose path is in `saved` replaced by the saved value (paths put in `used`). */
function fill(
  template: OptState,
  prefix: string,
  saved: Map<string, tf.Tensor>,
  used: Set<string>,
): OptState {
  const sep = prefix === "" ? "" : "/";
  if (template instanceof tf.Tensor || typeof template === "number") {
    const t = saved.get(prefix);
    if (t === undefined) return template;
    used.add(prefix);
    if (typeof template === "number") return t.dataSync()[0];
    if (!tf.util.arraysEqual(t.shape, template.shape)) {
      throw new Error(
        `LoptTfOptimizer.setWeights: saved state '${prefix}' has shape [${t.shape}] but the variables need ` +
          `[${template.shape}]; the weights belong to a different model.`,
      );
    }
    return t;
  }
  if (Array.isArray(template)) return template.map((v, i) => fill(v, `${prefix}${sep}${i}`, saved, used));
  return Object.fromEntries(
    Object.entries(template).map(([k, v]) => [k, fill(v, `${prefix}${sep}${k}`, saved, used)]),
  );
}

tf.serialization.registerClass(LoptTfOptimizer);

/**
 * Wraps a lopt {@link Optimizer} as a `tf.Optimizer` for `model.compile({optimizer})`, `model.fit` and
 * `minimize`. The caller should `dispose()` it when done (a model compiled with it does not own it).
 *
 * @example
 * ```ts
 * const { optimizer } = await loadPretrained();
 * const tfOpt = toTfOptimizer(optimizer);
 * model.compile({ optimizer: tfOpt, loss: "categoricalCrossentropy" });
 * await model.fit(xs, ys, { epochs: 5 });
 * tfOpt.dispose();
 * ```
 */
export function toTfOptimizer(opt: Optimizer): LoptTfOptimizer {
  return new LoptTfOptimizer(opt);
}
