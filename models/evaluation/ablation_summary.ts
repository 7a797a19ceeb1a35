/**
 * The per-variant summary of the ablations: wins against tuned Adam, the loss ratio against the full model
 * and the mean meta-loss at the end of meta-training.
 *
 * @module
 */

/** The summary figures of one trained variant. */
export interface AblationFigures {
  /** Problems where the variant's final loss is below tuned Adam's (or Adam diverged). */
  wins_vs_adam: number;
  /**
   * The lower median (the ⌊(n−1)/2⌋-th smallest) over problems of the variant's final loss / the full model's,
   * over the problems where both are finite and the full model's is > 0; null when there are none.
   */
  median_ratio_vs_full: number | null;
  /** Mean meta-loss of the last tenth of the finite curve values; null when there are none. */
  meta_loss_last: number | null;
}

/**
 * The summary figures of a variant from its final losses, the full model's and tuned Adam's on the same
 * problems (null: diverged), and its meta-training curve's meta-losses.
 *
 * @example
 * ```ts
 * ablationFigures([1, 2], [2, 2], [1.5, null], [0.9, 0.5]);
 * // { wins_vs_adam: 2, median_ratio_vs_full: 0.5, meta_loss_last: 0.5 }
 * ```
 */
export function ablationFigures(
  losses: (number | null)[],
  full: (number | null)[],
  adam: (number | null)[],
  metaLosses: number[],
): AblationFigures {
  const ratios = losses
    .map((l, i) => (l !== null && full[i] !== null && full[i]! > 0 ? l / full[i]! : NaN))
    .filter(Number.isFinite).sort((a, b) => a - b);
  const finite = metaLosses.filter(Number.isFinite);
  const tail = finite.slice(-Math.max(1, Math.floor(finite.length / 10)));
  return {
    wins_vs_adam: losses.filter((l, i) => l !== null && (adam[i] === null || l < adam[i]!)).length,
    median_ratio_vs_full: ratios.length ? ratios[Math.floor((ratios.length - 1) / 2)] : null,
    meta_loss_last: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : null,
  };
}
