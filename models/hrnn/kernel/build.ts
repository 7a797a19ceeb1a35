/**
 * Builds the fused HRNN kernel from `hrnn_coords.c`:
 * - WebAssembly (wasm32, SIMD) with clang and wasm-ld → `hrnn_coords_wasm.ts` (the module as base64 plus the
 *   SHA-256 of the C sources it came from);
 * - native shared libraries for Linux x86-64 with clang and ld.lld → `native/*.so` (a baseline SSE2 build and an
 *   x86-64-v3 build with AVX2 and FMA, and an x86-64-v4 build with AVX-512; no C runtime, no undefined symbols)
 *   and their manifest
 *   `hrnn_coords_native.ts` (file, CPU features required, SHA-256 of each library and of the sources).
 *
 * Run: `deno task build-kernel` (needs `clang`, `lld` and `llvm`: `apt-get install clang lld llvm`). Only
 * developers who change the C sources need it; the outputs are committed, and tests fail when they were not
 * rebuilt from the current sources.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { encodeBase64, sha256Hex } from "./encoding.ts";

/** The clang flags the module is built with (also recorded in the generated file). */
export const CLANG_FLAGS = [
  "--target=wasm32",
  "-O3",
  "-msimd128",
  "-mmutable-globals",
  "-mbulk-memory",
  "-nostdlib",
  "-ffp-contract=off",
  "-Wall",
  "-Wextra",
  "-Werror",

  "-Wl,--no-entry,--import-memory,--export=__stack_pointer,-z,stack-size=0",
];

/** Flags of every native library (its `-march` comes from {@link NATIVE_TARGETS}). */
export const NATIVE_FLAGS = [
  "--target=x86_64-linux-gnu",
  "-O3",
  "-fPIC",
  "-shared",
  "-nostdlib",
  "-ffreestanding",
  "-fvisibility=hidden",
  "-fuse-ld=lld",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-Wl,-z,noexecstack,--build-id=none",
  "-s",
];

/** One native library: its file under `native/` and clang's `-march`. */
export interface NativeTarget {
  file: string;
  march: string;
}

/**
 * The native libraries, preferred first: the x86-64-v4 build (AVX-512, 16 lanes) and the x86-64-v3 build (AVX2,
 * FMA, 8 lanes), each used where the baseline build's `lopt_x86_64_v4_supported()` /
 * `lopt_x86_64_v3_supported()` (cpuid) says the CPU runs it, and the SSE2 baseline that every x86-64 runs.
 */
export const NATIVE_TARGETS: NativeTarget[] = [
  { file: "hrnn_coords-linux-x86_64-v4.so", march: "x86-64-v4" },
  { file: "hrnn_coords-linux-x86_64-v3.so", march: "x86-64-v3" },
  { file: "hrnn_coords-linux-x86_64.so", march: "x86-64" },
];

const HERE = new URL(".", import.meta.url);

/** The C sources the kernels are built from, in hashing order. */
export const KERNEL_SOURCES = [
  "hrnn_coords.c",
  "simd_math.h",
  "masked_io.h",
  "entry_points.h",
  "hrnn_coords_body.h",
  "hrnn_vjp_body.h",
  "simd_native.h",
];

/**
 * SHA-256 over the kernel's C sources (what the generated file records as SOURCE_SHA256).
 *
 * @example
 * ```ts
 * const stale = (await kernelSourceHash()) !== SOURCE_SHA256; // the C sources changed since the last build
 * ```
 */
export async function kernelSourceHash(): Promise<string> {
  const parts = await Promise.all(KERNEL_SOURCES.map((f) => Deno.readFile(new URL(f, HERE))));
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return await sha256Hex(all);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: { help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(
      "Usage: deno task build-kernel\n\nCompiles models/hrnn/kernel/hrnn_coords.c to WebAssembly " +
        "(hrnn_coords_wasm.ts) and to native x86-64 libraries (native/*.so, manifest hrnn_coords_native.ts).\n" +
        "Needs clang, ld.lld and llvm-nm / llvm-objdump on PATH (Debian: apt-get install clang lld llvm).",
    );
    return;
  }
  await buildWasm();
  await buildNative();
}

/** Runs clang with `args`; a missing clang or a failed compile is an error that says what to do. */
async function clang(args: string[]): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("clang", { args }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error("clang not found: install it (Debian: apt-get install clang lld llvm) and rerun.");
    }
    throw e;
  }
  if (!out.success) throw new Error(`clang failed:\n${new TextDecoder().decode(out.stderr)}`);
}

/** Output of the first of `tools` that runs (llvm tools carry a version suffix on Debian). */
async function llvmTool(tools: string[], args: string[]): Promise<string | null> {
  for (const tool of tools) {
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(tool, { args }).output();
    } catch {
      continue;
    }
    if (out.success) return new TextDecoder().decode(out.stdout);
  }
  return null;
}

