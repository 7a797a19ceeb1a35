/**
 * A FIFO lock for async code: calls to {@link Mutex.run} run one at a time, in the order they were made.
 *
 * @example
 * ```ts
 * import { Mutex } from "./mutex.ts";
 * const m = new Mutex();
 * await Promise.all([m.run(async () => 1), m.run(async () => 2)]); // one after the other
 * ```
 *
 * @module
 */

/**
 * A FIFO lock.
 *
 * @example
 * ```ts
 * const lock = new Mutex();
 * const value = await lock.run(() => Promise.resolve(42));
 * ```
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /**
   * Runs `fn` once every earlier call has finished; resolves or rejects with its result.
   *
   * @example
   * ```ts
   * await new Mutex().run(async () => "done");
   * ```
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
