/**
 * `deno task query` can read the results database and nothing else: user SQL runs with DuckDB's external
 * access off and the configuration locked. Also: empty SQL, values DuckDB cannot convert, table rounding.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { displayNumber, runQueryCli } from "../../pipeline/query.ts";
import { ResultsStore } from "../../pipeline/store.ts";

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runQueryCli(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("query sandbox: files, extensions, ATTACH and settings are refused with one line", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-query-sandbox-" });
  const outside = await Deno.makeTempDir({ prefix: "lopt-query-outside-" });
  try {
    const store = await ResultsStore.open(dir, { log: () => {} });
    await store.ensureTables([{
      name: "curves",
      description: "test",
      columns: [{ name: "step", type: "INTEGER" }, { name: "loss", type: "DOUBLE" }],
    }]);
    await store.appendRows("curves", "k1", [{ step: 1, loss: 344.36859300000197 }, { step: 2, loss: 1e-7 }]);
    await store.close();
    const secret = join(outside, "secret.csv");
    await Deno.writeTextFile(secret, "a,b\n1,2\n");
    const other = join(outside, "other.duckdb");

    const refused: [string, string, string?][] = [
      ["COPY TO a file", `COPY curves TO '${join(outside, "dump.csv")}'`, join(outside, "dump.csv")],
      [
        "COPY a query TO a file",
        `COPY (SELECT 1) TO '${join(outside, "q.parquet")}'`,
        join(outside, "q.parquet"),
      ],
      ["EXPORT DATABASE", `EXPORT DATABASE '${join(outside, "exp")}'`, join(outside, "exp")],
      ["read_csv of /etc/passwd", "SELECT * FROM read_csv('/etc/passwd', sep = ':')"],
      ["read_csv of a file next to the database", `SELECT * FROM read_csv('${secret}')`],
      ["read_text", "SELECT * FROM read_text('/etc/hostname')"],
      ["read_blob", "SELECT * FROM read_blob('/etc/hostname')"],
      ["read_json", `SELECT * FROM read_json('${secret}')`],
      ["read_parquet", `SELECT * FROM read_parquet('${join(outside, "x.parquet")}')`],
      ["glob", "SELECT * FROM glob('/etc/*')"],
      ["a file path as a table", `SELECT * FROM '${secret}'`],
      ["INSTALL", "INSTALL httpfs"],
      ["LOAD", "LOAD httpfs"],
      ["ATTACH a file", `ATTACH '${other}' AS o`, other],
      ["SET", "SET threads = 1"],
      ["SET enable_external_access back on", "SET enable_external_access = true"],
      ["RESET", "RESET enable_external_access"],
      ["unlocking the configuration", "SET lock_configuration = false"],
      [
        "PRAGMA profile_output",
        `PRAGMA profile_output = '${join(outside, "prof.txt")}'`,
        join(outside, "prof.txt"),
      ],
      ["PRAGMA enable_profiling", "PRAGMA enable_profiling"],
      ["PRAGMA enable_profiling after a SELECT", "SELECT 1; PRAGMA enable_profiling"],
      ["PRAGMA disable_optimizer", "PRAGMA disable_optimizer"],
      ["SET profile_output in a multi-statement", `SELECT 1; SET profiling_output = '${join(outside, "p")}'`],
    ];
    for (const [what, sql, mustNotExist] of refused) {
      await t.step(what, async () => {
        const r = await cli(["--results", dir, sql]);
        assert.equal(r.code, 1, `${sql} was accepted: ${r.out}`);
        assert.equal(r.out, "");
        assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
        assert.match(r.err, /^error: /);
        assert.match(
          r.err,
          /^error: `deno task query` can read only the results database: files, extensions and settings/,
        );
        if (mustNotExist) assert.equal(await exists(mustNotExist), false, `${mustNotExist} was written`);
      });
    }

    await t.step("the database itself still opens read-only and queries work", async () => {
      const r = await cli([
        "--results",
        dir,
        "--format",
        "csv",
        "SELECT step, loss FROM curves ORDER BY step",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, "step,loss\r\n1,344.36859300000197\r\n2,1e-7\r\n");
      const settings = await cli([
        "--results",
        dir,
        "--format",
        "csv",
        "SELECT current_setting('enable_external_access') AS ext, current_setting('lock_configuration') AS locked",
      ]);
      assert.equal(settings.out, "ext,locked\r\nfalse,true\r\n");
      const pragma = await cli(["--results", dir, "--format", "csv", "PRAGMA table_info('curves')"]);
      assert.equal(pragma.code, 0, pragma.err);
      assert.match(pragma.out, /^cid,name,type,/);
      const profiling = await cli([
        "--results",
        dir,
        "--format",
        "csv",
        "SELECT current_setting('enable_profiling') AS p",
      ]);
      assert.equal(profiling.code, 0, profiling.err);
    });

    await t.step("table format rounds doubles to 6 significant digits; csv and json keep them", async () => {
      const r = await cli(["--results", dir, "SELECT step, loss FROM curves ORDER BY step"]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out.split("\n").slice(2, 4), ["   1  344.369", "   2     1e-7"]);
      const json = await cli(["--results", dir, "--format", "json", "SELECT loss FROM curves ORDER BY step"]);
      assert.deepEqual(JSON.parse(json.out), [{ loss: 344.36859300000197 }, { loss: 1e-7 }]);
      assert.equal(displayNumber(0.1 + 0.2), "0.3");
      assert.equal(displayNumber(1234567.891), "1234570");
      assert.equal(displayNumber(-2.000004e-12), "-2e-12");
      assert.equal(displayNumber(12), "12");
    });

    await t.step("an infinite timestamp renders as text instead of failing the query", async () => {
      const r = await cli([
        "--results",
        dir,
        "--format",
        "json",
        "SELECT 'infinity'::TIMESTAMP AS t, TIMESTAMP '2024-01-02 03:04:05' AS ok, " +
        "[ 'infinity'::TIMESTAMP ] AS l",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), [{
        t: "infinity",
        ok: "2024-01-02T03:04:05.000Z",
        l: ["infinity"],
      }]);
      const table = await cli(["--results", dir, "SELECT 'infinity'::TIMESTAMP AS t"]);
      assert.equal(table.code, 0, table.err);
      assert.match(table.out, /^infinity$/m);
    });

    await t.step("empty SQL is an error, also on stdin", async () => {
      for (const sql of [";", "  ;; ", " -- only a comment", "/* nothing */ ;"]) {
        const r = await cli(["--results", dir, sql]);
        assert.equal(r.code, 2, sql);
        assert.match(r.err, /^error: the SQL statement is empty/);
      }
      const entry = new URL("../../pipeline/query.ts", import.meta.url).pathname;
      for (const input of ["", "  \n"]) {
        const p = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-read",
            "--allow-write",
            "--allow-env",
            "--allow-ffi",
            "--allow-sys",
            entry,
            "--results",
            dir,
            "-",
          ],
          env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const w = p.stdin.getWriter();
        await w.write(new TextEncoder().encode(input));
        await w.close();
        const o = await p.output();
        assert.equal(o.code, 2);
        assert.equal(
          new TextDecoder().decode(o.stderr).trim().split("\n")[0].replace(/give one.*/, ""),
          "error: the SQL statement is empty (nothing on stdin); ",
        );
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
