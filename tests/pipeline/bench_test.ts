import assert from "node:assert/strict";
import { runBenchCli } from "../../bench/main.ts";
import {
  type BenchDef,
  formatBenchTable,
  machineInfo,
  matchesFilter,
  registerBench,
  registeredBenches,
  runBench,
} from "../../pipeline/bench.ts";
import { ResultsStore } from "../../pipeline/store.ts";
import { median } from "../../lib/stats.ts";

function capture() {
  const io = {
    outText: "",
    errText: "",
    out: (t: string) => void (io.outText += t),
    err: (t: string) => void (io.errText += t),
  };
  return io;
}

Deno.test("bench: median, filter, registry", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(matchesFilter({ group: "store", name: "append" }, "STORE/app"));
  assert.ok(!matchesFilter({ group: "store", name: "append" }, "query"));
  const before = registeredBenches().length;
  registerBench({ group: "test-registry", name: "one", fn: () => {} });
  assert.equal(registeredBenches().length, before + 1);
  assert.throws(
    () => registerBench({ group: "test-registry", name: "one", fn: () => {} }),
    /registered twice/,
  );
  const m = machineInfo();
  assert.ok(m.cores >= 1);
  assert.equal(m.deno, Deno.version.deno);
});

Deno.test("bench: runBench times iterations, reports extras, always tears down", async () => {
  const calls: string[] = [];
  const def: BenchDef<{ n: number }> = {
    group: "g",
    name: "sleepy",
    iterations: 3,
    warmup: 2,
    setup: () => (calls.push("setup"), { n: 0 }),
    teardown: () => void calls.push("teardown"),
    fn: async (ctx, i) => {
      ctx.n++;
      await new Promise((r) => setTimeout(r, 2));
      return { ratio: 1.5, iteration: i };
    },
  };
  const r = await runBench(def as BenchDef);
  assert.equal(r.error, undefined);
  assert.equal(r.iterations, 3);
  assert.equal(r.samplesMs.length, 3);
  assert.ok(r.minMs >= 1 && r.minMs <= r.medianMs && r.medianMs <= r.maxMs);
  assert.deepEqual(r.extra, { ratio: 1.5, iteration: 2 });
  assert.deepEqual(calls, ["setup", "teardown"]);

  const failing = await runBench({
    group: "g",
    name: "boom",
    teardown: () => void calls.push("teardown2"),
    fn: () => {
      throw new Error("kaput");
    },
  });
  assert.equal(failing.error, "kaput");
  assert.ok(calls.includes("teardown2"));
  const table = formatBenchTable([r, failing]);
  assert.match(table, /g\/sleepy .* ratio=1\.5 iteration=2/);
  assert.match(table, /g\/boom .*FAILED: kaput/);
});

Deno.test("bench CLI: runs filtered benches and writes bench rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-bench-" });
  try {
    const benches: BenchDef[] = [
      { group: "cli", name: "fast", unit: "op", iterations: 4, fn: () => ({ bytes: 1024 }), backend: "wasm" },
      { group: "cli", name: "other", iterations: 2, fn: () => {} },
      { group: "skip", name: "never", fn: () => assert.fail("filtered out") },
    ];
    const io = capture();
    const code = await runBenchCli(["--results", dir, "--filter", "cli/"], { benches, io });
    assert.equal(code, 0, io.errText);
    assert.match(io.outText, /cli\/fast .* op +bytes=1024/);
    assert.match(io.outText, /2 row\(s\) saved/);

    const store = await ResultsStore.open(dir, { readOnly: true });
    const r = await store.query(
      "SELECT name, group_name, iterations, unit, extra, backend, machine, median_ms >= 0, run_id, created_at " +
        "FROM bench ORDER BY name",
    );
    await store.close();
    assert.equal(r.rows.length, 2);
    const [fast, other] = r.rows;
    assert.deepEqual(fast.slice(0, 4), ["fast", "cli", 4, "op"]);
    assert.deepEqual(JSON.parse(fast[4] as string), { bytes: 1024 });
    assert.equal(fast[5], "wasm");
    const machine = JSON.parse(fast[6] as string);
    assert.equal(machine.deno, Deno.version.deno);
    assert.ok(machine.cores >= 1 && typeof machine.cpu === "string" && typeof machine.os === "string");
    assert.equal(fast[7], true);
    assert.equal(fast[8], other[8]);
    assert.deepEqual(other.slice(0, 4), ["other", "cli", 2, null]);

    const json = capture();
    assert.equal(
      await runBenchCli(["--results", dir, "--json", "--filter", "fast"], { benches, io: json }),
      0,
    );
    const parsed = JSON.parse(json.outText);
    assert.equal(parsed.results.length, 1);
    assert.equal(parsed.results[0].extra.bytes, 1024);

    const failing = capture();
    const bad: BenchDef[] = [{ group: "x", name: "throws", fn: () => Promise.reject(new Error("nope")) }];
    assert.equal(await runBenchCli(["--results", dir], { benches: bad, io: failing }), 1);
    assert.match(failing.errText, /x\/throws FAILED: nope/);

    const none = capture();
    assert.equal(await runBenchCli(["--results", dir, "--filter", "zzz"], { benches, io: none }), 1);
    assert.match(none.errText, /no bench matches/);
    const help = capture();
    assert.equal(await runBenchCli(["--help"], { benches, io: help }), 0);
    assert.match(help.outText, /--filter SUBSTR/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench: bench/index.ts registers the harness and store benches", async () => {
  await import("../../bench/index.ts");
  const ids = registeredBenches().map((b) => `${b.group}/${b.name}`);
  for (const id of ["harness/noop", "store/append-100k", "store/query-group-by"]) {
    assert.ok(ids.includes(id), id);
  }
});
