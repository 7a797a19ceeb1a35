/**
 * Deterministic, seedable pseudo-random numbers (no global state).
 *
 * Every random draw in lopt goes through an {@link Rng} so that any result can be reproduced exactly from
 * the `seed` param of the stage that made it. The generator is splitmix32-seeded xoshiro128**; `fork`
 * derives independent child streams from a label so that adding draws in one place does not shift others.
 *
 * @module
 */

function splitmix32(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t = t ^ (t >>> 15);
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/**
 * The largest `seed` a stage param accepts (10^9): seeds are 0 … MAX_SEED, so a derived run seed such as
 * `seed + i` stays below 2^31 and fits the results' INTEGER columns.
 */
export const MAX_SEED = 1_000_000_000;

/**
 * Hashes a string to a 32-bit unsigned integer (FNV-1a).
 *
 * @example
 * ```ts
 * hashString("meta-train"); // 2725678807
 * ```
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A seeded random number generator (xoshiro128**).
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * const init = rng.fork("init").normalArray(10, 0, 0.1);
 * rng.int(10); // an integer in [0, 10), the same on every run
 * ```
 */
export class Rng {
  #s: Uint32Array;
  #spare: number | null = null;

  /** Creates a generator from an integer seed. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng seed must be a finite number, got ${seed}`);
    const sm = splitmix32(Math.floor(seed) >>> 0 ^ Math.floor(seed / 2 ** 32));
    this.#s = new Uint32Array([sm(), sm(), sm(), sm()]);
  }

  /** Next raw 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  random(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Standard normal draw (Box-Muller, caching the spare value). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Exponential draw with the given mean. */
  exponential(mean: number): number {
    let u = 0;
    while (u === 0) u = this.random();
    return -Math.log(u) * mean;
  }

  /** Float32Array of n standard normal draws times `std` plus `mean`. */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /** Float32Array of n uniform draws in [lo, hi). */
  uniformArray(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform(lo, hi);
    return out;
  }

  /** In-place Fisher-Yates shuffle; returns the array. */
  shuffle<T>(arr: T[] | Int32Array | Uint32Array): typeof arr {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /** A 31-bit integer suitable as a seed for another generator or a tfjs op. */
  seed(): number {
    return this.nextU32() >>> 1;
  }

  /** An independent child generator derived from this one's current state and a label. */
  fork(label: string): Rng {
    return new Rng((this.#s[0] ^ hashString(label) ^ Math.imul(this.#s[3], 0x9e3779b1)) >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
