/**
 * Gradient-tape helpers of the taped unroll: a tidy scope with an arbitrary result, a stop-gradient, nested
 * gradients on a fresh tape, and backprop saves as aliases instead of copies. The last two reach into the
 * engine state of tfjs-core 4.22 and fall back to plain calls when it is not found.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Runs `fn` in a `tf.tidy` scope and returns its (arbitrary) result: every tensor it creates is freed afterwards
 * unless `tf.keep`-ed (as `unroll`'s carry is), so return numbers and kept tensors only.
 *
 * @example
 * ```ts
 * const loss = scoped(() => problem.loss(params).dataSync()[0]);
 * ```
 */
export function scoped<T>(fn: () => T): T {
  let out: T | undefined;
  tf.tidy(() => {
    out = fn();
  });
  return out as T;
}

/**
 * A copy of `t` with no autodiff connection to anything (a stop-gradient).
 *
 * @example
 * ```ts
 * const constant = detach(params[0]);
 * ```
 */
export function detach(t: tf.Tensor): tf.Tensor {
  return tf.tensor(t.dataSync(), t.shape, t.dtype);
}

interface TapeNode {
  saved?: tf.Tensor[];
}
interface EngineTapeState {
  activeTape: TapeNode[] | null;
  gradientDepth: number;
}

/**
 * Runs `fn` (which computes a nested gradient) on a fresh gradient tape, then appends the nodes it recorded to
 * the enclosing tape (`append`, for second derivatives) or drops them (their saved tensors are freed; used
 * when the result is detached anyway).
 *
 * Why: tfjs nested gradients share one active tape, and each inner `tf.grads` call scans the whole tape
 * recorded so far, which makes a T-step unroll cost O(T²) in tape scans. On a fresh tape each inner call scans
 * only its own nodes; appending afterwards keeps the outer tape in execution order, so the outer backward
 * pass is unchanged. Relies on the engine state of tfjs-core 4.22 (`activeTape`, `gradientDepth`); when that is
 * not found it just runs `fn`.
 *
 * @example
 * ```ts
 * const grads = onFreshTape(() => problem.gradients(params, batch), true);
 * ```
 */
export function onFreshTape<T>(fn: () => T, append: boolean): T {
  const state = (tf.engine() as unknown as { state?: EngineTapeState }).state;
  if (!state || !Array.isArray(state.activeTape) || !(state.gradientDepth > 0)) return fn();
  const outer = state.activeTape;
  state.activeTape = [];
  let inner: TapeNode[] = [];
  try {
    return fn();
  } finally {
    inner = state.activeTape ?? [];
    state.activeTape = outer;
    if (append) { for (const n of inner) outer.push(n); }
    else for (const n of inner) for (const t of n.saved ?? []) t.dispose();
  }
}

interface EngineSaveHook {
  saveTensorsForBackwardMode?: (tensors: tf.Tensor[]) => tf.Tensor[];
  incRef?: (t: tf.Tensor, backend: unknown) => void;
  backend?: unknown;
}

type TensorCtor = new (shape: number[], dtype: tf.DataType, dataId: object, id: number) => tf.Tensor;

/**
 * Runs `fn` with the engine saving tensors for backprop as *aliases* instead of copies.
 *
 * tfjs 4.22 saves every input/output a gradient needs with `keep(clone(t))`: on wasm the clone is an
 * `Identity` kernel that copies the data, plus two tape nodes (the kernel's and the clone's), and the outer
 * backward pass of second derivatives runs a `Cast` through every such clone. In a taped unroll that is more
 * than half of all tape nodes. An alias is a new Tensor object with the same id and the same data (the
 * backend reference count is raised, exactly what an Identity without a copy would do): it survives the
 * caller disposing the original and is freed by the engine after the backward pass like a clone, and since it
 * carries the original's id, ops that the inner backward pass builds from it connect to the original on the
 * outer tape directly (the clone's tape node only forwarded the gradient unchanged). The values and
 * gradients are identical. Falls back to `fn()` when the engine internals are not found.
 *
 * @example
 * ```ts
 * const { value, grads } = withAliasedSaves(() => tf.variableGrads(() => metaLossOf(metaParams)));
 * ```
 */
export function withAliasedSaves<T>(fn: () => T): T {
  const engine = tf.engine() as unknown as EngineSaveHook;
  const original = engine.saveTensorsForBackwardMode;
  if (
    typeof original !== "function" || typeof engine.incRef !== "function" ||
    Object.hasOwn(engine, "saveTensorsForBackwardMode")
  ) {
    return fn();
  }
  const Ctor = tf.Tensor as unknown as TensorCtor;
  engine.saveTensorsForBackwardMode = (tensors: tf.Tensor[]) =>
    tensors.map((t) => {
      const alias = new Ctor(t.shape, t.dtype, t.dataId, t.id);
      engine.incRef!(alias, engine.backend);
      return tf.keep(alias);
    });
  try {
    return fn();
  } finally {
    delete engine.saveTensorsForBackwardMode;
  }
}
