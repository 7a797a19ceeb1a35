/**
 * Stages `meta-train-l2l-lstm` and `meta-train-crnn`: the `meta-train` stage with its `optimizer` param fixed
 * to the coordinatewise LSTM of Andrychowicz et al. 2016 or the coordinatewise RNN, so that one pipeline run
 * holds the HRNN and the earlier learned optimizers side by side (a stage has one artifact per run, and
 * `eval-horizon` compares all three). Each is meta-trained on the same ensemble, with the same profile
 * budget (meta-steps, meta-batch, problem-size cap) as `meta-train`; only the learned optimizer and, for the
 * LSTM, the meta-training protocol of its paper differ:
 *
 * - `meta-train-l2l-lstm`: 20-step unrolls (`minUnrollLength = maxUnrollLength = 20`, `unrollLengthScale = 0`),
 *   the linear meta-objective (the mean of the losses over the unroll divided by the problem's initial loss:
 *   that paper's sum of losses, scaled per problem so that problems of different scales weigh alike), Adam,
 *   no second derivatives (that paper drops them too), and no early stop on a blown-up trajectory.
 * - `meta-train-crnn`: meta-trained exactly like the HRNN (`meta-train`'s profile values).
 *
 * Every param stays settable (`--set meta-train-l2l-lstm.metaLr=...`). Their learning curves go to their own
 * tables (`meta_train_curve_l2l_lstm`, `meta_train_curve_crnn`: same columns as `meta_train_curve`). Both are
 * left out of the default target (`deno task pipeline` without stage names): their meta-training would take
 * the default profile past its 30-minute budget; `deno task pipeline eval-horizon` runs them.
 *
 * @module
 */
import type { StageDef } from "../pipeline/stage.ts";
import { metaTrainStage } from "./meta_train.ts";
import { CODE_DEPS } from "./code_deps.ts";
import type { MetaTrainParams } from "./meta_train_settings.ts";

/** The meta-training protocol of Andrychowicz et al. 2016, as `meta-train` params. */
export const L2L_PROTOCOL: Partial<MetaTrainParams> = {
  metaObjective: "linear",
  minUnrollLength: 20,
  maxUnrollLength: 20,
  unrollLengthScale: 0,
  metaOptimizer: "adam",
  metaLr: 1e-3,
  secondDerivatives: false,
  objTrainMaxMultiplier: -1,
};

/**
 * The `meta-train` stage with `optimizer` fixed to `kind`, `protocol` laid over each of its profiles, its curve
 * table renamed and `defaultTarget: false`.
 *
 * @example
 * ```ts
 * const stage = metaTrainVariant("crnn", {});
 * stage.name; // "meta-train-crnn"
 * ```
 */
export function metaTrainVariant(
  kind: "l2l-lstm" | "crnn",
  protocol: Partial<MetaTrainParams>,
): StageDef<MetaTrainParams> {
  const base = metaTrainStage;
  const table = `meta_train_curve_${kind.replaceAll("-", "_")}`;
  const profiles: StageDef<MetaTrainParams>["profiles"] = {};
  for (const name of ["smoke", "default", "paper", "gpu"]) {
    profiles[name] = { ...base.profiles[name], ...protocol };
  }
  return {
    ...base,
    name: `meta-train-${kind}`,
    codeDeps: CODE_DEPS.metaTrainVariant,
    description: `Meta-trains the ${
      kind === "l2l-lstm"
        ? "coordinatewise LSTM of Andrychowicz et al. 2016 (its protocol)"
        : "coordinatewise RNN"
    } on the training ensemble with meta-train's budget (weights file)`,
    defaultTarget: false,
    params: {
      ...base.params,
      optimizer: { ...base.params.optimizer, default: kind, choices: [kind] },
    },
    profiles,
    tables: base.tables.map((t) => ({ ...t, name: table, description: `${t.description} (${kind})` })),
    run: (ctx) =>
      base.run({
        ...ctx,
        writeRows: (t, rows) => ctx.writeRows(t === "meta_train_curve" ? table : t, rows),
      }),
  };
}

/** `meta-train-l2l-lstm`: the coordinatewise LSTM with its paper's protocol ({@link L2L_PROTOCOL}). */
export const metaTrainL2lLstm: StageDef<MetaTrainParams> = metaTrainVariant("l2l-lstm", L2L_PROTOCOL);

/** `meta-train-crnn`: the coordinatewise RNN, meta-trained like the HRNN. */
export const metaTrainCrnn: StageDef<MetaTrainParams> = metaTrainVariant("crnn", {});
