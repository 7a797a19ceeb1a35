/**
 * The results database stays derived from the published artifacts through interruptions, failures and
 * damage (fixture pipeline of `fixtures/entry.ts`, run as subprocesses), and the pipeline refuses an unusable
 * results directory or a busy database with one line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ResultsStore } from "../../pipeline/store.ts";
import {
  artifactEntries,
  collect,
  dbRows,
  ENTRY,
  FLAGS,
  plannedKeys,
  REPO_ROOT,
  runCounts,
  runFx,
  spawnFx,
  waitFor,
} from "./fixtures/harness.ts";

function tmp(): string {
  return Deno.makeTempDirSync({ prefix: "lopt-integrity-" });
}

/** Rows of a's table per key, as `[key, count]`. */
async function aCounts(R: string): Promise<[string, number][]> {
  return (await dbRows(R, "SELECT run_key, count(*) FROM fx_a_rows GROUP BY run_key ORDER BY run_key"))
    .map((r) => [String(r[0]), Number(r[1])]);
}

/** Opens the store writable for a test's surgery. */
async function withWritable(R: string, fn: (s: ResultsStore) => Promise<void>): Promise<void> {
  const s = await ResultsStore.open(R, { log: () => {} });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/** Asserts a CLI failure printed exactly one non-empty line on stderr, starting with "error:". */
function assertOneLine(stderr: string, re: RegExp): void {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], re);
}

