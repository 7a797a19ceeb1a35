/**
 * The report's sections. Each section runs SQL through the {@link QueryFn} and turns the rows into figures
 * (Vega-Lite specs), tables and notes. A section whose stage or tables are missing comes back with status
 * `not run` and says what to run; it never throws for missing data.
 *
 * Queries filter stage tables by `run_key` (the artifact key of the run reported on), so the SQL shown under
 * each figure gives the same rows when rerun with `deno task query` against `results/lopt.duckdb`.
 *
 * @module
 */
import type { Block, QueryFn, QueryResult, ReportMeta, Section, TableBlock } from "./types.ts";
import { codeLabel } from "./format.ts";
import { measureClaims } from "./claims.ts";
import {
  ablationSpec,
  barsSpec,
  benchSpec,
  clippedRatios,
  curvesPanelsSpec,
  FLOOR_DECADES,
  lrSensitivitySpec,
  metaTrainSpec,
  RATIO_CAP,
  ratioSpec,
  type Row,
} from "./specs.ts";

/** Result stages the report knows about, in DAG order, with the tables it reads from each. */
export const REPORTED_STAGES: readonly { stage: string; tables: readonly string[] }[] = [
  { stage: "generate-tasks", tables: ["tasks"] },
  { stage: "meta-train", tables: ["meta_train_curve"] },
  { stage: "tune-baselines", tables: ["tuned_lr", "tuning_runs"] },
  { stage: "eval-problems", tables: ["eval_curves", "eval_final", "eval_summary"] },
  { stage: "baselines-cnn", tables: ["cnn_lr_sweep"] },
  { stage: "eval-cnn", tables: ["cnn_runs", "cnn_curves", "cnn_summary"] },
  { stage: "imagenet-transfer", tables: ["imagenet_runs", "imagenet_curves", "imagenet_overhead"] },
  { stage: "meta-train-l2l-lstm", tables: ["meta_train_curve_l2l_lstm"] },
  { stage: "meta-train-crnn", tables: ["meta_train_curve_crnn"] },
  { stage: "eval-horizon", tables: ["horizon_curves", "horizon_summary"] },
  { stage: "ablations", tables: ["ablation_runs", "ablation_summary"] },
];

/** A long run "kept improving" past its training horizon when its loss fell by more than this factor. */
export const KEPT_IMPROVING = 1.1;

/** Options of {@link buildSections}. */
export interface SectionOptions {
  /** Held-out problems shown in the loss-curve figure (one per family, at most this many). */
  maxProblems?: number;
}

/** Quotes a string as an SQL literal. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Converts a query result to objects keyed by column name. */
export function rowsOf(r: QueryResult): Row[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
}

/** Strips the common indentation of a template-literal SQL statement. */
function sql(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\s+$/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join("\n");
}

/** What every section builder gets. */
class Env {
  #keys = new Map<string, string | null>();
  constructor(
    readonly query: QueryFn,
    readonly meta: ReportMeta,
    readonly tables: Set<string>,
    readonly opts: Required<SectionOptions>,
  ) {}

  /** Rows of a query as objects. */
  async rows(text: string): Promise<Row[]> {
    return rowsOf(await this.query(text));
  }

