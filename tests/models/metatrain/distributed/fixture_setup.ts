/**
 * Worker recipe of the distributed meta-training tests: the toy learned optimizer and the tiny quadratics of
 * `tests/models/metatrain/fixtures.ts` (stand-in problems for tests only), built the same way in the test process
 * and in its workers.
 *
 * @module
 */
import { makeToyLearnedOptimizer } from "../../../../models/optimizers/learned.ts";
import type { WorkerSetup } from "../../../../models/metatrain/distributed/worker.ts";
import { tinyQuadratic, tinySpec } from "../fixtures.ts";

/** This module's path as a worker recipe names it. */
export const FIXTURE_RECIPE_MODULE = "tests/models/metatrain/distributed/fixture_setup.ts";

/**
 * The toy setup; `args.initLogLr` changes the learned optimizer (a worker with other code, in the tests).
 *
 * @example
 * ```ts
 * const { learned, problems } = await workerSetup({});
 * ```
 */
export function workerSetup(args: unknown): Promise<WorkerSetup> {
  const a = (args ?? {}) as { initLogLr?: number };
  return Promise.resolve({
    learned: makeToyLearnedOptimizer({ numLogLrs: 2, initLogLr: a.initLogLr ?? Math.log(0.05) }),
    problems: {
      specs: [tinySpec(1), tinySpec(2, { noise: 0.05, minibatch: true }), tinySpec(3, { minibatch: true })],
      build: tinyQuadratic,
    },
  });
}
