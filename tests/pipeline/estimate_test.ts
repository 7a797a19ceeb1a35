/** `--dry-run` time estimates: from the last successful run of each stage with the same profile. */
import assert from "node:assert/strict";
import { estimateLines } from "../../pipeline/estimate.ts";
import { runFx } from "./fixtures/harness.ts";

Deno.test("estimate: per stage, unknown without a past run, and a total", () => {
  const past = new Map([["meta-train", 1200], ["eval-problems", 85]]);
  assert.deepEqual(estimateLines(["meta-train", "eval-problems"], past, "default"), [
    "time estimate (last successful run of each stage with profile default):",
    "  meta-train     20m00s",
    "  eval-problems  1m25s",
    "  total          21m25s, one stage after another (--jobs N overlaps independent stages)",
  ]);
  const partial = estimateLines(["meta-train", "report"], past, "default");
  assert.equal(partial[2], "  report      unknown");
  assert.match(partial[3], /^ {2}total {7}at least 20m00s \(1 stage unknown\),/);
  assert.match(estimateLines(["report"], new Map(), "paper")[2], /^ {2}total {3}unknown,/);
  assert.deepEqual(estimateLines([], past, "default"), ["time estimate: nothing to run"]);
});

Deno.test("pipeline --dry-run: estimates come from the stage's last successful run with the profile", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-estimate-" });
  try {
    const first = await runFx(results, ["a"], { FX_SLEEP_MS_a: "2100" });
    assert.equal(first.code, 0, first.stderr);
    const json = await runFx(results, ["--dry-run", "--json", "--force", "a", "b"]);
    assert.equal(json.code, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as {
      stage: string;
      action: string;
      estimate_seconds: number | null;
    }[];
    const a = rows.find((r) => r.stage === "a")!;
    assert.equal(a.action, "run");
    assert.ok(a.estimate_seconds! >= 2 && a.estimate_seconds! < 60, `a: ${a.estimate_seconds}`);
    assert.equal(rows.find((r) => r.stage === "b")!.estimate_seconds, null);
    const text = await runFx(results, ["--dry-run", "--force", "a", "b"]);
    assert.match(text.stdout, /^ {2}a {6}\ds$/m);
    assert.match(text.stdout, /^ {2}b {6}unknown$/m);
    assert.match(text.stdout, /^ {2}total {2}at least \ds \(1 stage unknown\), one stage after another/m);
    const other = await runFx(results, ["--dry-run", "--profile", "paper", "a"]);
    assert.match(other.stdout, /^ {2}a {6}unknown$/m);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
