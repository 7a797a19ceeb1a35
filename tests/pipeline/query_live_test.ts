/**
 * `deno task query` while another process holds the results database (a running pipeline): it answers from
 * the stages' row files, including a stage still running (staging directory), and says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys"];

Deno.test("query CLI: falls back to artifact row files while the database is held", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-query-live-" });
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { ResultsStore } from "${REPO}pipeline/store.ts";` +
      `const s = await ResultsStore.open(${JSON.stringify(results)}); console.log("ready");` +
      `await new Promise((r) => setTimeout(r, 60000));`,
    ],
    cwd: REPO,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /ready/);
    reader.releaseLock();
    const done = join(results, "artifacts", "eval", "aaaa1111", "rows");
    const live = join(results, "artifacts", "eval", ".staging-bbbb2222-999", "rows");
    await Deno.mkdir(done, { recursive: true });
    await Deno.mkdir(live, { recursive: true });
    await Deno.writeTextFile(join(done, "curve.ndjson"), '{"step":0,"loss":1.5}\n{"step":1,"loss":1.25}\n');
    await Deno.writeTextFile(join(live, "curve.ndjson"), '{"step":0,"loss":2.5,"extra":"x"}\n');

    await Deno.mkdir(join(results, "logs"));
    await Deno.writeTextFile(
      join(results, "logs", "eval-aaaa1111.log"),
      "# lopt stage eval key aaaa1111 profile smoke started 2026-01-02T03:04:05.000Z\n" +
        "# finished 2026-01-02T03:04:07.000Z\n",
    );

    const dec = new TextDecoder();
    const query = async (...args: string[]) => {
      const o = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...FLAGS, "pipeline/query.ts", "--results", results, "--format", "json", ...args],
        cwd: REPO,
        env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
    };
    const out = await query(
      "SELECT run_key, count(*) AS n, sum(loss) AS s FROM curve GROUP BY run_key ORDER BY run_key",
    );
    assert.equal(out.code, 0, out.err);
    assert.match(out.err, /held by a running pipeline/);
    assert.deepEqual(JSON.parse(out.out), [
      { run_key: "aaaa1111", n: 2, s: 2.75 },
      { run_key: "bbbb2222", n: 1, s: 2.5 },
    ]);

    // stage_runs is answered from the run logs while the pipeline holds the database.
    const runs = await query("SELECT stage, key, status, seconds FROM stage_runs");
    assert.equal(runs.code, 0, runs.err);
    assert.deepEqual(JSON.parse(runs.out), [{
      stage: "eval",
      key: "aaaa1111",
      status: "success",
      seconds: 2,
    }]);

    // A table that cannot be rebuilt from files: a clear note naming the tables there are, no "Did you mean".
    const bench = await query("SELECT * FROM bench");
    assert.equal(bench.code, 1);
    assert.equal(bench.err.split("\n").filter((l) => l.startsWith("error:")).length, 1);
    assert.match(
      bench.err,
      /^error: table bench is not available while a pipeline holds the database \(bench cannot be rebuilt from files\); available now: artifacts, curve, schema_migrations, stage_runs$/m,
    );
    assert.doesNotMatch(bench.err, /Did you mean/);
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
    await Deno.remove(results, { recursive: true });
  }
});
