/**
 * Param resolution: schema defaults < profile overrides < `--set stage.key=value` overrides, with type,
 * bounds, choices and each param's own `check` validated, then the stage's `validate` (checks between params).
 * Errors are one line naming the stage, the key, the value and the accepted range.
 *
 * @module
 */

import { PipelineError } from "./errors.ts";
import type { Params, ParamSpec, StageDef } from "./stage.ts";

/** The profile used when none is given. */
export const DEFAULT_PROFILE = "default";

/** One `--set stage.key=value` override, still as text. */
export interface SetOverride {
  stage: string;
  key: string;
  raw: string;
}

/**
 * Parses `stage.key=value` (the value may contain `=` and `.`).
 *
 * @example
 * ```ts
 * parseSetArg("meta-train.seed=3"); // { stage: "meta-train", key: "seed", raw: "3" }
 * ```
 */
export function parseSetArg(arg: string): SetOverride {
  const m = /^([^.=\s]+)\.([^=\s]+)=(.*)$/s.exec(arg);
  if (!m) {
    throw new PipelineError(`--set "${arg}" is not of the form stage.key=value (e.g. --set train.lr=0.01)`);
  }
  return { stage: m[1], key: m[2], raw: m[3] };
}

/**
 * Every profile name the stages know of, sorted, always including `default`.
 *
 * @example
 * ```ts
 * knownProfiles(STAGES); // ["default", "gpu", "paper", "smoke"]
 * ```
 */
export function knownProfiles(stages: readonly StageDef<Params>[]): string[] {
  const names = new Set<string>([DEFAULT_PROFILE]);
  for (const s of stages) for (const p of Object.keys(s.profiles)) names.add(p);
  return [...names].sort();
}

/**
 * Throws a {@link PipelineError} listing the profiles when `profile` is unknown to every stage.
 *
 * @example
 * ```ts
 * assertProfile(STAGES, "smok"); // throws PipelineError: unknown profile "smok"; profiles: default, ...
 * ```
 */
export function assertProfile(stages: readonly StageDef<Params>[], profile: string): void {
  const known = knownProfiles(stages);
  if (!known.includes(profile)) {
    throw new PipelineError(`unknown profile "${profile}"; profiles: ${known.join(", ")}`);
  }
}

/**
 * The accepted values of a spec in words, e.g. `integer in [1, 1000]` or `string (one of adam, sgd)`.
 *
 * @example
 * ```ts
 * const spec: ParamSpec = { type: "integer", default: 4, min: 1, max: 64, description: "PES pairs" };
 * describeSpec(spec); // "integer in [1, 64]"
 * ```
 */
export function describeSpec(spec: ParamSpec): string {
  let s = spec.type as string;
  if (spec.min !== undefined || spec.max !== undefined) {
    s += ` in [${spec.min ?? "-inf"}, ${spec.max ?? "inf"}]`;
  }
  if (spec.choices) s += ` (one of ${spec.choices.join(", ")})`;
  if (spec.maxItems !== undefined) s += `, at most ${spec.maxItems} items`;
  if (spec.range) s += ` (${spec.range})`;
  return s;
}

function fail(stage: string, key: string, spec: ParamSpec, got: string, source: string, why = ""): never {
  throw new PipelineError(
    `stage "${stage}": param "${key}" expects ${describeSpec(spec)}, got ${got} (from ${source})` +
      `${why ? `: ${why.replace(/\.$/, "")}` : ""}; ${key}: ${spec.description}`,
  );
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** An integer as `--set` accepts it: decimal digits with an optional sign (no hex, exponent or spaces). */
const INTEGER_TEXT = /^[+-]?\d+$/;
/** A number as `--set` accepts it: decimal, optional fraction and exponent (no hex, `Infinity` or spaces). */
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Converts `--set` text to a value of the declared type. Numbers are read strictly: an `integer` is decimal
 * digits with an optional sign (`0x10`, `1e3`, `" 6 "` are refused), a `number` is a decimal with optional
 * exponent. Arrays are JSON or comma lists (items of a comma list may have spaces around them).
 *
 * @example
 * ```ts
 * const spec: ParamSpec = { type: "number[]", default: [1], description: "multiples of the standard rate" };
 * parseParamValue("imagenet-transfer", "lrMultipliers", spec, "0.5, 1e1"); // [0.5, 10]
 * ```
 */
export function parseParamValue(stage: string, key: string, spec: ParamSpec, raw: string): unknown {
  const source = `--set ${stage}.${key}`;
  const bad = (why = ""): never => fail(stage, key, spec, JSON.stringify(raw), source, why);
  const num = (t: string, integer: boolean): number => {
    if (integer && !INTEGER_TEXT.test(t)) {
      bad("write an integer as decimal digits, e.g. 1000 (no hex, exponent or spaces)");
    }
    if (!NUMBER_TEXT.test(t)) bad("write a decimal number, e.g. 0.001 or 1e-3 (no hex or spaces)");
    return Number(t);
  };
  switch (spec.type) {
    case "number":
      return num(raw, false);
    case "integer":
      return num(raw, true);
    case "boolean": {
      const t = raw.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(t)) return true;
      if (["false", "0", "no", "off"].includes(t)) return false;
      return bad();
    }
    case "string":
      return raw;
    case "number[]":
    case "string[]": {
      const t = raw.trim();
      if (t.startsWith("[")) {
        try {
          return JSON.parse(t);
        } catch {
          return bad("not valid JSON");
        }
      }
      const parts = t === "" ? [] : t.split(",").map((p) => p.trim());
      return spec.type === "number[]" ? parts.map((p) => num(p, false)) : parts;
    }
    case "json":
      try {
        return JSON.parse(raw);
      } catch {
        return bad("not valid JSON");
      }
  }
}

