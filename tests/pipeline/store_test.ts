import assert from "node:assert/strict";
import { join } from "node:path";
import { loadMigrations, SCHEMA_DIR } from "../../pipeline/migrations.ts";
import { DB_FILE, resolveResultsDir } from "../../pipeline/results_dir.ts";
import { ResultsStore } from "../../pipeline/store.ts";
import type { TableSpec } from "../../pipeline/stage.ts";

const quiet = { log: () => {} };

async function withStore(fn: (store: ResultsStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lopt-store-" });
  const store = await ResultsStore.open(join(dir, "results"), quiet);
  try {
    await fn(store, join(dir, "results"));
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const lossTable: TableSpec = {
  name: "losses",
  description: "test losses",
  columns: [
    { name: "step", type: "INTEGER" },
    { name: "loss", type: "DOUBLE" },
    { name: "tag", type: "VARCHAR" },
    { name: "meta", type: "JSON" },
    { name: "big", type: "BIGINT" },
    { name: "ok", type: "BOOLEAN" },
    { name: "at", type: "TIMESTAMP" },
  ],
};

async function count(store: ResultsStore, sql: string): Promise<number> {
  return (await store.query(sql)).rows[0][0] as number;
}

Deno.test("store: migrations create the core tables and are recorded", async () => {
  await withStore(async (store) => {
    const migrations = await loadMigrations();
    assert.ok(migrations.length >= 1);
    assert.equal(migrations[0].version, 1);
    assert.equal(store.schemaVersion, migrations[migrations.length - 1].version);
    const tables = new Set((await store.schema()).map((c) => c.table));
    for (const t of ["stage_runs", "artifacts", "bench", "schema_migrations"]) assert.ok(tables.has(t), t);
    const r = await store.query("SELECT version, name FROM schema_migrations ORDER BY version");
    assert.deepEqual(r.rows[0], [1, "core"]);
  });
});

Deno.test("store: a DB at version N is upgraded to the latest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-migrate-" });
  try {
    const v1 = join(dir, "v1");
    const v2 = join(dir, "v2");
    await Deno.mkdir(v1);
    await Deno.mkdir(v2);
    for (const d of [v1, v2]) await Deno.copyFile(join(SCHEMA_DIR, "001_core.sql"), join(d, "001_core.sql"));
    await Deno.writeTextFile(
      join(v2, "002_add_note.sql"),
      "ALTER TABLE stage_runs ADD COLUMN note VARCHAR;\nCREATE TABLE extra_t (a INTEGER);",
    );
    const results = join(dir, "results");
    let store = await ResultsStore.open(results, { migrationsDir: v1, ...quiet });
    assert.equal(store.schemaVersion, 1);
    await store.beginRun({
      stage: "s",
      key: "k",
      profile: "smoke",
      params: {},
      gitCommit: null,
      pid: 1,
      logPath: "l",
    });
    await store.close();

    const notices: string[] = [];
    store = await ResultsStore.open(results, { migrationsDir: v2, log: (m) => notices.push(m) });
    assert.equal(store.schemaVersion, 2);
    assert.ok(notices.some((n) => n.includes("002_add_note")));
    const cols = (await store.schema()).filter((c) => c.table === "stage_runs").map((c) => c.column);
    assert.ok(cols.includes("note"));
    assert.equal(await count(store, "SELECT count(*) FROM stage_runs"), 1);
    assert.equal(await count(store, "SELECT count(*) FROM schema_migrations"), 2);
    await store.close();

    // Reopening with an older checkout is refused.
    await assert.rejects(
      ResultsStore.open(results, { migrationsDir: v1, ...quiet }),
      /newer than this checkout/,
    );

    // A failing migration is rolled back and named.
    await Deno.writeTextFile(join(v2, "003_bad.sql"), "CREATE TABLE good_t (a INTEGER); SELEC oops;");
    await assert.rejects(ResultsStore.open(results, { migrationsDir: v2, ...quiet }), /003_bad failed/);
    store = await ResultsStore.open(results, { migrationsDir: v1, readOnly: true, ...quiet });
    assert.equal(store.schemaVersion, 2);
    assert.ok(!(await store.schema()).some((c) => c.table === "good_t"));
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: run lifecycle, artifacts upsert", async () => {
  await withStore(async (store) => {
    const run = {
      stage: "train",
      key: "abc",
      profile: "smoke",
      params: { lr: 0.1 },
      gitCommit: "deadbeef",
      pid: 42,
    };
    await store.beginRun({ ...run, logPath: "/logs/a.log" });
    let r = await store.query("SELECT status, params, git_commit, pid, ended_at, started_at FROM stage_runs");
    assert.equal(r.rows.length, 1);
    assert.equal(r.rows[0][0], "running");
    assert.deepEqual(JSON.parse(r.rows[0][1] as string), { lr: 0.1 });
    assert.equal(r.rows[0][2], "deadbeef");
    assert.equal(r.rows[0][3], 42);
    assert.equal(r.rows[0][4], null);
    assert.match(r.rows[0][5] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(r.columns[1].type, "JSON");

    await store.finishRun({ stage: "train", key: "abc", status: "failed", error: "boom" });
    r = await store.query("SELECT status, error, seconds >= 0, ended_at IS NOT NULL FROM stage_runs");
    assert.deepEqual(r.rows[0], ["failed", "boom", true, true]);

    // Rerun: same (stage, key) goes back to running with the error cleared.
    await store.beginRun({ ...run, pid: 43, logPath: "/logs/b.log" });
    r = await store.query("SELECT status, error, pid, log_path, ended_at FROM stage_runs");
    assert.deepEqual(r.rows, [["running", null, 43, "/logs/b.log", null]]);
    await store.finishRun({ stage: "train", key: "abc", status: "success" });
    assert.equal(await count(store, "SELECT count(*) FROM stage_runs WHERE status = 'success'"), 1);

    await assert.rejects(
      store.finishRun({ stage: "nope", key: "x", status: "success" }),
      /call beginRun first/,
    );

    await store.recordArtifact({
      stage: "train",
      key: "abc",
      profile: "smoke",
      path: "/a",
      files: 2,
      bytes: 10,
    });
    await store.recordArtifact({
      stage: "train",
      key: "abc",
      profile: "smoke",
      path: "/b",
      files: 3,
      bytes: 2 ** 40,
    });
    r = await store.query("SELECT path, files, bytes FROM artifacts");
    assert.deepEqual(r.rows, [["/b", 3, 2 ** 40]]);
  });
});

Deno.test("store: appendRows, hasRows, deleteRows and value conversion", async () => {
  await withStore(async (store) => {
    const res = await store.ensureTables([lossTable]);
    assert.deepEqual(res.created, ["losses"]);
    const at = new Date("2024-05-06T07:08:09.123Z");
    await store.appendRows("losses", "k1", [
      { step: 0, loss: 1.5, tag: "a", meta: { x: [1, 2] }, big: 2n ** 60n, ok: true, at },
      { step: 1, loss: Number.NaN, tag: "b" },
    ]);
    await store.appendRows("losses", "k2", [{ step: 0, loss: 0.25, at: at.toISOString() }]);
    assert.equal(await store.hasRows("losses", "k1"), true);
    assert.equal(await store.hasRows("losses", "k3"), false);
    assert.equal(await store.hasRows("no_such_table", "k1"), false);

    const r = await store.query("SELECT * FROM losses WHERE run_key = 'k1' ORDER BY step");
    assert.deepEqual(r.columns.map((c) => c.name), [
      "run_key",
      "step",
      "loss",
      "tag",
      "meta",
      "big",
      "ok",
      "at",
    ]);
    assert.deepEqual(r.rows[0], [
      "k1",
      0,
      1.5,
      "a",
      '{"x":[1,2]}',
      (2n ** 60n).toString(),
      true,
      at.toISOString(),
    ]);
    assert.equal(r.rows[1][4], null);
    assert.ok(Number.isNaN(r.rows[1][2] as number));
    const small = await store.query("SELECT count(*) AS n, sum(step)::BIGINT AS s FROM losses");
    assert.deepEqual(small.rows, [[3, 1]]);

    await store.deleteRows(["losses", "missing_table"], "k1");
    assert.equal(await store.hasRows("losses", "k1"), false);
    assert.equal(await store.hasRows("losses", "k2"), true);
  });
});

Deno.test("store: appendRows errors name the table and column and leave no rows", async () => {
  await withStore(async (store) => {
    await store.ensureTables([lossTable]);
    await assert.rejects(
      store.appendRows("losses", "k", [{ step: 1, lossy: 2 }]),
      /table losses has no column "lossy"/,
    );
    await assert.rejects(
      store.appendRows("losses", "k", [{ step: 1, loss: 1 }, { step: 2, loss: "high" }]),
      /table losses, column loss \(DOUBLE\), row 1: expected a number/,
    );
    await assert.rejects(store.appendRows("losses", "k", [{ step: 1.5 }]), /column step \(INTEGER\)/);
    await assert.rejects(store.appendRows("nope", "k", [{ a: 1 }]), /unknown table nope/);
    assert.equal(await count(store, "SELECT count(*) FROM losses"), 0);
  });
});

Deno.test("store: transaction commits or rolls back everything", async () => {
  await withStore(async (store) => {
    await store.ensureTables([lossTable]);
    await store.appendRows("losses", "old", [{ step: 0 }]);
    await assert.rejects(
      store.transaction(async () => {
        await store.deleteRows(["losses"], "old");
        await store.appendRows("losses", "new", [{ step: 1 }]);
        await store.beginRun({
          stage: "s",
          key: "new",
          profile: "p",
          params: null,
          gitCommit: null,
          pid: 1,
          logPath: "",
        });
        throw new Error("abort");
      }),
      /abort/,
    );
    let r = await store.query("SELECT run_key FROM losses");
    assert.deepEqual(r.rows, [["old"]]);
    assert.equal(await count(store, "SELECT count(*) FROM stage_runs"), 0);

    const out = await store.transaction(async () => {
      await store.deleteRows(["losses"], "old");
      await store.transaction(() => store.appendRows("losses", "new", [{ step: 1 }, { step: 2 }]));
      return 7;
    });
    assert.equal(out, 7);
    r = await store.query("SELECT run_key, count(*) FROM losses GROUP BY ALL");
    assert.deepEqual(r.rows, [["new", 2]]);

    // Concurrent calls from outside wait for the transaction instead of joining it.
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    const tx = store.transaction(async () => {
      await store.appendRows("losses", "tx", [{ step: 9 }]);
      await gate;
      throw new Error("rollback");
    });
    const outside = store.appendRows("losses", "outside", [{ step: 10 }]);
    release();
    await assert.rejects(tx, /rollback/);
    await outside;
    r = await store.query("SELECT run_key FROM losses WHERE step >= 9");
    assert.deepEqual(r.rows, [["outside"]]);
  });
});

Deno.test("store: ensureTables recreates a table whose columns changed", async () => {
  await withStore(async (store) => {
    const notices: string[] = [];
    await store.ensureTables([lossTable]);
    await store.appendRows("losses", "k", [{ step: 1 }]);
    // Same spec (with type aliases): unchanged, rows kept.
    const same = await store.ensureTables([{
      ...lossTable,
      columns: lossTable.columns.map((c) => c.type === "INTEGER" ? { ...c, type: "int" } : c),
    }]);
    assert.deepEqual(same, { created: [], recreated: [], notices: [] });
    assert.equal(await store.hasRows("losses", "k"), true);

    const changed: TableSpec = {
      ...lossTable,
      columns: [...lossTable.columns, { name: "extra", type: "DOUBLE" }],
    };
    const store2 = store;
    const res = await store2.ensureTables([changed]);
    notices.push(...res.notices);
    assert.deepEqual(res.recreated, ["losses"]);
    assert.match(notices[0], /table losses changed columns/);
    assert.equal(await store.hasRows("losses", "k"), false);
    await store.appendRows("losses", "k", [{ step: 1, extra: 2.5 }]);
    assert.equal(await count(store, "SELECT count(*) FROM losses WHERE extra = 2.5"), 1);

    await assert.rejects(store.ensureTables([{ name: "bench", description: "", columns: [] }]), /reserved/);
    await assert.rejects(
      store.ensureTables([{ name: "t", description: "", columns: [{ name: "a", type: "NOTATYPE" }] }]),
      /table t: invalid column declaration/,
    );
    await assert.rejects(
      store.ensureTables([{ name: "t", description: "", columns: [{ name: "run_key", type: "VARCHAR" }] }]),
      /added by the store/,
    );
  });
});

Deno.test("store: read-only mode refuses writes; missing DB has a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-ro-" });
  try {
    await assert.rejects(
      ResultsStore.open(join(dir, "empty"), { readOnly: true, ...quiet }),
      (e: Error) => e.message === `no results yet in ${join(dir, "empty")}: run \`deno task pipeline\` first`,
    );
    const w = await ResultsStore.open(dir, quiet);
    await w.ensureTables([lossTable]);
    await w.appendRows("losses", "k", [{ step: 3 }]);
    await w.close();
    await Deno.stat(join(dir, DB_FILE));
    const ro = await ResultsStore.open(dir, { readOnly: true, ...quiet });
    assert.equal(ro.readOnly, true);
    assert.equal(await count(ro, "SELECT count(*) FROM losses"), 1);
    await assert.rejects(ro.query("DELETE FROM losses"), /read-only/);
    await assert.rejects(ro.appendRows("losses", "k", [{ step: 4 }]), /read-only/);
    await ro.close();
    await ro.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: resolveResultsDir precedence", () => {
  const prev = Deno.env.get("LOPT_RESULTS");
  try {
    Deno.env.delete("LOPT_RESULTS");
    assert.equal(resolveResultsDir(), join(Deno.cwd(), "results"));
    Deno.env.set("LOPT_RESULTS", "/tmp/env-results");
    assert.equal(resolveResultsDir(), "/tmp/env-results");
    assert.equal(resolveResultsDir("rel/dir"), join(Deno.cwd(), "rel/dir"));
  } finally {
    if (prev === undefined) Deno.env.delete("LOPT_RESULTS");
    else Deno.env.set("LOPT_RESULTS", prev);
  }
});

