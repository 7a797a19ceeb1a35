/**
 * Validated reading of a {@link ProblemSpec}'s `params`.
 *
 * Every family reads its params through a {@link ParamReader}; each accessor checks type and range and names
 * the family and the param in its error, and {@link ParamReader.done} rejects params nobody read (typos).
 *
 * @module
 */
import type { ProblemSpec } from "./problem.ts";

/**
 * Error raised for an unknown family or an invalid/unknown param; the message names both.
 *
 * @example
 * ```ts
 * throw new ProblemSpecError("quadratic", "param 'ndim' must be >= 1");
 * ```
 */
export class ProblemSpecError extends Error {
  /** Creates the error; `family` is prefixed to the message. */
  constructor(family: string, message: string) {
    super(`problem family '${family}': ${message}`);
    this.name = "ProblemSpecError";
  }
}

/** Range constraints for numeric params. */
export interface NumRange {
  /** Inclusive lower bound. */
  min?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Exclusive lower bound. */
  above?: number;
}

/**
 * Reads and validates the params of one spec, remembering which keys were read.
 *
 * @example
 * ```ts
 * const p = new ParamReader("quadratic", { ndim: 10, noiseStdev: 0.5 });
 * const ndim = p.int("ndim", undefined, { min: 1 }), noise = p.num("noiseStdev", 0, { min: 0 });
 * p.done(); // throws if a param was never read
 * ```
 */
export class ParamReader {
  #used = new Set<string>();
  /** The raw params object. */
  readonly raw: Record<string, unknown>;

  /** Wraps the params of `spec`; throws if `params` is not a plain object. */
  constructor(readonly family: string, params: unknown) {
    if (params === undefined || params === null) params = {};
    if (typeof params !== "object" || Array.isArray(params)) {
      throw new ProblemSpecError(family, `params must be an object, got ${JSON.stringify(params)}`);
    }
    this.raw = params as Record<string, unknown>;
  }

  /** Throws a {@link ProblemSpecError} about param `name`. */
  fail(name: string, what: string): never {
    throw new ProblemSpecError(
      this.family,
      `param '${name}' ${what} (got ${JSON.stringify(this.raw[name])})`,
    );
  }

  #get(name: string): unknown {
    this.#used.add(name);
    return this.raw[name];
  }

  /** True when the param is present (and marks it read). */
  has(name: string): boolean {
    return this.#get(name) !== undefined;
  }

  /** A finite number; `def` when absent (absent and no default: error). */
  num(name: string, def?: number, range: NumRange = {}): number {
    const v = this.#get(name);
    const x = v === undefined ? def : v;
    if (typeof x !== "number" || !Number.isFinite(x)) this.fail(name, "must be a finite number");
    if (range.min !== undefined && x < range.min) this.fail(name, `must be >= ${range.min}`);
    if (range.max !== undefined && x > range.max) this.fail(name, `must be <= ${range.max}`);
    if (range.above !== undefined && x <= range.above) this.fail(name, `must be > ${range.above}`);
    return x;
  }

  /** An integer; `def` when absent. */
  int(name: string, def?: number, range: NumRange = {}): number {
    const x = this.num(name, def, range);
    if (!Number.isInteger(x)) this.fail(name, "must be an integer");
    return x;
  }

  /** A boolean; `def` when absent. */
  bool(name: string, def: boolean): boolean {
    const v = this.#get(name);
    if (v === undefined) return def;
    if (typeof v !== "boolean") this.fail(name, "must be true or false");
    return v;
  }

  /** One of `allowed`; `def` when absent. */
  choice<T extends string>(name: string, allowed: readonly T[], def: T): T {
    const v = this.#get(name);
    if (v === undefined) return def;
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
      this.fail(name, `must be one of ${allowed.map((a) => `'${a}'`).join(", ")}`);
    }
    return v as T;
  }

  /** A list of positive integers; `def` when absent. */
  intList(name: string, def?: number[]): number[] {
    const v = this.#get(name);
    const x = v === undefined ? def : v;
    if (!Array.isArray(x) || !x.every((e) => Number.isInteger(e) && e > 0)) {
      this.fail(name, "must be a list of positive integers");
    }
    return x as number[];
  }

  /** A list of lists of positive integers (e.g. conv filter specs). */
  intLists(name: string, def?: number[][]): number[][] {
    const v = this.#get(name);
    const x = v === undefined ? def : v;
    if (
      !Array.isArray(x) ||
      !x.every((row) => Array.isArray(row) && row.every((e) => Number.isInteger(e) && e > 0))
    ) {
      this.fail(name, "must be a list of lists of positive integers");
    }
    return x as number[][];
  }

  /** A plain JSON object (e.g. a dataset spec). */
  object(name: string): Record<string, unknown> {
    const v = this.#get(name);
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(name, "must be an object");
    return v as Record<string, unknown>;
  }

  /** A nested problem spec. */
  spec(name: string): ProblemSpec {
    const v = this.#get(name);
    if (!isProblemSpec(v)) this.fail(name, "must be a problem spec {family, params, seed}");
    return v;
  }

  /** A non-empty list of nested problem specs. */
  specList(name: string): ProblemSpec[] {
    const v = this.#get(name);
    if (!Array.isArray(v) || v.length === 0 || !v.every(isProblemSpec)) {
      this.fail(name, "must be a non-empty list of problem specs {family, params, seed}");
    }
    return v as ProblemSpec[];
  }

  /** Throws if any param was never read (unknown or misspelled). */
  done(): void {
    const unknown = Object.keys(this.raw).filter((k) => !this.#used.has(k));
    if (unknown.length > 0) {
      throw new ProblemSpecError(
        this.family,
        `unknown param(s) ${unknown.map((k) => `'${k}'`).join(", ")}; known: ${
          [...this.#used].map((k) => `'${k}'`).join(", ") || "(none)"
        }`,
      );
    }
  }
}

/**
 * Structural check that a value looks like a {@link ProblemSpec}.
 *
 * @example
 * ```ts
 * isProblemSpec({ family: "rosenbrock", params: {}, seed: 0 }); // true
 * isProblemSpec({ family: "rosenbrock" }); // false
 * ```
 */
export function isProblemSpec(v: unknown): v is ProblemSpec {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.family === "string" && typeof o.params === "object" && o.params !== null &&
    !Array.isArray(o.params) && typeof o.seed === "number" && Number.isFinite(o.seed);
}
