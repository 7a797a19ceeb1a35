/** Rows into DuckDB through the store (`pipeline/row_loader.ts`, `pipeline/column_writer.ts`): value conversion and errors. */

import assert from "node:assert/strict";
import { count, lossTable, withStore } from "./fixtures/store_fixture.ts";

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
