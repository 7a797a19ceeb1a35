/**
 * `--executor nats` against a real `nats-server` with JetStream (see `tests/lib/nats_server.ts`: ignored
 * without it on a developer machine, failing in CI): stage runs of the fixture pipeline go through the work
 * queue to stage workers (`deno task worker --stages`) and publish what a local run publishes; a stage worker
 * SIGKILLed mid-stage leaves no artifact and the run is retried on another worker.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { natsIgnore, startNatsServer } from "../lib/nats_server.ts";
import { artifactEntries, dbRows, ENTRY, FLAGS, REPO_ROOT, runFx, waitFor } from "./fixtures/harness.ts";

const WORKER_MAIN = fileURLToPath(
  new URL("../../models/metatrain/distributed/worker_main.ts", import.meta.url),
);
const NET = "--allow-net=127.0.0.1,localhost";

function stageWorker(url: string, id: string, env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, NET, WORKER_MAIN, "--nats", url, "--stages", "--ack-wait", "2", "--id", id],
    cwd: REPO_ROOT,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function viaNats(results: string, url: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, NET, ENTRY, "--results", results, ...args, "--executor", "nats", "--nats", url],
    cwd: REPO_ROOT,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const ROWS = "SELECT run_key, i, value, label FROM fx_a_rows ORDER BY i";

async function published(results: string): Promise<string[]> {
  return (await artifactEntries(results, "a")).filter((n) => /^[0-9a-f]{16}$/.test(n));
}

async function stop(ws: Deno.ChildProcess[]): Promise<void> {
  for (const w of ws) {
    try {
      w.kill("SIGKILL");
    } catch { /* gone */ }
    await w.status;
  }
}

Deno.test({
  name:
    "--executor nats: the same artifact key and rows as a local run; a SIGKILLed stage worker leaves no " +
    "artifact and the stage is retried on another worker; a key queued twice is refused",
  ignore: natsIgnore,
  fn: async () => {
    const server = await startNatsServer({ jetstream: true });
    const dirs = await Promise.all([0, 1, 2].map(() => Deno.makeTempDir({ prefix: "lopt-nats-exec-" })));
    const [local, remote, killed] = dirs;
    const workers: Deno.ChildProcess[] = [];
    try {
      const args = ["a", "--set", "a.n=7"];
      const l = await runFx(local, args);
      assert.equal(l.code, 0, l.stderr);

      workers.push(stageWorker(server.url, "sw-1"));
      const r = await viaNats(remote, server.url, args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /stages run through the NATS work queue at nats:\/\/127\.0\.0\.1/);
      assert.deepEqual(await published(remote), await published(local), "same artifact key");
      assert.deepEqual(await dbRows(remote, ROWS), await dbRows(local, ROWS), "same rows");
      const log = await Deno.readTextFile(join(remote, "logs", `a-${(await published(local))[0]}.log`));
      assert.match(log, /# running on stage worker sw-1/);
      await stop(workers.splice(0));

      // Two slow workers: the one that takes the run is killed; the other takes it over after ack-wait.
      const slow = { FX_SLEEP_MS_a: "4000" };
      const ws = {
        "sw-a": stageWorker(server.url, "sw-a", slow),
        "sw-b": stageWorker(server.url, "sw-b", slow),
      };
      workers.push(...Object.values(ws));
      const pipeline = viaNats(killed, server.url, args);
      const key = (await published(local))[0];
      const logPath = join(killed, "logs", `a-${key}.log`);
      let first = "";
      await waitFor(
        async () => {
          const m = /# running on stage worker (sw-[ab])/.exec(
            await Deno.readTextFile(logPath).catch(() => ""),
          );
          first = m ? m[1] : "";
          return first !== "";
        },
        60_000,
        "a stage worker to start the run",
      );
      await new Promise((res) => setTimeout(res, 500));
      ws[first as "sw-a" | "sw-b"].kill("SIGKILL");
      assert.deepEqual(await published(killed), [], "the killed worker's run published nothing");
      const k = await pipeline;
      assert.equal(k.code, 0, k.stderr);
      const klog = await Deno.readTextFile(logPath);
      const other = first === "sw-a" ? "sw-b" : "sw-a";
      assert.match(
        klog,
        new RegExp(
          `# worker went away; run delivered again \\(attempt 2\\)\\n# running on stage worker ${other}`,
        ),
      );
      assert.deepEqual(await published(killed), [key]);
      assert.deepEqual(await dbRows(killed, ROWS), await dbRows(local, ROWS), "rows once each, as local");

      // Dedupe by artifact key: while the key is queued or running, a second pipeline cannot queue it.
      const [c, d] = await Promise.all([0, 1].map(() => Deno.makeTempDir({ prefix: "lopt-nats-exec-" })));
      dirs.push(c, d);
      const firstRun = viaNats(c, server.url, args);
      await waitFor(
        async () =>
          (await Deno.readTextFile(join(c, "logs", `a-${key}.log`)).catch(() => "")).includes("# running"),
        60_000,
        "the first run to start",
      );
      const second = await viaNats(d, server.url, args);
      assert.equal(second.code, 1);
      assert.match(
        second.stderr,
        /stage a key [0-9a-f]{16} is already queued or running on the NATS work queue/,
      );
      assert.equal((await firstRun).code, 0);
    } finally {
      await stop(workers);
      await server.stop();
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test("--executor nats without a server URL is a usage error", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-nats-exec-" });
  try {
    const r = await runFx(results, ["a", "--executor", "nats"], { LOPT_NATS_URL: "" });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /error: --executor nats needs a NATS server: pass --nats URL or set LOPT_NATS_URL/,
    );
    const bad = await runFx(results, ["a", "--executor", "ssh"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--executor expects local or nats, got "ssh"/);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
