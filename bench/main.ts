/**
 * `deno task bench`: runs the benchmarks registered by the modules listed in `bench/index.ts`, prints a
 * table (or JSON with `--json`) and saves one row per bench to the `bench` table of the results database.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type BenchDef,
  formatBenchTable,
  machineInfo,
  matchesFilter,
  registeredBenches,
  runBenches,
  saveBenchResults,
} from "../pipeline/bench.ts";
import { gitCommit } from "../pipeline/git.ts";
import { resolveResultsDir } from "../pipeline/results_dir.ts";
import { ResultsStore } from "../pipeline/store.ts";

const HELP = `Usage: deno task bench [options]

Runs the benchmarks listed in bench/index.ts, prints median/min/max wall time per iteration and any extra
metrics, and saves the results to the bench table of <results>/lopt.duckdb
(see them with: deno task query "SELECT * FROM bench ORDER BY created_at DESC").

Options:
  --filter SUBSTR  only benches whose group/name contains SUBSTR (case-insensitive)
  --results DIR    results directory (default: $LOPT_RESULTS, else ./results)
  --json           print the results as JSON on stdout instead of a table
  --list           list the benches and exit
  -h, --help       show this help
`;

/** Where the bench CLI writes; tests capture it. */
export interface BenchIo {
  /** Results (table or JSON). */
  out(text: string): void;
  /** Progress and diagnostics. */
  err(text: string): void;
}

const stdio: BenchIo = {
  out: (t) => void Deno.stdout.writeSync(new TextEncoder().encode(t)),
  err: (t) => void Deno.stderr.writeSync(new TextEncoder().encode(t)),
};

/**
 * Runs the bench CLI with `argv` (without the program name) and returns the exit code: 0 all benches ran,
 * 1 a bench failed or the database could not be written, 2 usage error. `benches` defaults to the
 * registry filled by `bench/index.ts`.
 *
 * @example
 * ```ts
 * const code = await runBenchCli(["--filter", "hrnn-update", "--json"]);
 * ```
 */
export async function runBenchCli(
  argv: string[],
  opts: { benches?: readonly BenchDef[]; io?: BenchIo } = {},
): Promise<number> {
  const io = opts.io ?? stdio;
  let values: { filter?: string; results?: string; json?: boolean; list?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filter: { type: "string" },
        results: { type: "string" },
        json: { type: "boolean" },
        list: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    io.err(`error: ${(e as Error).message}\nRun with --help for usage.\n`);
    return 2;
  }
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const all = opts.benches ?? registeredBenches();
  const selected = all.filter((b) => matchesFilter(b, values.filter));
  if (values.list) {
    io.out(selected.map((b) => `${b.group}/${b.name}${b.unit ? `  (${b.unit})` : ""}\n`).join(""));
    return 0;
  }
  if (selected.length === 0) {
    io.err(`error: no bench matches --filter "${values.filter}"; see --list\n`);
    return 1;
  }
  // Open the store first: fail before spending minutes when it is locked by a running pipeline.
  let store: ResultsStore;
  try {
    store = await ResultsStore.open(resolveResultsDir(values.results), { log: (m) => io.err(m + "\n") });
  } catch (e) {
    io.err(`error: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const commit = await gitCommit(fileURLToPath(new URL("..", import.meta.url)));
    const info = { runId: crypto.randomUUID(), machine: machineInfo(), gitCommit: commit };
    const results = await runBenches(selected, {
      onStart: (b) => io.err(`bench ${b.group}/${b.name} ...\n`),
      onResult: (r) => r.error && io.err(`bench ${r.group}/${r.name} FAILED: ${r.error}\n`),
    });
    const saved = await saveBenchResults(store, results, info);
    if (values.json) {
      io.out(JSON.stringify({ ...info, results }, null, 2) + "\n");
    } else {
      io.out(formatBenchTable(results));
      io.out(
        `run ${info.runId}: ${saved} row(s) saved to ${store.dbPath} (commit ${
          info.gitCommit ?? "unknown"
        })\n`,
      );
      for (const r of results) if (r.headline) io.out(r.headline + "\n");
    }
    const failed = results.filter((r) => r.error).length;
    if (failed) io.err(`${failed} bench(es) failed\n`);
    return failed ? 1 : 0;
  } catch (e) {
    io.err(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await store.close();
  }
}

if (import.meta.main) {
  await import("./index.ts");
  Deno.exit(await runBenchCli(Deno.args));
}
