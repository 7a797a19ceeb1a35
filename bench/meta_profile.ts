/**
 * What the meta-training benchmarks train on: the `meta-train` stage's `default` profile and the training
 * ensemble's problems, picked by family and size.
 *
 * @module
 */
import { ensemble } from "../tasks/ensemble.ts";
import { buildProblem } from "../tasks/registry.ts";
import { resolveParams } from "../pipeline/params.ts";
import { metaTrainStage } from "../stages/meta_train.ts";
import { type MetaTrainParams, metaTrainSettings } from "../stages/meta_train_settings.ts";
import type { ProblemSpec } from "../tasks/problem.ts";

/** Number of parameters of a problem built from `spec`. */
function problemDims(spec: ProblemSpec): { dims: number; tensors: number } {
  const p = buildProblem(spec);
  const dims = p.paramShapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
  const tensors = p.paramShapes.length;
  p.dispose();
  return { dims, tensors };
}

/**
 * The first training-ensemble spec of `family` with `dims` parameters (throws when there is none).
 *
 * @example
 * ```ts
 * const spec = ensembleSpec("quadratic", 20);
 * ```
 */
export function ensembleSpec(family: string, dims: number): ProblemSpec {
  for (const e of ensemble()) {
    if (e.spec.family === family && problemDims(e.spec).dims === dims) return e.spec;
  }
  throw new Error(`the training ensemble has no ${family} problem with ${dims} parameters`);
}

/**
 * The `default` profile of the `meta-train` stage: its resolved params and the settings they select.
 *
 * @example
 * ```ts
 * const { params, settings } = defaultProfile();
 * ```
 */
export function defaultProfile(): {
  params: MetaTrainParams;
  settings: ReturnType<typeof metaTrainSettings>;
} {
  const params = resolveParams(
    metaTrainStage,
    "default",
    [],
  ) as MetaTrainParams;
  return { params, settings: metaTrainSettings(params) };
}

/**
 * The training-ensemble specs with at most `maxTaskDims` parameters (as the meta-train stage filters).
 *
 * @example
 * ```ts
 * const specs = trainSpecs(2000);
 * ```
 */
export function trainSpecs(maxTaskDims: number): ProblemSpec[] {
  return ensemble().map((e) => e.spec).filter((s) => problemDims(s).dims <= maxTaskDims);
}
