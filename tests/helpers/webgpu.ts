/**
 * For tests that need a WebGPU adapter: whether one exists, and the rule for when a test may skip without
 * one. CI (`.ci/run`) installs Mesa's software OpenGL driver (llvmpipe) and sets `LOPT_REQUIRE_WEBGPU=1`, so there a
 * missing adapter fails the tests instead of skipping them.
 *
 * @module
 */
import { requestWebGpuAdapter, type WebGpuAdapter } from "../../lib/webgpu_adapter.ts";

/** The adapter of this machine, or null (then {@link webgpuIgnore} says whether to skip). */
export const ADAPTER: WebGpuAdapter | null = await requestWebGpuAdapter();

/**
 * True when the WebGPU tests should be skipped: no adapter and `LOPT_REQUIRE_WEBGPU` is not set. Prints why,
 * once.
 *
 * @example
 * ```ts
 * Deno.test({ name: "webgpu: …", ignore: webgpuIgnore(), fn: async () => {} });
 * ```
 */
export function webgpuIgnore(): boolean {
  if (ADAPTER) return false;
  if (Deno.env.get("LOPT_REQUIRE_WEBGPU") === "1") return false; // the tests run and fail with the message
  if (!warned) {
    warned = true;
    console.warn(
      "skipping WebGPU tests: navigator.gpu has no adapter on this machine (apt-get install libegl1 " +
        "libegl-mesa0 libgl1-mesa-dri gives a software one; LOPT_REQUIRE_WEBGPU=1 makes this a failure)",
    );
  }
  return true;
}
let warned = false;
