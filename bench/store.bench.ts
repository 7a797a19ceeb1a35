/**
 * Benchmarks of the DuckDB results store: appending 100k rows to a stage result table, and an aggregate
 * query over them. Each uses its own temporary database.
 *
 * @module
 */

import { join } from "node:path";
import { registerBench } from "../pipeline/bench.ts";
import { ResultsStore } from "../pipeline/store.ts";
import type { TableSpec } from "../pipeline/stage.ts";

const ROWS = 100_000;

const table: TableSpec = {
  name: "bench_rows",
  description: "synthetic rows for the store benchmarks",
  columns: [
    { name: "step", type: "INTEGER" },
    { name: "loss", type: "DOUBLE" },
    { name: "optimizer", type: "VARCHAR" },
    { name: "seed", type: "BIGINT" },
  ],
};

function makeRows(): Record<string, unknown>[] {
  const names = ["adam", "sgd", "rmsprop", "hrnn"];
  return Array.from({ length: ROWS }, (_, i) => ({
    step: i % 1000,
    loss: 1 / (1 + (i % 1000)) + (i % 7) * 1e-3,
    optimizer: names[i % 4],
    seed: i % 13,
  }));
}

interface Ctx {
  dir: string;
  store: ResultsStore;
  rows: Record<string, unknown>[];
}

async function setup(): Promise<Ctx> {
  const dir = await Deno.makeTempDir({ prefix: "lopt-bench-store-" });
  const store = await ResultsStore.open(join(dir, "results"), { log: () => {} });
  await store.ensureTables([table]);
  return { dir, store, rows: makeRows() };
}

async function teardown(ctx: Ctx): Promise<void> {
  await ctx.store.close();
  await Deno.remove(ctx.dir, { recursive: true });
}

registerBench<Ctx>({
  group: "store",
  name: "append-100k",
  unit: "100k rows",
  iterations: 5,
  setup,
  teardown,
  fn: async (ctx, i) => {
    await ctx.store.appendRows(table.name, `run-${i}`, ctx.rows);
    return { rows: ROWS };
  },
});

registerBench<Ctx>({
  group: "store",
  name: "query-group-by",
  unit: "query over 100k rows",
  iterations: 20,
  setup: async () => {
    const ctx = await setup();
    await ctx.store.appendRows(table.name, "q", ctx.rows);
    return ctx;
  },
  teardown,
  fn: async (ctx) => {
    const r = await ctx.store.query(
      `SELECT optimizer, avg(loss) AS mean_loss, count(*) AS n FROM ${table.name} GROUP BY optimizer`,
    );
    return { groups: r.rows.length };
  },
});
