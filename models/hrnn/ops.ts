/**
 * Small differentiable tfjs building blocks used by the hierarchical RNN optimizer.
 *
 * - {@link matMul}: a matrix product whose gradient avoids the transposed-operand matmul paths, which are about
 *   10× slower than plain ones on the wasm backend (measured: [20,1e5]·[1e5,22]ᵀ 79 ms with `transposeB`, 20 ms
 *   with an explicit transpose).
 * - {@link matMulBias}: the same with a fused rank-1 bias.
 * - {@link straightThroughClip}: clip in the forward pass, identity in the backward pass (§4.7 step 10).
 * - {@link tanhFast}: tanh as 2σ(2x) − 1; the wasm `Tanh` kernel is ~10× slower than `Sigmoid`.
 * - {@link asinhLog}: asinh evaluated as ln(x + √(1 + x²)) exactly like the paper's code (design §2.4).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

type Fn2 = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
type CustomFn = Parameters<typeof tf.customGrad>[0];

const fastMatMul: Fn2 = tf.customGrad(
  ((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as tf.Tensor2D[];
        return [
          tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)),
          tf.matMul(tf.transpose(sa), dy as tf.Tensor2D),
        ];
      },
    };
  }) as unknown as CustomFn,
) as unknown as Fn2;

/**
 * Below this many elements in the left operand, {@link matMul} and {@link matMulBias} use the built-in tfjs ops
 * (`matMulBias` as a plain matMul + add: `tf.fused.matMul` adds three reshapes around the kernel): for small
 * matrices the transposed-operand slow path costs nothing, and a `tf.customGrad` wrapper costs more dispatch
 * (a nested scope and extra tape bookkeeping) than the product itself.
 */
export const CUSTOM_GRAD_MIN_ELEMENTS = 1 << 16;

/**
 * a · b for 2-D tensors, differentiable w.r.t. both, with a backward pass made of explicit transposes and
 * plain matmuls (fast on wasm) for large `a`; small products use `tf.matMul` directly. Same values as
 * `tf.matMul(a, b)`.
 *
 * @example
 * ```ts
 * const y = matMul(features, weights); // [n, F]·[F, N0] → [n, N0]
 * ```
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.size < CUSTOM_GRAD_MIN_ELEMENTS) return tf.matMul(a, b);
  return fastMatMul(a, b) as tf.Tensor2D;
}

type Fn3 = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) => tf.Tensor;

const fastMatMulBias: Fn3 = tf.customGrad(
  ((a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias }),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        return [tf.matMul(d, tf.transpose(sb)), tf.matMul(tf.transpose(sa), d), tf.sum(d, 0)];
      },
    };
  }) as unknown as CustomFn,
) as unknown as Fn3;

/**
 * a · b + bias (bias [m], broadcast over rows) as one fused kernel, with the fast backward pass of
 * {@link matMul}. On wasm the fused bias avoids a broadcast add over a [n, m] matrix, which is slow.
 *
 * @example
 * ```ts
 * const y = matMulBias(tf.ones([4, 3]), tf.ones([3, 2]), tf.tensor1d([1, -1])); // [[4, 2], ×4 rows]
 * ```
 */
export function matMulBias(a: tf.Tensor2D, b: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  if (a.size < CUSTOM_GRAD_MIN_ELEMENTS) return tf.add(tf.matMul(a, b), bias);
  return fastMatMulBias(a, b, bias) as tf.Tensor2D;
}

/**
 * Clips `x` to [lo, hi] in the forward pass; the gradient passes through unchanged (straight-through), as the
 * reference does for the log learning rate.
 *
 * @example
 * ```ts
 * const logLr = straightThroughClip(tf.tensor1d([-40, 0, 40]), -33, 33); // [-33, 0, 33], gradient 1 everywhere
 * ```
 */
export function straightThroughClip<T extends tf.Tensor>(x: T, lo: number, hi: number): T {
  const f = tf.customGrad(
    ((t: tf.Tensor) => ({
      value: tf.clipByValue(t, lo, hi),
      gradFunc: (dy: tf.Tensor) => dy,
    })) as unknown as CustomFn,
  );
  return f(x) as T;
}

/**
 * tanh(x) computed as 2σ(2x) − 1 (equal up to float32 rounding; much faster on wasm).
 *
 * @example
 * ```ts
 * tanhFast(tf.tensor1d([0, 1])); // ≈ [0, 0.7616]
 * ```
 */
export function tanhFast<T extends tf.Tensor>(x: T): T {
  return tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2)), 2), 1) as T;
}

/**
 * asinh(x) as ln(x + √(1 + x²)), the reference's formula (§2.4).
 *
 * @example
 * ```ts
 * asinhLog(tf.tensor1d([0, 1])); // ≈ [0, 0.8814]
 * ```
 */
export function asinhLog<T extends tf.Tensor>(x: T): T {
  return tf.log(tf.add(x, tf.sqrt(tf.add(tf.square(x), 1)))) as T;
}

/**
 * Logit σ⁻¹(p) of a probability, as a number.
 *
 * @example
 * ```ts
 * logit(0.93); // ≈ 2.587, the constant RMS decay logit
 * ```
 */
export function logit(p: number): number {
  return Math.log(p / (1 - p));
}
