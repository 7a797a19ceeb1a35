/**
 * Whether the tests that read Fashion-MNIST can run: the Debian package `dataset-fashion-mnist` is installed
 * and `LOPT_FASHION_MNIST_DIR` does not point the loader elsewhere. Those tests are ignored otherwise.
 *
 * @example
 * ```ts
 * Deno.test({ name: "needs Fashion-MNIST", ignore: !FASHION_MNIST_AVAILABLE, fn: () => {} });
 * ```
 *
 * @module
 */
import { FASHION_MNIST_SYSTEM_DIR } from "../../../tasks/data/mnist.ts";

function available(): boolean {
  if (Deno.env.get("LOPT_FASHION_MNIST_DIR") !== undefined) return false;
  try {
    return ["train", "t10k"].every((s) =>
      Deno.statSync(`${FASHION_MNIST_SYSTEM_DIR}/${s}-labels-idx1-ubyte.gz`).isFile
    );
  } catch {
    return false;
  }
}

/** True when Fashion-MNIST is installed where the loader looks by default. */
export const FASHION_MNIST_AVAILABLE: boolean = available();
