/** The results store: run bookkeeping, transactions, result tables, loading artifacts. */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { TableSpec } from "../../pipeline/stage.ts";
import { count, lossTable, withStore } from "./fixtures/store_fixture.ts";

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
