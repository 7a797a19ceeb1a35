/**
 * The seeds of the problem sets: every entry carries an explicit seed derived from (split, base seed, group,
 * entry, nested path), so a stored spec rebuilds exactly. Train seeds lie in [0, 2³⁰), test seeds in
 * [2³⁰, 2³¹), so the two splits never share an instance.
 *
 * @example
 * ```ts
 * import { groupContext, splitSeed } from "./ensemble_seeds.ts";
 * splitSeed("test", "quadratic/0") >= 2 ** 30; // true
 * groupContext("train", 0).seed("quadratic/0");
 * ```
 *
 * @module
 */
import { hashString } from "../lib/rng.ts";

/**
 * Which side of the train/held-out divide a seed belongs to.
 *
 * @example
 * ```ts
 * const s: Split = "test";
 * ```
 */
export type Split = "train" | "test";

/**
 * A seed for `key` in `split`: a hash of (base seed, key) in [0, 2³⁰) for train and [2³⁰, 2³¹) for test.
 *
 * @example
 * ```ts
 * splitSeed("test", "quadratic_problems/0") >= 2 ** 30; // true
 * ```
 */
export function splitSeed(split: Split, key: string, base = 0): number {
  const h = hashString(`${base}|${key}`) & 0x3fffffff;
  return split === "train" ? h : (h | 0x40000000) >>> 0;
}

/**
 * How a group names the seeds of its entries.
 *
 * @example
 * ```ts
 * const seed = groupContext("train", 0).seed("quadratic_problems/0");
 * ```
 */
export interface GroupContext {
  /** Split the seeds belong to. */
  split: Split;
  /** Seed for a key unique within the whole set (group name + entry + path). */
  seed(key: string): number;
  /** Seed of a dataset: the reference's fixed `paperSeed` in the train split when given, else {@link seed}. */
  dataSeed(key: string, paperSeed?: number): number;
  /** Value of `faithfulNoise` written into wrapper specs. */
  faithfulNoise: boolean;
}

/**
 * The {@link GroupContext} for a split and base seed.
 *
 * @example
 * ```ts
 * const c = groupContext("test", 1); c.dataSeed("softmax/0/data", 123); // a test seed, not 123
 * ```
 */
export function groupContext(split: Split = "train", base = 0, faithfulNoise = false): GroupContext {
  const seed = (key: string) => splitSeed(split, key, base);
  return {
    split,
    seed,
    dataSeed: (key, paperSeed) => (split === "train" && paperSeed !== undefined ? paperSeed : seed(key)),
    faithfulNoise,
  };
}

// ---------------------------------------------------------------------------------------------------------