Deno.test("store: loadArtifact replaces a key's rows in one transaction, across chunks, or not at all", async () => {
  await withStore(async (store, dir) => {
    const t: TableSpec = { name: "big", description: "", columns: [{ name: "i", type: "INTEGER" }] };
    await store.ensureTables([t]);
    const file = join(dir, "big.ndjson");
    const lines = (n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ i: from + i })).join("\n") + "\n";
    const load = (beforeCommit?: () => Promise<void>) =>
      store.loadArtifact({
        artifact: {
          stage: "s",
          key: "k",
          profile: "p",
          path: "/a",
          files: 1,
          bytes: 1,
          manifestSha256: "m1",
        },
        tables: [{ name: "big", file }],
        run: {
          profile: "p",
          params: {},
          gitCommit: null,
          started: "2026-01-01T00:00:00.000Z",
          ended: "2026-01-01T00:00:02.500Z",
          pid: null,
          logPath: null,
        },
        beforeCommit,
      });
    await Deno.writeTextFile(file, lines(12000));
    await load();
    assert.equal(await count(store, "SELECT count(*) FROM big WHERE run_key = 'k'"), 12000);
    assert.deepEqual(
      (await store.query("SELECT status, seconds FROM stage_runs WHERE stage = 's' AND key = 'k'")).rows,
      [["success", 2.5]],
    );
    assert.deepEqual((await store.bookkeeping("s")).get("k"), {
      manifestSha256: "m1",
      artifact: true,
      status: "success",
    });

    // A bad line after two full chunks: nothing of the new load is kept.
    await Deno.writeTextFile(file, lines(11000, 100000) + "{not json\n");
    await assert.rejects(load(), /line 11001 is not JSON/);
    assert.equal(await count(store, "SELECT count(*) FROM big WHERE run_key = 'k'"), 12000);
    assert.equal(await count(store, "SELECT max(i) FROM big"), 11999);

    // beforeCommit failing (the rename of the artifact) rolls everything back too.
    await Deno.writeTextFile(file, lines(7));
    await assert.rejects(load(() => Promise.reject(new Error("rename failed"))), /rename failed/);
    assert.deepEqual(Object.fromEntries(await store.rowCounts("big")), { k: 12000 });

    await load();
    assert.deepEqual(Object.fromEntries(await store.rowCounts("big")), { k: 7 });
    await store.forgetKeys("s", ["big"], ["k"]);
    assert.deepEqual(Object.fromEntries(await store.rowCounts("big")), {});
    assert.equal((await store.bookkeeping("s")).size, 0);
  });
});

