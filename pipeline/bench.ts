/**
 * A tiny benchmark harness: benches are registered ({@link registerBench} / {@link registerBenches}), run
 * with warm-up iterations, timed per iteration in wall milliseconds, printed as a table (median/min/max plus
 * any extra metrics a bench returns) and saved to the `bench` table of the results store with machine info
 * and the git commit. `bench/main.ts` is the `deno task bench` entry.
 *
 * @module
 */

import { cpus, release } from "node:os";
import type { ResultsStore } from "./store.ts";
import { median } from "../lib/stats.ts";

/** Extra metrics a bench iteration may return (e.g. `{ ratio: 1.8, bytes: 4096 }`); printed and stored. */
export type BenchExtra = Record<string, number | string | boolean | null>;

/** A benchmark. `C` is the context built by `setup` and passed to `fn` and `teardown`. */
export interface BenchDef<C = unknown> {
  /** Name, unique within its group. */
  name: string;
  /** Group (e.g. `store`, `kernels`); `--filter` matches `group/name`. */
  group: string;
  /** One timed iteration; the extra metrics of the last timed iteration are reported. */
  fn(ctx: C, iteration: number): void | BenchExtra | Promise<void | BenchExtra>;
  /** Builds the context once, before the warm-up (not timed). */
  setup?(): C | Promise<C>;
  /** Releases the context after the last iteration (not timed); runs even when an iteration threw. */
  teardown?(ctx: C): void | Promise<void>;
  /** Timed iterations (default 10). */
  iterations?: number;
  /** Untimed warm-up iterations before them (default 1). */
  warmup?: number;
  /** What one iteration processes, e.g. `"100k rows"` or `"step"`; shown beside the timings. */
  unit?: string;
  /** Compute backend the bench exercises (e.g. `wasm`); a function is called after setup. */
  backend?: string | (() => string | null);
  /**
   * One line summarising the result from the last timed iteration's extra metrics (e.g. a ratio against a
   * target), printed after the results table.
   */
  headline?(extra: BenchExtra): string;
}

/** The outcome of one bench. */
export interface BenchResult {
  name: string;
  group: string;
  /** Median wall time of one iteration (ms). */
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Timed iterations that ran. */
  iterations: number;
  /** Every timed iteration (ms). */
  samplesMs: number[];
  unit: string | null;
  extra: BenchExtra;
  backend: string | null;
  /** The bench's {@link BenchDef.headline} line, when it has one and ran. */
  headline?: string;
  /** Set when the bench threw (then the timings are NaN and nothing is stored). */
  error?: string;
}

/** The machine a bench ran on (stored as JSON in `bench.machine`). */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryBytes: number | null;
  os: string;
  arch: string;
  deno: string;
  v8: string;
}

const registry: BenchDef[] = [];

/**
 * Adds a bench to the global registry used by `deno task bench`. Throws on a duplicate `group/name`.
 *
 * @example
 * ```ts
 * registerBench({ name: "sort-10k", group: "lib", unit: "10k numbers",
 *   fn: () => void Array.from({ length: 1e4 }, Math.random).sort() });
 * ```
 */
export function registerBench<C>(def: BenchDef<C>): void {
  const id = `${def.group}/${def.name}`;
  if (registry.some((b) => `${b.group}/${b.name}` === id)) throw new Error(`bench ${id} is registered twice`);
  if ((def.iterations ?? 10) < 1) throw new Error(`bench ${id}: iterations must be at least 1`);
  registry.push(def as BenchDef);
}

/**
 * Registers a declarative list of benches.
 *
 * @example
 * ```ts
 * registerBenches([
 *   { name: "sort-10k", group: "lib", fn: () => void Array.from({ length: 1e4 }, Math.random).sort() },
 * ]);
 * ```
 */
export function registerBenches(defs: BenchDef[]): void {
  for (const d of defs) registerBench(d);
}

/**
 * The registered benches, in registration order.
 *
 * @example
 * ```ts
 * const names = registeredBenches().map((b) => `${b.group}/${b.name}`);
 * ```
 */
export function registeredBenches(): readonly BenchDef[] {
  return registry;
}

/**
 * Whether a bench matches a `--filter` substring (case-insensitive, against `group/name`).
 *
 * @example
 * ```ts
 * matchesFilter({ group: "store", name: "insert-100k" }, "STORE/"); // true
 * ```
 */
