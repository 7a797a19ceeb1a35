/**
 * The native build of the fused HRNN pass (`kernel/hrnn_coords.c` compiled for x86-64 by `kernel/build.ts`),
 * loaded with Deno's FFI. It runs the same per-coordinate code as the WebAssembly kernel of `fused.ts`, on the
 * same tfjs wasm heap (the caller passes that heap's bytes and the argument block's offset), about four times as
 * fast: no bounds checks on every memory access, better register allocation, and fused multiply-adds on CPUs
 * with FMA.
 *
 * It loads only where it can run safely: on Deno (Node.js and browsers have no FFI), Linux on x86-64, FFI permission granted (`--allow-ffi`), the library's
 * size matching its manifest (tests check every library's SHA-256), and the environment variable `LOPT_NATIVE_KERNEL` not set to
 * `0`. It opens the SSE2 baseline library (every x86-64 runs it), asks it (cpuid) whether the CPU and OS run
 * x86-64-v4 code (AVX-512) or x86-64-v3 code (AVX2, FMA, …), and uses the best of those libraries
 * (`LOPT_NATIVE_KERNEL=x86-64`, `=x86-64-v3` or `=x86-64-v4` picks one). Otherwise {@link nativeKernelError} says why, and the HRNN uses the WebAssembly kernel.
 *
 * @module
 */
import { denoRuntime, readEnv } from "../../lib/runtime.ts";
import { NATIVE_LIBS, SOURCE_SHA256 } from "./kernel/hrnn_coords_native.ts";

/** The loaded native kernel. */
export interface NativeKernel {
  /** Library file name (under models/hrnn/kernel/native/). */
  file: string;
  /** The x86-64 level it was compiled for (`-march`). */
  march: string;
  /** Runs the fused pass: `heap` is the whole tfjs wasm heap, `args` the argument block's byte offset in it. */
  run(heap: Uint8Array, args: number): void;
  /** Runs the pass's vector-Jacobian product (argument blocks `args` and `vargs`, see hrnn_vjp_body.h). */
  runVjp(heap: Uint8Array, args: number, vargs: number): void;
}

/** Environment variable: `0` turns the native kernel off; a `-march` name (`x86-64`, `x86-64-v3`, `x86-64-v4`)
 * picks a library. */
export const NATIVE_ENV = "LOPT_NATIVE_KERNEL";

const SYMBOLS = {
  hrnn_coords_native: { parameters: ["buffer", "i32"], result: "void" },
  hrnn_vjp_native: { parameters: ["buffer", "i32", "i32"], result: "void" },
  lopt_x86_64_v3_supported: { parameters: [], result: "i32" },
  lopt_x86_64_v4_supported: { parameters: [], result: "i32" },
} as const;

let loaded: NativeKernel | Error | null = null;

function load(): NativeKernel {
  const Deno = denoRuntime();
  if (!Deno) throw new Error("not running on Deno (the native library loads through Deno's FFI)");
  const choice = readEnv(NATIVE_ENV) ?? "";
  if (choice === "0") throw new Error(`turned off (${NATIVE_ENV}=0)`);
  if (choice !== "" && !NATIVE_LIBS.some((l) => l.march === choice)) {
    throw new Error(
      `${NATIVE_ENV}=${choice} is not 0 or one of ${NATIVE_LIBS.map((l) => l.march).join(", ")}`,
    );
  }
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    throw new Error(
      `no native library for ${Deno.build.os}/${Deno.build.arch} (built for linux/x86_64 only)`,
    );
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    throw new Error("FFI permission not granted (run deno with --allow-ffi)");
  }
  const open = (march: string) => {
    const lib = NATIVE_LIBS.find((l) => l.march === march);
    if (!lib) throw new Error(`no native library for ${march} in hrnn_coords_native.ts`);
    const url = new URL(`./kernel/native/${lib.file}`, import.meta.url);
    let size: number;
    try {
      size = Deno.statSync(url).size;
    } catch (e) {
      throw new Error(`cannot read ${url.pathname}: ${(e as Error).message}`);
    }
    // A cheap staleness check (tests compare the SHA-256 of every library with the manifest).
    if (size !== lib.bytes) {
      throw new Error(
        `${lib.file} has ${size} bytes, not the ${lib.bytes} of hrnn_coords_native.ts (sources ${
          SOURCE_SHA256.slice(0, 12)
        }…); rebuild with \`deno task build-kernel\``,
      );
    }
    return { lib, dl: Deno.dlopen(url, SYMBOLS) };
  };
  let { lib, dl } = open("x86-64");
  const runs: Record<string, boolean> = {
    "x86-64": true,
    "x86-64-v3": dl.symbols.lopt_x86_64_v3_supported() === 1,
    "x86-64-v4": dl.symbols.lopt_x86_64_v4_supported() === 1,
  };
  if (choice !== "" && !runs[choice]) throw new Error(`this CPU does not run ${choice} code`);
  const best = choice || NATIVE_LIBS.map((l) => l.march).find((m) => runs[m]) || "x86-64";
  if (best !== "x86-64") {
    dl.close();
    ({ lib, dl } = open(best));
  }
  return {
    file: lib.file,
    march: lib.march,
    run: (heap, args) => dl.symbols.hrnn_coords_native(heap, args),
    runVjp: (heap, args, vargs) => dl.symbols.hrnn_vjp_native(heap, args, vargs),
  };
}

/**
 * The native kernel, loaded once; throws the reason it cannot load (see the module doc).
 *
 * @example
 * ```ts
 * const k = nativeKernel(); // k.march: "x86-64", "x86-64-v3" or "x86-64-v4"
 * ```
 */
export function nativeKernel(): NativeKernel {
  if (loaded === null) {
    try {
      loaded = load();
    } catch (e) {
      loaded = new Error(`HRNN native kernel: ${(e as Error).message}`);
    }
  }
  if (loaded instanceof Error) throw loaded;
  return loaded;
}

/**
 * Why the native kernel cannot load here, or null when it can (tried once per process).
 *
 * @example
 * ```ts
 * const err = nativeKernelError();
 * if (err) console.warn(`falling back to WebAssembly: ${err.message}`);
 * ```
 */
export function nativeKernelError(): Error | null {
  try {
    nativeKernel();
    return null;
  } catch (e) {
    return e as Error;
  }
}

/**
 * One line for logs: which build of the fused HRNN pass runs at evaluation here, and why not native if not.
 *
 * @example
 * ```ts
 * console.log(describeFusedEngine()); // "HRNN update: native fused kernel (x86-64-v3, ...)"
 * ```
 */
export function describeFusedEngine(): string {
  const err = nativeKernelError();
  if (err === null) {
    const k = nativeKernel();
    return `HRNN update: native fused kernel (${k.march}, ${k.file})`;
  }
  return `HRNN update: WebAssembly fused kernel (${
    err.message.replace(/^HRNN native kernel: /, "native: ")
  })`;
}