Deno.test("integrity: an interrupted or failed --force rerun leaves the old rows and artifact", async (t) => {
  const R = tmp();
  try {
    const first = await runFx(R, ["a", "-q"]);
    assert.equal(first.code, 0, first.stderr);
    const keys = await plannedKeys(R, ["a"]);
    const before = await dbRows(R, "SELECT * FROM fx_a_rows ORDER BY ALL");
    assert.equal(before.length, 3);
    const manifest = await Deno.readTextFile(join(R, "artifacts", "a", keys.a, "manifest.json"));

    const check = async () => {
      assert.deepEqual(await dbRows(R, "SELECT * FROM fx_a_rows ORDER BY ALL"), before);
      assert.equal(await Deno.readTextFile(join(R, "artifacts", "a", keys.a, "manifest.json")), manifest);
      assert.deepEqual(await dbRows(R, "SELECT status FROM stage_runs WHERE stage = 'a'"), [["success"]]);
      assert.equal(Number((await dbRows(R, "SELECT count(*) FROM artifacts WHERE stage = 'a'"))[0][0]), 1);
    };
    for (const sig of ["SIGINT", "SIGKILL"] as const) {
      await t.step(`${sig} while the forced rerun runs`, async () => {
        const starts = (await runCounts(R)).a;
        const p = spawnFx(R, ["a", "--force", "a", "-q"], { FX_SLEEP_MS_a: "30000" });
        const done = collect(p);
        await waitFor(async () => (await runCounts(R)).a === starts + 1, 20000, "the rerun of a to start");
        p.kill(sig);
        const r = await done;
        assert.equal(r.code, sig === "SIGINT" ? 130 : 137, r.stderr);
        await check();
        const next = await runFx(R, ["a", "-q"]);
        assert.equal(next.code, 0, next.stderr);
        assert.match(next.stdout, /0 ran, 1 cached/);
        await check();
      });
    }
    await t.step("the forced rerun fails", async () => {
      const r = await runFx(R, ["a", "--force", "a", "-q"], { FX_FAIL_a: "1" });
      assert.equal(r.code, 1, r.stderr);
      await check();
    });
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("integrity: a table left partly loaded (a kill between chunks) is repaired on the next run", async () => {
  const R = tmp();
  try {
    const r = await runFx(R, ["a", "-q", "--set", "a.n=12000"]);
    assert.equal(r.code, 0, r.stderr);
    const { a: key } = await plannedKeys(R, ["a", "--set", "a.n=12000"]);
    assert.deepEqual(await aCounts(R), [[key, 12000]]);
    // What a rebuild in chunks of 5,000 leaves when killed after its first chunk.
    await withWritable(R, (s) => s.query(`DELETE FROM fx_a_rows WHERE i >= 5000`).then(() => {}));
    assert.deepEqual(await aCounts(R), [[key, 5000]]);
    const next = await runFx(R, ["a", "-q", "--set", "a.n=12000"]);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /0 ran, 1 cached/);
    assert.match(next.stderr, /re-ingesting rows of a \(fx_a_rows\)/);
    assert.deepEqual(await aCounts(R), [[key, 12000]]);
    const sum = await dbRows(R, "SELECT sum(i)::BIGINT, count(DISTINCT i) FROM fx_a_rows");
    assert.deepEqual(sum.map((x) => x.map(Number)), [[12000 * 11999 / 2, 12000]]);
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("integrity: stale bookkeeping is repaired from the artifacts", async (t) => {
  const R = tmp();
  try {
    await t.step("a run killed mid-stage is marked interrupted by the next run", async () => {
      const p = spawnFx(R, ["a", "-q"], { FX_SLEEP_MS_a: "30000" });
      const done = collect(p);
      await waitFor(async () => (await runCounts(R)).a === 1, 20000, "stage a to start");
      p.kill("SIGKILL");
      await done;
      assert.deepEqual(await dbRows(R, "SELECT status FROM stage_runs WHERE stage = 'a'"), [["running"]]);
      const r = await runFx(R, ["d", "-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /marked 1 stage run\(s\) interrupted \(their process is gone\): a\//);
      assert.deepEqual(
        await dbRows(R, "SELECT status, ended_at IS NOT NULL FROM stage_runs WHERE stage = 'a'"),
        [["interrupted", true]],
      );
    });

    await t.step(
      "a kill between publishing and recording: artifacts and stage_runs rows come back",
      async () => {
        const r = await runFx(R, ["-q"]);
        assert.equal(r.code, 0, r.stderr);
        const keys = await plannedKeys(R);
        // The state a kill right after the rename leaves for a first run of a key: no artifacts row, a
        // running row of a dead process, no result rows.
        await withWritable(R, async (s) => {
          await s.query(`DELETE FROM artifacts WHERE stage IN ('a', 'c')`);
          await s.query(
            `UPDATE stage_runs SET status = 'running', pid = 999999999 WHERE stage IN ('a', 'c')`,
          );
          await s.query(`DELETE FROM fx_a_rows`);
        });
        const next = await runFx(R, ["-q"]);
        assert.equal(next.code, 0, next.stderr);
        assert.match(next.stdout, /0 ran, 5 cached/);
        assert.deepEqual(
          await dbRows(R, "SELECT stage, key, status FROM stage_runs ORDER BY stage"),
          ["a", "b", "c", "d", "e"].map((s) => [s, keys[s], "success"]),
        );
        assert.deepEqual(
          await dbRows(R, "SELECT stage, key FROM artifacts ORDER BY stage"),
          ["a", "b", "c", "d", "e"].map((s) => [s, keys[s]]),
        );
        assert.deepEqual(await aCounts(R), [[keys.a, 3]]);
      },
    );

    await t.step("a deleted database is rebuilt with every stage's bookkeeping, tables or not", async () => {
      const keys = await plannedKeys(R);
      const runsBefore = await dbRows(
        R,
        "SELECT stage, key, status, profile, params, git_commit FROM stage_runs WHERE status = 'success' " +
          "ORDER BY stage",
      );
      for (const f of ["lopt.duckdb", "lopt.duckdb.wal"]) await Deno.remove(join(R, f)).catch(() => {});
      const r = await runFx(R, ["-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /0 ran, 5 cached/);
      assert.deepEqual(
        await dbRows(
          R,
          "SELECT stage, key, status, profile, params, git_commit FROM stage_runs ORDER BY stage",
        ),
        runsBefore,
      );
      assert.deepEqual(
        await dbRows(R, "SELECT stage, key FROM artifacts ORDER BY stage"),
        ["a", "b", "c", "d", "e"].map((s) => [s, keys[s]]),
      );
    });

    await t.step(
      "a database and manifests from before row counts were recorded keep their runs",
      async () => {
        const keys = await plannedKeys(R);
        const path = join(R, "artifacts", "a", keys.a, "manifest.json");
        const { rows: _rows, started: _started, gitCommit: _git, ...legacy } = JSON.parse(
          await Deno.readTextFile(path),
        );
        await Deno.writeTextFile(path, JSON.stringify(legacy, null, 2) + "\n");
        await withWritable(R, async (s) => {
          await s.query("UPDATE artifacts SET manifest_sha256 = NULL");
          await s.query("UPDATE stage_runs SET seconds = 12.5, git_commit = 'legacy'");
        });
        const r = await runFx(R, ["-q"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /0 ran, 5 cached/);
        assert.deepEqual(
          await dbRows(R, "SELECT DISTINCT status, seconds, git_commit FROM stage_runs"),
          [["success", 12.5, "legacy"]],
        );
        assert.deepEqual(await aCounts(R), [[keys.a, 3]]);
        assert.equal(
          Number((await dbRows(R, "SELECT count(*) FROM artifacts WHERE manifest_sha256 IS NULL"))[0][0]),
          0,
        );
      },
    );
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("integrity: a damaged database is moved aside and rebuilt from the artifacts", async (t) => {
  const R = tmp();
  try {
    const r = await runFx(R, ["-q", "--set", "a.n=12000"]);
    assert.equal(r.code, 0, r.stderr);
    const content = async () => [
      await dbRows(R, "SELECT * FROM fx_a_rows ORDER BY ALL"),
      await dbRows(R, "SELECT * FROM fx_b_rows ORDER BY ALL"),
      await dbRows(R, "SELECT stage, key, status FROM stage_runs ORDER BY ALL"),
      await dbRows(R, "SELECT stage, key, files, bytes FROM artifacts ORDER BY ALL"),
    ];
    const clean = await content();
    const db = join(R, "lopt.duckdb");
    const damages: [string, (bytes: Uint8Array) => Uint8Array][] = [
      ["truncated to half", (b) => b.slice(0, Math.floor(b.length / 2))],
      ["random bytes", (b) => crypto.getRandomValues(new Uint8Array(Math.min(b.length, 65536)))],
      ["not a DuckDB file", () => new TextEncoder().encode("this is not a database\n".repeat(100))],
      ["every block after the headers overwritten", (b) => {
        const out = b.slice();
        out.fill(0x5a, 3 * 4096);
        return out;
      }],
    ];
    for (const [name, damage] of damages) {
      await t.step(name, async () => {
        await Deno.writeFile(db, damage(await Deno.readFile(db)));
        const next = await runFx(R, ["-q", "--set", "a.n=12000"]);
        assert.equal(next.code, 0, next.stderr);
        assert.match(next.stdout, /0 ran, 5 cached/);
        const notes = next.stderr.split("\n").filter((l) => /damaged/.test(l));
        assert.equal(notes.length, 1, next.stderr);
        const m =
          /^results db: \S+lopt\.duckdb is damaged \((.+)\); moved it to (\S+) and rebuilding it from the artifacts$/
            .exec(notes[0]);
        assert.ok(m, notes[0]);
        assert.doesNotMatch(next.stderr, /in use by another process|\n\s+at /);
        await Deno.stat(m[2]);
        await Deno.remove(m[2]);
        await Deno.remove(`${m[2]}.wal`).catch(() => {});
        assert.deepEqual(await content(), clean);
      });
    }
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("integrity: a database held by another process, a file as --results, a read-only dir: one line", async (t) => {
  const R = tmp();
  try {
    const r = await runFx(R, ["d", "-q"]);
    assert.equal(r.code, 0, r.stderr);

    await t.step("the database is held by another process (as by `deno task query`)", async () => {
      const holder = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { ResultsStore } from "${REPO_ROOT}pipeline/store.ts";` +
          `await ResultsStore.open(${JSON.stringify(R)}, { readOnly: true }); console.log("ready");` +
          `await new Promise((r) => setTimeout(r, 60000));`,
        ],
        cwd: REPO_ROOT,
        stdout: "piped",
        stderr: "null",
      }).spawn();
      try {
        const reader = holder.stdout.getReader();
        assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
        reader.releaseLock();
        const busy = await runFx(R, ["d", "--force", "d"]);
        assert.equal(busy.code, 2, busy.stderr);
        assertOneLine(
          busy.stderr,
          new RegExp(`the results database \\S+ is in use by another process \\(pid ${holder.pid}\\)`),
        );
        // Nothing was touched: the lock is released and the next run works.
      } finally {
        holder.kill("SIGKILL");
        await holder.status;
        await holder.stdout.cancel().catch(() => {});
      }
      const after = await runFx(R, ["d", "-q"]);
      assert.equal(after.code, 0, after.stderr);
    });

    await t.step("--results names a file", async () => {
      const file = join(R, "a-file");
      await Deno.writeTextFile(file, "x");
      for (const extra of [[], ["--dry-run"]]) {
        const x = await runFx(file, ["d", ...extra]);
        assert.equal(x.code, 2, x.stderr);
        assertOneLine(x.stderr, /results dir \S+a-file is a file, not a directory/);
      }
    });

    await t.step("the results directory is read-only", async () => {
      const args = ["run", ...FLAGS, ENTRY, "--results", R, "d", "-q"];
      let out: Deno.CommandOutput;
      if (Deno.uid() === 0) {
        // Root ignores permission bits: make the directory read-only with a private bind mount.
        const script = 'mount --bind -o ro "$0" "$0" && exec "$@"';
        try {
          out = await new Deno.Command("unshare", {
            args: ["-rm", "sh", "-c", script, R, Deno.execPath(), ...args],
            cwd: REPO_ROOT,
            env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
            stdout: "piped",
            stderr: "piped",
          }).output();
        } catch (e) {
          console.error(`skipped: no unshare to make a read-only directory as root (${e})`);
          return;
        }
      } else {
        await Deno.chmod(R, 0o555);
        try {
          out = await new Deno.Command(Deno.execPath(), {
            args,
            cwd: REPO_ROOT,
            env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
            stdout: "piped",
            stderr: "piped",
          }).output();
        } finally {
          await Deno.chmod(R, 0o755);
        }
      }
      const stderr = new TextDecoder().decode(out.stderr);
      if (/^(unshare|mount|sh): /m.test(stderr)) {
        console.error(`skipped: cannot make a read-only directory here (${stderr.trim()})`);
        return;
      }
      assert.notEqual(out.code, 0, stderr);
      assertOneLine(stderr, /results dir \S+ is not writable \(.+\): give --results a writable directory/);
      assert.ok(!(await artifactEntries(R, "d")).some((n) => n.startsWith(".staging-")));
    });
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});