export function matchesFilter(def: { group: string; name: string }, filter?: string): boolean {
  return !filter || `${def.group}/${def.name}`.toLowerCase().includes(filter.toLowerCase());
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs one bench: setup, warm-up, timed iterations, teardown. Never throws (failures set `error`).
 *
 * @example
 * ```ts
 * const r = await runBench({ name: "sort-10k", group: "lib", fn: () => void Array(1e4).fill(0).sort() });
 * console.log(r.error ?? `${r.medianMs} ms`);
 * ```
 */
export async function runBench(def: BenchDef): Promise<BenchResult> {
  const iterations = def.iterations ?? 10;
  const warmup = def.warmup ?? 1;
  const result: BenchResult = {
    name: def.name,
    group: def.group,
    medianMs: NaN,
    minMs: NaN,
    maxMs: NaN,
    iterations: 0,
    samplesMs: [],
    unit: def.unit ?? null,
    extra: {},
    backend: typeof def.backend === "string" ? def.backend : null,
  };
  let ctx: unknown;
  let setUp = false;
  try {
    ctx = def.setup ? await def.setup() : undefined;
    setUp = true;
    if (typeof def.backend === "function") result.backend = def.backend();
    for (let i = 0; i < warmup; i++) await def.fn(ctx, -1 - i);
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      const extra = await def.fn(ctx, i);
      result.samplesMs.push(performance.now() - t0);
      if (extra) result.extra = extra;
    }
    result.iterations = iterations;
    result.medianMs = median(result.samplesMs);
    result.minMs = Math.min(...result.samplesMs);
    result.maxMs = Math.max(...result.samplesMs);
    if (def.headline) result.headline = def.headline(result.extra);
  } catch (e) {
    result.error = errorText(e);
  } finally {
    if (setUp && def.teardown) {
      try {
        await def.teardown(ctx);
      } catch (e) {
        result.error ??= `teardown: ${errorText(e)}`;
      }
    }
  }
  return result;
}

/** Options of {@link runBenches}. */
export interface RunBenchesOptions {
  /** Only benches whose `group/name` contains this substring. */
  filter?: string;
  /** Called before each bench starts (e.g. to print progress). */
  onStart?(def: BenchDef): void;
  /** Called after each bench ends. */
  onResult?(result: BenchResult): void;
}

/**
 * Runs the matching benches one after another.
 *
 * @example
 * ```ts
 * const opts: RunBenchesOptions = { filter: "kernels", onStart: (d) => console.log(`${d.group}/${d.name}`) };
 * const results = await runBenches(registeredBenches(), opts);
 * ```
 */
export async function runBenches(
  defs: readonly BenchDef[],
  opts: RunBenchesOptions = {},
): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const def of defs) {
    if (!matchesFilter(def, opts.filter)) continue;
    opts.onStart?.(def);
    const r = await runBench(def);
    opts.onResult?.(r);
    out.push(r);
  }
  return out;
}

/**
 * Formats milliseconds with about 4 significant digits.
 *
 * @example
 * ```ts
 * formatMs(12.34567); // "12.346"
 * ```
 */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms >= 100) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(3);
  return ms.toPrecision(3);
}

function formatExtra(extra: BenchExtra): string {
  return Object.entries(extra).map(([k, v]) =>
    `${k}=${typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v}`
  ).join(" ");
}

/**
 * Formats results as an aligned table: bench, median/min/max ms, iterations, unit, extra metrics.
 *
 * @example
 * ```ts
 * console.log(formatBenchTable(await runBenches(registeredBenches())));
 * ```
 */
export function formatBenchTable(results: BenchResult[]): string {
  const header = ["bench", "median ms", "min ms", "max ms", "iters", "unit", "extra"];
  const rows = results.map((r) => [
    `${r.group}/${r.name}`,
    formatMs(r.medianMs),
    formatMs(r.minMs),
    formatMs(r.maxMs),
    String(r.iterations),
    r.unit ?? "",
    r.error ? `FAILED: ${r.error}` : formatExtra(r.extra),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const right = [false, true, true, true, true, false, false];
  const line = (cells: string[]) =>
    cells.map((c, i) => right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n") + "\n";
}

/**
 * Describes this machine (CPU model, cores, memory, OS, Deno version); fields it may not read are left vague.
 *
 * @example
 * ```ts
 * const { cpu, cores, deno } = machineInfo();
 * ```
 */
export function machineInfo(): MachineInfo {
  let cpu = "unknown";
  let cores = navigator.hardwareConcurrency ?? 0;
  let memoryBytes: number | null = null;
  let os: string = Deno.build.os;
  try {
    const list = cpus();
    if (list.length) {
      cpu = list[0].model.trim();
      cores = list.length;
    }
    os = `${Deno.build.os} ${release()}`;
  } catch { /* no --allow-sys */ }
  try {
    memoryBytes = Deno.systemMemoryInfo().total;
  } catch { /* no --allow-sys */ }
  return { cpu, cores, memoryBytes, os, arch: Deno.build.arch, deno: Deno.version.deno, v8: Deno.version.v8 };
}

/** Context stored with every bench row of one `deno task bench` invocation. */
export interface BenchRunInfo {
  runId: string;
  machine: MachineInfo;
  gitCommit: string | null;
}

/**
 * Writes the successful results to the `bench` table (one row each); returns how many were written.
 *
 * @example
 * ```ts
 * const info: BenchRunInfo = { runId: crypto.randomUUID(), machine: machineInfo(), gitCommit: null };
 * const written = await saveBenchResults(store, results, info);
 * ```
 */
export async function saveBenchResults(
  store: ResultsStore,
  results: BenchResult[],
  info: BenchRunInfo,
): Promise<number> {
  const now = new Date();
  const rows = results.filter((r) => !r.error).map((r) => ({
    run_id: info.runId,
    name: r.name,
    group_name: r.group,
    median_ms: r.medianMs,
    min_ms: r.minMs,
    max_ms: r.maxMs,
    iterations: r.iterations,
    unit: r.unit,
    extra: r.extra,
    backend: r.backend,
    machine: info.machine,
    git_commit: info.gitCommit,
    created_at: now,
  }));
  if (rows.length) await store.insertRows("bench", rows);
  return rows.length;
}
