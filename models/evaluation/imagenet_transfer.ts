/**
 * The ImageNet transfer experiment: the learned optimizer trains the large ImageNet ConvNets next to RMSProp
 * and Adam at their standard ImageNet learning rates ({@link runImagenetTraining}), then the cost of each
 * optimizer's update is measured at full network width ({@link measureOverhead}); writes `summary.json`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { backendDescription, type BackendName, initBackend } from "../../lib/backend.ts";
import { LEARNED_OPTIMIZER_NAME } from "../../lib/optimizer.ts";
import { batchOrder, STANDIN_DATASET } from "../../tasks/imagenet/standin.ts";
import { type ImagenetTransferParams, optimizerRuns } from "./imagenet_config.ts";
import { measureOverhead } from "./imagenet_overhead.ts";
import { type LoadLearned, openSource, runImagenetTraining } from "./imagenet_run.ts";
import type { ResultSink } from "./result_sink.ts";

/** Resolves the backend, turning a missing tfjs-node into a one-line, actionable error. */
async function setUpBackend(name: string): Promise<BackendName> {
  try {
    return await initBackend(name as BackendName);
  } catch (e) {
    throw new Error(`imagenet-transfer cannot use backend '${name}': ${(e as Error).message}`);
  }
}

/** Options of {@link runImagenetTransfer}. */
export interface ImagenetTransferOptions {
  params: ImagenetTransferParams;
  sink: ResultSink;
  /** The learned optimizer's weights file and loader; null when no meta-train artifact is given. */
  learned: { weightsPath: string; load: LoadLearned } | null;
  /** Folder of `summary.json`. */
  outDir: string;
  /** Profile name recorded in the summary. */
  profile: string;
  signal?: AbortSignal;
}

/**
 * Runs the whole experiment (training runs, then the overhead measurement) and writes `summary.json`.
 *
 * @example
 * ```ts
 * await runImagenetTransfer({ params, sink: ctx, learned, outDir: ctx.outDir, profile: "smoke" });
 * ```
 */
export async function runImagenetTransfer(o: ImagenetTransferOptions): Promise<void> {
  const { params: p, sink } = o;
  const t0 = performance.now();
  const backend = await setUpBackend(p.backend);
  sink.log(`backend: ${backendDescription() ?? backend}`);
  if (backend === "wasm") sink.log((await import("../hrnn/native.ts")).describeFusedEngine());
  const source = await openSource(p, (m) => sink.log(m));
  let provenance: unknown = null;
  const loadLearned: LoadLearned = (seed) => {
    if (!o.learned) {
      throw new Error("imagenet-transfer needs the meta-train artifact for the learned optimizer.");
    }
    return o.learned.load(seed);
  };
  if (p.optimizers.includes(LEARNED_OPTIMIZER_NAME)) {
    const l = await loadLearned(p.seed);
    provenance = l.provenance;
    l.dispose();
    const prov = l.provenance;
    sink.log(
      `learned optimizer: ${o.learned?.weightsPath} (profile ${prov.profile ?? "?"}, meta-train ` +
        `${prov.cacheKey ?? "?"}, ${prov.metaTraining?.metaSteps ?? "?"} meta-steps${
          prov.standIn ? ", STAND-IN weights" : ""
        })`,
    );
  }
  const c = { params: p, sink, loadLearned, signal: o.signal };
  const runs = optimizerRuns(p);
  // Progress in training steps; each overhead measurement counts as as many units as one training run.
  const total = p.networks.length * runs.length * p.steps + (p.overhead ? p.networks.length * p.steps : 0);
  let done = 0;
  const runRows: Record<string, unknown>[] = [];
  for (const network of p.networks) {
    const size = network === "inception_v3" ? p.inceptionInputSize : p.resnetInputSize;
    const src = source.forSize(size);
    const order = batchOrder(src.n, p.batchSize, p.steps, p.seed);
    for (const run of runs) {
      const before = done;
      sink.progress(done, total, `${network}/${run.name}`);
      runRows.push(
        await runImagenetTraining(
          c,
          network,
          run,
          src,
          order,
          (label) => sink.progress(++done, total, label),
        ),
      );
      done = before + p.steps;
    }
  }
  const overheadRows: Record<string, unknown>[] = [];
  if (p.overhead) {
    for (const network of p.networks) {
      sink.progress(done, total, `${network} overhead`);
      overheadRows.push(...await measureOverhead(c, network, backendDescription() ?? backend));
      done += p.steps;
    }
  }
  sink.progress(total, total, "done");
  const seconds = (performance.now() - t0) / 1000;
  await Deno.writeTextFile(
    join(o.outDir, "summary.json"),
    JSON.stringify(
      {
        stage: "imagenet-transfer",
        dataset: source.dataset,
        standIn: source.standIn,
        note: source.standIn
          ? `${STANDIN_DATASET}: MNIST digits resized and coloured; NOT ImageNet (no imagenetDir given)`
          : "ImageNet (ILSVRC-2012 folder layout)",
        backend,
        profile: o.profile,
        learnedOptimizer: provenance,
        runs: runRows,
        overhead: overheadRows,
        seconds,
      },
      null,
      1,
    ),
  );
  sink.log(`done in ${seconds.toFixed(1)} s (${tf.memory().numTensors} tensors alive)`);
}
