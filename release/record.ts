/**
 * The release record of a set of pretrained weights (`models/pretrained/provenance.json`), built from the
 * artifacts of the pipeline run that produced and evaluated them: pure functions over their parsed contents.
 *
 * @module
 */
import type { JsonValue, WeightsProvenance } from "../models/hrnn/weights_file.ts";
import type { PretrainedRelease } from "../models/release_record.ts";
import type { RecheckRun } from "./recheck.ts";

/** `format` of the release record. */
export const RELEASE_FORMAT = "lopt-pretrained-release";

/** Licence the released weights are published under. */
export const WEIGHTS_LICENCE = "Apache-2.0";

/** A recheck run as recorded: the run, its recorded loss and the loss the release re-evaluated. */
export interface RecordedRecheck extends RecheckRun {
  /** Final full loss of the same run made by `release-weights` with the released file. */
  releaseFinalLoss: number;
}

/** What {@link buildReleaseRecord} needs. */
export interface ReleaseInputs {
  /** Profile named on the command line. */
  profile: string;
  /** `--set` overrides, as given. */
  sets: string[];
  /** The command that reproduces the release. */
  command: string;
  /** Keys of the artifacts used, by stage. */
  artifacts: Record<string, string>;
  /** Git commit of the meta-train artifact (its manifest), or null. */
  trainedAtCommit: string | null;
  /** Git commit of the code that made the release, or null. */
  releasedAtCommit: string | null;
  /** The weights file's own provenance. */
  weights: WeightsProvenance;
  /** SHA-256 (hex) and size of the weights file. */
  weightsSha256: string;
  weightsBytes: number;
  /** `eval-problems` resolved params and its `summary.json`. */
  evalParams: Record<string, JsonValue>;
  evalSummary: Record<string, JsonValue>;
  /** `eval_long` rows. */
  evalLong: Record<string, JsonValue>[];
  /** `eval_final` rows of the learned optimizer. */
  learnedFinals: { task_id: string; diverged: boolean }[];
  /** `cnn_summary` rows. */
  cnnSummary: Record<string, JsonValue>[];
  /** The fused-kernel line of the machine that made the release. */
  kernel: string;
  /** The recheck runs with both losses. */
  recheck: RecordedRecheck[];
  /** Release time (ISO-8601). */
  releasedAt: string;
  /** Free text: why this release, what it replaces. */
  note: string;
}

/**
 * Builds the release record.
 *
 * @example
 * ```ts
 * const record = buildReleaseRecord(inputs);
 * await Deno.writeTextFile("provenance.json", JSON.stringify(record, null, 2));
 * ```
 */
export function buildReleaseRecord(x: ReleaseInputs): PretrainedRelease {
  const { curve, ...metaSummary } = x.weights.metaTraining ?? {};
  const { learnedProvenance: _dropped, ...heldOut } = x.evalSummary;
  const diverged = [...new Set(x.learnedFinals.filter((r) => r.diverged).map((r) => r.task_id))].sort();
  return {
    format: RELEASE_FORMAT,
    version: 1,
    licence: WEIGHTS_LICENCE,
    note: x.note,
    profile: x.profile,
    sets: x.sets,
    command: x.command,
    releasedAt: x.releasedAt,
    releasedAtCommit: x.releasedAtCommit,
    trainedAtCommit: x.trainedAtCommit,
    artifacts: x.artifacts,
    weights: { file: "hrnn.weights", sha256: x.weightsSha256, bytes: x.weightsBytes },
    metaTraining: {
      params: (x.weights.params ?? {}) as Record<string, JsonValue>,
      summary: metaSummary as Record<string, JsonValue>,
      curve: (curve ?? []) as JsonValue,
    },
    heldOut: {
      params: x.evalParams,
      summary: heldOut,
      learnedDivergedProblems: diverged,
      longHorizon: x.evalLong.map((r) => ({
        task_id: r.task_id,
        improvement_ratio: r.improvement_ratio,
        learned_diverged: r.learned_diverged,
      })),
    },
    convnet: x.cnnSummary.map((r) => ({
      model: r.model,
      dataset: r.dataset,
      status: r.status,
      baseline: r.baseline,
      baseline_lr: r.baseline_lr,
      baseline_final_train_loss: r.baseline_final_train_loss,
      baseline_test_accuracy: r.baseline_test_accuracy,
      learned_final_train_loss: r.learned_final_train_loss,
      learned_test_accuracy: r.learned_test_accuracy,
      loss_ratio: r.loss_ratio,
      seeds: r.seeds,
      learned_diverged_seeds: r.learned_diverged_seeds,
    })),
    recheck: {
      rule:
        "the first learned runs of eval_final at the first seed on problems without external data, at most " +
        "2000 parameters, not diverged; rerun with the released file and compared to 1e-3 relative",
      kernel: x.kernel,
      runs: x.recheck.map((r) => ({
        task: JSON.parse(JSON.stringify(r.task)) as JsonValue,
        dims: r.dims,
        seed: r.seed,
        steps: r.steps,
        fullEvery: r.fullEvery,
        recordedFinalLoss: r.recordedFinalLoss,
        releaseFinalLoss: r.releaseFinalLoss,
      })),
    },
  };
}

