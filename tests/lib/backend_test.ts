import { strict as assert } from "node:assert";
import { initBackend } from "../../lib/backend.ts";

Deno.test("backend: 'tensorflow' without tfjs-node installed is a clear error and fetches nothing", async () => {
  const lock = await Deno.readTextFile("deno.lock");
  await assert.rejects(
    () => initBackend("tensorflow"),
    (e: Error) =>
      /tfjs-node-gpu or @tensorflow\/tfjs-node, which is not installed/.test(e.message) &&
      /'wasm' backend/.test(e.message),
  );
  assert.equal(await Deno.readTextFile("deno.lock"), lock, "deno.lock must not change");
});

Deno.test("backend: unknown backend names are rejected with the list", async () => {
  await assert.rejects(
    () => initBackend("gpu" as never),
    /Unknown backend 'gpu'. Choose one of: wasm, cpu, tensorflow/,
  );
});
