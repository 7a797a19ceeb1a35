/**
 * The bench modules run by `deno task bench`. Each module registers its benches with `registerBench` when
 * imported; add a line here to include a new one.
 *
 * @module
 */

import "./harness.bench.ts";
import "./store.bench.ts";
import "./pipeline.bench.ts";

import { registerBenches } from "../pipeline/bench.ts";
import { benchmarks as kernelBenchmarks } from "./kernels.bench.ts";
registerBenches(kernelBenchmarks);
import { benchmarks as cnnBenchmarks } from "./cnn.bench.ts";
registerBenches(cnnBenchmarks);
import { benchmarks as imagenetBenchmarks } from "./imagenet.bench.ts";
registerBenches(imagenetBenchmarks);
import { benchmarks as hrnnBenchmarks } from "./hrnn.bench.ts";
import { benchmarks as metaBenchmarks } from "./meta.bench.ts";
registerBenches(hrnnBenchmarks);
registerBenches(metaBenchmarks);
import { benchmarks as metaWorkersBenchmarks } from "./meta_workers.bench.ts";
registerBenches(metaWorkersBenchmarks);
import { benchmarks as webgpuBenchmarks } from "./webgpu.bench.ts";
registerBenches(webgpuBenchmarks);
import { benchmarks as webgpuTapedBenchmarks } from "./webgpu_taped.bench.ts";
registerBenches(webgpuTapedBenchmarks);
