/**
 * The native build of the fused HRNN pass (`kernel/hrnn_coords.c` compiled for x86-64 by `kernel/build.ts`),
 * loaded with Deno's FFI. It runs the same per-coordinate code as the WebAssembly kernel of `fused.ts`, on the
 * same tfjs wasm heap (the caller passes that heap's bytes and the argument block's offset), about four times as
 * fast: no bounds checks on every memory access, better register allocation, and fused multiply-adds on CPUs
 * with FMA.
 *
 * It loads only where it can run safely: Linux on x86-64, FFI permission granted (`--allow-ffi`), the library's
 * bytes matching the SHA-256 its manifest records, and the environment variable `LOPT_NATIVE_KERNEL` not set to
 * `0`. It opens the SSE2 baseline library (every x86-64 runs it), asks it (cpuid) whether the CPU and OS run
 * x86-64-v4 code (AVX-512) or x86-64-v3 code (AVX2, FMA, …), and uses the best of those libraries
 * (`LOPT_NATIVE_KERNEL=x86-64`, `=x86-64-v3` or `=x86-64-v4` picks one). Otherwise {@link nativeKernelError} says why, and the HRNN uses the WebAssembly kernel.
 *
 * @module
 */
import { NATIVE_LIBS, SOURCE_SHA256 } from "./kernel/hrnn_coords_native.ts";

/** The loaded native kernel. */
export interface NativeKernel {
  /** Library file name (under models/hrnn/kernel/native/). */
  file: string;
  /** The x86-64 level it was compiled for (`-march`). */
  march: string;
  /** Runs the fused pass: `heap` is the whole tfjs wasm heap, `args` the argument block's byte offset in it. */
  run(heap: Uint8Array, args: number): void;
}

/** Environment variable: `0` turns the native kernel off; a `-march` name (`x86-64`, `x86-64-v3`, `x86-64-v4`)
 * picks a library. */
export const NATIVE_ENV = "LOPT_NATIVE_KERNEL";

const SYMBOLS = {
  hrnn_coords_native: { parameters: ["buffer", "i32"], result: "void" },
  lopt_x86_64_v3_supported: { parameters: [], result: "i32" },
  lopt_x86_64_v4_supported: { parameters: [], result: "i32" },
} as const;

let loaded: NativeKernel | Error | null = null;

/** SHA-256 of `bytes` as lower-case hex (synchronous: a tiny dependency-free implementation). */
export function sha256HexSync(bytes: Uint8Array): string {
  const K = new Uint32Array([
    0x428a2f98,
    0x71374491,
    0xb5c0fbcf,
    0xe9b5dba5,
    0x3956c25b,
    0x59f111f1,
    0x923f82a4,
    0xab1c5ed5,
    0xd807aa98,
    0x12835b01,
    0x243185be,
    0x550c7dc3,
    0x72be5d74,
    0x80deb1fe,
    0x9bdc06a7,
    0xc19bf174,
    0xe49b69c1,
    0xefbe4786,
    0x0fc19dc6,
    0x240ca1cc,
    0x2de92c6f,
    0x4a7484aa,
    0x5cb0a9dc,
    0x76f988da,
    0x983e5152,
    0xa831c66d,
    0xb00327c8,
    0xbf597fc7,
    0xc6e00bf3,
    0xd5a79147,
    0x06ca6351,
    0x14292967,
    0x27b70a85,
    0x2e1b2138,
    0x4d2c6dfc,
    0x53380d13,
    0x650a7354,
    0x766a0abb,
    0x81c2c92e,
    0x92722c85,
    0xa2bfe8a1,
    0xa81a664b,
    0xc24b8b70,
    0xc76c51a3,
    0xd192e819,
    0xd6990624,
    0xf40e3585,
    0x106aa070,
    0x19a4c116,
    0x1e376c08,
    0x2748774c,
    0x34b0bcb5,
    0x391c0cb3,
    0x4ed8aa4a,
    0x5b9cca4f,
    0x682e6ff3,
    0x748f82ee,
    0x78a5636f,
    0x84c87814,
    0x8cc70208,
    0x90befffa,
    0xa4506ceb,
    0xbef9a3f7,
    0xc67178f2,
  ]);
  const h = new Uint32Array([
    0x6a09e667,
    0xbb67ae85,
    0x3c6ef372,
    0xa54ff53a,
    0x510e527f,
    0x9b05688c,
    0x1f83d9ab,
    0x5be0cd19,
  ]);
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 0x20000000));
  view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, "0")).join("");
}

function load(): NativeKernel {
  const choice = Deno.env.get(NATIVE_ENV) ?? "";
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
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(url);
    } catch (e) {
      throw new Error(`cannot read ${url.pathname}: ${(e as Error).message}`);
    }
    if (sha256HexSync(bytes) !== lib.sha256) {
      throw new Error(
        `${lib.file} does not match the SHA-256 in hrnn_coords_native.ts (sources ${
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
  };
}

/** The native kernel, loaded once; throws the reason it cannot load (see the module doc). */
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

/** Why the native kernel cannot load here, or null when it can (tried once per process). */
export function nativeKernelError(): Error | null {
  try {
    nativeKernel();
    return null;
  } catch (e) {
    return e as Error;
  }
}

/** One line for logs: which build of the fused HRNN pass runs at evaluation here, and why not native if not. */
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