/** A number to 4 significant digits for the README ("–" for null). */
function n4(v: JsonValue | undefined): string {
  return typeof v === "number" ? Number(v.toPrecision(4)).toString() : "–";
}

/** A fraction as a percentage. */
function pct(v: JsonValue | undefined): string {
  return typeof v === "number" ? `${Math.round(100 * v)} %` : "–";
}

/**
 * The `README.md` of the release folder: what the files are and the headline numbers of the record.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("models/pretrained/README.md", releaseReadme(record));
 * ```
 */
export function releaseReadme(r: PretrainedRelease): string {
  const s = r.heldOut.summary as Record<string, JsonValue>;
  const win = (s.winFraction ?? {}) as Record<string, JsonValue>;
  const ratio = (s.medianRatio ?? {}) as Record<string, JsonValue>;
  const long = (s.longHorizon ?? {}) as Record<string, JsonValue>;
  const meta = r.metaTraining.summary;
  const lines = [
    "# Pretrained learned optimizer",
    "",
    "Generated by `deno task release-weights`; do not edit. `loadPretrained()` in `mod.ts` loads these weights",
    "(embedded in `hrnn_weights.ts`, which a test checks against `hrnn.weights`).",
    "",
    `- **Profile:** \`${r.profile}\`${
      r.sets.length ? ` with ${r.sets.map((x) => `\`--set ${x}\``).join(" ")}` : ""
    }`,
    `- **Reproduce:** \`${r.command}\`${
      r.trainedAtCommit
        ? ` at the commit it was trained at (\`git checkout ${r.trainedAtCommit.slice(0, 12)}\`)`
        : ""
    }: meta-training is deterministic, but any change to the code it runs changes the weights`,
    `- **Trained at commit:** ${r.trainedAtCommit ?? "unknown"}; released at ${
      r.releasedAtCommit ?? "unknown"
    }`,
    `- **Meta-training:** ${meta.metaSteps ?? "?"} meta-steps, ${meta.innerSteps ?? "?"} inner steps, ` +
    `${n4(meta.wallSeconds)} s; meta-loss ${n4(meta.metaLossFirstTenth)} (first tenth) → ` +
    `${n4(meta.metaLossLastTenth)} (last tenth)`,
    `- **Licence:** ${r.licence}`,
    `- **Note:** ${r.note}`,
    "",
    `## Held-out problems (${s.problems ?? "?"} problems, ${JSON.stringify(s.seeds ?? [])} seeds, ` +
    `${s.horizon ?? "?"} steps)`,
    "",
    "| vs tuned | momentum | RMSProp | Adam | best baseline |",
    "| --- | --- | --- | --- | --- |",
    `| learned wins | ${pct(win.momentum)} | ${pct(win.rmsprop)} | ${pct(win.adam)} | ${
      pct(s.winFractionVsBest)
    } |`,
    `| median loss ratio | ${n4(ratio.momentum)} | ${n4(ratio.rmsprop)} | ${n4(ratio.adam)} | ${
      n4(ratio.best)
    } |`,
    "",
    `Long horizon (${long.steps ?? "?"} steps, ${
      long.problems ?? "?"
    } problems): learned improves at least as ` +
    `much as Adam on ${pct(long.fractionAtLeastAdam)}. Learned diverged on: ` +
    `${r.heldOut.learnedDivergedProblems.length ? r.heldOut.learnedDivergedProblems.join(", ") : "none"}.`,
    "",
    "## ConvNets (final training loss, median over seeds)",
    "",
    "| model | baseline (tuned lr) | baseline loss | learned loss | ratio |",
    "| --- | --- | --- | --- | --- |",
    ...r.convnet.filter((c) => c.status === "ok").map((c) =>
      `| ${c.model} | ${c.baseline} (${n4(c.baseline_lr)}) | ${n4(c.baseline_final_train_loss)} | ` +
      `${n4(c.learned_final_train_loss)} | ${n4(c.loss_ratio)} |`
    ),
    "",
    "Everything else (params, curve, the recheck runs) is in `provenance.json`.",
    "",
  ];
  return lines.join("\n");
}
