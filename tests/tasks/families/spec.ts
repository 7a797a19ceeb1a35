import type { ProblemSpec } from "../../../tasks/problem.ts";

/** A problem spec with seed 3 unless given (the families tests' shorthand). */
export const S = (family: string, params: Record<string, unknown> = {}, seed = 3): ProblemSpec => ({
  family,
  params,
  seed,
});

/** A small synthetic dataset spec of `kind` (64 samples, seed 5). */
export const tinyData = (kind: string, extra: Record<string, unknown> = {}) => ({
  kind,
  nSamples: 64,
  seed: 5,
  ...extra,
});
