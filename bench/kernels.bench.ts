/**
 * Benchmarks of lopt's wasm kernels (`lib/kernels/`): a small ConvNet train step on the wasm backend (with
 * our kernels) against the same step on the cpu backend, plus the convolution-gradient kernels alone.
 *
 * The inputs are random stand-ins of MNIST's shape (28x28x1, 10 classes), not MNIST images: the timing does
 * not depend on the pixel values.
 *
 * Exports plain definitions for the bench harness; `deno run -A bench/kernels.bench.ts` runs them directly
 * and prints the medians.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerWasmKernels } from "../lib/kernels/mod.ts";
import { Rng } from "../lib/rng.ts";
import { median } from "../lib/stats.ts";

/** One benchmark: `setup` runs before the timed calls of `fn`, `teardown` after them. */
export interface KernelBenchmark {
  /** Unique name, shown in reports. */
  name: string;
  /** Benchmarks in one group are compared with each other. */
  group: string;
  /** The timed body. */
  fn: () => void | Promise<void>;
  /** Untimed preparation (selects the backend, builds tensors). */
  setup?: () => void | Promise<void>;
  /** Untimed clean-up (disposes tensors). */
  teardown?: () => void | Promise<void>;
  /** Suggested number of timed calls. */
  iterations?: number;
}

async function useBackend(name: "wasm" | "cpu"): Promise<void> {
  tf.enableProdMode();
  registerWasmKernels();
  if (tf.getBackend() !== name) {
    if (!(await tf.setBackend(name))) throw new Error(`could not initialise the '${name}' backend`);
  }
  await tf.ready();
}

/**
 * A train step of the small ConvNet (batch 64, 28x28x1 stand-in input, conv 3x3x8 SAME + relu,
 * conv 5x5x8 SAME + relu, dense 10, softmax cross-entropy, SGD) on `backend`.
 *
 * @example
 * ```ts
 * const bench = convNetTrainStep("wasm", 10);
 * await bench.setup?.();
 * await bench.fn(); // one timed train step
 * ```
 */
export function convNetTrainStep(backend: "wasm" | "cpu", iterations: number): KernelBenchmark {
  let vars: tf.Variable[] = [];
  let x: tf.Tensor4D | null = null;
  let y: tf.Tensor2D | null = null;
  let opt: tf.Optimizer | null = null;
  return {
    name: `ConvNet train step, batch 64, 28x28x1 stand-in data (${backend})`,
    group: "convnet-train-step",
    iterations,
    setup: async () => {
      await useBackend(backend);
      const rng = new Rng(1);
      const v = (shape: number[], std: number) =>
        tf.variable(tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), 0, std), shape));
      vars = [
        v([3, 3, 1, 8], 0.3),
        v([8], 0),
        v([5, 5, 8, 8], 0.1),
        v([8], 0),
        v([28 * 28 * 8, 10], 0.01),
        v([10], 0),
      ];
      x = tf.tensor4d(rng.uniformArray(64 * 28 * 28, 0, 1), [64, 28, 28, 1]);
      const labels = Int32Array.from({ length: 64 }, () => rng.int(10));
      y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), 10).toFloat() as tf.Tensor2D);
      opt = tf.train.sgd(0.01);
    },
    fn: () => {
      const [w1, b1, w2, b2, wd, bd] = vars;
      const loss = opt!.minimize(
        () => {
          const h1 = tf.relu(tf.add(tf.conv2d(x!, w1 as tf.Tensor4D, 1, "same"), b1));
          const h2 = tf.relu(tf.add(tf.conv2d(h1 as tf.Tensor4D, w2 as tf.Tensor4D, 1, "same"), b2));
          const logits = tf.add(tf.matMul(tf.reshape(h2, [64, -1]), wd as tf.Tensor2D), bd);
          return tf.losses.softmaxCrossEntropy(y!, logits) as tf.Scalar;
        },
        true,
        vars,
      );
      loss!.dataSync();
      loss!.dispose();
    },
    teardown: () => {
      tf.dispose([...vars, x!, y!]);
      opt?.dispose();
      vars = [];
    },
  };
}

/**
 * One call of a convolution-gradient kernel on `backend`, at the sizes of the ConvNet's second layer.
 *
 * @example
 * ```ts
 * const bench = kernelCall("Conv2DBackpropFilter", "wasm", 20); // group "kernel-Conv2DBackpropFilter"
 * ```
 */
export function kernelCall(
  kernel:
    | "Conv2DBackpropFilter"
    | "DepthwiseConv2dNativeBackpropFilter"
    | "DepthwiseConv2dNativeBackpropInput",
  backend: "wasm" | "cpu",
  iterations: number,
): KernelBenchmark {
  let inputs: Record<string, tf.Tensor> = {};
  let attrs: Record<string, unknown> = {};
  return {
    name: `${kernel} 64x28x28x8, 5x5 filter, SAME (${backend})`,
    group: `kernel-${kernel}`,
    iterations,
    setup: async () => {
      await useBackend(backend);
      const rng = new Rng(2);
      const t = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
      const common = { strides: 1, pad: "same", dimRoundingMode: undefined };
      if (kernel === "Conv2DBackpropFilter") {
        inputs = { x: t([64, 28, 28, 8]), dy: t([64, 28, 28, 8]) };
        attrs = { ...common, dataFormat: "NHWC", filterShape: [5, 5, 8, 8] };
      } else if (kernel === "DepthwiseConv2dNativeBackpropFilter") {
        inputs = { x: t([64, 28, 28, 8]), dy: t([64, 28, 28, 8]) };
        attrs = { ...common, dilations: 1, filterShape: [5, 5, 8, 1] };
      } else {
        inputs = { dy: t([64, 28, 28, 8]), filter: t([5, 5, 8, 1]) };
        attrs = { ...common, dilations: 1, inputShape: [64, 28, 28, 8] };
      }
    },
    fn: () => {
      const out = tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
      out.dataSync();
      out.dispose();
    },
    teardown: () => {
      tf.dispose(Object.values(inputs));
      inputs = {};
    },
  };
}

/** All kernel benchmarks, wasm (with lopt's kernels) next to cpu. */
export const benchmarks: KernelBenchmark[] = [
  convNetTrainStep("wasm", 20),
  convNetTrainStep("cpu", 3),
  kernelCall("Conv2DBackpropFilter", "wasm", 20),
  kernelCall("Conv2DBackpropFilter", "cpu", 2),
  kernelCall("DepthwiseConv2dNativeBackpropFilter", "wasm", 20),
  kernelCall("DepthwiseConv2dNativeBackpropFilter", "cpu", 5),
  kernelCall("DepthwiseConv2dNativeBackpropInput", "wasm", 20),
  kernelCall("DepthwiseConv2dNativeBackpropInput", "cpu", 5),
];

if (import.meta.main) {
  for (const b of benchmarks) {
    await b.setup?.();
    await b.fn(); // warm-up (JIT, wasm memory growth)
    const times: number[] = [];
    for (let i = 0; i < (b.iterations ?? 10); i++) {
      const t0 = performance.now();
      await b.fn();
      times.push(performance.now() - t0);
    }
    await b.teardown?.();
    console.log(`${b.name}: median ${median(times).toFixed(1)} ms (n=${times.length})`);
  }
}
