/**
 * The run summary section: the stages reported on, the stages not run, stand-in rows, rows not run and the
 * problems generated.
 *
 * @module
 */
import type { Block, Section } from "../types.ts";
import { type SectionEnv, sql, sqlString, tableBlock } from "./env.ts";
import { codeLabel } from "../format.ts";

function compactParams(p: Record<string, unknown>): string {
  const s = JSON.stringify(p);
  return s.length > 300 ? s.slice(0, 299) + "…" : s;
}

/**
 * Builds the section from the reported rows; a missing stage or table gives a `not run` section.
 *
 * @example
 * ```ts
 * const section = await summarySection(env); // env: a SectionEnv over the report's query
 * ```
 */
export async function summarySection(env: SectionEnv): Promise<Section> {
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
  const absent = env.meta.stages.filter((s) => !env.ran(s.name)).map((s) => s.name);
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
