/**
 * The live snapshot that answers `deno task query` / `deno task report` while a pipeline holds the
 * database: row files of published and running stages, a staging folder published (or removed) between
 * listing and reading, half-written rows, and `stage_runs` / `artifacts` rebuilt from logs and manifests.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openLiveSnapshot } from "../../pipeline/live_snapshot.ts";

const A = "aaaa000011112222";
const B = "bbbb000011112222";
const C = "cccc000011112222";

async function write(path: string, text: string): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, text);
}

function manifest(stage: string, key: string, files: number): string {
  return JSON.stringify({
    stage,
    key,
    version: "1",
    profile: "smoke",
    params: { n: 2 },
    inputs: {},
    created: "2026-01-02T03:04:10.000Z",
    files: Array.from({ length: files }, (_, i) => ({ path: `f${i}`, sha256: "0", size: 10 })),
  });
}

/** A results dir: s1/A published, s1/B running (staging of this process), s2/C failed (staging of a dead pid). */
async function fixture(): Promise<{ dir: string; stagingB: string; stagingC: string }> {
  const dir = await Deno.makeTempDir({ prefix: "lopt-live-" });
  const art = join(dir, "artifacts");
  await write(join(art, "s1", A, "rows", "t1.ndjson"), '{"step":0,"loss":1.5}\n{"step":1,"loss":1.25}\n');
  await write(join(art, "s1", A, "manifest.json"), manifest("s1", A, 1));
  const stagingB = join(art, "s1", `.staging-${B}-${Deno.pid}`);
  await write(join(stagingB, "rows", "t1.ndjson"), '{"step":0,"loss":2.5}\n{"step":1,"lo');
  const stagingC = join(art, "s2", `.staging-${C}-999999999`);
  await write(join(stagingC, "rows", "t2.ndjson"), '{"x":"gone"}\n');
  const logs = join(dir, "logs");
  await write(
    join(logs, `s1-${A}.log`),
    `# lopt stage s1 key ${A} profile smoke started 2026-01-02T03:04:05.000Z\nhello\n` +
      `# finished 2026-01-02T03:04:10.500Z\n`,
  );
  await write(
    join(logs, `s1-${B}.log`),
    `# lopt stage s1 key ${B} profile smoke started 2026-01-02T03:05:00.000Z\nworking\n`,
  );
  await write(
    join(logs, `s2-${C}.log`),
    `# lopt stage s2 key ${C} profile smoke started 2026-01-02T03:06:00.000Z\n# failed: boom\n`,
  );
  await write(
    join(dir, ".tmp", `job-s1-${B}-${Deno.pid}.json`),
    JSON.stringify({ stage: "s1", key: B, params: { n: 3 } }),
  );
  return { dir, stagingB, stagingC };
}

Deno.test("live snapshot: a staging folder published between listing and reading is read from its new place", async () => {
  const { dir, stagingB, stagingC } = await fixture();
  const published = join(dir, "artifacts", "s1", B);
  const snap = await openLiveSnapshot(dir, {
    afterListing: async () => {
      // The pipeline finishes B (its last row complete) and publishes it; C's failed staging is removed.
      await Deno.writeTextFile(join(stagingB, "rows", "t1.ndjson"), 'ss":2.25}\n', { append: true });
      await Deno.rename(stagingB, published);
      await Deno.remove(stagingC, { recursive: true });
    },
  });
  try {
    const r = await snap.store.query(
      "SELECT run_key, count(*)::INTEGER AS n, sum(loss) AS s FROM t1 GROUP BY run_key ORDER BY run_key",
    );
    assert.deepEqual(r.rows, [[A, 2, 2.75], [B, 2, 4.75]]);
    assert.deepEqual(snap.tables.includes("t2"), false);
  } finally {
    await snap.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("live snapshot: half-written rows are left out; stage_runs and artifacts come from logs and manifests", async () => {
  const { dir } = await fixture();
  const snap = await openLiveSnapshot(dir);
  try {
    const t1 = await snap.store.query("SELECT run_key, step, loss FROM t1 ORDER BY run_key, step");
    assert.deepEqual(t1.rows, [[A, 0, 1.5], [A, 1, 1.25], [B, 0, 2.5]]);
    const t2 = await snap.store.query("SELECT run_key, x FROM t2");
    assert.deepEqual(t2.rows, [[C, "gone"]]);
    const runs = await snap.store.query(
      "SELECT stage, key, profile, status, seconds, pid, error, params->>'n' AS n FROM stage_runs ORDER BY started_at",
    );
    assert.deepEqual(runs.rows, [
      ["s1", A, "smoke", "success", 5.5, null, null, "2"],
      ["s1", B, "smoke", "running", null, Deno.pid, null, "3"],
      ["s2", C, "smoke", "failed", null, 999999999, "boom", null],
    ]);
    const arts = await snap.store.query("SELECT stage, key, files, bytes, created_at FROM artifacts");
    assert.deepEqual(arts.rows, [["s1", A, 1, 10, "2026-01-02T03:04:10.000Z"]]);
    assert.deepEqual(snap.tables, ["artifacts", "schema_migrations", "stage_runs", "t1", "t2"]);
  } finally {
    await snap.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("live snapshot: no artifacts folder is 'no results yet'", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-live-" });
  try {
    await assert.rejects(() => openLiveSnapshot(dir), /^Error: no results yet in /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("live snapshot: declared tables (tables.json, merged across runs) keep their types and descriptions", async () => {
  const { dir } = await fixture();
  const { ResultsStore } = await import("../../pipeline/store.ts");
  const store = await ResultsStore.open(dir, { log: () => {} });
  await store.ensureTables([{
    name: "t1",
    description: "losses",
    columns: [{ name: "step", type: "BIGINT", description: "step" }, { name: "loss", type: "FLOAT" }],
  }]);
  await store.ensureTables([{
    name: "t9",
    description: "never written",
    columns: [{ name: "x", type: "JSON" }],
  }]);
  await store.close();
  const snap = await openLiveSnapshot(dir);
  try {
    const cols = await snap.store.schema();
    const t1 = cols.filter((c) => c.table === "t1").map((c) => [c.column, c.type, c.description]);
    assert.deepEqual(t1, [
      ["run_key", "VARCHAR", "artifact key of the stage run that wrote the row (stage_runs.key)"],
      ["step", "BIGINT", "step"],
      ["loss", "FLOAT", null],
    ]);
    assert.equal(cols.find((c) => c.table === "t1")!.tableDescription, "losses");
    assert.deepEqual((await snap.store.query("SELECT count(*)::INTEGER FROM t9")).rows, [[0]]);
    assert.deepEqual((await snap.store.query("SELECT count(*)::INTEGER FROM t1")).rows, [[3]]);
  } finally {
    await snap.close();
    await Deno.remove(dir, { recursive: true });
  }
});
