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

function notMeasured(claim: string, rule: string, why: string, evidence: string | null = null): Claim {
  return { claim, measured: why, verdict: "not measured", rule, evidence, sql: null };
}

async function ensembleClaim(env: ClaimEnv): Promise<Claim> {
  const claim = "Outperforms tuned RMSProp and Adam on problems like its training ensemble";
  const rule = "beats both on >= 50 % of the held-out problems: reproduced; >= 25 %: partly";
  const key = await env.keyOf("eval_summary");
  if (key === null) return notMeasured(claim, rule, "eval-problems not run", "heldout");
  const sql = `SELECT count(*) AS problems, avg(wins_vs_adam::INT) AS beats_adam, ` +
    `avg(wins_vs_rmsprop::INT) AS beats_rmsprop, median(ratio) AS median_ratio_vs_best ` +
    `FROM eval_summary WHERE run_key = ${q(key)} AND status = 'evaluated'`;
  const [r] = await env.rows(sql);
  const n = Number(r?.problems ?? 0);
  if (n === 0) return notMeasured(claim, rule, "no evaluated held-out problem", "heldout");
  const a = Number(r.beats_adam), m = Number(r.beats_rmsprop);
  return {
    claim,
    measured:
      `beats Adam on ${pct(a)}, RMSProp on ${pct(m)} of ${n} problems; median loss ratio vs the best ` +
      `tuned baseline ${fmt(r.median_ratio_vs_best)}`,
    verdict: grade(Math.min(a, m), 0.5, 0.25),
    rule,
    evidence: "fig-heldout_ratio",
    sql,
  };
}

async function convnetClaim(env: ClaimEnv): Promise<Claim> {
  const claim = "Comparable or better than tuned baselines on small ConvNets it never saw";
  const rule =
    "learned / best baseline final training loss <= 1.1 on every ConvNet: reproduced; median <= 1.5: partly";
  const key = await env.keyOf("cnn_summary");
  if (key === null) return notMeasured(claim, rule, "eval-cnn not run", "convnets");
  const sql = `SELECT model, dataset, any_value(learned_final_train_loss) AS learned, ` +
    `min(baseline_final_train_loss) AS best_baseline, ` +
    `any_value(learned_final_train_loss) / min(baseline_final_train_loss) AS ratio ` +
    `FROM cnn_summary WHERE run_key = ${q(key)} AND status = 'ok' GROUP BY ALL ORDER BY model`;
  const rows = await env.rows(sql);
  const ratios = rows.map((r) => num(r.ratio)).filter((x): x is number => x !== null);
  if (ratios.length === 0) return notMeasured(claim, rule, "no ConvNet with both losses", "convnets");
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return {
    claim,
    measured: rows.map((r) => `${r.model} (${r.dataset}): ratio ${fmt(r.ratio)}`).join("; "),
    verdict: Math.max(...ratios) <= 1.1 ? "reproduced" : median <= 1.5 ? "partly" : "not reproduced",
    rule,
    evidence: "fig-cnn_train_loss",
    sql,
  };
}

async function horizonClaim(env: ClaimEnv): Promise<Claim> {
  const claim = "Keeps improving far beyond its meta-training horizon, where earlier learned optimizers " +
    "(the coordinatewise LSTM) stall or diverge";
  const rule =
    "HRNN kept improving (loss fell > 1.1x after its horizon, no divergence) on >= 50 % of problems " +
    "and the LSTM on at least 25 points fewer: reproduced; the HRNN alone at >= 50 %, or ahead of the LSTM at " +
    ">= 25 %: partly";
  const key = await env.keyOf("horizon_summary");
  if (key === null) {
    return notMeasured(claim, rule, "eval-horizon not run (`deno task pipeline eval-horizon`)", "horizon");
  }
  const sql =
    `SELECT meta_stage, optimizer, count(*) AS problems, any_value(train_horizon) AS train_horizon, ` +
    `any_value(steps) AS steps, avg((NOT diverged AND improvement > 1.1)::INT) AS kept_improving, ` +
    `avg(diverged::INT) AS diverged FROM horizon_summary WHERE run_key = ${q(key)} AND learned ` +
    `GROUP BY ALL ORDER BY meta_stage`;
  const rows = await env.rows(sql);
  const main = rows.find((r) => r.meta_stage === "meta-train");
  const lstm = rows.find((r) => r.meta_stage === "meta-train-l2l-lstm");
  if (!main || !lstm) return notMeasured(claim, rule, "no HRNN or LSTM rows in horizon_summary", "horizon");
  const h = Number(main.kept_improving), l = Number(lstm.kept_improving);
  const verdict: Verdict = h >= 0.5 && h - l >= 0.25
    ? "reproduced"
    : h >= 0.5 || (h >= 0.25 && h > l)
    ? "partly"
    : "not reproduced";
  return {
    claim,
    measured: rows.map((r) =>
      `${r.optimizer} (trained on <= ${r.train_horizon} steps): kept improving on ${
        pct(Number(r.kept_improving))
      }, diverged on ${pct(Number(r.diverged))} of ${r.problems} problems over ${r.steps} steps`
    ).join("; "),
    verdict,
    rule,
    evidence: "fig-horizon_curves",
    sql,
  };
}