/**
 * Checks a value against its spec (type, integer-ness, min/max, choices, maxItems, `check`); throws a
 * {@link PipelineError} naming the stage, the key, the value, the accepted range and `source`.
 *
 * @example
 * ```ts
 * const spec: ParamSpec = { type: "integer", default: 4, min: 1, max: 64, description: "PES pairs" };
 * validateParam("meta-train", "pesPairs", spec, 100, "--set meta-train.pesPairs"); // throws: expects [1, 64]
 * ```
 */
export function validateParam(
  stage: string,
  key: string,
  spec: ParamSpec,
  value: unknown,
  source: string,
): void {
  const bad = (why = ""): never => fail(stage, key, spec, show(value), source, why);
  const checkNum = (v: unknown, integer: boolean): void => {
    if (typeof v !== "number" || !Number.isFinite(v)) bad();
    if (integer && !Number.isSafeInteger(v)) bad();
    if (spec.min !== undefined && (v as number) < spec.min) bad();
    if (spec.max !== undefined && (v as number) > spec.max) bad();
  };
  const checkStr = (v: unknown): void => {
    if (typeof v !== "string") bad();
    if (spec.choices && !spec.choices.includes(v as string)) bad();
  };
  const checkItems = (v: unknown): unknown[] => {
    if (!Array.isArray(v)) bad();
    if (spec.maxItems !== undefined && (v as unknown[]).length > spec.maxItems) bad();
    return v as unknown[];
  };
  switch (spec.type) {
    case "number":
      checkNum(value, false);
      break;
    case "integer":
      checkNum(value, true);
      break;
    case "boolean":
      if (typeof value !== "boolean") bad();
      break;
    case "string":
      checkStr(value);
      break;
    case "number[]":
      for (const v of checkItems(value)) checkNum(v, false);
      break;
    case "string[]":
      for (const v of checkItems(value)) checkStr(v);
      break;
    case "json":
      if (value === undefined) bad();
      break;
    default:
      throw new PipelineError(`stage "${stage}": param "${key}" has unknown type "${String(spec.type)}"`);
  }
  const why = spec.check?.(value);
  if (why) bad(why);
}

function unknownKey(stage: StageDef<Params>, key: string, source: string): never {
  throw new PipelineError(
    `stage "${stage.name}" has no param "${key}" (from ${source}); valid params: ${
      Object.keys(stage.params).join(", ") || "(none)"
    }`,
  );
}

/**
 * Resolves a stage's params: defaults < `profile` overrides < `sets` for this stage. Every value is validated.
 * `sets` may hold overrides of other stages (ignored here).
 *
 * @example
 * ```ts
 * const params = resolveParams(stage, "smoke", [parseSetArg("meta-train.seed=3")]);
 * ```
 */
export function resolveParams(
  stage: StageDef<Params>,
  profile: string,
  sets: readonly SetOverride[],
): Params {
  const out: Params = {};
  for (const [k, spec] of Object.entries(stage.params)) {
    validateParam(stage.name, k, spec, spec.default, "the schema default");
    out[k] = structuredClone(spec.default);
  }
  const prof = stage.profiles[profile] ?? {};
  for (const [k, v] of Object.entries(prof)) {
    const spec = stage.params[k];
    if (!spec) unknownKey(stage, k, `profile "${profile}"`);
    validateParam(stage.name, k, spec, v, `profile "${profile}"`);
    out[k] = structuredClone(v);
  }
  for (const s of sets) {
    if (s.stage !== stage.name) continue;
    const spec = stage.params[s.key];
    if (!spec) unknownKey(stage, s.key, `--set ${s.stage}.${s.key}`);
    const v = parseParamValue(stage.name, s.key, spec, s.raw);
    validateParam(stage.name, s.key, spec, v, `--set ${s.stage}.${s.key}`);
    out[s.key] = v;
  }
  if (stage.validate) {
    try {
      stage.validate(out);
    } catch (e) {
      const from = sets.some((s) => s.stage === stage.name) ? " with the --set overrides" : "";
      throw new PipelineError(
        `stage "${stage.name}" (profile "${profile}"${from}): ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  return out;
}

/**
 * Checks that every `--set` names a known stage (listing the valid ones) and a known param of it.
 *
 * @example
 * ```ts
 * validateSets(STAGES, [parseSetArg("meta-train.seed=3")]); // throws for an unknown stage or param
 * ```
 */
export function validateSets(stages: readonly StageDef<Params>[], sets: readonly SetOverride[]): void {
  for (const s of sets) {
    const st = stages.find((x) => x.name === s.stage);
    if (!st) {
      throw new PipelineError(
        `--set ${s.stage}.${s.key}: unknown stage "${s.stage}"; valid stages: ${
          stages.map((x) => x.name).join(", ")
        }`,
      );
    }
    if (!st.params[s.key]) unknownKey(st, s.key, `--set ${s.stage}.${s.key}`);
  }
}
