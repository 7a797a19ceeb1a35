/**
 * The compute backend of every stage run reaches its log (`# backend …`) and its `stage_runs` row, through
 * the real entry (`stages/main.ts`, smoke profile, `generate-tasks`): wasm by default, the WebGPU adapter's
 * name with `LOPT_BACKEND=webgpu`, and a one-line error saying what to do where no adapter exists
 * (`DENO_WEBGPU_BACKEND=dx12` makes Deno look for a Direct3D 12 adapter, which no Linux machine has).
 */
import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";
import { ResultsStore } from "../../pipeline/store.ts";
import { webgpuIgnore } from "../helpers/webgpu.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

async function generateTasks(
  env: Record<string, string>,
  stage = "generate-tasks",
): Promise<{ code: number; text: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "lopt-backend-runs-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", stage, "--profile", "smoke", "--results", dir],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr), dir };
}

/** The run's log text and its `stage_runs.backend`. */
async function recorded(dir: string): Promise<{ log: string; backend: unknown }> {
  const logs = [...Deno.readDirSync(`${dir}/logs`)].filter((e) => e.name.startsWith("generate-tasks-"));
  assert.equal(logs.length, 1);
  const log = await Deno.readTextFile(`${dir}/logs/${logs[0].name}`);
  const store = await ResultsStore.open(dir, { readOnly: true });
  try {
    const r = await store.query("SELECT backend FROM stage_runs WHERE stage = 'generate-tasks'");
    return { log, backend: r.rows[0]?.[0] };
  } finally {
    await store.close();
  }
}

Deno.test("stage runs record their backend: wasm by default", async () => {
  const r = await generateTasks({ LOPT_BACKEND: "wasm" });
  try {
    assert.equal(r.code, 0, r.text);
    const { log, backend } = await recorded(r.dir);
    assert.match(log, /^# backend wasm$/m);
    assert.equal(backend, "wasm");
  } finally {
    await Deno.remove(r.dir, { recursive: true });
  }
});

Deno.test({
  name: "stage runs record their backend: the WebGPU adapter's name, software or hardware",
  ignore: webgpuIgnore(),
  fn: async () => {
    const r = await generateTasks({ LOPT_BACKEND: "webgpu" });
    try {
      assert.equal(r.code, 0, r.text);
      const { log, backend } = await recorded(r.dir);
      const line = /^# backend (webgpu \(.+; (software|hardware) adapter\))$/m.exec(log);
      assert.ok(line, log);
      assert.equal(backend, line[1]);
    } finally {
      await Deno.remove(r.dir, { recursive: true });
    }
  },
});

Deno.test("webgpu without an adapter: the stage fails with one line saying what to do", async () => {
  const r = await generateTasks({ LOPT_BACKEND: "webgpu", DENO_WEBGPU_BACKEND: "dx12" });
  try {
    assert.notEqual(r.code, 0, r.text);
    assert.match(r.text, /Backend 'webgpu' found no WebGPU adapter/);
    assert.match(r.text, /apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri/);
    assert.match(r.text, /LOPT_BACKEND=wasm/);
  } finally {
    await Deno.remove(r.dir, { recursive: true });
  }
});

Deno.test({
  name: "webgpu: a stage that reads synchronously says to use wasm",
  ignore: webgpuIgnore(),
  fn: async () => {
    const r = await generateTasks({ LOPT_BACKEND: "webgpu" }, "tune-baselines");
    try {
      assert.notEqual(r.code, 0, r.text);
      assert.match(r.text, /stage tune-baselines reads tensors synchronously, .*LOPT_BACKEND=wasm/);
    } finally {
      await Deno.remove(r.dir, { recursive: true });
    }
  },
});
