/**
 * Benchmarks of the pipeline itself, through the real entry `stages/main.ts`: the whole smoke DAG from an
 * empty results directory (target: under 2 minutes on 2 cores), and a no-op run of the cached smoke DAG
 * (target: under 1 s, including Deno start-up).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { type BenchDef, registerBenches } from "../pipeline/bench.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

async function runSmoke(results: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", "--profile", "smoke", "--results", results, "--quiet"],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    const dec = new TextDecoder();
    throw new Error(
      `smoke pipeline failed (${out.code}):\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`,
    );
  }
}

interface Ctx {
  results: string;
}

/** The pipeline benchmarks. */
export const benchmarks: BenchDef<Ctx>[] = [
  {
    name: "smoke DAG, cold (empty results dir)",
    group: "pipeline",
    unit: "whole DAG",
    iterations: 1,
    warmup: 0,
    setup: async () => ({ results: await Deno.makeTempDir({ prefix: "lopt-bench-smoke-" }) }),
    fn: (ctx) => runSmoke(ctx.results),
    teardown: (ctx) => Deno.remove(ctx.results, { recursive: true }),
  },
  {
    name: "smoke DAG, cached no-op run",
    group: "pipeline",
    unit: "run",
    iterations: 5,
    warmup: 0,
    setup: async () => {
      const results = await Deno.makeTempDir({ prefix: "lopt-bench-noop-" });
      await runSmoke(results);
      return { results };
    },
    fn: (ctx) => runSmoke(ctx.results),
    teardown: (ctx) => Deno.remove(ctx.results, { recursive: true }),
  },
];

registerBenches(benchmarks as BenchDef[]);
