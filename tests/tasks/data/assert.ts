/**
 * Small assertion helpers over `node:assert/strict` shared by the dataset tests.
 *
 * @module
 */
import assertNode from "node:assert/strict";

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  assertNode.deepStrictEqual(actual, expected, msg);
}

/** Asserts a truthy value. */
export function assert(cond: unknown, msg?: string): asserts cond {
  assertNode.ok(cond, msg);
}

/** Asserts that `fn` throws an instance of `cls` whose message includes `includes`. */
export function assertThrows(
  fn: () => unknown,
  cls: abstract new (...a: never[]) => Error,
  includes = "",
): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return check(caught, cls, includes);
}

/** Async version of {@link assertThrows}. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  cls: abstract new (...a: never[]) => Error,
  includes = "",
): Promise<Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  return check(caught, cls, includes);
}

function check(caught: unknown, cls: abstract new (...a: never[]) => Error, includes: string): Error {
  assertNode.ok(caught !== undefined, `expected ${cls.name} to be thrown, nothing was`);
  assertNode.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  assertNode.ok(caught.message.includes(includes), `message '${caught.message}' lacks '${includes}'`);
  return caught;
}