async function imagenetClaim(env: ClaimEnv): Promise<Claim> {
  const claim = "Trains Inception V3 and ResNet V2 on ImageNet";
  const rule =
    "the learned optimizer lowers the training loss of both networks without diverging on ImageNet: " +
    "reproduced; on a stand-in dataset or one network: partly";
  const key = await env.keyOf("imagenet_runs");
  if (key === null) return notMeasured(claim, rule, "imagenet-transfer not run", "imagenet");
  const sql = `SELECT network, dataset, count(*) AS runs, bool_and(NOT diverged) AS no_divergence, ` +
    `median(first_loss) AS first_loss, median(final_loss) AS final_loss FROM imagenet_runs ` +
    `WHERE run_key = ${q(key)} AND optimizer = 'learned' GROUP BY ALL ORDER BY network`;
  const rows = await env.rows(sql);
  const trained = rows.filter((r) =>
    r.no_divergence === true && num(r.final_loss) !== null && Number(r.final_loss) < Number(r.first_loss)
  );
  const standIn = rows.some((r) => /stand-in/.test(String(r.dataset)));
  const nets = new Set(trained.map((r) => String(r.network)));
  const both = nets.has("inception_v3") && nets.has("resnet_v2");
  return {
    claim,
    measured: rows.length
      ? rows.map((r) => `${r.network} on ${r.dataset}: loss ${fmt(r.first_loss)} -> ${fmt(r.final_loss)}`)
        .join("; ")
      : "no learned-optimizer run",
    verdict: both && !standIn ? "reproduced" : nets.size > 0 ? "partly" : "not reproduced",
    rule,
    evidence: "fig-imagenet_curves",
    sql,
  };
}

async function ablationClaim(env: ClaimEnv): Promise<Claim> {
  const claim = "Each feature of the design matters (ablations)";
  const rule =
    "every one-feature-off variant ends worse than the full model (median ratio over seeds > 1): " +
    "reproduced; at least half of them: partly";
  const key = await env.keyOf("ablation_summary");
  if (key === null) {
    return notMeasured(claim, rule, "ablations not run (`deno task pipeline ablations`)", "ablations");
  }
  const sql = `SELECT variant, count(*) AS seeds, median(median_ratio_vs_full) AS ratio_vs_full ` +
    `FROM ablation_summary WHERE run_key = ${q(key)} AND variant NOT IN ('full', 'attention') ` +
    `GROUP BY variant ORDER BY variant`;
  const rows = await env.rows(sql);
  if (rows.length === 0) return notMeasured(claim, rule, "no variant besides the full model", "ablations");
  const worse = rows.filter((r) => Number(r.ratio_vs_full) > 1).length;
  return {
    claim,
    measured: `${worse} of ${rows.length} variants end worse than the full model: ` +
      rows.map((r) => `${r.variant} ${fmt(r.ratio_vs_full)}`).join(", "),
    verdict: grade(worse / rows.length, 1, 0.5),
    rule,
    evidence: "fig-ablations",
    sql,
  };
}

async function overheadClaim(env: ClaimEnv): Promise<Claim> {
  const claim = "Small per-parameter overhead: the update costs little next to computing the gradients";
  const rule =
    "the learned update takes <= 25 % of a training step on every network: reproduced; <= 50 %: partly";
  const key = await env.keyOf("imagenet_overhead");
  if (key === null) return notMeasured(claim, rule, "imagenet-transfer not run", "imagenet");
  const sql =
    `SELECT network, backend, update_ms, update_ratio_vs_adam, state_bytes_per_param, update_share, ` +
    `step_basis FROM imagenet_overhead WHERE run_key = ${q(key)} AND optimizer = 'learned' ORDER BY network`;
  const rows = await env.rows(sql);
  const shares = rows.map((r) => num(r.update_share)).filter((x): x is number => x !== null);
  if (shares.length === 0) return notMeasured(claim, rule, "no learned update timing", "imagenet");
  return {
    claim,
    measured: rows.map((r) =>
      `${r.network}: update ${fmt(r.update_ms)} ms (${fmt(r.update_ratio_vs_adam)}x Adam's), ${
        fmt(r.state_bytes_per_param)
      } state bytes/param, ${pct(Number(r.update_share))} of a step (${r.step_basis})`
    ).join("; "),
    verdict: grade(1 - Math.max(...shares), 0.75, 0.5),
    rule,
    evidence: "fig-imagenet_update_ms",
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
  return [
    await ensembleClaim(env),
    await convnetClaim(env),
    await horizonClaim(env),
    await imagenetClaim(env),
    await ablationClaim(env),
    await overheadClaim(env),
  ];
}
