/**
 * The WebGPU adapter the `webgpu` backend would run on: whether one exists (Deno exposes `navigator.gpu`;
 * a machine without a GPU driver Deno can use has no adapter), its name, and whether it is a software
 * rasteriser (Mesa's llvmpipe / lavapipe, SwiftShader, WARP) or a hardware GPU.
 *
 * @module
 */

/** The fields of a `GPUAdapterInfo` lopt reads (all strings; empty when the driver does not say). */
export interface AdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** `GPUAdapter.isFallbackAdapter` / `GPUAdapterInfo.isFallbackAdapter` where the runtime reports it. */
  isFallback?: boolean;
}

/** A WebGPU adapter found on this machine. */
export interface WebGpuAdapter {
  facts: AdapterFacts;
  /** Human-readable name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  name: string;
  /** True for a software rasteriser running on the CPU. */
  software: boolean;
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|microsoft basic render|software/i;

/**
 * Whether the adapter is a software rasteriser (runs on the CPU), by the fallback flag or its name.
 *
 * @example
 * ```ts
 * isSoftwareAdapter({ vendor: "65541", architecture: "", device: "0", description: "llvmpipe (LLVM 15.0.6)" }); // true
 * ```
 */
export function isSoftwareAdapter(f: AdapterFacts): boolean {
  if (f.isFallback) return true;
  return SOFTWARE.test(`${f.description} ${f.device} ${f.architecture}`);
}

/**
 * A readable name for the adapter: its description, else vendor / architecture / device as reported.
 *
 * @example
 * ```ts
 * adapterName({ vendor: "nvidia", architecture: "hopper", device: "", description: "" }); // "nvidia hopper"
 * ```
 */
export function adapterName(f: AdapterFacts): string {
  if (f.description.trim()) return f.description.trim();
  const parts = [f.vendor, f.architecture, f.device].map((s) => s.trim()).filter((s) => s && s !== "0");
  return parts.length ? parts.join(" ") : "unnamed adapter";
}

/**
 * How a run on this adapter is named in logs and `stage_runs.backend`, e.g.
 * `webgpu (llvmpipe (LLVM 15.0.6, 256 bits); software adapter)`.
 *
 * @example
 * ```ts
 * const a = await requestWebGpuAdapter();
 * if (a) console.log(describeWebGpu(a));
 * ```
 */
export function describeWebGpu(a: WebGpuAdapter): string {
  return `webgpu (${a.name}; ${a.software ? "software" : "hardware"} adapter)`;
}

interface GpuLike {
  requestAdapter(opts?: { powerPreference?: string }): Promise<
    { info?: Record<string, unknown>; isFallbackAdapter?: boolean } | null
  >;
}

/**
 * The adapter `tf.setBackend("webgpu")` would get (same request: high-performance preference), or null when
 * the runtime has no WebGPU or no adapter.
 *
 * @example
 * ```ts
 * const adapter = await requestWebGpuAdapter();
 * console.log(adapter ? adapter.name : "no WebGPU adapter");
 * ```
 */
export async function requestWebGpuAdapter(): Promise<WebGpuAdapter | null> {
  const gpu = (globalThis.navigator as unknown as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) return null;
  let adapter;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const str = (k: string) => (typeof info[k] === "string" ? info[k] as string : String(info[k] ?? ""));
  const fallback = typeof info.isFallbackAdapter === "boolean"
    ? info.isFallbackAdapter as boolean
    : adapter.isFallbackAdapter;
  const facts: AdapterFacts = {
    vendor: str("vendor"),
    architecture: str("architecture"),
    device: str("device"),
    description: str("description"),
    ...(typeof fallback === "boolean" ? { isFallback: fallback } : {}),
  };
  return { facts, name: adapterName(facts), software: isSoftwareAdapter(facts) };
}

/** The one-line error for `webgpu` when no adapter exists; says what to do. */
export const NO_ADAPTER_MESSAGE =
  "Backend 'webgpu' found no WebGPU adapter (navigator.gpu.requestAdapter() gave none): Deno sees no GPU " +
  "driver it can use. Install the GPU's Vulkan driver, or for a software adapter Mesa's OpenGL one (Debian: " +
  "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri), or select the 'wasm' backend instead (for a " +
  "stage: --set STAGE.backend=wasm; elsewhere: LOPT_BACKEND=wasm).";
