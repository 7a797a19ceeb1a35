/**
 * End-to-end tests of the pipeline engine through its CLI, on the test-only stages of `fixtures/entry.ts`
 * (a -> b -> c, d -> e). Runs spawn `deno run` subprocesses (stages run in grandchild processes);
 * dry runs, listings and usage errors run in-process.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../pipeline/cli.ts";
import { FX_STAGES } from "./fixtures/entry.ts";
import {
  artifactEntries,
  collect,
  dbRows,
  events,
  plannedKeys,
  runCounts,
  runFx,
  spawnFx,
  waitFor,
} from "./fixtures/harness.ts";

interface PlanRow {
  stage: string;
  action: "cached" | "run";
  key: string;
  reason: string;
}

/** Runs the CLI in-process (no stage may run) and captures its output. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    stages: FX_STAGES,
    program: "fx-pipeline",
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function plan(results: string, ...args: string[]): Promise<Record<string, PlanRow>> {
  const r = await cli(["--results", results, "--dry-run", "--json", ...args]);
  assert.equal(r.code, 0, r.err);
  const rows: PlanRow[] = JSON.parse(r.out);
  return Object.fromEntries(rows.map((p) => [p.stage, p]));
}

function tmp(): string {
  return Deno.makeTempDirSync({ prefix: "lopt-pipeline-test-" });
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) {
    if ((after[k] ?? 0) !== (before[k] ?? 0)) out[k] = after[k] - (before[k] ?? 0);
  }
  return out;
}

Deno.test("pipeline: caching, params, force, selection, profiles, corruption, re-ingest", async (t) => {
  const R = tmp();
  try {
    await t.step("dry run on an empty results dir: everything runs, reason no artifact", async () => {
      const p = await plan(R);
      assert.deepEqual(Object.keys(p), ["a", "b", "c", "d", "e"]);
      for (const s of Object.values(p)) assert.deepEqual([s.action, s.reason], ["run", "no artifact"]);
      const text = await cli(["--results", R, "--dry-run"]);
      assert.match(text.out, /^run {5}a {2}[0-9a-f]{16} {2}\(no artifact\)$/m);
    });

    await t.step("first run runs every stage once and stores rows", async () => {
      const r = await runFx(R);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await runCounts(R), { a: 1, b: 1, c: 1, d: 1, e: 1 });
      assert.match(r.stdout, /5 ran, 0 cached, 0 failed, 0 skipped/);
      const keys = await plannedKeys(R);
      const rows = await dbRows(R, `SELECT count(*) FROM fx_a_rows WHERE run_key = '${keys.a}'`);
      assert.equal(Number(rows[0][0]), 3);
      const runs = await dbRows(R, "SELECT stage, status FROM stage_runs ORDER BY stage");
      assert.deepEqual(runs, [["a", "success"], ["b", "success"], ["c", "success"], ["d", "success"], [
        "e",
        "success",
      ]]);
      const manifest = JSON.parse(
        await Deno.readTextFile(join(R, "artifacts", "b", keys.b, "manifest.json")),
      );
      assert.deepEqual(manifest.files.map((f: { path: string }) => f.path), [
        "rows/fx_b_rows.ndjson",
        "sub/out.json",
      ]);
      assert.equal(manifest.inputs.a, keys.a);
    });

    await t.step("second run is all cached", async () => {
      const r = await runFx(R, ["--quiet"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await runCounts(R), { a: 1, b: 1, c: 1, d: 1, e: 1 });
      assert.match(r.stdout, /0 ran, 5 cached/);
      for (const s of Object.values(await plan(R))) assert.equal(s.action, "cached");
    });

    await t.step("a param change reruns that stage and its downstream only, with reasons", async () => {
      const p = await plan(R, "--set", "a.n=4");
      assert.deepEqual(
        Object.values(p).map((s) => [s.stage, s.action, s.reason]),
        [
          ["a", "run", "params changed: n"],
          ["b", "run", "upstream changed: a"],
          ["c", "run", "upstream changed: b"],
          ["d", "cached", ""],
          ["e", "cached", ""],
        ],
      );
      const before = await runCounts(R);
      const r = await runFx(R, ["--set", "a.n=4", "-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(delta(before, await runCounts(R)), { a: 1, b: 1, c: 1 });
      // Back to the defaults: the old artifacts coexist, so nothing runs.
      const back = await runFx(R, ["-q"]);
      assert.equal(back.code, 0, back.stderr);
      assert.deepEqual(delta(before, await runCounts(R)), { a: 1, b: 1, c: 1 });
      assert.equal((await artifactEntries(R, "a")).filter((n) => /^[0-9a-f]{16}$/.test(n)).length, 2);
      // Params are named against the last artifact of the profile.
      const again = await plan(R, "--set", "a.n=9", "--set", "a.label=y");
      assert.equal(again.a.reason, "params changed: label, n");
    });

    await t.step("--force and stage selection", async () => {
      const p = await plan(R, "b", "--force", "b");
      assert.deepEqual(Object.keys(p), ["a", "b"]);
      assert.deepEqual([p.a.action, p.b.action, p.b.reason], ["cached", "run", "forced"]);
      const before = await runCounts(R);
      const r = await runFx(R, ["b", "--force", "b", "-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(delta(before, await runCounts(R)), { b: 1 });
      const all = await plan(R, "--force", "all");
      for (const s of Object.values(all)) assert.equal(s.reason, "forced");
      const e = await plan(R, "e");
      assert.deepEqual(Object.keys(e), ["d", "e"]);
    });

    await t.step("profiles select overrides and their artifacts coexist", async () => {
      const p = await plan(R, "a", "--profile", "smoke");
      assert.deepEqual([p.a.action, p.a.reason], ["run", "no artifact"]);
      const before = await runCounts(R);
      const r = await runFx(R, ["a", "--profile", "smoke", "-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(delta(before, await runCounts(R)), { a: 1 });
      assert.equal((await plan(R, "a", "--profile", "smoke")).a.action, "cached");
      assert.equal((await plan(R, "a")).a.action, "cached");
      const params = await cli(["--params", "a", "--profile", "smoke"]);
      assert.match(params.out, /n = 2 {2}\(from profile smoke\)\n {6}accepts: {2}integer in \[1, 20000\]/);
      assert.match(params.out, /profiles: smoke 2 \| default 3 \| paper 5\n/);
      assert.doesNotMatch(params.out, /; default;|\(integer; default/);
    });

    await t.step("a corrupt artifact is detected and rebuilt; downstream stays cached", async () => {
      const keys = await plannedKeys(R);
      await Deno.writeTextFile(join(R, "artifacts", "a", keys.a, "out.json"), '{"sum": 999}');
      const p = await plan(R);
      assert.deepEqual([p.a.action, p.a.reason], ["run", "corrupt artifact: file out.json hash mismatch"]);
      assert.equal(p.b.action, "cached");
      const before = await runCounts(R);
      const r = await runFx(R, ["-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`artifact a/${keys.a} is corrupt: file out.json hash mismatch; rebuilding`),
      );
      assert.deepEqual(delta(before, await runCounts(R)), { a: 1 });
      assert.equal((await plan(R)).a.action, "cached");
    });

    await t.step("a deleted results DB is re-ingested from the artifacts on a cache hit", async () => {
      const keys = await plannedKeys(R);
      for (const f of ["lopt.duckdb", "lopt.duckdb.wal"]) await Deno.remove(join(R, f)).catch(() => {});
      const before = await runCounts(R);
      const r = await runFx(R, ["-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(delta(before, await runCounts(R)), {});
      assert.match(r.stderr, /re-ingesting rows of a/);
      const rows = await dbRows(R, `SELECT i, value FROM fx_a_rows WHERE run_key = '${keys.a}' ORDER BY i`);
      assert.deepEqual(rows.map((x) => x.map(Number)), [[0, 0], [1, 1.5], [2, 3]]);
      // Every published artifact of the planned stages is back, not only the planned keys.
      const bKeys = (await artifactEntries(R, "b")).filter((n) => /^[0-9a-f]{16}$/.test(n));
      assert.equal(bKeys.length, 2);
      assert.deepEqual(
        await dbRows(R, "SELECT run_key, count(*)::INTEGER FROM fx_b_rows GROUP BY run_key ORDER BY run_key"),
        bKeys.map((k) => [k, 1]),
      );
    });
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("pipeline: --jobs 2 overlaps independent stages; a failure skips only its downstream", async () => {
  const R = tmp();
  try {
    const r = await runFx(R, ["--jobs", "2"], { FX_SLEEP_MS_a: "700", FX_SLEEP_MS_d: "700", FX_FAIL_d: "1" });
    assert.equal(r.code, 1, r.stderr);
    const ev = await events(R);
    const at = (stage: string, e: string) => ev.find((x) => x.stage === stage && x.event === e)!.t;
    // d never ends (it fails after sleeping), so compare a's span with d's start.
    assert.ok(at("d", "start") < at("a", "end"), "d started before a ended");
    assert.ok(at("a", "start") < at("d", "start") + 700, "a started while d was running");
    assert.deepEqual(await runCounts(R), { a: 1, b: 1, c: 1, d: 1 });
    const logMatch = /stage d failed \(exit code 1: boom in d\); log: (\S+)/.exec(r.stderr);
    assert.ok(logMatch, r.stderr);
    assert.match(await Deno.readTextFile(logMatch[1]), /Error: boom in d/);
    assert.match(r.stdout, /skipped {2}e .*\(upstream d failed\)/);
    assert.match(r.stdout, /3 ran, 0 cached, 1 failed, 1 skipped/);
    assert.deepEqual(
      await dbRows(R, "SELECT stage, status FROM stage_runs ORDER BY stage"),
      [["a", "success"], ["b", "success"], ["c", "success"], ["d", "failed"]],
    );
    assert.deepEqual((await artifactEntries(R, "d")).filter((n) => !n.startsWith("last-")), []);
    assert.equal((await plan(R)).d.reason, "no artifact");
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("pipeline: SIGKILL mid-stage leaves no artifact and a running row; the next run redoes it", async () => {
  const R = tmp();
  try {
    const p = spawnFx(R, ["a", "-q"], { FX_SLEEP_MS_a: "30000" });
    const done = collect(p);
    await waitFor(async () => (await runCounts(R)).a === 1, 20000, "stage a to start");
    p.kill("SIGKILL");
    await done;
    const entries = await artifactEntries(R, "a");
    assert.ok(entries.some((n) => n.startsWith(".staging-")), `staging dir left: ${entries}`);
    assert.ok(!entries.some((n) => /^[0-9a-f]{16}$/.test(n)), `nothing published: ${entries}`);
    assert.deepEqual(await dbRows(R, "SELECT status FROM stage_runs WHERE stage = 'a'"), [["running"]]);
    assert.equal((await plan(R, "a")).a.reason, "no artifact");
    const r = await runFx(R, ["a", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /recovered a stale lock/);
    assert.match(r.stderr, /removed stale staging dir/);
    assert.equal((await runCounts(R)).a, 2);
    assert.deepEqual(await dbRows(R, "SELECT status FROM stage_runs WHERE stage = 'a'"), [["success"]]);
    assert.ok(!(await artifactEntries(R, "a")).some((n) => n.startsWith(".staging-")));
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("pipeline: a second run is refused while the first holds the lock; SIGTERM publishes nothing", async () => {
  const R = tmp();
  try {
    const p = spawnFx(R, ["a", "-q"], { FX_SLEEP_MS_a: "30000" });
    const done = collect(p);
    await waitFor(async () => (await runCounts(R)).a === 1, 20000, "stage a to start");
    const second = await runFx(R, ["d"]);
    assert.equal(second.code, 2);
    assert.match(
      second.stderr,
      new RegExp(
        `another lopt pipeline \\(pid ${p.pid}, started .*\\) is using results dir ${R}; wait for it or kill it`,
      ),
    );
    p.kill("SIGTERM");
    const first = await done;
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr, /stage a interrupted/);
    const entries = await artifactEntries(R, "a");
    assert.deepEqual(entries.filter((n) => n !== "last-default.json"), []);
    assert.deepEqual(await dbRows(R, "SELECT status FROM stage_runs WHERE stage = 'a'"), [["interrupted"]]);
    await assert.rejects(Deno.stat(join(R, ".lock")));
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("pipeline: a lock left by a dead process is recovered", async () => {
  const R = tmp();
  try {
    const dead = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "0"],
      stdout: "null",
      stderr: "null",
    })
      .spawn();
    await dead.status;
    const lock = {
      pid: dead.pid,
      hostname: Deno.hostname(),
      started: "2020-01-01T00:00:00Z",
      command: "old run",
    };
    await Deno.writeTextFile(join(R, ".lock"), JSON.stringify(lock));
    const r = await runFx(R, ["d", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`recovered a stale lock .*pid ${dead.pid} \\(started 2020.*old run\\)`),
    );
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("pipeline CLI: clear errors for bad input", async (t) => {
  const R = tmp();
  try {
    const cases: [string, string[], RegExp][] = [
      ["unknown stage", ["zzz"], /unknown stage "zzz"; valid stages: a, b, c, d, e/],
      ["unknown profile", ["--profile", "huge"], /unknown profile "huge"; profiles: default, paper, smoke/],
      ["unknown param", ["--set", "a.nn=3"], /stage "a" has no param "nn".*valid params: n, label, tags/],
      ["unknown stage in --set", ["--set", "q.n=3"], /--set q\.n: unknown stage "q"; valid stages/],
      [
        "ill-typed param",
        ["--set", "a.n=abc"],
        /stage "a": param "n" expects integer in \[1, 20000\], got "abc"/,
      ],
      ["non-integer", ["--set", "a.n=2.5"], /param "n" expects integer/],
      ["out of range", ["--set", "a.n=0"], /param "n" expects integer in \[1, 20000\], got 0/],
      ["bad choice", ["--set", "d.mode=warp"], /param "mode" expects string \(one of fast, slow\)/],
      ["bad json", ["--set", "d.extra={x"], /param "extra" expects json/],
      ["malformed --set", ["--set", "a=3"], /not of the form stage\.key=value/],
      ["unknown flag", ["--frobnicate"], /Unknown option '--frobnicate'.*--help/],
      ["bad --jobs", ["--jobs", "0"], /--jobs expects a positive integer/],
      ["unknown --force", ["--force", "zzz"], /unknown stage "zzz"/],
    ];
    for (const [name, args, re] of cases) {
      await t.step(name, async () => {
        const r = await cli(["--results", R, "--dry-run", ...args]);
        assert.equal(r.code, 2, r.out);
        assert.match(r.err, re);
      });
    }
    await t.step("arrays parse as comma lists or JSON", async () => {
      const a = await cli(["--params", "a", "--set", "a.tags=x, y"]);
      assert.match(a.out, /tags = \["x","y"\]/);
      const b = await cli(["--params", "a", "--set", 'a.tags=["p,q"]']);
      assert.match(b.out, /tags = \["p,q"\]/);
    });
    await t.step("--help and --list document stages and profiles", async () => {
      const h = await cli(["--help"]);
      assert.equal(h.code, 0);
      for (
        const s of [
          "--dry-run",
          "--jobs",
          "--force",
          "--set",
          "profiles: default, paper, smoke",
          "scales a's sum",
        ]
      ) {
        assert.ok(h.out.includes(s), s);
      }
      const l = await cli(["--list"]);
      assert.match(l.out, /^b {2}deps: a {2}scales a's sum$/m);
    });
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});
