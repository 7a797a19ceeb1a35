/**
 * A small streaming tar reader (ustar, plus the pax `path`/`size` records and GNU long names that common
 * tar tools write) and a ustar writer used to build test archives.
 *
 * The reader walks a byte stream (for example a gunzipped download) block by block and hands each entry's
 * body to a callback as a stream of chunks, so an archive is never held in memory whole.
 *
 * @module
 */

/** A malformed or truncated tar archive. */
export class TarFormatError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "TarFormatError";
  }
}

/** One archive member's header. */
export interface TarEntry {
  /** Path inside the archive (prefix + name, or the pax/GNU long name). */
  name: string;
  /** Member kind. Only `file` entries have a body worth reading. */
  type: "file" | "directory" | "symlink" | "other";
  /** Body size in bytes. */
  size: number;
  /** Permission bits. */
  mode: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

const BLOCK = 512;

/** Buffered exact-length reads over a byte stream. */
class ByteReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  private async fill(): Promise<boolean> {
    const { done, value } = await this.reader.read();
    if (done) return false;
    if (this.pos < this.buf.length) {
      const rest = this.buf.subarray(this.pos);
      const merged = new Uint8Array(rest.length + value.length);
      merged.set(rest);
      merged.set(value, rest.length);
      this.buf = merged;
    } else {
      this.buf = value;
    }
    this.pos = 0;
    return true;
  }

  /** Reads exactly n bytes; returns fewer only at the end of the stream. */
  async read(n: number): Promise<Uint8Array> {
    while (this.buf.length - this.pos < n) if (!(await this.fill())) break;
    const k = Math.min(n, this.buf.length - this.pos);
    const out = this.buf.slice(this.pos, this.pos + k);
    this.pos += k;
    return out;
  }

  /** Yields the next n bytes as chunks; throws when the stream ends first. */
  async *take(n: number, what: string): AsyncGenerator<Uint8Array> {
    while (n > 0) {
      if (this.pos >= this.buf.length && !(await this.fill())) {
        throw new TarFormatError(`Truncated tar archive: ${what} ends early (${n} bytes missing).`);
      }
      const k = Math.min(n, this.buf.length - this.pos);
      const chunk = this.buf.subarray(this.pos, this.pos + k);
      this.pos += k;
      n -= k;
      yield chunk;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.take(n, what)) { /* discard */ }
  }

  cancel(): Promise<void> {
    return this.reader.cancel().catch(() => {});
  }
}

function cstr(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(off, end));
}

function octal(b: Uint8Array, off: number, len: number, field: string): number {
  if (b[off] & 0x80) {
    // GNU base-256 encoding for large values.
    let v = b[off] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`Bad tar header: ${field} field '${s}' is not octal.`);
  return parseInt(s, 8);
}

function checkHeader(h: Uint8Array): void {
  const stored = octal(h, 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new TarFormatError(
      `Bad tar header checksum (stored ${stored}, computed ${unsigned}): not a tar archive?`,
    );
  }
}

function parsePax(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = new TextDecoder().decode(body);
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(" ", i);
    if (sp < 0) break;
    const len = parseInt(text.slice(i, sp), 10);
    if (!(len > 0)) break;
    const rec = text.slice(sp + 1, i + len - 1); // without trailing newline
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

async function collect(it: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let o = 0;
  for await (const c of it) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Reads a tar archive from `stream`, calling `onEntry` for each member (pax and GNU long-name records are
 * applied, not reported). `body` yields exactly `entry.size` bytes; whatever `onEntry` leaves unread is
 * skipped. Throws {@link TarFormatError} on a bad header or a truncated archive.
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (entry: TarEntry, body: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const r = new ByteReader(stream.getReader());
  let pending: Record<string, string> = {};
  try {
    for (;;) {
      const h = await r.read(BLOCK);
      if (h.length === 0) return; // end without the zero blocks: tolerated
      if (h.length < BLOCK) throw new TarFormatError("Truncated tar archive: partial header block.");
      if (h.every((x) => x === 0)) return; // end-of-archive marker
      checkHeader(h);
      const typeflag = String.fromCharCode(h[156] || 0x30);
      let name = cstr(h, 0, 100);
      const magic = cstr(h, 257, 6);
      if (magic.startsWith("ustar")) {
        const prefix = cstr(h, 345, 155);
        if (prefix && magic === "ustar") name = `${prefix}/${name}`;
      }
      let size = octal(h, 124, 12, "size");
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (typeflag === "x" || typeflag === "g" || typeflag === "L") {
        const body = await collect(r.take(size, `${name} (meta)`), size);
        await r.skip(padded - size, "padding");
        if (typeflag === "x") pending = { ...pending, ...parsePax(body) };
        if (typeflag === "L") pending = { ...pending, path: cstr(body, 0, body.length) };
        continue;
      }
      if (pending.path !== undefined) name = pending.path;
      if (pending.size !== undefined) size = parseInt(pending.size, 10);
      pending = {};
      const entry: TarEntry = {
        name,
        type: typeflag === "0" || typeflag === "7"
          ? "file"
          : typeflag === "5"
          ? "directory"
          : typeflag === "2"
          ? "symlink"
          : "other",
        size,
        mode: octal(h, 100, 8, "mode"),
        mtime: octal(h, 136, 12, "mtime"),
      };
      const pad = Math.ceil(size / BLOCK) * BLOCK - size;
      let left = size;
      const body = (async function* () {
        for await (const c of r.take(left, entry.name)) {
          left -= c.length;
          yield c;
        }
      })();
      await onEntry(entry, body);
      await r.skip(left, entry.name);
      await r.skip(pad, "padding");
    }
  } finally {
    await r.cancel();
  }
}

/** A member to write with {@link createTar}: a regular file, or a directory when `data` is omitted. */
export interface TarInput {
  /** Path inside the archive (at most 100 bytes, or 255 with a `/` that splits it into prefix/name). */
  name: string;
  /** File contents; omit for a directory. */
  data?: Uint8Array;
  /** Permission bits (default 0o644 files, 0o755 directories). */
  mode?: number;
}

/** Builds an uncompressed ustar archive in memory (for tests and small fixtures). */
export function createTar(entries: TarInput[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const h = new Uint8Array(BLOCK);
    let name = e.name;
    let prefix = "";
    if (enc.encode(name).length > 100) {
      const cut = name.lastIndexOf("/", name.length - 2);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
      if (cut < 0 || enc.encode(name).length > 100 || enc.encode(prefix).length > 155) {
        throw new Error(`createTar: name too long: ${e.name}`);
      }
    }
    const isDir = e.data === undefined;
    const size = e.data?.length ?? 0;
    const put = (s: string, off: number, len: number) => h.set(enc.encode(s).subarray(0, len), off);
    const oct = (v: number, off: number, len: number) =>
      put(v.toString(8).padStart(len - 1, "0") + "\0", off, len);
    put(name, 0, 100);
    oct(e.mode ?? (isDir ? 0o755 : 0o644), 100, 8);
    oct(0, 108, 8);
    oct(0, 116, 8);
    oct(size, 124, 12);
    oct(0, 136, 12);
    h.fill(0x20, 148, 156);
    h[156] = isDir ? 0x35 : 0x30;
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    put(prefix, 345, 155);
    let sum = 0;
    for (const v of h) sum += v;
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    parts.push(h);
    if (e.data) {
      parts.push(e.data);
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad) parts.push(new Uint8Array(pad));
    }
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
