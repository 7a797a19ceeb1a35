import assert from "node:assert/strict";
import {
  describeFusedEngine,
  NATIVE_ENV,
  nativeKernel,
  nativeKernelError,
} from "../../../models/hrnn/native.ts";
import { kernelSourceHash } from "../../../models/hrnn/kernel/build.ts";
import { sha256Hex } from "../../../models/hrnn/kernel/encoding.ts";
import { NATIVE_LIBS, SOURCE_SHA256 } from "../../../models/hrnn/kernel/hrnn_coords_native.ts";

const HERE_LINUX_X64 = Deno.build.os === "linux" && Deno.build.arch === "x86_64";

Deno.test("the committed native libraries were built from the current C sources and match their manifest", async () => {
  assert.equal(
    SOURCE_SHA256,
    await kernelSourceHash(),
    "the kernel's C sources changed: run `deno task build-kernel` and commit the result",
  );
  for (const lib of NATIVE_LIBS) {
    const bytes = await Deno.readFile(
      new URL(`../../../models/hrnn/kernel/native/${lib.file}`, import.meta.url),
    );
    assert.equal(bytes.length, lib.bytes, lib.file);
    assert.equal(await sha256Hex(bytes), lib.sha256, lib.file);
    // An ELF shared object for x86-64 (e_ident, e_type ET_DYN = 3, e_machine EM_X86_64 = 62).
    assert.deepEqual([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${lib.file} is ELF`);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    assert.equal(view.getUint16(16, true), 3, `${lib.file} is a shared object`);
    assert.equal(view.getUint16(18, true), 62, `${lib.file} is x86-64`);
  }
  assert.deepEqual(
    NATIVE_LIBS.map((l) => l.march),
    ["x86-64-v4", "x86-64-v3", "x86-64"],
    "preferred first, baseline last",
  );
});

Deno.test({
  name: "the native kernel loads on Linux x86-64 with FFI and picks the best library the CPU supports",
  ignore: !HERE_LINUX_X64,
  fn: async () => {
    assert.equal(nativeKernelError(), null);
    const k = nativeKernel();
    // The loader asks cpuid; check its answer against the kernel's view in /proc/cpuinfo (Deno reads /proc files
    // only with --allow-all, so through cat).
    const out = await new Deno.Command("cat", { args: ["/proc/cpuinfo"] }).output();
    const flags = new TextDecoder().decode(out.stdout).match(/^flags\s*:(.*)$/m)?.[1].trim().split(/\s+/) ??
      [];
    const v3 = ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"].every((f) =>
      flags.includes(f)
    );
    const v4 = v3 &&
      ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"].every((f) => flags.includes(f));
    assert.equal(k.march, v4 ? "x86-64-v4" : v3 ? "x86-64-v3" : "x86-64");
  },
});

/** Runs `code` in a fresh Deno process with `env` and returns its stdout (the test fails on a non-zero exit). */
async function runDeno(code: string, env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { ...env, RUST_BACKTRACE: "0" },
    cwd: new URL("../../../", import.meta.url).pathname,
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `child process failed:\n${err}`);
  return new TextDecoder().decode(out.stdout);
}

const COMPARE_BASELINE = `
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./lib/backend.ts";
import { Rng } from "./lib/rng.ts";
import { makeHrnnConfig } from "./models/hrnn/config.ts";
import { makeHrnn } from "./models/hrnn/hrnn.ts";
import { createMetaParams } from "./models/hrnn/meta_params.ts";
import { nativeKernel, nativeKernelError } from "./models/hrnn/native.ts";
await initBackend("wasm");
const err = nativeKernelError();
if (err) { console.log(JSON.stringify({ error: err.message })); Deno.exit(0); }
const config = makeHrnnConfig({ zeroInitLrWeights: false });
const mp = createMetaParams(config, 2);
const ops = makeHrnn(mp, config, { seed: 2, kernel: "ops" });
const nat = makeHrnn(mp, config, { seed: 2, kernel: "native" });
const rng = new Rng(9);
let params = [37, 1000].map((n) => tf.tensor1d(rng.normalArray(n)));
let sa = ops.init(params), sb = nat.init(params);
let worst = 0;
for (let t = 0; t < 3; t++) {
  const grads = params.map((p) => tf.tensor1d(rng.normalArray(p.size).map((v) => v * 0.1)));
  const ra = ops.update(grads, sa, params), rb = nat.update(grads, sb, params);
  ra.updates.forEach((u, j) => {
    const x = u.dataSync(), y = rb.updates[j].dataSync();
    const scale = Math.max(...Array.from(x, Math.abs));
    for (let q = 0; q < x.length; q++) worst = Math.max(worst, Math.abs(x[q] - y[q]) / scale);
  });
  params = params.map((p, j) => tf.add(p, ra.updates[j]));
  sa = ra.state;
  sb = rb.state;
}
console.log(JSON.stringify({ march: nativeKernel().march, worst }));
`;

Deno.test({
  name: `${NATIVE_ENV}=<march> runs each library this CPU supports, and each equals the ops path`,
  ignore: !HERE_LINUX_X64,
  fn: async (t) => {
    for (const { march } of NATIVE_LIBS) {
      await t.step(march, async () => {
        const r = JSON.parse(await runDeno(COMPARE_BASELINE, { [NATIVE_ENV]: march }));
        if (r.error && /does not run/.test(r.error)) return; // not this CPU's (the x86-64 baseline always runs)
        assert.equal(r.error, undefined);
        assert.equal(r.march, march);
        assert.ok(r.worst < 1e-4, `${march} library: updates differ from the ops path by ${r.worst}`);
      });
    }
  },
});

Deno.test({
  name: `${NATIVE_ENV}=0 turns the native kernel off; a wrong value says what is allowed`,
  ignore: !HERE_LINUX_X64,
  fn: async () => {
    const off = JSON.parse(await runDeno(COMPARE_BASELINE, { [NATIVE_ENV]: "0" }));
    assert.match(off.error, /turned off/);
    const bad = JSON.parse(await runDeno(COMPARE_BASELINE, { [NATIVE_ENV]: "avx9000" }));
    assert.match(bad.error, /not 0 or one of x86-64-v4, x86-64-v3, x86-64/);
  },
});

Deno.test({
  name: "describeFusedEngine names the build that runs (for stage logs)",
  ignore: !HERE_LINUX_X64,
  fn: () => {
    assert.match(describeFusedEngine(), new RegExp(`native fused kernel \\(${nativeKernel().march}, `));
  },
});
