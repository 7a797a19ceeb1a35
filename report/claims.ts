/**
 * The paper's claims, each with what this run measured, a verdict by a stated rule, and the figure and SQL
 * behind it: the report's first section. A claim whose stage did not run is `not measured` (never guessed).
 *
 * @module
 */

/** A verdict on one claim. */
export type Verdict = "reproduced" | "partly" | "not reproduced" | "not measured";

/** One claim as the report shows it. */
export interface Claim {
  /** The paper's claim, in a line. */
  claim: string;
  /** What this run measured (numbers), or why nothing was. */
  measured: string;
  verdict: Verdict;
  /** The rule that turns the measurement into the verdict. */
  rule: string;
  /** Anchor of the figure (or section) with the evidence, e.g. `fig-heldout_ratio`. */
  evidence: string | null;
  /** The query whose rows are the measurement (null: nothing to query). */
  sql: string | null;
}

/** What a claim needs from the report: rows of a query and the reported run key of a table. */
export interface ClaimEnv {
  rows(sql: string): Promise<Record<string, unknown>[]>;
  keyOf(table: string): Promise<string | null>;
}

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
const pct = (x: number) => `${Math.round(100 * x)} %`;
const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : null);
const fmt = (x: unknown) => {
  const v = num(x);
  return v === null
    ? "–"
    : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3)
    ? v.toExponential(2)
    : v.toPrecision(3);
};

/**
 * Grades a fraction against two thresholds: ≥ `full` reproduced, ≥ `part` partly, else not reproduced.
 *
 * @example
 * ```ts
 * grade(0.4, 0.5, 0.25); // "partly"
 * ```
 */
export function grade(x: number, full: number, part: number): Verdict {
  return x >= full ? "reproduced" : x >= part ? "partly" : "not reproduced";
}

type Rows = Record<string, unknown>[];

/** One claim as data: what it says, where its rows come from, and how they become a measurement and verdict. */
interface ClaimDef {
  claim: string;
  /** The rule that turns the measurement into the verdict. */
  rule: string;
  /** The table whose reported run key the query filters on. */
  table: string;
  /** Why nothing was measured when `table` has no reported run. */
  notRun: string;
  /** Anchor of the section shown when nothing was measured. */
  section: string;
  /** Anchor of the figure with the evidence. */
  evidence: string;
  /** The query, given the quoted run key. */
  query(key: string): string;
  /** Why the rows measure nothing (null: they measure the claim). */
  missing?(rows: Rows): string | null;
  measured(rows: Rows): string;
  verdict(rows: Rows): Verdict;
}

const finiteOf = (rows: Rows, field: string) =>
  rows.map((r) => num(r[field])).filter((x): x is number => x !== null);

