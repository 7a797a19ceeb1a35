import assert from "node:assert/strict";
import { initBackend } from "../../../../lib/backend.ts";
import { MetaWorker } from "../../../../models/metatrain/distributed/worker.ts";
import { loptVersion, type MetaJob } from "../../../../models/metatrain/distributed/protocol.ts";
import { resolveMetaTrainConfig } from "../../../../models/metatrain/config.ts";
import { formatWorkers } from "../../../../models/metatrain/distributed/status.ts";
import { FIXTURE_RECIPE_MODULE } from "./fixture_setup.ts";

await initBackend();

function job(o: Partial<MetaJob> = {}): MetaJob {
  return {
    configHash: "0".repeat(64),
    loptVersion: "",
    backend: "wasm",
    recipe: { module: FIXTURE_RECIPE_MODULE, args: {} },
    config: resolveMetaTrainConfig(),
    seed: 0,
    metaBatch: 1,
    instances: 1,
    initialMetaParams: null,
    asyncStaleness: null,
    ...o,
  };
}

Deno.test("a worker refuses a coordinator of another lopt version, and a job whose hash its code does not give", async () => {
  const version = await loptVersion();
  const w = new MetaWorker("w", version, (b) => initBackend(b as "wasm"));
  const other = await w.handle({ type: "job", job: job({ loptVersion: "lopt-meta/1 0123abcd" }) });
  assert.equal(other.type, "refused");
  assert.match(
    (other as { reason: string }).reason,
    /the coordinator runs lopt-meta\/1 0123abcd, this worker/,
  );
  const hash = await w.handle({ type: "job", job: job({ loptVersion: version }) });
  assert.equal(hash.type, "refused");
  assert.match((hash as { reason: string }).reason, /configuration hash/);
  const outside = await w.handle({
    type: "job",
    job: job({ loptVersion: version, recipe: { module: "../../etc/evil.ts", args: {} } }),
  });
  assert.equal(outside.type, "error");
  assert.match((outside as { message: string }).message, /not a path inside the lopt checkout/);
  const task = await w.handle({
    type: "task",
    taskId: "t",
    configHash: "x",
    version: 0,
    metaParams: {},
    slotIndex: 0,
    slot: { cursor: {} as never, carry: null, saved: null },
  });
  assert.equal(task.type, "error", "a task without its job is refused");
  w.close();
});

Deno.test("the worker listing shows what each worker runs, its rate and heartbeat age", () => {
  const text = formatWorkers([{
    type: "hello",
    workerId: "w-1",
    loptVersion: "lopt-meta/1 abc",
    host: "box",
    pid: 42,
    job: "f".repeat(64),
    running: "slot 1 of version 7",
    tasksDone: 12,
    innerStepsPerSecond: 345.67,
    at: 1000,
  }], 3500);
  const [head, row] = text.split("\n");
  assert.match(head, /^worker\s+host:pid\s+running\s+tasks\s+rate\s+heartbeat\s+version$/);
  assert.match(
    row,
    /^w-1\s+box:42\s+slot 1 of version 7\s+12\s+345\.7 steps\/s\s+2\.5 s ago\s+lopt-meta\/1 abc$/,
  );
  assert.equal(formatWorkers([], 0), "no meta-training workers answered");
});
