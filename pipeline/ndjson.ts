/**
 * Reading the NDJSON row files of stage runs (`rows/<table>.ndjson`, one JSON object per line) in bounded
 * chunks, and counting their rows, with one rule for both: a row is a non-blank line.
 *
 * @module
 */

/** Rows per chunk of {@link ndjsonChunks} by default. */
export const NDJSON_CHUNK = 5000;

/**
 * Reads the non-blank lines of an NDJSON file as parsed objects, in chunks of at most `size`, streaming (the
 * file is never held in memory whole). Throws naming the file and line when a line is not JSON.
 */
export async function* ndjsonChunks(
  path: string,
  size: number = NDJSON_CHUNK,
): AsyncGenerator<Record<string, unknown>[]> {
  const f = await Deno.open(path, { read: true });
  const reader = f.readable.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  let line = 0;
  let chunk: Record<string, unknown>[] = [];
  const take = (text: string) => {
    line++;
    if (text.trim() === "") return;
    try {
      chunk.push(JSON.parse(text));
    } catch {
      throw new Error(`${path}: line ${line} is not JSON`);
    }
  };
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      const lines = (rest + value).split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        take(l);
        if (chunk.length >= size) {
          yield chunk;
          chunk = [];
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (rest !== "") take(rest);
  if (chunk.length) yield chunk;
}

/**
 * Number of rows (non-blank lines) of an NDJSON file; 0 when it does not exist.
 *
 * @example
 * ```ts
 * const n = await countNdjsonRows("results/artifacts/meta-train/0123abcd/rows/meta_train_curve.ndjson");
 * ```
 */
export async function countNdjsonRows(path: string): Promise<number> {
  let n = 0;
  try {
    for await (const c of ndjsonChunks(path)) n += c.length;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
  return n;
}
