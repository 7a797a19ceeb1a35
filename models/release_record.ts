/**
 * The shape of a release record: `models/pretrained/provenance.json`, written by `deno task release-weights`
 * and returned by `pretrainedRelease()`.
 *
 * @module
 */
import type { JsonValue } from "./hrnn/weights_file.ts";

/** One recorded `eval-problems` run of the learned optimizer and its re-evaluation with the released file. */
export interface ReleaseRecheckRun {
  /** The held-out task as `generate-tasks` wrote it (id, spec, initial-point seed, …). */
  task: JsonValue;
  /** Its number of parameters. */
  dims: number;
  /** The `eval-problems` run seed. */
  seed: number;
  /** Steps (the stage's `horizon`) and the stage's `fullEvery`. */
  steps: number;
  fullEvery: number;
  /** Final full loss recorded by the pipeline (`eval_final`). */
  recordedFinalLoss: number;
  /** The same run made by `release-weights` with the released file. */
  releaseFinalLoss: number;
}

/**
 * A release record: where the pretrained weights come from and what they were measured to do.
 *
 * @example
 * ```ts
 * const r: PretrainedRelease = JSON.parse(await Deno.readTextFile("models/pretrained/provenance.json"));
 * console.log(r.profile, r.heldOut.summary);
 * ```
 */
export interface PretrainedRelease {
  /** Always `lopt-pretrained-release`. */
  format: string;
  /** Record format version (1). */
  version: number;
  /** Licence of the weights (SPDX identifier). */
  licence: string;
  /** What this release is. */
  note: string;
  /** Pipeline profile and `--set` overrides the weights were trained and evaluated with. */
  profile: string;
  sets: string[];
  /** The command that reproduces the release. */
  command: string;
  /** Release time (ISO-8601) and the lopt commits of the release and of the meta-training run. */
  releasedAt: string;
  releasedAtCommit: string | null;
  trainedAtCommit: string | null;
  /** Pipeline artifact keys used, by stage. */
  artifacts: Record<string, string>;
  /** The weights file: name, SHA-256 (hex), size in bytes. */
  weights: { file: string; sha256: string; bytes: number };
  /** Meta-training: the stage's params, its summary (steps, time, meta-loss) and the downsampled curve. */
  metaTraining: { params: Record<string, JsonValue>; summary: Record<string, JsonValue>; curve: JsonValue };
  /** Held-out problems: `eval-problems` params and summary, problems where the learned optimizer diverged,
   * and the long-horizon ratios. */
  heldOut: {
    params: Record<string, JsonValue>;
    summary: Record<string, JsonValue>;
    learnedDivergedProblems: string[];
    longHorizon: Record<string, JsonValue>[];
  };
  /** ConvNets: the `cnn_summary` rows (learned vs each tuned baseline). */
  convnet: Record<string, JsonValue>[];
  /** The recheck: its rule, the kernel that ran it, and the runs. */
  recheck: { rule: string; kernel: string; runs: ReleaseRecheckRun[] };
}
