/**
 * The child-to-parent protocol: a stage child prints JSON messages on its stdout as lines starting with a
 * marker; everything else on stdout is ordinary log output. The parent splits the two.
 *
 * @module
 */

/** Marks a protocol line (record separator + `LOPT `). */
export const MARKER = "\u001eLOPT ";

/** A message from a stage child. */
export type ChildMessage =
  | { type: "progress"; done: number; total: number; label?: string }
  | { type: "log"; message: string }
  | { type: "backend"; description: string }
  | { type: "error"; message: string };

/**
 * Encodes a message as one protocol line (with trailing newline).
 *
 * @example
 * ```ts
 * Deno.stdout.writeSync(new TextEncoder().encode(encodeMessage({ type: "progress", done: 3, total: 10 })));
 * ```
 */
export function encodeMessage(m: ChildMessage): string {
  return MARKER + JSON.stringify(m) + "\n";
}

/**
 * Splits a text stream into log text and protocol messages. Feed chunks with {@link push}; call
 * {@link end} when the stream ends.
 *
 * @example
 * ```ts
 * const splitter = new ProtocolSplitter((text) => console.log(text), (m) => console.log(m.type));
 * splitter.push(`step 1\n${encodeMessage({ type: "log", message: "hi" })}`);
 * splitter.end();
 * ```
 */
export class ProtocolSplitter {
  #buf = "";

  /** @param onLog receives ordinary output (with newlines); @param onMessage receives decoded messages. */
  constructor(
    private readonly onLog: (text: string) => void,
    private readonly onMessage: (m: ChildMessage) => void,
  ) {}

  /** Processes a chunk of the stream. */
  push(chunk: string): void {
    this.#buf += chunk;
    let nl: number;
    while ((nl = this.#buf.indexOf("\n")) >= 0) {
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      this.#line(line, true);
    }
  }

  /** Flushes a trailing partial line. */
  end(): void {
    if (this.#buf) this.#line(this.#buf, false);
    this.#buf = "";
  }

  #line(line: string, newline: boolean): void {
    const at = line.indexOf(MARKER);
    if (at < 0) {
      this.onLog(line + (newline ? "\n" : ""));
      return;
    }
    if (at > 0) this.onLog(line.slice(0, at) + "\n");
    try {
      this.onMessage(JSON.parse(line.slice(at + MARKER.length)) as ChildMessage);
    } catch {
      this.onLog(line.slice(at) + "\n");
    }
  }
}
