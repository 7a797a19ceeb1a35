/**
 * The bench modules run by `deno task bench`. Each module registers its benches with `registerBench` when
 * imported; add a line here to include a new one.
 *
 * @module
 */

import "./harness.bench.ts";
import "./store.bench.ts";
