/**
 * Completed units of a long stage, kept across kills: a stage that is a loop of independent, deterministic
 * units (one meta-training and its evaluation; one long run) records each finished unit's result in a file, so
 * a rerun after a kill replays the finished units' rows instead of recomputing them and only runs the rest.
 *
 * Each unit is one file `unit-<sha256 of its name>.json` in the stage's directory under
 * `<results>/checkpoints/<stage>/<key>/` (the key covers the stage's params, code and inputs, so units of
 * another configuration are never replayed). Files are written to a temporary name and renamed into place, and
 * carry the SHA-256 of their contents (the meta-training checkpoints' format): a torn, damaged or edited file
 * is skipped with a log line and its unit runs again. A stage clears its units when it finishes, so only an
 * interrupted run is resumed; a forced rerun of a finished stage computes every unit afresh.
 *
 * @example
 * ```ts
 * const units = new CompletedUnits("/tmp/results/checkpoints/ablations/0123abcd", console.log);
 * const rows = await units.get<{ loss: number }>("full seed 0") ?? await units.put("full seed 0", { loss: 0.5 });
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { openCheckpoint, writeSealedFile } from "../models/metatrain/checkpoint.ts";

const VERSION = 1;

/** A unit's file contents: its format version, name and result. */
interface UnitFile<T> {
  version: number;
  unit: string;
  result: T;
}

/**
 * The finished units of one stage run (see the module doc).
 *
 * @example
 * ```ts
 * const units = new CompletedUnits(dir);
 * const done = await units.get<number[]>("adam");
 * if (!done) await units.put("adam", [1, 2, 3]);
 * ```
 */
export class CompletedUnits {
  /**
   * @param dir the stage run's directory (created on the first `put`)
   * @param log receives one line per skipped (unusable) unit file
   */
  constructor(readonly dir: string, private readonly log: (message: string) => void = () => {}) {}

  /** The file of unit `unit`. */
  fileOf(unit: string): string {
    return join(this.dir, `unit-${idOf(unit)}.json`);
  }

  /**
   * A directory private to unit `unit` (for its own checkpoints), removed by {@link CompletedUnits.put}.
   *
   * @example
   * ```ts
   * const ckpt = new CompletedUnits(dir).scratchDirOf("full seed 0");
   * ```
   */
  scratchDirOf(unit: string): string {
    return join(this.dir, `work-${idOf(unit)}`);
  }

  /** The recorded result of unit `unit`, or null when it has not finished (or its file is unusable). */
  async get<T>(unit: string): Promise<T | null> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.fileOf(unit));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    try {
      const data = openCheckpoint<UnitFile<T>>(text);
      if (data.version !== VERSION || data.unit !== unit) throw new Error("written for another unit");
      return decodeNonFinite(data.result);
    } catch (e) {
      this.log(`completed unit "${unit}" is unusable (${(e as Error).message}); running it again`);
      return null;
    }
  }

  /** Records unit `unit`'s result atomically, removes its scratch directory and returns `result`. */
  async put<T>(unit: string, result: T): Promise<T> {
    const data: UnitFile<T> = { version: VERSION, unit, result: encodeNonFinite(result) };
    await writeSealedFile(this.fileOf(unit), data);
    await Deno.remove(this.scratchDirOf(unit), { recursive: true }).catch(() => {});
    return result;
  }

  /**
   * Removes every recorded unit: called when the stage has finished, so a forced rerun computes afresh.
   *
   * @example
   * ```ts
   * await new CompletedUnits(dir).clear();
   * ```
   */
  async clear(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

// JSON has no NaN or ±Infinity; a replayed row must equal the one that was computed, so they are tagged.
const NON_FINITE = "$nonFinite";

/** `value` with every non-finite number replaced by `{ $nonFinite: "NaN" | "Infinity" | "-Infinity" }`. */
function encodeNonFinite<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(
      value,
      (_k, v) => typeof v === "number" && !Number.isFinite(v) ? { [NON_FINITE]: String(v) } : v,
    ),
  );
}

/** The inverse of {@link encodeNonFinite}. */
function decodeNonFinite<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value),
    (_k, v) =>
      v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 &&
        typeof v[NON_FINITE] === "string"
        ? Number(v[NON_FINITE])
        : v,
  );
}

/** A file-name-safe id of a unit name. */
function idOf(unit: string): string {
  return createHash("sha256").update(unit).digest("hex").slice(0, 24);
}
