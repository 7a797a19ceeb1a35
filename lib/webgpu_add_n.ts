/**
 * A correct `AddN` for the `webgpu` backend when it sums more tensors than a shader may bind.
 *
 * tfjs-backend-webgpu 4.22 runs `tf.addN` as one shader with one storage buffer per input plus the output.
 * An adapter allows `maxStorageBuffersPerShaderStage` of them (8 on many adapters, llvmpipe included); with
 * more inputs the shader silently reads only the first ones: on llvmpipe `tf.addN` of 8 or more tensors
 * returns the sum of the first 7 (measured, tests/lib/webgpu_add_n_test.ts). tfjs splits `concat` the same
 * way for the same limit but not `AddN`, so this replaces the backend's kernel with one that sums at most
 * `limit − 1` inputs per dispatch (tfjs's own kernel on each chunk) and then sums the partial sums.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * await tf.setBackend("webgpu");
 * installChunkedAddN(8); // what `initBackend("webgpu")` does with the device's limit
 * tf.addN(Array.from({ length: 20 }, () => tf.scalar(1))); // 20
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * The most inputs one `AddN` dispatch takes when the device binds `storageBufferLimit` storage buffers.
 *
 * @example
 * ```ts
 * addNChunkSize(8); // 7
 * ```
 */
export function addNChunkSize(storageBufferLimit: number): number {
  if (!Number.isInteger(storageBufferLimit) || storageBufferLimit < 3) {
    throw new Error(`a WebGPU device binds at least 3 storage buffers per shader, got ${storageBufferLimit}`);
  }
  return storageBufferLimit - 1;
}

let installedFor: number | null = null;

/**
 * Replaces the `webgpu` backend's `AddN` kernel by one that sums at most `addNChunkSize(storageBufferLimit)`
 * tensors per dispatch. Idempotent for one limit; call after the `webgpu` backend is registered.
 *
 * @example
 * ```ts
 * installChunkedAddN(8);
 * ```
 */
export function installChunkedAddN(storageBufferLimit: number): void {
  const chunk = addNChunkSize(storageBufferLimit);
  if (installedFor === chunk) return;
  const original = installedFor === null ? tf.getKernel("AddN", "webgpu") : originalKernel;
  if (!original) throw new Error("the webgpu backend has no AddN kernel to wrap (is it registered?)");
  originalKernel = original;
  const sumOf = original.kernelFunc;
  const chunked: tf.KernelFunc = (args) => {
    // tfjs types kernel inputs as a name map; AddN receives (and passes on) an array.
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    if (inputs.length <= chunk) return sumOf(args);
    const backend = args.backend as { disposeData(dataId: unknown): void };
    const sum = (ts: tf.TensorInfo[]) => sumOf({ ...args, inputs: ts as unknown as tf.NamedTensorInfoMap });
    // Rounds of partial sums of at most `chunk` inputs; a partial sum is freed once the next round used it.
    let level = inputs.map((t) => ({ t, own: false }));
    while (level.length > chunk) {
      const next: { t: tf.TensorInfo; own: boolean }[] = [];
      for (let i = 0; i < level.length; i += chunk) {
        const part = level.slice(i, i + chunk);
        if (part.length === 1) {
          next.push(part[0]);
          continue;
        }
        next.push({ t: sum(part.map((p) => p.t)) as tf.TensorInfo, own: true });
        for (const p of part) if (p.own) backend.disposeData(p.t.dataId);
      }
      level = next;
    }
    const out = sum(level.map((p) => p.t));
    for (const p of level) if (p.own) backend.disposeData(p.t.dataId);
    return out;
  };
  tf.unregisterKernel("AddN", "webgpu");
  tf.registerKernel({ ...original, kernelFunc: chunked });
  installedFor = chunk;
}

let originalKernel: tf.KernelConfig | undefined;