Deno.test("store: a rerun of a published key keeps its success row until the new one is loaded", async () => {
  await withStore(async (store) => {
    const run = { stage: "s", key: "k", profile: "p", params: {}, gitCommit: null, pid: 7, logPath: "l" };
    await store.beginRun(run);
    await store.finishRun({ stage: "s", key: "k", status: "success" });
    await store.beginRun({ ...run, pid: 8 });
    await store.finishRun({ stage: "s", key: "k", status: "interrupted", error: "x" });
    assert.deepEqual((await store.query("SELECT status, pid FROM stage_runs")).rows, [["success", 7]]);
    await store.beginRun({ ...run, key: "k2" });
    assert.deepEqual(await store.markInterrupted(), [{ stage: "s", key: "k2", pid: 7 }]);
    assert.deepEqual(
      (await store.query("SELECT key, status FROM stage_runs ORDER BY key")).rows,
      [["k", "success"], ["k2", "interrupted"]],
    );
  });
});

Deno.test("store: another process holding the file is reported as in use, with its pid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-store-busy-" });
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { ResultsStore } from "${new URL("../../pipeline/store.ts", import.meta.url).href}";` +
      `await ResultsStore.open(${JSON.stringify(dir)}, { log: () => {} }); console.log("ready");` +
      `await new Promise((r) => setTimeout(r, 60000));`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = holder.stdout.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
    reader.releaseLock();
    for (const readOnly of [false, true]) {
      await assert.rejects(
        ResultsStore.open(dir, { readOnly, moveAsideDamaged: !readOnly, ...quiet }),
        (e: Error) =>
          e.name === "PipelineError" &&
          e.message.includes(`is in use by another process (pid ${holder.pid})`) && !e.message.includes("\n"),
      );
    }
    // Not moved aside: the holder's file is intact.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /corrupt/.test(n)), []);
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: a damaged file is an error unless moveAsideDamaged, then it is set aside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-store-damaged-" });
  try {
    const s = await ResultsStore.open(dir, quiet);
    await s.close();
    const db = join(dir, DB_FILE);
    await Deno.writeFile(db, (await Deno.readFile(db)).slice(0, 5000));
    await assert.rejects(
      ResultsStore.open(dir, quiet),
      /is damaged \(IO Error: .*\): run `deno task pipeline`, which moves it aside/,
    );
    const notes: string[] = [];
    const fresh = await ResultsStore.open(dir, { moveAsideDamaged: true, log: (m) => notes.push(m) });
    assert.equal(fresh.schemaVersion, fresh.latestSchemaVersion);
    await fresh.close();
    assert.equal(notes.length, 1);
    assert.match(
      notes[0],
      /is damaged \(IO Error: Could not read enough bytes.*\); moved it to .*\.corrupt-\d{8}T\d{6}Z/,
    );
    assert.equal([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".corrupt-")).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
