import assert from "node:assert/strict";
import { join } from "node:path";
import { formatCsv, formatJson, formatTable, runQueryCli } from "../../pipeline/query.ts";
import { RUN_KEY_DESCRIPTION } from "../../pipeline/result_tables.ts";
import { ResultsStore } from "../../pipeline/store.ts";

interface Captured {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[]): Promise<Captured> {
  let out = "";
  let err = "";
  const code = await runQueryCli(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

async function makeResults(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "lopt-query-" });
  const store = await ResultsStore.open(dir, { log: () => {} });
  await store.ensureTables([{
    name: "curves",
    description: "test curves",
    columns: [{ name: "step", type: "INTEGER", description: "optimizer step" }, {
      name: "loss",
      type: "DOUBLE",
    }, {
      name: "note",
      type: "VARCHAR",
    }],
  }]);
  await store.appendRows("curves", "k1", [
    { step: 1, loss: 0.5, note: "plain" },
    { step: 2, loss: 12.25, note: 'has "quotes", commas\nand newline' },
    { step: 3, loss: null, note: null },
  ]);
  await store.close();
  return dir;
}

Deno.test("query CLI", async (t) => {
  const dir = await makeResults();
  try {
    await t.step("table format is aligned with a row count", async () => {
      const r = await cli([
        "--results",
        dir,
        "SELECT step, loss, note FROM curves WHERE step < 3 ORDER BY step",
      ]);
      assert.equal(r.code, 0, r.err);
      const lines = r.out.trimEnd().split("\n");
      assert.equal(lines[0], "step   loss  note");
      assert.equal(lines[1], "----  -----  " + "-".repeat('has "quotes", commas\\nand newline'.length));
      assert.equal(lines[2], "   1    0.5  plain");
      assert.equal(lines[3], '   2  12.25  has "quotes", commas\\nand newline');
      assert.equal(lines[4], "(2 rows)");
    });

    await t.step("csv format quotes per RFC 4180", async () => {
      const r = await cli([
        "--results",
        dir,
        "--format",
        "csv",
        "SELECT step, loss, note FROM curves ORDER BY step",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.equal(
        r.out,
        'step,loss,note\r\n1,0.5,plain\r\n2,12.25,"has ""quotes"", commas\nand newline"\r\n3,,\r\n',
      );
    });

    await t.step("json format is an array of objects", async () => {
      const r = await cli([
        "--results",
        dir,
        "--format=json",
        "SELECT run_key, step, loss FROM curves ORDER BY step",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), [
        { run_key: "k1", step: 1, loss: 0.5 },
        { run_key: "k1", step: 2, loss: 12.25 },
        { run_key: "k1", step: 3, loss: null },
      ]);
    });

    await t.step(
      "--schema lists the tables with descriptions; --schema TABLE one table's columns",
      async () => {
        const r = await cli(["--results", dir, "--schema", "--format", "json"]);
        assert.equal(r.code, 0, r.err);
        const tables = JSON.parse(r.out) as { table: string; columns: number; description: string | null }[];
        assert.deepEqual(tables.find((x) => x.table === "curves"), {
          table: "curves",
          columns: 4,
          description: "test curves",
        });
        assert.match(tables.find((x) => x.table === "stage_runs")!.description!, /one row per stage run/);
        const one = await cli(["--results", dir, "--schema", "curves", "--format", "json"]);
        assert.equal(one.code, 0, one.err);
        assert.deepEqual(JSON.parse(one.out), [
          { column: "run_key", type: "VARCHAR", description: RUN_KEY_DESCRIPTION },
          { column: "step", type: "INTEGER", description: "optimizer step" },
          { column: "loss", type: "DOUBLE", description: null },
          { column: "note", type: "VARCHAR", description: null },
        ]);
        const core = await cli(["--results", dir, "--schema", "stage_runs"]);
        assert.match(core.out, /^status\s+VARCHAR\s+running, success, failed or interrupted/m);
        const table = await cli(["--results", dir, "--schema"]);
        assert.match(table.out, /^table\s+columns\s+description$/m);
        const nope = await cli(["--results", dir, "--schema", "nope"]);
        assert.equal(nope.code, 1);
        assert.match(nope.err, /^error: no table nope; tables: .*curves/);
      },
    );

    await t.step("a write statement fails read-only with exit 1", async () => {
      const r = await cli(["--results", dir, "DELETE FROM curves"]);
      assert.equal(r.code, 1);
      assert.match(r.err, /opens the results database read-only: write statements are not allowed/);
      assert.equal(r.out, "");
      const after = await cli(["--results", dir, "--format", "csv", "SELECT count(*) AS n FROM curves"]);
      assert.equal(after.out, "n\r\n3\r\n");
    });

    await t.step("bad SQL prints DuckDB's message, exit 1, no stack", async () => {
      const r = await cli(["--results", dir, "SELEC 1"]);
      assert.equal(r.code, 1);
      assert.match(r.err, /^error: Parser Error: syntax error at or near "SELEC"/);
      assert.doesNotMatch(r.err, /\n\s+at /);
      const missing = await cli(["--results", dir, "SELECT * FROM nope"]);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /Table with name nope does not exist/);
    });

    await t.step("missing DB and usage errors", async () => {
      const empty = join(dir, "nothing-here");
      const r = await cli(["--results", empty, "SELECT 1"]);
      assert.equal(r.code, 1);
      assert.equal(r.err, `error: no results yet in ${empty}: run \`deno task pipeline\` first\n`);
      assert.equal((await cli(["--results", dir])).code, 2);
      assert.equal((await cli(["--results", dir, "--format", "xml", "SELECT 1"])).code, 2);
      assert.equal((await cli(["--bogus"])).code, 2);
      const help = await cli(["--help"]);
      assert.equal(help.code, 0);
      assert.match(help.out, /--format FMT/);
    });

    await t.step("subprocess: output on stdout, errors on stderr without a backtrace", async () => {
      const entry = new URL("../../pipeline/query.ts", import.meta.url).pathname;
      const run = async (...args: string[]) => {
        const o = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-read",
            "--allow-write",
            "--allow-env",
            "--allow-ffi",
            "--allow-sys",
            entry,
            ...args,
          ],
          env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
      };
      const ok = await run("--results", dir, "--format", "csv", "SELECT max(step) AS m FROM curves");
      assert.equal(ok.code, 0, ok.err);
      assert.equal(ok.out, "m\r\n3\r\n");
      const bad = await run("--results", dir, "INSERT INTO curves (step) VALUES (9)");
      assert.equal(bad.code, 1);
      assert.match(bad.err, /read-only/);
      assert.doesNotMatch(bad.err, /Stack backtrace|\n\s+at /);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("query formatters: edge cases", () => {
  const empty = { columns: [{ name: "a", type: "INTEGER" }], rows: [] };
  assert.equal(formatTable(empty), "a\n-\n(0 rows)\n");
  assert.equal(formatCsv(empty), "a\r\n");
  assert.equal(formatJson(empty), "[]\n");
  const dup = {
    columns: [{ name: "x", type: "INTEGER" }, { name: "x", type: "INTEGER" }, { name: "o", type: "STRUCT" }],
    rows: [[1, 2, { k: [1] }]],
  };
  assert.deepEqual(JSON.parse(formatJson(dup)), [{ x: 1, x_2: 2, o: { k: [1] } }]);
  assert.equal(formatCsv(dup), 'x,x,o\r\n1,2,"{""k"":[1]}"\r\n');
  assert.equal(
    formatTable({ columns: [{ name: "s", type: "VARCHAR" }], rows: [["y".repeat(200)]] }).split("\n")[2]
      .length,
    80,
  );
});