/** The claims of the paper the report checks, in the paper's order. */
const CLAIMS: readonly ClaimDef[] = [
  {
    claim: "Outperforms tuned RMSProp and Adam on problems like its training ensemble",
    rule: "beats both on >= 50 % of the held-out problems: reproduced; >= 25 %: partly",
    table: "eval_summary",
    notRun: "eval-problems not run",
    section: "heldout",
    evidence: "fig-heldout_ratio",
    query: (key) =>
      `SELECT count(*) AS problems, avg(wins_vs_adam::INT) AS beats_adam, ` +
      `avg(wins_vs_rmsprop::INT) AS beats_rmsprop, median(ratio) AS median_ratio_vs_best ` +
      `FROM eval_summary WHERE run_key = ${key} AND status = 'evaluated'`,
    missing: ([r]) => Number(r?.problems ?? 0) === 0 ? "no evaluated held-out problem" : null,
    measured: ([r]) =>
      `beats Adam on ${pct(Number(r.beats_adam))}, RMSProp on ${pct(Number(r.beats_rmsprop))} of ${
        Number(r.problems)
      } problems; median loss ratio vs the best tuned baseline ${fmt(r.median_ratio_vs_best)}`,
    verdict: ([r]) => grade(Math.min(Number(r.beats_adam), Number(r.beats_rmsprop)), 0.5, 0.25),
  },
  {
    claim: "Comparable or better than tuned baselines on small ConvNets it never saw",
    rule:
      "learned / best baseline final training loss <= 1.1 on every ConvNet: reproduced; median <= 1.5: partly",
    table: "cnn_summary",
    notRun: "eval-cnn not run",
    section: "convnets",
    evidence: "fig-cnn_train_loss",
    query: (key) =>
      `SELECT model, dataset, any_value(learned_final_train_loss) AS learned, ` +
      `min(baseline_final_train_loss) AS best_baseline, ` +
      `any_value(learned_final_train_loss) / min(baseline_final_train_loss) AS ratio ` +
      `FROM cnn_summary WHERE run_key = ${key} AND status = 'ok' GROUP BY ALL ORDER BY model`,
    missing: (rows) => finiteOf(rows, "ratio").length === 0 ? "no ConvNet with both losses" : null,
    measured: (rows) => rows.map((r) => `${r.model} (${r.dataset}): ratio ${fmt(r.ratio)}`).join("; "),
    verdict: (rows) => {
      const ratios = finiteOf(rows, "ratio");
      // The lower median (an element of the list), not the mean of the middle two.
      const median = [...ratios].sort((a, b) => a - b)[Math.floor((ratios.length - 1) / 2)];
      return Math.max(...ratios) <= 1.1 ? "reproduced" : median <= 1.5 ? "partly" : "not reproduced";
    },
  },
  {
    claim: "Keeps improving far beyond its meta-training horizon, where earlier learned optimizers " +
      "(the coordinatewise LSTM) stall or diverge",
    rule: "HRNN kept improving (loss fell > 1.1x after its horizon, no divergence) on >= 50 % of problems " +
      "and the LSTM on at least 25 points fewer: reproduced; the HRNN alone at >= 50 %, or ahead of the LSTM at " +
      ">= 25 %: partly",
    table: "horizon_summary",
    notRun: "eval-horizon not run (`deno task pipeline eval-horizon`)",
    section: "horizon",
    evidence: "fig-horizon_curves",
    query: (key) =>
      `SELECT meta_stage, optimizer, count(*) AS problems, any_value(train_horizon) AS train_horizon, ` +
      `any_value(steps) AS steps, avg((NOT diverged AND improvement > 1.1)::INT) AS kept_improving, ` +
      `avg(diverged::INT) AS diverged FROM horizon_summary WHERE run_key = ${key} AND learned ` +
      `GROUP BY ALL ORDER BY meta_stage`,
    missing: (rows) =>
      rows.some((r) => r.meta_stage === "meta-train") &&
        rows.some((r) => r.meta_stage === "meta-train-l2l-lstm")
        ? null
        : "no HRNN or LSTM rows in horizon_summary",
    measured: (rows) =>
      rows.map((r) =>
        `${r.optimizer} (trained on <= ${r.train_horizon} steps): kept improving on ${
          pct(Number(r.kept_improving))
        }, diverged on ${pct(Number(r.diverged))} of ${r.problems} problems over ${r.steps} steps`
      ).join("; "),
    verdict: (rows) => {
      const kept = (stage: string) => Number(rows.find((r) => r.meta_stage === stage)!.kept_improving);
      const h = kept("meta-train"), l = kept("meta-train-l2l-lstm");
      return h >= 0.5 && h - l >= 0.25
        ? "reproduced"
        : h >= 0.5 || (h >= 0.25 && h > l)
        ? "partly"
        : "not reproduced";
    },
  },
  {
    claim: "Trains Inception V3 and ResNet V2 on ImageNet",
    rule: "the learned optimizer lowers the training loss of both networks without diverging on ImageNet: " +
      "reproduced; on a stand-in dataset or one network: partly",
    table: "imagenet_runs",
    notRun: "imagenet-transfer not run",
    section: "imagenet",
    evidence: "fig-imagenet_curves",
    query: (key) =>
      `SELECT network, dataset, count(*) AS runs, bool_and(NOT diverged) AS no_divergence, ` +
      `median(first_loss) AS first_loss, median(final_loss) AS final_loss FROM imagenet_runs ` +
      `WHERE run_key = ${key} AND optimizer = 'learned' GROUP BY ALL ORDER BY network`,
    measured: (rows) =>
      rows.length
        ? rows.map((r) => `${r.network} on ${r.dataset}: loss ${fmt(r.first_loss)} -> ${fmt(r.final_loss)}`)
          .join("; ")
        : "no learned-optimizer run",
    verdict: (rows) => {
      const trained = rows.filter((r) =>
        r.no_divergence === true && num(r.final_loss) !== null && Number(r.final_loss) < Number(r.first_loss)
      );
      const standIn = rows.some((r) => /stand-in/.test(String(r.dataset)));
      const nets = new Set(trained.map((r) => String(r.network)));
      const both = nets.has("inception_v3") && nets.has("resnet_v2");
      return both && !standIn ? "reproduced" : nets.size > 0 ? "partly" : "not reproduced";
    },
  },
  {
    claim: "Each feature of the design matters (ablations)",
    rule: "every one-feature-off variant ends worse than the full model (median ratio over seeds > 1): " +
      "reproduced; at least half of them: partly",
    table: "ablation_summary",
    notRun: "ablations not run (`deno task pipeline ablations`)",
    section: "ablations",
    evidence: "fig-ablations",
    query: (key) =>
      `SELECT variant, count(*) AS seeds, median(median_ratio_vs_full) AS ratio_vs_full ` +
      `FROM ablation_summary WHERE run_key = ${key} AND variant NOT IN ('full', 'attention') ` +
      `GROUP BY variant ORDER BY variant`,
    missing: (rows) => rows.length === 0 ? "no variant besides the full model" : null,
    measured: (rows) =>
      `${rows.filter((r) => Number(r.ratio_vs_full) > 1).length} of ${rows.length} variants end worse than ` +
      `the full model: ` + rows.map((r) => `${r.variant} ${fmt(r.ratio_vs_full)}`).join(", "),
    verdict: (rows) => grade(rows.filter((r) => Number(r.ratio_vs_full) > 1).length / rows.length, 1, 0.5),
  },
  {
    claim: "Small per-parameter overhead: the update costs little next to computing the gradients",
    rule: "the learned update takes <= 25 % of a training step on every network: reproduced; <= 50 %: partly",
    table: "imagenet_overhead",
    notRun: "imagenet-transfer not run",
    section: "imagenet",
    evidence: "fig-imagenet_update_ms",
    query: (key) =>
      `SELECT network, backend, update_ms, update_ratio_vs_adam, state_bytes_per_param, update_share, ` +
      `step_basis FROM imagenet_overhead WHERE run_key = ${key} AND optimizer = 'learned' ORDER BY network`,
    missing: (rows) => finiteOf(rows, "update_share").length === 0 ? "no learned update timing" : null,
    measured: (rows) =>
      rows.map((r) =>
        `${r.network}: update ${fmt(r.update_ms)} ms (${fmt(r.update_ratio_vs_adam)}x Adam's), ${
          fmt(r.state_bytes_per_param)
        } state bytes/param, ${pct(Number(r.update_share))} of a step (${r.step_basis})`
      ).join("; "),
    verdict: (rows) => grade(1 - Math.max(...finiteOf(rows, "update_share")), 0.75, 0.5),
  },
];

/** Measures one claim: `not measured` (with the section as evidence) when its table or rows are missing. */
async function measureClaim(d: ClaimDef, env: ClaimEnv): Promise<Claim> {
  const notMeasured = (why: string): Claim => ({
    claim: d.claim,
    measured: why,
    verdict: "not measured",
    rule: d.rule,
    evidence: d.section,
    sql: null,
  });
  const key = await env.keyOf(d.table);
  if (key === null) return notMeasured(d.notRun);
  const sql = d.query(q(key));
  const rows = await env.rows(sql);
  const why = d.missing?.(rows) ?? null;
  if (why !== null) return notMeasured(why);
  return {
    claim: d.claim,
    measured: d.measured(rows),
    verdict: d.verdict(rows),
    rule: d.rule,
    evidence: d.evidence,
    sql,
  };
}

/**
 * Every claim of the paper the report checks, in the paper's order.
 *
 * @example
 * ```ts
 * const claims = await measureClaims({ rows: (s) => env.rows(s), keyOf: (t) => env.keyOf(t) });
 * ```
 */
export async function measureClaims(env: ClaimEnv): Promise<Claim[]> {
  const out: Claim[] = [];
  for (const d of CLAIMS) out.push(await measureClaim(d, env));
  return out;
}
