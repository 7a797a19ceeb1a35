import { strict as assert } from "node:assert";
import {
  BACKENDS,
  defaultBackend,
  findTfjsNode,
  findTfjsNodeIn,
  initBackend,
  loadTfjsNode,
  tfjsNodeSearchPath,
} from "../../lib/backend.ts";
import { adapterName, describeWebGpu, isSoftwareAdapter } from "../../lib/webgpu_adapter.ts";

Deno.test("backend: 'tensorflow' without tfjs-node installed is a clear error and fetches nothing", async () => {
  const lock = await Deno.readTextFile("deno.lock");
  await assert.rejects(
    () => initBackend("tensorflow"),
    (e: Error) =>
      /tfjs-node-gpu or @tensorflow\/tfjs-node, which is not installed/.test(e.message) &&
      /npm i @tensorflow\/tfjs-node-gpu@4.22.0/.test(e.message) &&
      /LOPT_TFJS_NODE_MODULES=/.test(e.message) &&
      /'wasm' backend/.test(e.message),
  );
  assert.equal(await Deno.readTextFile("deno.lock"), lock, "deno.lock must not change");
});

Deno.test("backend: unknown backend names are rejected with the list, also from LOPT_BACKEND", async () => {
  await assert.rejects(
    () => initBackend("gpu" as never),
    /Unknown backend 'gpu'. Choose one of: wasm, cpu, tensorflow, webgpu/,
  );
  const before = Deno.env.get("LOPT_BACKEND");
  try {
    Deno.env.set("LOPT_BACKEND", "webgpu");
    assert.equal(defaultBackend(), "webgpu");
    Deno.env.set("LOPT_BACKEND", "cuda");
    await assert.rejects(() => initBackend(), /Unknown backend 'cuda'/);
    Deno.env.delete("LOPT_BACKEND");
    assert.equal(defaultBackend(), "wasm");
  } finally {
    if (before === undefined) Deno.env.delete("LOPT_BACKEND");
    else Deno.env.set("LOPT_BACKEND", before);
  }
  assert.ok(BACKENDS.includes("webgpu"));
});

/** A fake `node_modules` with the given tfjs-node packages, each with an index.js of the given source. */
async function fakeNodeModules(pkgs: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "lopt-tfjs-node-" });
  for (const [pkg, source] of Object.entries(pkgs)) {
    await Deno.mkdir(`${root}/${pkg}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${pkg}/package.json`, JSON.stringify({ name: pkg, main: "index.js" }));
    await Deno.writeTextFile(`${root}/${pkg}/index.js`, source);
  }
  return root;
}

Deno.test("backend: tfjs-node selection prefers tfjs-node-gpu, falls back to tfjs-node, else none", async () => {
  const both = await fakeNodeModules({ "@tensorflow/tfjs-node-gpu": "", "@tensorflow/tfjs-node": "" });
  const cpuOnly = await fakeNodeModules({ "@tensorflow/tfjs-node": "" });
  const none = await fakeNodeModules({});
  try {
    assert.equal((await findTfjsNode(both))?.pkg, "@tensorflow/tfjs-node-gpu");
    const found = await findTfjsNode(cpuOnly);
    assert.equal(found?.pkg, "@tensorflow/tfjs-node");
    assert.equal(found?.main, `${cpuOnly}/@tensorflow/tfjs-node/index.js`);
    assert.equal(await findTfjsNode(none), null);
    // The search path: LOPT_TFJS_NODE_MODULES first, then the project's node_modules.
    assert.equal((await findTfjsNodeIn([none, cpuOnly, both]))?.pkg, "@tensorflow/tfjs-node");
    assert.equal(await findTfjsNodeIn([none]), null);
    const before = Deno.env.get("LOPT_TFJS_NODE_MODULES");
    try {
      Deno.env.set("LOPT_TFJS_NODE_MODULES", cpuOnly);
      assert.deepEqual(tfjsNodeSearchPath(), [cpuOnly, `${Deno.cwd()}/node_modules`]);
      Deno.env.delete("LOPT_TFJS_NODE_MODULES");
      assert.deepEqual(tfjsNodeSearchPath(), [`${Deno.cwd()}/node_modules`]);
    } finally {
      if (before !== undefined) Deno.env.set("LOPT_TFJS_NODE_MODULES", before);
    }
  } finally {
    for (const d of [both, cpuOnly, none]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("backend: an installed tfjs-node that fails to load says which package and what to do", async () => {
  const root = await fakeNodeModules({
    "@tensorflow/tfjs-node-gpu":
      'throw new Error("libtensorflow.so.2: cannot open shared object file\\nmore");',
  });
  try {
    const found = (await findTfjsNode(root))!;
    await assert.rejects(() => loadTfjsNode(found), (e: Error) => {
      assert.match(
        e.message,
        /@tensorflow\/tfjs-node-gpu is installed in .* but failed to load: libtensorflow/,
      );
      assert.match(e.message, /npm i @tensorflow\/tfjs-node-gpu/);
      assert.match(e.message, /'wasm' backend/);
      assert.doesNotMatch(e.message, /\n/, "one line");
      return true;
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("backend: WebGPU adapters are named, software rasterisers told apart from GPUs", () => {
  const llvmpipe = {
    vendor: "65541",
    architecture: "",
    device: "0",
    description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  };
  assert.equal(isSoftwareAdapter(llvmpipe), true);
  assert.equal(
    describeWebGpu({ facts: llvmpipe, name: adapterName(llvmpipe), software: true }),
    "webgpu (llvmpipe (LLVM 15.0.6, 256 bits); software adapter)",
  );
  const h200 = { vendor: "nvidia", architecture: "hopper", device: "0", description: "NVIDIA H200" };
  assert.equal(isSoftwareAdapter(h200), false);
  assert.equal(adapterName({ ...h200, description: "" }), "nvidia hopper");
  assert.equal(isSoftwareAdapter({ ...h200, isFallback: true }), true);
  assert.equal(isSoftwareAdapter({ ...h200, description: "SwiftShader Device (Subzero)" }), true);
});