async function buildNative(): Promise<void> {
  const src = new URL("hrnn_coords.c", HERE).pathname;
  const dir = new URL("native/", HERE).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const libs: { file: string; march: string; sha256: string; bytes: number }[] = [];
  for (const t of NATIVE_TARGETS) {
    const dest = dir + t.file;
    await clang([...NATIVE_FLAGS, `-march=${t.march}`, "-o", dest, src]);
    const nm = ["llvm-nm", "llvm-nm-14", "llvm-nm-19"];
    const undef = await llvmTool(nm, ["-D", "--undefined-only", dest]);
    const defined = await llvmTool(nm, ["-D", "--defined-only", dest]);
    if (undef === null || defined === null) {
      throw new Error(
        "llvm-nm not found (Debian: apt-get install llvm); it checks the native libraries' symbols.",
      );
    }
    if (undef.trim() !== "") {
      throw new Error(`${t.file} has undefined symbols (it must link nothing):\n${undef}`);
    }
    for (
      const sym of [
        "hrnn_coords_native",
        "hrnn_vjp_native",
        "lopt_x86_64_v3_supported",
        "lopt_x86_64_v4_supported",
      ]
    ) {
      if (!new RegExp(`\\b${sym}\\b`).test(defined)) throw new Error(`${t.file} does not export ${sym}`);
    }
    const bytes = await Deno.readFile(dest);
    libs.push({ ...t, sha256: await sha256Hex(bytes), bytes: bytes.length });
    console.log(`wrote ${dest}: ${bytes.length} bytes`);
  }
  const text =
    `// Generated by models/hrnn/kernel/build.ts from hrnn_coords.c (deno task build-kernel). Do not edit.
// deno-fmt-ignore-file

/** SHA-256 of the C sources the libraries were compiled from (${KERNEL_SOURCES.join(", ")}). */
export const SOURCE_SHA256 = "${await kernelSourceHash()}";

/** The clang command line (flags) of every library; each adds its own -march. */
export const CLANG_COMMAND = ${JSON.stringify(["clang", ...NATIVE_FLAGS].join(" "))};

/** The native libraries under native/, preferred first: x86-64-v4, x86-64-v3, the SSE2 baseline. */
export const NATIVE_LIBS: { file: string; march: string; sha256: string; bytes: number }[] =
  ${JSON.stringify(libs)};
`;
  const dest = new URL("hrnn_coords_native.ts", HERE).pathname;
  await Deno.writeTextFile(dest, text);
  console.log(`wrote ${dest}`);
}

async function buildWasm(): Promise<void> {
  const src = new URL("hrnn_coords.c", HERE).pathname;
  const tmp = await Deno.makeTempFile({ suffix: ".wasm" });
  let wasm: Uint8Array, stackBytes: number;
  try {
    await clang([...CLANG_FLAGS, "-o", tmp, src]);
    wasm = await Deno.readFile(tmp);
    stackBytes = await frameBytes(tmp);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  if (sectionIds(wasm).includes(11)) {
    throw new Error(
      "the kernel module has a data section: it would overwrite tfjs memory; remove static data",
    );
  }
  const mod = new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
  const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`);
  if (imports.join() !== "env.memory") throw new Error(`unexpected imports ${imports.join(", ")}`);
  const sourceHash = await kernelSourceHash();
  const text =
    `// Generated by models/hrnn/kernel/build.ts from hrnn_coords.c (deno task build-kernel). Do not edit.
// deno-fmt-ignore-file

/** SHA-256 of the C sources the module was compiled from (${KERNEL_SOURCES.join(", ")}). */
export const SOURCE_SHA256 = "${sourceHash}";

/**
 * Stack bytes the kernel may use: the sum of every function's frame (an upper bound on any call chain). The
 * driver gives it this much stack (plus a margin) on the tfjs heap; more would overwrite tfjs data.
 */
export const STACK_BYTES = ${stackBytes};

/** The clang command line (flags) the module was compiled with. */
export const CLANG_COMMAND = ${JSON.stringify(["clang", ...CLANG_FLAGS].join(" "))};

/** The compiled WebAssembly module (${wasm.length} bytes), base64. */
export const WASM_BASE64 = "${encodeBase64(wasm)}";
`;
  const dest = new URL("hrnn_coords_wasm.ts", HERE).pathname;
  await Deno.writeTextFile(dest, text);
  console.log(`wrote ${dest}: ${wasm.length} bytes of wasm, source sha256 ${sourceHash.slice(0, 16)}…`);
}

/**
 * Ids of the sections of a wasm binary (11 = data).
 *
 * @example
 * ```ts
 * const hasData = sectionIds(decodeBase64(WASM_BASE64)).includes(11);
 * ```
 */
export function sectionIds(wasm: Uint8Array): number[] {
  const ids: number[] = [];
  let o = 8;
  while (o < wasm.length) {
    const id = wasm[o++];
    let size = 0, shift = 0, b: number;
    do {
      b = wasm[o++];
      size |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    ids.push(id);
    o += size;
  }
  return ids;
}

/**
 * Sum of the stack frames of a compiled module's functions, read from `llvm-objdump -d`: clang's wasm prologue
 * is `global.get 0` (the stack pointer), `i32.const FRAME`, `i32.sub`.
 */
async function frameBytes(wasmPath: string): Promise<number> {
  const text = await llvmTool(["llvm-objdump", "llvm-objdump-14", "llvm-objdump-19"], ["-d", wasmPath]);
  if (text === null) {
    throw new Error(
      "llvm-objdump not found (Debian: apt-get install llvm); it measures the kernel's stack frames.",
    );
  }
  const lines = text.split("\n");
  let total = 0;
  for (let i = 0; i + 2 < lines.length; i++) {
    if (!/\tglobal\.get\t0\s*$/.test(lines[i])) continue;
    const c = lines[i + 1].match(/\ti32\.const\t(\d+)/);
    if (c && /\ti32\.sub/.test(lines[i + 2])) total += Number(c[1]);
  }
  return total;
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`build-kernel: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
