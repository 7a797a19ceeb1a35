/**
 * Bridges the asynchronous dataset loaders of `tasks/data/` to the synchronous {@link DatasetResolver} that
 * `buildProblem` takes: external datasets named inside problem specs are loaded once, up front, and then
 * served from memory.
 *
 * @module
 */
import type { ProblemSpec } from "./problem.ts";
import {
  type Dataset,
  type DatasetResolver,
  type DatasetSpec,
  fromImageArrays,
  isSyntheticDataset,
} from "./datasets.ts";
import { loadDataset, toDatasetSpec } from "./data/index.ts";

/**
 * Every non-synthetic dataset spec inside a problem spec (nested wrappers included).
 *
 * @example
 * ```ts
 * const specs = externalDatasets(testProblems().find((e) => e.name === "mlp_mnist_relu")!.spec);
 * console.log(specs); // [{ kind: "mnist", split: "train" }]
 * ```
 */
export function externalDatasets(spec: ProblemSpec): DatasetSpec[] {
  const out: DatasetSpec[] = [];
  const p = spec.params;
  const ds = p.dataset as DatasetSpec | undefined;
  if (ds && typeof ds === "object" && !isSyntheticDataset(ds)) out.push(ds);
  if (p.inner && typeof p.inner === "object") out.push(...externalDatasets(p.inner as ProblemSpec));
  if (Array.isArray(p.problems)) {
    for (const s of p.problems as ProblemSpec[]) out.push(...externalDatasets(s));
  }
  return out;
}

function cacheKey(spec: DatasetSpec): string {
  return JSON.stringify(spec, Object.keys(spec).sort());
}

/**
 * Loads every external dataset the given specs need and returns a resolver serving them. Throws the loaders'
 * `DatasetUnavailableError` (with instructions) when one is missing; never substitutes other data.
 *
 * @example
 * ```ts
 * const resolveDataset = await preloadDatasets(heldoutSet().map((e) => e.spec));
 * const problem = buildProblem(spec, { resolveDataset });
 * ```
 */
export async function preloadDatasets(specs: ProblemSpec[]): Promise<DatasetResolver> {
  const cache = new Map<string, Dataset>();
  for (const spec of specs) {
    for (const ds of externalDatasets(spec)) {
      const k = cacheKey(ds);
      if (cache.has(k)) continue;
      const img = await loadDataset(toDatasetSpec(ds));
      cache.set(k, fromImageArrays(img));
    }
  }
  return (spec: DatasetSpec) => {
    const hit = cache.get(cacheKey(spec));
    if (!hit) {
      throw new Error(`dataset ${JSON.stringify(spec)} was not preloaded; call preloadDatasets first`);
    }
    return hit;
  };
}