  /** The run_key of the reported run present in `table` (null: table missing or no rows of a reported run). */
  async keyOf(table: string): Promise<string | null> {
    if (this.#keys.has(table)) return this.#keys.get(table)!;
    let key: string | null = null;
    if (this.tables.has(table) && this.meta.runs.length > 0) {
      const keys = this.meta.runs.map((r) => sqlString(r.key)).join(", ");
      const r = await this.rows(
        `SELECT run_key, count(*) AS n FROM ${table} WHERE run_key IN (${keys}) GROUP BY run_key ORDER BY n DESC`,
      );
      key = r.length > 0 ? String(r[0].run_key) : null;
    }
    this.#keys.set(table, key);
    return key;
  }

  /** Whether the stage is among the reported runs. */
  ran(stage: string): boolean {
    return this.meta.runs.some((r) => r.stage === stage);
  }
}

function notRunSection(id: string, title: string, stage: string, tables: string[], why?: string): Section {
  return {
    id,
    title,
    status: "not run",
    blocks: [{
      kind: "note",
      tone: "warn",
      text: `Not run: ${why ?? `no rows from stage ${stage}`} (tables ${tables.join(", ")}). ` +
        `Run \`deno task pipeline ${stage}\`, then \`deno task report\`.`,
    }],
  };
}

/** A table block from a query. */
async function tableBlock(env: Env, title: string, text: string, key = false): Promise<TableBlock> {
  return { kind: "table", title, sql: text, result: await env.query(text), key };
}

/** Checks that every table has rows of a reported run; returns the keys or the `not run` section. */
async function keysOrNotRun(
  env: Env,
  id: string,
  title: string,
  stage: string,
  tables: string[],
): Promise<{ keys: Record<string, string>; section?: undefined } | { section: Section }> {
  const keys: Record<string, string> = {};
  const missing: string[] = [];
  for (const t of tables) {
    const k = await env.keyOf(t);
    if (k === null) missing.push(t);
    else keys[t] = k;
  }
  if (missing.length === 0) return { keys };
  const why = !env.ran(stage)
    ? `stage ${stage} is not part of this run`
    : `stage ${stage} wrote no rows to ${missing.join(", ")}`;
  return { section: notRunSection(id, title, stage, tables, why) };
}

function compactParams(p: Record<string, unknown>): string {
  const s = JSON.stringify(p);
  return s.length > 300 ? s.slice(0, 299) + "…" : s;
}

async function claimsSection(env: Env): Promise<Section> {
  const claims = await measureClaims({ rows: (t) => env.rows(t), keyOf: (t) => env.keyOf(t) });
  const blocks: Block[] = [{
    kind: "table",
    title: "The paper's claims, as measured by this run",
    sql: null,
    sourceNote: "each claim's query is listed below with its rows; the verdict follows the rule shown",
    key: true,
    result: {
      columns: ["#", "claim", "measured here", "verdict", "rule", "evidence"].map((name) => ({
        name,
        type: "VARCHAR",
      })),
      rows: claims.map((c, i) => [i + 1, c.claim, c.measured, c.verdict, c.rule, c.evidence ?? "–"]),
    },
  }];
  const links = claims.map((c, i) => c.evidence ? `[claim ${i + 1}](#${c.evidence})` : null).filter(Boolean);
  if (links.length) blocks.push({ kind: "note", text: `Evidence: ${links.join(" · ")}.` });
  for (const [i, c] of claims.entries()) {
    if (c.sql) blocks.push(await tableBlock(env, `Claim ${i + 1}: the rows behind "${c.claim}"`, c.sql));
  }
  if (claims.every((c) => c.verdict === "not measured")) {
    blocks.unshift({
      kind: "note",
      tone: "warn",
      text: "Not run: no stage of this run measures any of the claims. Run `deno task pipeline` " +
        "(and `deno task pipeline eval-horizon`), then `deno task report`.",
    });
    return { id: "claims", title: "Claims", status: "not run", blocks };
  }
  return { id: "claims", title: "Claims", status: "ok", blocks };
}

async function summarySection(env: Env): Promise<Section> {
  const m = env.meta;
  const blocks: Block[] = [];
  const commits = [...new Set(m.runs.map((r) => r.gitCommit).filter((c): c is string => !!c))];
  blocks.push({
    kind: "note",
    text: `Profile **${m.profile}**; rendered ${m.generatedAt} ${
      m.source === "stage"
        ? "by the pipeline's report stage"
        : "by `deno task report` from the results database"
    } with code ${codeLabel(m)}` +
      (commits.length ? `; stages ran at commit${commits.length > 1 ? "s" : ""} ${commits.join(", ")}` : "") +
      `. Results directory: ${m.resultsDir}.`,
  });
  blocks.push({
    kind: "table",
    title: "Stages reported on",
    sql: null,
    sourceNote: "from each artifact's manifest.json (and stage_runs when rendered from the database)",
    key: true,
    result: {
      columns: ["stage", "key", "version", "profile", "created", "seconds", "git_commit", "params"].map((
        name,
      ) => ({
        name,
        type: "VARCHAR",
      })),
      rows: m.runs.map((r) => [
        r.stage,
        r.key,
        r.version,
        r.profile,
        r.created,
        r.seconds,
        r.gitCommit,
        compactParams(r.params),
      ]),
    },
  });
  const absent = REPORTED_STAGES.filter((s) => !env.ran(s.stage)).map((s) => s.stage);
  if (absent.length > 0) {
    blocks.push({
      kind: "note",
      tone: "warn",
      text:
        `Not run: ${
          absent.join(", ")
        }. Their sections below say so; run \`deno task pipeline\` (or name the ` +
        `stages), then \`deno task report\`.`,
    });
  }
  // Stand-ins and not-run rows, found generically over the reported tables.
  const cols = await env.rows(
    "SELECT table_name, column_name, data_type FROM information_schema.columns " +
      "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position",
  );
  const standIn: string[] = [];
  const notRun: string[] = [];
  const byTable = new Map<string, { name: string; type: string }[]>();
  for (const c of cols) {
    const t = String(c.table_name);
    if (!byTable.has(t)) byTable.set(t, []);
    byTable.get(t)!.push({ name: String(c.column_name), type: String(c.data_type) });
  }
  for (const [table, tcols] of byTable) {
    if (tcols[0]?.name !== "run_key") continue;
    const key = await env.keyOf(table);
    if (key === null) continue;
    for (const c of tcols) {
      if (c.type === "VARCHAR" && c.name !== "run_key") {
        standIn.push(
          `SELECT '${table}' AS table_name, '${c.name}' AS column_name, ${c.name} AS value, count(*) AS rows ` +
            `FROM ${table} WHERE run_key = ${
              sqlString(key)
            } AND ${c.name} ILIKE '%stand-in%' GROUP BY ALL HAVING count(*) > 0`,
        );
      } else if (c.type === "BOOLEAN" && /stand_in/.test(c.name)) {
        standIn.push(
          `SELECT '${table}' AS table_name, '${c.name}' AS column_name, 'true' AS value, count(*) AS rows ` +
            `FROM ${table} WHERE run_key = ${sqlString(key)} AND ${c.name} GROUP BY ALL HAVING count(*) > 0`,
        );
      }
    }
    const names = new Set(tcols.map((c) => c.name));
    if (names.has("status")) {
      const why = names.has("reason") ? "reason" : names.has("note") ? "note" : "NULL";
      notRun.push(
        `SELECT '${table}' AS table_name, ${why} AS why, count(*) AS rows FROM ${table} ` +
          `WHERE run_key = ${
            sqlString(key)
          } AND replace(status, '_', ' ') = 'not run' GROUP BY ALL HAVING count(*) > 0`,
      );
    }
  }
  if (standIn.length > 0) {
    const t = await tableBlock(
      env,
      "Stand-ins (values marked as stand-in data)",
      standIn.join("\nUNION ALL\n") +
        "\nORDER BY table_name, column_name",
      true,
    );
    blocks.push(
      t.result.rows.length > 0 ? t : {
        kind: "note",
        text: "No stand-in data: no reported row is marked as a stand-in.",
      },
    );
    if (t.result.rows.length > 0) {
      blocks.push({
        kind: "note",
        tone: "warn",
        text:
          `${t.result.rows.length} kind(s) of rows are stand-ins (see the table); their numbers are not ` +
          `comparable with the paper's.`,
      });
    }
  }
  if (notRun.length > 0) {
    const t = await tableBlock(
      env,
      "Parts not run (rows with status 'not run')",
      notRun.join("\nUNION ALL\n") +
        "\nORDER BY table_name",
      true,
    );
    if (t.result.rows.length > 0) blocks.push(t);
  }
  const tasksKey = await env.keyOf("tasks");
  if (tasksKey !== null) {
    blocks.push(
      await tableBlock(
        env,
        "Problems generated",
        sql(`
          SELECT split, family, count(*) AS problems, min(dims) AS min_dims, max(dims) AS max_dims,
            count(*) FILTER (WHERE noise > 0) AS noisy
          FROM tasks WHERE run_key = ${sqlString(tasksKey)}
          GROUP BY ALL ORDER BY split, family`),
      ),
    );
  }
  return { id: "summary", title: "Run summary", status: "ok", blocks };
}

async function metaTrainSection(env: Env): Promise<Section> {
  const id = "meta-train", title = "Meta-training curve";
  const got = await keysOrNotRun(env, id, title, "meta-train", ["meta_train_curve"]);
  if (got.section) return got.section;
  const keys = got.keys;
  const q = sql(`
    SELECT meta_step, slot, family, unroll_len, meta_loss, seconds
    FROM meta_train_curve WHERE run_key = ${sqlString(keys.meta_train_curve)}
    ORDER BY meta_step, slot`);
  const rows = await env.rows(q);
  const diverged = rows.filter((r) => typeof r.meta_loss !== "number").length;
  const blocks: Block[] = [{
    kind: "figure",
    id: "meta_train_curve",
    title: "Meta-training curve",
    caption:
      "Meta-loss of each partial unroll (points, by problem family) and its mean per meta-step (line). " +
      "Lower is better; 0 means the optimizee's loss did not move.",
    sql: q,
    spec: metaTrainSpec(rows),
  }];
  if (diverged > 0) {
    blocks.push({
      kind: "note",
      tone: "warn",
      text: `${diverged} unroll(s) diverged (meta_loss NULL) and are not plotted.`,
    });
  }
  blocks.push(
    await tableBlock(
      env,
      "Meta-loss by tenth of training",
      sql(`
        SELECT ntile AS tenth, min(meta_step) AS first_step, max(meta_step) AS last_step,
          avg(meta_loss) AS mean_meta_loss, count(*) AS unrolls
        FROM (SELECT *, ntile(10) OVER (ORDER BY meta_step, slot) AS ntile
              FROM meta_train_curve WHERE run_key = ${sqlString(keys.meta_train_curve)})
        GROUP BY ntile ORDER BY ntile`),
    ),
  );
  return { id, title, status: "ok", blocks };
}

async function heldoutSection(env: Env): Promise<Section> {
  const id = "heldout", title = "Held-out problems";
  const tables = ["eval_curves", "eval_final", "eval_summary"];
  const got = await keysOrNotRun(env, id, title, "eval-problems", tables);
  if (got.section) return got.section;
  const keys = got.keys;
  const k = sqlString(keys.eval_summary);
  const kc = sqlString(keys.eval_curves);
  const blocks: Block[] = [];
  const curvesSql = sql(`
    WITH picked AS (
      SELECT task_id FROM eval_summary WHERE run_key = ${k} AND status = 'evaluated'
      QUALIFY row_number() OVER (PARTITION BY family ORDER BY task_id) = 1
      ORDER BY family LIMIT ${env.opts.maxProblems}
    )
    SELECT task_id, optimizer, step, median(minibatch_loss) AS loss, count(*) AS seeds
    FROM eval_curves WHERE run_key = ${kc} AND task_id IN (SELECT task_id FROM picked)
    GROUP BY ALL ORDER BY task_id, optimizer, step`);
  const curves = await env.rows(curvesSql);
  if (curves.length > 0) {
    blocks.push({
      kind: "figure",
      id: "heldout_curves",
      title: "Held-out problems: learned optimizer vs tuned baselines",
      caption:
        `Minibatch loss (median over seeds; log scale, symlog where a loss is ≤ 0) of one problem per ` +
        `family (at most ${env.opts.maxProblems}). Every optimizer starts from the same point and sees the same ` +
        `minibatches; baselines use their tuned learning rate.`,
      sql: curvesSql,
      spec: curvesPanelsSpec({
        title: "Held-out problems: loss curves",
        rows: curves,
        panelField: "task_id",
        x: "step",
        xTitle: "step",
        y: "loss",
        yTitle: "minibatch loss",
      }),
    });
  } else {
    blocks.push({ kind: "note", tone: "warn", text: "No evaluated problem has curves." });
  }
  const ratioSql = sql(`
    SELECT task_id, family, best_baseline, learned_median_loss, best_baseline_median_loss, ratio
    FROM eval_summary WHERE run_key = ${k} AND ratio IS NOT NULL
    ORDER BY ratio`);
  const ratios = await env.rows(ratioSql);
  const clipped = clippedRatios(ratios);
  if (ratios.length > 0) {
    blocks.push({
      kind: "figure",
      id: "heldout_ratio",
      title: "Loss ratio per held-out problem",
      caption: "Median final loss of the learned optimizer divided by that of the best tuned baseline " +
        "(learned, adam, rmsprop, momentum compared per problem); left of the dashed line the learned optimizer wins. " +
        (clipped.length
          ? `Clipped at [1/${RATIO_CAP}, ${RATIO_CAP}] (drawn lighter, labelled with the value): ${
            clipped.map((r) => `${r.task_id} (${Number(r.ratio).toExponential(1)})`).join(", ")
          }.`
          : `No ratio lies outside [1/${RATIO_CAP}, ${RATIO_CAP}].`),
      sql: ratioSql,
      spec: ratioSpec(ratios, "Learned / best tuned baseline (median final loss)"),
    });
  }
  const tuningKey = await env.keyOf("tuning_runs");
  if (tuningKey !== null) {
    const lrSql = sql(`
      WITH picked AS (
        SELECT task_id FROM eval_summary WHERE run_key = ${k} AND status = 'evaluated'
        QUALIFY row_number() OVER (PARTITION BY family ORDER BY task_id) = 1
        ORDER BY family LIMIT ${env.opts.maxProblems}
      )
      SELECT task_id, optimizer, learning_rate, median(final_loss) AS final_loss, 'baseline' AS kind
      FROM tuning_runs WHERE run_key = ${sqlString(tuningKey)} AND task_id IN (SELECT task_id FROM picked)
      GROUP BY ALL
      UNION ALL
      SELECT task_id, optimizer, NULL, median(final_loss), 'learned'
      FROM eval_final WHERE run_key = ${sqlString(keys.eval_final)} AND optimizer = 'learned'
        AND task_id IN (SELECT task_id FROM picked)
      GROUP BY ALL
      ORDER BY task_id, optimizer, learning_rate`);
    const lr = await env.rows(lrSql);
    if (lr.length > 0) {
      blocks.push({
        kind: "figure",
        id: "heldout_lr_sensitivity",
        title: "Held-out problems: learning-rate sensitivity",
        caption:
          `Final full loss of each baseline over the learning-rate grid tune-baselines swept (median over ` +
          `its seeds), on one problem per family (at most ${env.opts.maxProblems}); the dashed horizontal line ` +
          "is the learned optimizer (median over the evaluation seeds, same number of steps), which needs no " +
          "learning rate. Grid points where every seed diverged are left out.",
        sql: lrSql,
        spec: lrSensitivitySpec(lr, "Held-out problems: learning-rate sensitivity", {
          panelField: "task_id",
          y: "final_loss",
          yTitle: "final loss",
        }),
      });
    }
  }
  blocks.push(
    await tableBlock(
      env,
      "Wins of the learned optimizer per family",
      sql(`
        SELECT coalesce(family, 'all') AS family, count(*) AS problems,
          count(*) FILTER (WHERE status = 'evaluated') AS evaluated,
          count(*) FILTER (WHERE wins_vs_adam) AS wins_vs_adam,
          count(*) FILTER (WHERE wins_vs_rmsprop) AS wins_vs_rmsprop,
          count(*) FILTER (WHERE wins_vs_momentum) AS wins_vs_momentum,
          count(*) FILTER (WHERE best_optimizer = 'learned') AS wins_vs_all,
          median(ratio) AS median_loss_ratio, min(ratio) AS min_loss_ratio, max(ratio) AS max_loss_ratio
        FROM eval_summary WHERE run_key = ${k}
        GROUP BY GROUPING SETS ((family), ()) ORDER BY family IS NULL, family`),
      true,
    ),
  );
  blocks.push(
    await tableBlock(
      env,
      "Median final loss per problem and optimizer",
      sql(`
        SELECT task_id, optimizer, median(final_loss) AS median_final_loss,
          count(*) FILTER (WHERE diverged) AS diverged_seeds, any_value(learning_rate) AS learning_rate
        FROM eval_final WHERE run_key = ${sqlString(keys.eval_final)}
        GROUP BY ALL ORDER BY task_id, optimizer`),
    ),
  );
  return { id, title, status: "ok", blocks };
}

async function cnnSection(env: Env): Promise<Section> {
  const id = "convnets", title = "ConvNets";
  const tables = ["cnn_runs", "cnn_curves", "cnn_summary"];
  const got = await keysOrNotRun(env, id, title, "eval-cnn", tables);
  if (got.section) return got.section;
  const keys = got.keys;
  const k = sqlString(keys.cnn_summary);
  const blocks: Block[] = [];
  const curvesSql = sql(`
    SELECT c.model, c.optimizer, c.step, median(c.train_loss) AS train_loss, count(*) AS seeds
    FROM cnn_curves c
    LEFT JOIN cnn_summary s ON s.run_key = c.run_key AND s.model = c.model
      AND s.baseline = c.optimizer AND s.baseline_lr = c.learning_rate
    WHERE c.run_key = ${sqlString(keys.cnn_curves)} AND c.kind = 'train'
      AND (c.optimizer = 'learned' OR s.baseline IS NOT NULL)
    GROUP BY ALL ORDER BY c.model, c.optimizer, c.step`);
  const curves = await env.rows(curvesSql);
  if (curves.length > 0) {
    blocks.push({
      kind: "figure",
      id: "cnn_train_loss",
      title: "ConvNets: training loss",
      caption:
        "Training loss (median over seeds of the minibatch-loss bins) of the learned optimizer and each " +
        "baseline at its tuned learning rate.",
      sql: curvesSql,
      spec: curvesPanelsSpec({
        title: "ConvNets: training loss",
        rows: curves,
        panelField: "model",
        x: "step",
        xTitle: "step",
        y: "train_loss",
        yTitle: "training loss",
        columns: 2,
        width: 320,
        height: 210,
      }),
    });
  }
  const accSql = sql(`
    SELECT r.model, r.optimizer, median(r.test_accuracy) AS test_accuracy, count(*) AS seeds
    FROM cnn_runs r
    LEFT JOIN cnn_summary s ON s.run_key = r.run_key AND s.model = r.model
      AND s.baseline = r.optimizer AND s.baseline_lr = r.learning_rate
    WHERE r.run_key = ${sqlString(keys.cnn_runs)} AND r.status = 'ok'
      AND (r.optimizer = 'learned' OR s.baseline IS NOT NULL)
    GROUP BY ALL ORDER BY r.model, r.optimizer`);
  const acc = await env.rows(accSql);
  if (acc.length > 0) {
    blocks.push({
      kind: "figure",
      id: "cnn_test_accuracy",
      title: "ConvNets: test accuracy",
      caption:
        "Test accuracy after the last step (median over seeds), baselines at their tuned learning rate.",
      sql: accSql,
      spec: barsSpec({
        title: "ConvNets: test accuracy",
        rows: acc,
        panelField: "model",
        y: "test_accuracy",
        yTitle: "test accuracy",
      }),
    });
  }
  const sweepKey = await env.keyOf("cnn_lr_sweep");
  if (sweepKey !== null) {
    const lrSql = sql(`
      SELECT model, optimizer, learning_rate, median_final_train_loss AS final_train_loss, 'baseline' AS kind
      FROM cnn_lr_sweep WHERE run_key = ${sqlString(sweepKey)}
      UNION ALL
      SELECT DISTINCT model, 'learned', NULL, learned_final_train_loss, 'learned'
      FROM cnn_summary WHERE run_key = ${k} AND status = 'ok'
      ORDER BY model, optimizer, learning_rate`);
    const lr = await env.rows(lrSql);
    if (lr.length > 0) {
      blocks.push({
        kind: "figure",
        id: "cnn_lr_sensitivity",
        title: "ConvNets: learning-rate sensitivity",
        caption:
          "Final training loss (median over seeds) of each baseline over its learning-rate grid; the " +
          "dashed horizontal line is the learned optimizer, which has no learning rate. Diverged grid points " +
          "(NULL) are left out.",
        sql: lrSql,
        spec: lrSensitivitySpec(lr, "ConvNets: learning-rate sensitivity"),
      });
    }
  } else {
    blocks.push({
      kind: "note",
      tone: "warn",
      text: "Learning-rate sensitivity not shown: no cnn_lr_sweep rows (stage baselines-cnn not run).",
    });
  }
  blocks.push(
    await tableBlock(
      env,
      "Tuned baselines vs the learned optimizer",
      sql(`
        SELECT model, dataset, baseline, baseline_lr, baseline_final_train_loss, learned_final_train_loss,
          loss_ratio, baseline_test_accuracy, learned_test_accuracy, step_time_ratio, seeds,
          learned_stand_in, status, note
        FROM cnn_summary WHERE run_key = ${k} ORDER BY model, baseline`),
      true,
    ),
  );
  return { id, title, status: "ok", blocks };
}

async function imagenetSection(env: Env): Promise<Section> {
  const id = "imagenet", title = "ImageNet transfer";
  const tables = ["imagenet_runs", "imagenet_curves", "imagenet_overhead"];
  const got = await keysOrNotRun(env, id, title, "imagenet-transfer", tables);
  if (got.section) return got.section;
  const keys = got.keys;
  const blocks: Block[] = [];
  const curvesSql = sql(`
    SELECT network || ' / ' || dataset AS network, optimizer, step, median(loss) AS loss, count(*) AS seeds
    FROM imagenet_curves WHERE run_key = ${sqlString(keys.imagenet_curves)}
    GROUP BY ALL ORDER BY network, optimizer, step`);
  const curves = await env.rows(curvesSql);
  if (curves.length > 0) {
    blocks.push({
      kind: "figure",
      id: "imagenet_curves",
      title: "ImageNet networks: training loss",
      caption:
        "Training loss per step (median over seeds) of the learned optimizer and the baselines on each " +
        "network; the panel title names the dataset (stand-ins are marked).",
      sql: curvesSql,
      spec: curvesPanelsSpec({
        title: "ImageNet transfer: training loss",
        rows: curves,
        panelField: "network",
        x: "step",
        xTitle: "step",
        y: "loss",
        yTitle: "training loss",
        columns: 2,
        width: 320,
        height: 210,
      }),
    });
  }
  const ovSql = sql(`
    SELECT network, optimizer, update_ms
    FROM imagenet_overhead WHERE run_key = ${sqlString(keys.imagenet_overhead)}
    ORDER BY network, optimizer`);
  const ov = await env.rows(ovSql);
  if (ov.length > 0) {
    blocks.push({
      kind: "figure",
      id: "imagenet_update_ms",
      title: "ImageNet networks: cost of one update",
      caption: "Milliseconds for one optimizer update over all trainable weights (log scale).",
      sql: ovSql,
      spec: barsSpec({
        title: "Update time per optimizer",
        rows: ov,
        panelField: "network",
        y: "update_ms",
        yTitle: "update ms (log)",
        logScale: true,
      }),
    });
  }
  blocks.push(
    await tableBlock(
      env,
      "Runs",
      sql(`
        SELECT network, dataset, optimizer, learning_rate, seed, steps, first_loss, final_loss,
          seconds_per_step, diverged
        FROM imagenet_runs WHERE run_key = ${
        sqlString(keys.imagenet_runs)
      } ORDER BY network, optimizer, seed`),
    ),
  );
  blocks.push(
    await tableBlock(
      env,
      "Overhead of the learned optimizer",
      sql(`
        SELECT network, backend, optimizer, width, params, update_ms, update_ratio_vs_adam,
          state_bytes_per_param, step_ms, update_share, step_basis
        FROM imagenet_overhead WHERE run_key = ${sqlString(keys.imagenet_overhead)}
        ORDER BY network, optimizer`),
      true,
    ),
  );
  return { id, title, status: "ok", blocks };
}

async function horizonSection(env: Env): Promise<Section> {
  const id = "horizon", title = "Long horizons: far past the meta-training horizon";
  const got = await keysOrNotRun(env, id, title, "eval-horizon", ["horizon_curves", "horizon_summary"]);
  if (got.section) return got.section;
  const kc = sqlString(got.keys.horizon_curves), ks = sqlString(got.keys.horizon_summary);
  const blocks: Block[] = [];
  const rules = (await env.rows(sql(`
    SELECT DISTINCT optimizer, train_horizon FROM horizon_summary WHERE run_key = ${ks} AND learned
    ORDER BY optimizer`))).map((r) => ({ x: Number(r.train_horizon), optimizer: String(r.optimizer) }));
  const steps = await env.rows(`SELECT max(steps) AS steps FROM horizon_summary WHERE run_key = ${ks}`);
  const curvesSql = sql(`
    WITH picked AS (
      SELECT DISTINCT task_id, family FROM horizon_summary WHERE run_key = ${ks}
      QUALIFY row_number() OVER (PARTITION BY family ORDER BY task_id) = 1
      ORDER BY family LIMIT ${env.opts.maxProblems}
    )
    SELECT task_id, optimizer, step, loss, seconds
    FROM horizon_curves WHERE run_key = ${kc} AND task_id IN (SELECT task_id FROM picked)
    ORDER BY task_id, optimizer, step`);
  const curves = await env.rows(curvesSql);
  const horizons = rules.map((r) => `${r.optimizer} ${r.x}`).join(", ");
  if (curves.length > 0) {
    for (
      const [fid, x, xTitle, what] of [
        ["horizon_curves", "step", "step", "steps"],
        ["horizon_wallclock", "seconds", "seconds of optimizer steps", "wall-clock seconds"],
      ] as const
    ) {
      blocks.push({
        kind: "figure",
        id: fid,
        title: `Long horizons: loss vs ${what}`,
        caption:
          `Full loss over ${steps[0]?.steps} steps (log-log) of the learned optimizers and the tuned ` +
          `baselines on one held-out problem per family (at most ${env.opts.maxProblems}). ` +
          (x === "step"
            ? `Dashed lines: the longest meta-training unroll of each learned optimizer (${horizons}). `
            : "The x axis sums the seconds of the optimizer's own steps (gradient + update). ") +
          `Each loss axis stops ${FLOOR_DECADES} decades below its panel's largest loss; lower losses are ` +
          "drawn at that floor. A curve that ends early diverged.",
        sql: curvesSql,
        spec: curvesPanelsSpec({
          title: `Long horizons: loss vs ${what}`,
          rows: curves,
          panelField: "task_id",
          x,
          xTitle,
          y: "loss",
          yTitle: "full loss",
          xLog: true,
          ...(x === "step" ? { rules } : {}),
        }),
      });
    }
  }
  blocks.push(
    await tableBlock(
      env,
      `Past the training horizon, per optimizer (kept improving: loss fell more than ${KEPT_IMPROVING}x ` +
        "after it; stalled: finite, fell less)",
      sql(`
        SELECT optimizer, learned, any_value(train_horizon) AS train_horizon, any_value(steps) AS steps,
          count(*) AS problems,
          count(*) FILTER (WHERE NOT diverged AND improvement > ${KEPT_IMPROVING}) AS kept_improving,
          count(*) FILTER (WHERE NOT diverged AND coalesce(improvement, 0) <= ${KEPT_IMPROVING}) AS stalled,
          count(*) FILTER (WHERE diverged) AS diverged,
          median(improvement) AS median_improvement, median(final_loss) AS median_final_loss
        FROM horizon_summary WHERE run_key = ${ks}
        GROUP BY optimizer, learned ORDER BY learned DESC, optimizer`),
      true,
    ),
  );
  blocks.push(
    await tableBlock(
      env,
      "Per problem and optimizer",
      sql(`
        SELECT task_id, optimizer, train_horizon, loss_at_train_horizon, final_loss, improvement, diverged,
          diverged_at_step, final_update_rms
        FROM horizon_summary WHERE run_key = ${ks} ORDER BY task_id, learned DESC, optimizer`),
    ),
  );
  return { id, title, status: "ok", blocks };
}

async function ablationsSection(env: Env): Promise<Section> {
  const id = "ablations", title = "Ablations: one feature off at a time";
  const got = await keysOrNotRun(env, id, title, "ablations", ["ablation_summary"]);
  if (got.section) return got.section;
  const k = sqlString(got.keys.ablation_summary);
  const q = sql(`
    SELECT variant, seed, median_ratio_vs_full, wins_vs_adam, divergences
    FROM ablation_summary WHERE run_key = ${k} ORDER BY variant = 'full' DESC, variant, seed`);
  return {
    id,
    title,
    status: "ok",
    blocks: [
      {
        kind: "figure",
        id: "ablations",
        title: "Ablations: final loss vs the full model",
        caption:
          "Each variant (one HRNN feature off; attention on) meta-trained with the same reduced budget and " +
          "seeds as the full model, then run on the held-out problems: the median over problems of its final " +
          "loss over the full model's (same seed). Points: meta-training seeds; tick: their median.",
        sql: q,
        spec: ablationSpec(await env.rows(q)),
      },
      await tableBlock(
        env,
        "Ablations: per variant (over seeds)",
        sql(`
          SELECT variant, any_value(description) AS description, count(*) AS seeds, any_value(meta_steps) AS meta_steps,
            any_value(problems) AS problems, avg(wins_vs_adam) AS mean_wins_vs_adam,
            median(median_ratio_vs_full) AS median_ratio_vs_full, min(median_ratio_vs_full) AS min_ratio,
            max(median_ratio_vs_full) AS max_ratio, sum(divergences) AS divergences
          FROM ablation_summary WHERE run_key = ${k}
          GROUP BY variant ORDER BY variant = 'full' DESC, median(median_ratio_vs_full) DESC`),
        true,
      ),
    ],
  };
}

async function benchSection(env: Env): Promise<Section> {
  const id = "bench", title = "Benchmarks";
  const hint = "run `deno task bench` then `deno task report`";
  if (!env.tables.has("bench")) {
    return {
      id,
      title,
      status: "not run",
      blocks: [{
        kind: "note",
        tone: "warn",
        text: `Not available here: ${
          env.meta.benchUnavailable ?? "no bench table"
        }. To include benchmarks, ${hint}.`,
      }],
    };
  }
  const q = sql(`
    SELECT name, group_name, median_ms, min_ms, max_ms, iterations, unit, backend, git_commit, created_at
    FROM bench
    QUALIFY row_number() OVER (PARTITION BY name ORDER BY created_at DESC) = 1
    ORDER BY group_name, name`);
  const result = await env.query(q);
  if (result.rows.length === 0) {
    return {
      id,
      title,
      status: "not run",
      blocks: [{ kind: "note", tone: "warn", text: `Not run: the bench table is empty; ${hint}.` }],
    };
  }
  return {
    id,
    title,
    status: "ok",
    blocks: [
      {
        kind: "figure",
        id: "bench",
        title: "Benchmarks",
        caption: "Median time of the latest run of each benchmark (bars, log scale) with its min–max range.",
        sql: q,
        spec: benchSpec(rowsOf(result)),
      },
      { kind: "table", title: "Latest run of each benchmark", sql: q, result, key: true },
    ],
  };
}

/** Lists the tables of the database's main schema. */
export async function listTables(query: QueryFn): Promise<Set<string>> {
  const r = await query(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name",
  );
  return new Set(r.rows.map((row) => String(row[0])));
}

/** Builds every section, in report order. Missing stages or tables give `not run` sections. */
export async function buildSections(
  query: QueryFn,
  meta: ReportMeta,
  opts: SectionOptions = {},
): Promise<Section[]> {
  const env = new Env(query, meta, await listTables(query), { maxProblems: opts.maxProblems ?? 6 });
  const builders = [
    claimsSection,
    summarySection,
    metaTrainSection,
    heldoutSection,
    cnnSection,
    imagenetSection,
    horizonSection,
    ablationsSection,
    benchSection,
  ];
  const out: Section[] = [];
  for (const b of builders) out.push(await b(env));
  return out;
}
