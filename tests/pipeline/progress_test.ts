import assert from "node:assert/strict";
import { formatDuration, ProgressReporter } from "../../pipeline/progress.ts";
import { runFx } from "./fixtures/harness.ts";

Deno.test("progress: durations", () => {
  assert.equal(formatDuration(45), "45s");
  assert.equal(formatDuration(123), "2m03s");
  assert.equal(formatDuration(3720), "1h02m");
});

Deno.test("progress: plain lines at most every 5 s and at completion", () => {
  let now = 0;
  const lines: string[] = [];
  const p = new ProgressReporter("meta-train", { tty: false, now: () => now, write: (t) => lines.push(t) });
  now = 1000;
  p.update(3, 500);
  for (let i = 4; i < 120; i++) {
    now += 30;
    p.update(i, 500);
  }
  now = 40000;
  p.update(120, 500);
  assert.deepEqual(lines, [
    "[meta-train] 3/500 (0%) 3.0/s eta 2m46s\n",
    "[meta-train] 120/500 (24%) 3.0/s eta 2m07s\n",
  ]);
  now = 50000;
  p.update(500, 500);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /^\[meta-train\] 500\/500 \(100%\) 10.0\/s eta 0s\n$/);
  p.update(500, 500);
  assert.equal(lines.length, 3);
});

Deno.test("progress: a terminal gets one redrawn bar, at most 10 redraws a second", () => {
  let now = 0;
  const out: string[] = [];
  const p = new ProgressReporter("s", { tty: true, now: () => now, write: (t) => out.push(t) });
  for (let i = 1; i <= 100; i++) {
    now += 10;
    p.update(i, 200, "step");
  }
  assert.ok(out.length <= 11, `${out.length} redraws in 1 s`);
  assert.ok(out.every((t) => t.startsWith("\r\x1b[K") && !t.endsWith("\n")));
  assert.match(out.at(-1)!, /\[s\] \[#+\.+\] step \d+\/200/);
  p.finish();
  assert.ok(out.at(-1)!.endsWith("\n"));
});

Deno.test("progress: complete() shows 100 % when the last units were skipped without a progress call", () => {
  const lines: string[] = [];
  const p = new ProgressReporter("baselines-cnn", { tty: false, now: () => 0, write: (t) => lines.push(t) });
  p.update(21, 48, "mnist");
  p.complete();
  assert.match(lines.at(-1)!, /^\[baselines-cnn\] mnist 48\/48 \(100%\)/);
  p.complete();
  assert.equal(lines.length, 2);
  const bar: string[] = [];
  const t = new ProgressReporter("s", { tty: true, now: () => 0, write: (x) => bar.push(x) });
  t.update(1, 4);
  t.complete();
  assert.match(bar.at(-1)!, /\[####################\] 4\/4 \(100%\).*\n$/);
});

Deno.test("progress: a stage that skips units ends its bar at 100 % (through the runner)", async () => {
  const results = await Deno.makeTempDir({ prefix: "lopt-progress-" });
  try {
    const r = await runFx(results, ["a"], { FX_SKIP_a: "1" });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("[a]"));
    assert.ok(lines.length > 0, r.stderr);
    assert.match(lines.at(-1)!, /^\[a\] one unit, three skipped 4\/4 \(100%\)/);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
