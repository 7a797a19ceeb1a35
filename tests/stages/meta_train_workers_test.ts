/**
 * The real `meta-train` stage with meta-training workers, through the real entry (`stages/main.ts`): two
 * local workers over pipes (no server), and, against a real `nats-server` (see `tests/lib/nats_server.ts`),
 * two workers through NATS; both publish the artifact key, curve and weights of the in-process run.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ResultsStore } from "../../pipeline/store.ts";
import { loadWeights } from "../../models/hrnn/weights_file.ts";
import { natsIgnore, startNatsServer } from "../lib/nats_server.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
  "--allow-run",
  "--allow-net=127.0.0.1,localhost",
];
const ARGS = ["meta-train", "--profile", "smoke", "--set", "meta-train.metaBatch=2", "-q"];

async function run(results: string, extra: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", "--results", results, ...ARGS, ...extra],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

interface Published {
  key: string;
  curve: unknown[][];
  workers: string[];
  weights: Record<string, number[]>;
  log: string;
}

async function published(results: string): Promise<Published> {
  const keys: string[] = [];
  for await (const e of Deno.readDir(join(results, "artifacts", "meta-train"))) {
    if (e.isDirectory && !e.name.startsWith(".")) keys.push(e.name);
  }
  assert.equal(keys.length, 1);
  const store = await ResultsStore.open(results, { readOnly: true });
  try {
    const curve = await store.query(
      "SELECT meta_step, slot, meta_loss, family, unroll_len FROM meta_train_curve ORDER BY meta_step, slot",
    );
    const workers = await store.query("SELECT DISTINCT worker FROM meta_train_curve ORDER BY worker");
    const w = await loadWeights(join(results, "artifacts", "meta-train", keys[0], "hrnn.weights"));
    const weights = Object.fromEntries(
      Object.keys(w.metaParams).sort().map((k) => [k, Array.from(w.metaParams[k].dataSync())]),
    );
    const logs: string[] = [];
    for await (const e of Deno.readDir(join(results, "logs"))) {
      if (e.name.startsWith("meta-train")) logs.push(await Deno.readTextFile(join(results, "logs", e.name)));
    }
    return {
      key: keys[0],
      curve: curve.rows,
      workers: workers.rows.map((r) => String(r[0])),
      weights,
      log: logs.join("\n"),
    };
  } finally {
    await store.close();
  }
}

let inProcess: Promise<{ dir: string; published: Published }> | null = null;
/** The in-process run, made once for both tests (removed at the end of the last one). */
function inProcessRun(): Promise<{ dir: string; published: Published }> {
  inProcess ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "lopt-mt-inproc-" });
    await run(dir, []);
    return { dir, published: await published(dir) };
  })();
  return inProcess;
}

Deno.test("meta-train with 2 local workers (pipes) publishes the in-process run's key, curve and weights", async () => {
  const b = await Deno.makeTempDir({ prefix: "lopt-mt-workers-" });
  try {
    const pa = (await inProcessRun()).published;
    await run(b, ["--set", "meta-train.workers=2"]);
    const pb = await published(b);
    assert.equal(pb.key, pa.key, "workers is not in the artifact key");
    assert.deepEqual(pb.curve, pa.curve);
    assert.deepEqual(pb.weights, pa.weights);
    assert.deepEqual(pa.workers, ["in-process"]);
    assert.deepEqual(pb.workers, ["local-1", "local-2"]);
    assert.match(pb.log, /meta-training workers: 2 local worker processes \(pipes\) \(synchronous\)/);
  } finally {
    await Deno.remove(b, { recursive: true });
  }
});

Deno.test({
  name: "meta-train --nats with 2 workers publishes the in-process run's curve; the token is never logged",
  ignore: natsIgnore,
  fn: async () => {
    const token = "stage-tok-51e8a";
    const server = await startNatsServer({ token });
    const b = await Deno.makeTempDir({ prefix: "lopt-mt-nats-" });
    try {
      const pa = (await inProcessRun()).published;
      const url = `nats://${token}@${server.url.slice("nats://".length)}`;
      const out = await run(b, ["--set", "meta-train.workers=2", "--nats", url]);
      const pb = await published(b);
      assert.equal(pb.key, pa.key);
      assert.deepEqual(pb.curve, pa.curve);
      assert.deepEqual(pb.weights, pa.weights);
      assert.equal(pb.workers.length, 2, `two NATS workers: ${pb.workers}`);
      assert.match(pb.log, /meta-training workers: NATS workers at nats:\/\/\*\*\*@127\.0\.0\.1/);
      assert.ok(!(pb.log + out).includes(token), "the token is not in the stage log or the output");
    } finally {
      await server.stop();
      await Deno.remove(b, { recursive: true });
    }
  },
});

Deno.test("(cleanup of the shared in-process run)", async () => {
  if (inProcess) await Deno.remove((await inProcess).dir, { recursive: true });
});
