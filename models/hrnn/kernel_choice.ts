/**
 * Which path runs an HRNN update (option `kernel` of `makeHrnn`): the WGSL pass on the webgpu backend (taped or
 * not), the
 * fused WebAssembly / native pass on the wasm backend when no gradient is recorded, its differentiable form
 * while one is, or (none of these: `null`) the ops path. The fused updaters are built on first use.
 *
 * @example
 * ```ts
 * import { makeKernelChoice } from "./kernel_choice.ts";
 * const choice = makeKernelChoice(meta, config, "auto");
 * const fast = choice.inference([100, 10]); // null: run the ops path
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { HrnnConfig } from "./config.ts";
import type { MetaParams } from "./meta_params.ts";
import { gradientRecording } from "./engine.ts";
import { fusedUnsupportedReason } from "./fused_abi.ts";
import { fusedAvailable, fusedLoadError } from "./fused_instance.ts";
import { type FusedUpdater, makeFusedUpdater } from "./fused.ts";
import { makeTapedFusedUpdater, type TapedFusedUpdater } from "./fused_taped.ts";
import { makeWebGpuUpdater, webgpuFusedAvailable, type WebGpuUpdater } from "./webgpu.ts";
import { nativeKernelError } from "./native.ts";

/**
 * The values of option `kernel` (see `HrnnOptions.kernel`).
 *
 * @example
 * ```ts
 * const kernel: HrnnKernel = "auto";
 * ```
 */
export type HrnnKernel = "auto" | "ops" | "fused" | "native" | "webgpu";

const KERNELS: readonly HrnnKernel[] = ["auto", "ops", "fused", "native", "webgpu"];

/**
 * The kernel paths of one optimizer, each null when the update should not take it.
 *
 * @example
 * ```ts
 * const path = choice.webgpu(counts) ?? choice.fused(counts) ?? choice.taped(counts); // null: ops
 * ```
 */
export interface KernelChoice {
  /** The WGSL updater when this update should use it: webgpu backend (differentiable: its VJP is WGSL too). */
  webgpu(counts: number[]): WebGpuUpdater | null;
  /** The fused inference updater when this update should use it (wasm backend, no gradient recorded). */
  fused(counts: number[]): FusedUpdater | null;
  /** The differentiable fused updater when this update is recorded and should use it. */
  taped(counts: number[]): TapedFusedUpdater | null;
}

/** The error of an explicit "fused" / "native" choice that cannot run here. */
function cannotRun(kernel: HrnnKernel, loadError: Error | null): Error {
  return new Error(
    loadError
      ? `HRNN kernel "${kernel}" cannot load: ${loadError.message}`
      : `HRNN kernel "${kernel}" needs the wasm backend (active: ${tf.getBackend()}); use kernel "auto" ` +
        "to fall back to tfjs ops.",
  );
}

/**
 * Validates `kernel` for a config (throws on an unknown value, or an explicit fused choice the config cannot
 * run) and returns its choice of paths.
 *
 * @example
 * ```ts
 * makeKernelChoice(meta, { ...config, useAttention: true }, "fused"); // throws: attention runs on ops
 * ```
 */
export function makeKernelChoice(mp: MetaParams, config: HrnnConfig, kernel: HrnnKernel): KernelChoice {
  if (!KERNELS.includes(kernel)) {
    throw new Error(
      `HRNN kernel must be "auto", "ops", "fused", "native" or "webgpu", got ${JSON.stringify(kernel)}.`,
    );
  }
  const unsupported = fusedUnsupportedReason(config);
  if ((kernel === "fused" || kernel === "native" || kernel === "webgpu") && unsupported) {
    throw new Error(
      `HRNN kernel "${kernel}" cannot run this config: ${unsupported}. Use kernel "ops" or "auto".`,
    );
  }
  let fused: FusedUpdater | null = null;
  let gpu: WebGpuUpdater | null = null;
  let taped: TapedFusedUpdater | null = null;
  /** The engine an explicit or automatic fused choice runs on ("native" throws when it cannot load). */
  const engineChoice = () =>
    kernel === "native" || (kernel === "auto" && nativeKernelError() === null) ? "native" : "wasm";

  function webgpu(sizes: number[]): WebGpuUpdater | null {
    if (kernel === "webgpu" && !webgpuFusedAvailable()) {
      throw new Error(`HRNN kernel "webgpu" needs the webgpu backend (active: ${tf.getBackend()}).`);
    }
    if ((kernel !== "auto" && kernel !== "webgpu") || unsupported || sizes.some((n) => n === 0)) return null;
    if (!webgpuFusedAvailable()) return null;
    gpu ??= makeWebGpuUpdater(mp, config);
    return gpu;
  }

  function tapedFor(sizes: number[]): TapedFusedUpdater | null {
    if (
      kernel === "ops" || kernel === "webgpu" || unsupported || sizes.some((n) => n === 0) ||
      !gradientRecording()
    ) {
      return null;
    }
    const loadError = tf.getBackend() === "wasm" ? fusedLoadError() : null;
    if (tf.getBackend() !== "wasm" || loadError) {
      if (kernel === "fused" || kernel === "native") throw cannotRun(kernel, loadError);
      return null;
    }
    taped ??= makeTapedFusedUpdater(mp, config, engineChoice());
    return taped;
  }

  function fusedFor(sizes: number[]): FusedUpdater | null {
    if (
      kernel === "ops" || kernel === "webgpu" || unsupported || sizes.some((n) => n === 0) ||
      gradientRecording()
    ) {
      return null;
    }
    if (!fusedAvailable()) {
      if (kernel === "fused" || kernel === "native") {
        throw cannotRun(kernel, tf.getBackend() === "wasm" ? fusedLoadError() : null);
      }
      return null;
    }
    // "native" throws here with the reason when the library cannot load; "auto" falls back to wasm.
    fused ??= makeFusedUpdater(mp, config, engineChoice());
    return fused;
  }

  return { webgpu, fused: fusedFor, taped: tapedFor };
}
