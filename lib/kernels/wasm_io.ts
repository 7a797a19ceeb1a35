/**
 * Shared plumbing for the TypeScript kernels that lopt registers on the tfjs `wasm` backend: reading inputs
 * from and writing outputs to the wasm heap, and the NHWC convolution geometry the kernels loop over.
 *
 * Heap views are only valid until the next allocation (a `malloc` may grow the wasm memory and detach the
 * old buffer), so every kernel allocates its output FIRST and takes its input views afterwards.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

/** The tensor handle kernels receive and return (`tf.TensorInfo`). */
export type TensorInfo = tf.TensorInfo;

/**
 * Allocates a zero-filled output tensor on the wasm heap. Returns the handle to give back to the engine;
 * take the view with {@link heapView} after all other allocations of the kernel are done.
 *
 * @example
 * ```ts
 * const out = allocOutput(wasmBackend(args), [5, 5, 8, 8]); // zero-filled float32
 * ```
 */
export function allocOutput(
  backend: BackendWasm,
  shape: number[],
  dtype: tf.DataType = "float32",
): TensorInfo {
  const out = backend.makeOutput(shape, dtype);
  const view = backend.typedArrayFromHeap(out);
  view.fill(0);
  return out;
}

/**
 * A live view of a tensor's data on the wasm heap (float32 → Float32Array, int32 → Int32Array).
 *
 * @example
 * ```ts
 * const out = allocOutput(backend, x.shape);
 * const outView = heapView(backend, out); // allocate first, then take the views
 * ```
 */
export function heapView(backend: BackendWasm, t: TensorInfo): tf.TypedArray {
  return backend.typedArrayFromHeap(t);
}

/**
 * The tensor's data as a Float32Array: a live heap view for float32 tensors, a converted copy otherwise.
 *
 * @example
 * ```ts
 * const xs = heapF32(backend, input(args, "x")); // an int32 x comes back converted
 * ```
 */
export function heapF32(backend: BackendWasm, t: TensorInfo): Float32Array {
  if (t.dtype === "float32") return backend.typedArrayFromHeap(t) as Float32Array;
  return Float32Array.from(backend.readSync(t.dataId) as ArrayLike<number>);
}

/**
 * The arguments tfjs passes to a kernel function: named input tensors, the backend running the kernel (the
 * wasm backend for these kernels) and the kernel attributes.
 *
 * @example
 * ```ts
 * const kernel = (args: KernelArgs) => input(args, "x");
 * ```
 */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * The named input of a kernel call; throws when tfjs did not pass it.
 *
 * @example
 * ```ts
 * const dy = input(args, "dy");
 * ```
 */
export function input(args: KernelArgs, name: string): TensorInfo {
  const t = args.inputs[name];
  if (t === undefined) throw new Error(`kernel input '${name}' is missing`);
  return t;
}

/**
 * The wasm backend a kernel runs on.
 *
 * @example
 * ```ts
 * const backend = wasmBackend(args);
 * ```
 */
export function wasmBackend(args: KernelArgs): BackendWasm {
  return args.backend as BackendWasm;
}

/**
 * Throws the message users see when a kernel is given a layout it does not support.
 *
 * @example
 * ```ts
 * requireNHWC("Conv2DBackpropFilter", "NCHW"); // throws: the kernel supports only NHWC (channels-last) data
 * ```
 */
export function requireNHWC(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== "NHWC" && dataFormat !== "channelsLast") {
    throw new Error(
      `lopt's wasm ${kernel} kernel supports only NHWC (channels-last) data, got '${dataFormat}'. ` +
        "Use dataFormat 'NHWC', or run on the cpu backend (--backend cpu).",
    );
  }
}

/** Sizes, strides, dilations and padding of one NHWC 2-D convolution, flattened to numbers. */
export interface ConvGeometry {
  /** Batch size. */
  batch: number;
  /** Input height. */
  inH: number;
  /** Input width. */
  inW: number;
  /** Input channels. */
  inC: number;
  /** Output height. */
  outH: number;
  /** Output width. */
  outW: number;
  /** Output channels (`inC * channelMultiplier` for depthwise convolutions). */
  outC: number;
  /** Filter height (taps, not dilated extent). */
  fH: number;
  /** Filter width (taps, not dilated extent). */
  fW: number;
  /** Vertical stride. */
  sH: number;
  /** Horizontal stride. */
  sW: number;
  /** Vertical dilation. */
  dH: number;
  /** Horizontal dilation. */
  dW: number;
  /** Rows of implicit zero padding above the input. */
  padTop: number;
  /** Columns of implicit zero padding left of the input. */
  padLeft: number;
}

/**
 * Converts tfjs' `Conv2DInfo` (from `backend_util.computeConv2DInfo`) to a {@link ConvGeometry}.
 *
 * @example
 * ```ts
 * const info = tf.backend_util.computeConv2DInfo([64, 28, 28, 8], [5, 5, 8, 8], 1, 1, "same");
 * geometryOf(info).padTop; // 2
 * ```
 */
export function geometryOf(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  if (info.dataFormat !== "channelsLast") requireNHWC("convolution", info.dataFormat);
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    fH: info.filterHeight,
    fW: info.filterWidth,
    sH: info.strideHeight,
    sW: info.strideWidth,
    dH: info.dilationHeight,
    dW: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * The output positions `[lo, hi)` whose filter tap `k` lands inside the input, i.e. those `o` with
 * `0 <= o * stride + k * dilation - pad < inSize`, clipped to `[0, outSize)`.
 *
 * @example
 * ```ts
 * validRange(0, 1, 1, 2, 28, 28); // [2, 28]: tap 0 of a 5-tap SAME filter misses the input for outputs 0 and 1
 * ```
 */
export function validRange(
  k: number,
  dilation: number,
  stride: number,
  pad: number,
  inSize: number,
  outSize: number,
): [number, number] {
  const shift = k * dilation - pad;
  const lo = Math.max(0, Math.ceil(-shift / stride));
  const hi = Math.min(outSize, Math.floor((inSize - 1 - shift) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

/**
 * Number of output rows processed together so that the `dy` rows of one tile (and the input rows they read)
 * stay in the L2 cache while every filter tap sweeps over them.
 *
 * @example
 * ```ts
 * rowTile(28, 8); // 73
 * ```
 */
export function rowTile(outW: number, outC: number): number {
  const TILE_FLOATS = 16384; // 64 KiB of dy per tile
  return Math.max(1, Math.floor(TILE_FLOATS / Math.max(1, outW * outC)));
}

/**
 * Runs a convolution-gradient loop on the wasm heap: allocates the output of `outShape` first (allocation may
 * grow the heap), then takes the views of the two inputs and calls `run(a, b, out, geometry)`.
 *
 * @example
 * ```ts
 * return convGradient(backend, info, [...info.filterShape], x, dy, conv2dBackpropFilterNHWC);
 * ```
 */
export function convGradient(
  backend: BackendWasm,
  info: tf.backend_util.Conv2DInfo,
  outShape: number[],
  a: TensorInfo,
  b: TensorInfo,
  run: (a: Float32Array, b: Float32Array, out: Float32Array, g: ConvGeometry) => void,
): TensorInfo {
  const out = allocOutput(backend, outShape);
  const view = heapF32(backend, out);
  run(heapF32(backend, a), heapF32(backend, b), view, geometryOf(info));
  return out;
}
