/**
 * Kill at random: SIGKILLs at seeded random points of fixture pipeline runs (first runs, `--force` reruns of
 * one stage or of all, and database rebuilds), then one clean run; the database must then equal that of a
 * results directory that was never interrupted. `LOPT_KILL_SEED` picks another seed, `LOPT_KILLS` another
 * number of kills.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { dbRows, runFx, spawnFx } from "./fixtures/harness.ts";

/** A small seeded PRNG (mulberry32): uniform numbers in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Everything the pipeline derives into the database, in a fixed order (timestamps, pids and paths left out). */
async function content(R: string): Promise<Record<string, unknown[][]>> {
  return {
    fx_a_rows: await dbRows(R, "SELECT * FROM fx_a_rows ORDER BY ALL"),
    fx_b_rows: await dbRows(R, "SELECT * FROM fx_b_rows ORDER BY ALL"),
    stage_runs: await dbRows(R, "SELECT stage, key, status, profile, params FROM stage_runs ORDER BY ALL"),
    artifacts: await dbRows(R, "SELECT stage, key, profile, files, bytes FROM artifacts ORDER BY ALL"),
  };
}

/** Staging and trash dirs under `artifacts/`, as `stage/name` (with `+manifest` once sealed). */
function leftovers(R: string): Set<string> {
  const out = new Set<string>();
  let stages: Deno.DirEntry[] = [];
  try {
    stages = [...Deno.readDirSync(join(R, "artifacts"))];
  } catch { /* nothing published or staged yet */ }
  for (const stage of stages) {
    if (!stage.isDirectory) continue;
    for (const e of Deno.readDirSync(join(R, "artifacts", stage.name))) {
      if (!e.name.startsWith(".")) continue;
      let sealed = false;
      try {
        Deno.statSync(join(R, "artifacts", stage.name, e.name, "manifest.json"));
        sealed = true;
      } catch { /* not sealed */ }
      out.add(`${stage.name}/${e.name}${sealed ? "+manifest" : ""}`);
    }
  }
  return out;
}

/** Where a killed run was, as far as its new leftovers and its output tell. */
function killedIn(before: Set<string>, after: Set<string>, stderr: string): string {
  const seen: string[] = [];
  if (/re-ingesting/.test(stderr)) seen.push("rebuilding");
  for (const x of after) {
    if (before.has(x)) continue;
    const stage = x.split("/")[0];
    if (x.includes("/.trash-")) seen.push(`replacing ${stage}`);
    else if (x.endsWith("+manifest")) seen.push(`publishing ${stage}`);
    else seen.push(`running ${stage}`);
  }
  return seen.length ? seen.join(", ") : "between stages";
}

/** Reads a stream to the end, calling `onText` with the text so far after each chunk. */
async function readAll(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    onText(text);
  }
  return text;
}

interface Scenario {
  name: string;
  args: string[];
  /** Runs before the pipeline starts. */
  prepare?: (R: string) => Promise<void>;
}

const SCENARIOS: Scenario[] = [
  { name: "run", args: [] },
  { name: "--force a", args: ["--force", "a"] },
  { name: "--force all", args: ["--force", "all"] },
  {
    name: "rebuild of a deleted database",
    args: [],
    prepare: async (R) => {
      for (const f of ["lopt.duckdb", "lopt.duckdb.wal"]) await Deno.remove(join(R, f)).catch(() => {});
    },
  },
];

Deno.test("kill at random: SIGKILLs during runs, forced reruns and rebuilds end with a clean run's database", async () => {
  const seed = Number(Deno.env.get("LOPT_KILL_SEED") ?? "13");
  const kills = Number(Deno.env.get("LOPT_KILLS") ?? "10");
  const rnd = prng(seed);
  // a writes 12,000 rows: loading them takes three chunks of 5,000.
  const base = ["--jobs", "2", "--set", "a.n=12000"];
  const clean = await Deno.makeTempDir({ prefix: "lopt-kill-clean-" });
  const R = await Deno.makeTempDir({ prefix: "lopt-kill-" });
  try {
    const t0 = performance.now();
    const first = await runFx(clean, base);
    // Roughly the time after the plan is printed: the whole run less a process start and opening.
    const c = { ...first, ms: Math.max(200, performance.now() - t0 - 400) };
    assert.equal(c.code, 0, c.stderr);
    const expected = await content(clean);
    assert.equal(expected.fx_a_rows.length, 12000);

    // Every scenario killed equally often, in a seeded order.
    const order = Array.from({ length: kills }, (_, i) => SCENARIOS[i % SCENARIOS.length]);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    // A kill point is uniform over the part of a run after its plan is printed (the results dir is
    // locked and the database open), whose length is as last measured for that scenario (at first: the
    // clean run's). A run that finishes before its kill point does not count as a kill.
    const estimate = new Map<string, number>(SCENARIOS.map((x) => [x.name, c.ms]));
    const log: string[] = [];
    let landed = 0;
    for (let attempt = 0; landed < kills && attempt < 3 * kills; attempt++) {
      const s = order[landed];
      await s.prepare?.(R);
      const before = leftovers(R);
      const delay = Math.round(rnd() * estimate.get(s.name)!);
      const p = spawnFx(R, [...base, ...s.args]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      let planned = 0;
      const stdout = new Response(p.stdout).text();
      const stderr = readAll(p.stderr, (text) => {
        if (timer !== undefined || !/^(run|cached) {2,}/m.test(text)) return;
        planned = performance.now();
        timer = setTimeout(() => {
          try {
            p.kill("SIGKILL");
          } catch { /* already exited */ }
        }, delay);
      });
      const [status, err] = await Promise.all([p.status, stderr, stdout]);
      clearTimeout(timer);
      const ms = performance.now() - planned;
      const where = status.code === 137 ? ` (${killedIn(before, leftovers(R), err)})` : "";
      log.push(`${s.name}, kill ${delay} ms after the plan: exit ${status.code}${where}`);
      assert.ok(status.code === 0 || status.code === 137, `${log.at(-1)}\n${err}`);
      if (status.code === 137) landed++;
      else estimate.set(s.name, ms);
    }
    assert.equal(landed, kills, log.join("\n"));
    const last = await runFx(R, base);
    assert.equal(last.code, 0, `${log.join("\n")}\n${last.stderr}`);
    const got = await content(R);
    assert.deepEqual(got, expected, `seed ${seed}:\n${log.join("\n")}\n${last.stderr}`);
    assert.ok(!got.stage_runs.some((r) => r[2] !== "success"), "no stale status");
    console.log(`seed ${seed}:\n${log.join("\n")}`);
  } finally {
    await Deno.remove(clean, { recursive: true });
    await Deno.remove(R, { recursive: true });
  }
});
