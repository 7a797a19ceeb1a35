/**
 * The learned optimizers meta-training can train, by name: the hierarchical RNN (`hrnn`), the coordinatewise
 * LSTM of Andrychowicz et al. 2016 (`l2l-lstm`) and the coordinatewise RNN (`crnn`). One place turns a name
 * into a {@link LearnedOptimizer} family (for meta-training) and loaded weights into an {@link Optimizer} (for
 * evaluation).
 *
 * @module
 */
import type { Optimizer } from "../../lib/optimizer.ts";
import type { LearnedOptimizer } from "./learned.ts";
import type { HrnnConfig } from "../hrnn/config.ts";
import type { LearnedKind, LoadedWeights } from "../hrnn/weights_file.ts";
import { hrnnLearnedOptimizer } from "./hrnn_learned.ts";
import { l2lLstmLearnedOptimizer, makeL2lLstm } from "./l2l_lstm.ts";
import { crnnLearnedOptimizer, makeCrnn } from "./crnn.ts";
import { makeHrnn } from "../hrnn/hrnn.ts";
import { Rng } from "../../lib/rng.ts";

/** Options of {@link learnedFamily}. */
export interface LearnedFamilyOptions {
  /** HRNN config overrides (`hrnn` only). */
  hrnn?: Partial<HrnnConfig>;
  /** How the HRNN's taped updates compute (`hrnn` only; see `hrnnLearnedOptimizer`). */
  kernel?: "auto" | "ops";
}

/**
 * The learned-optimizer family of a name, with its default configuration (the HRNN with `opts.hrnn` over the
 * paper's).
 *
 * @example
 * ```ts
 * const learned = learnedFamily("l2l-lstm");
 * const mp = learned.init(0);
 * ```
 */
export function learnedFamily(kind: LearnedKind, opts: LearnedFamilyOptions = {}): LearnedOptimizer {
  switch (kind) {
    case "hrnn":
      return hrnnLearnedOptimizer(opts.hrnn ?? {}, { kernel: opts.kernel ?? "auto" });
    case "l2l-lstm":
      return l2lLstmLearnedOptimizer();
    case "crnn":
      return crnnLearnedOptimizer();
    default:
      throw new Error(`unknown learned optimizer ${JSON.stringify(kind)}; known: hrnn, l2l-lstm, crnn`);
  }
}

/**
 * The optimizer that loaded weights define. `seed` seeds whatever `init` draws (the HRNN's and cRNN's random
 * initial learning rates); `name` is the optimizer's name in results (e.g. `learned`).
 *
 * @example
 * ```ts
 * const opt = optimizerFromWeights(await loadWeights("hrnn.weights"), { seed: 0, name: "learned" });
 * ```
 */
export function optimizerFromWeights(loaded: LoadedWeights, opts: { seed: number; name: string }): Optimizer {
  switch (loaded.optimizer) {
    case "hrnn":
      return makeHrnn(loaded.metaParams, loaded.config, {
        seed: opts.seed,
        name: opts.name,
      });
    case "l2l-lstm":
      return makeL2lLstm(loaded.metaParams, loaded.config, opts.name);
    case "crnn":
      return makeCrnn(loaded.metaParams, loaded.config, {
        rng: new Rng(opts.seed),
        name: opts.name,
      });
  }
}
