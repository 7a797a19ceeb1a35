/**
 * The tfjs WebGPU program of the HRNN per-coordinate pass and of its vector-Jacobian product, and the kernel
 * function that runs either: the plumbing that `webgpu.ts` (forward) and `webgpu_vjp.ts` (backward) share.
 *
 * @example
 * ```ts
 * import { passKernel } from "./webgpu_program.ts";
 * tf.registerKernel({ kernelName: "MyHrnnPass", backendName: "webgpu", kernelFunc: passKernel(false) });
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { hrnnShaderSource, rowCounts, type ShaderConfig, sumsWidth, WORKGROUP } from "./webgpu_shader.ts";
import { hrnnVjpShaderSource, vjpSumsWidth } from "./webgpu_vjp_shader.ts";

/** The parts of tfjs-backend-webgpu's backend this module uses (4.22: `runWebGPUProgram`). */
interface WebGpuBackendLike {
  runWebGPUProgram(
    program: unknown,
    inputs: tf.TensorInfo[],
    dtype: "float32",
    uniforms?: { type: "int32" | "float32"; data: number[] }[],
  ): tf.TensorInfo;
}

/**
 * Attributes of one call of the pass or its VJP: the shader configuration and the tensor's coordinates.
 *
 * @example
 * ```ts
 * const attrs: PassAttrs = { k: 3, n0: 10, f: 9, flags: 1023, n: 70 };
 * ```
 */
export type PassAttrs = Record<keyof ShaderConfig | "n", number>;

/** A tfjs WebGPUProgram (tfjs-backend-webgpu 4.22 `webgpu_program.ts`) running the pass or its VJP. */
class HrnnCoordsProgram {
  variableNames = ["X", "H", "W", "V"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  uniforms = "n : i32,";
  readonly #config: ShaderConfig;
  readonly #vjp: boolean;

  /** The forward pass, or with `vjp` its vector-Jacobian product (one more input: `DY`). */
  constructor(config: ShaderConfig, n: number, vjp: boolean) {
    this.#config = config;
    this.#vjp = vjp;
    const groups = Math.ceil(n / WORKGROUP);
    const { inRows, outRows } = rowCounts(config);
    this.outputShape = vjp
      ? [inRows * n + n * config.n0 + groups * vjpSumsWidth(config)]
      : [n * config.n0 + outRows * n + groups * sumsWidth(config)];
    if (vjp) this.variableNames = ["X", "H", "W", "V", "DY"];
    this.dispatch = [groups, 1, 1];
    this.shaderKey = `lopt_hrnn${vjp ? "_vjp" : ""}_${config.k}_${config.n0}_${config.f}_${config.flags}`;
  }

  getUserCode(): string {
    return this.#vjp ? hrnnVjpShaderSource(this.#config) : hrnnShaderSource(this.#config);
  }
}

/**
 * The kernel function of the pass (`vjp` false: inputs X, H, W, V) or of its VJP (`vjp` true: and DY, the
 * cotangent of the pass's packed output), one WebGPU dispatch per call.
 *
 * @example
 * ```ts
 * const forward: tf.KernelFunc = passKernel(false);
 * ```
 */
export function passKernel(vjp: boolean): tf.KernelFunc {
  const names = vjp ? ["X", "H", "W", "V", "DY"] : ["X", "H", "W", "V"];
  return ({ inputs, backend, attrs }) => {
    const a = attrs as PassAttrs;
    const config = { k: a.k, n0: a.n0, f: a.f, flags: a.flags };
    return (backend as WebGpuBackendLike).runWebGPUProgram(
      new HrnnCoordsProgram(config, a.n, vjp),
      names.map((name) => inputs[name]) as tf.TensorInfo[],
      "float32",
      [{ type: "int32", data: [a.n] }],
    );
  };
}
