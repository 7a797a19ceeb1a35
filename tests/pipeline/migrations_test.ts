/** Schema migrations of the results database (`pipeline/migrations.ts`). */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadMigrations, SCHEMA_DIR } from "../../pipeline/migrations.ts";
import { ResultsStore } from "../../pipeline/store.ts";
import { count, quiet, withStore } from "./fixtures/store_fixture.ts";

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
