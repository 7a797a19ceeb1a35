/**
 * Resumable, checksum-verified file download for dataset archives.
 *
 * The bytes go to `<dest>.part`; only after the whole body arrived and the checksum matched is the file
 * renamed to `dest`, so a partial download never looks complete. When `<dest>.part` exists, the download
 * resumes with an HTTP `Range` request (falling back to a full download when the server ignores it).
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * A download that failed (HTTP error, connection lost, incomplete body). The `.part` file is kept for resume.
 *
 * @example
 * ```ts
 * throw new DownloadError(`Cannot download ${url}: connection reset. Check the network and retry.`);
 * ```
 */
export class DownloadError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

/**
 * The downloaded bytes do not have the expected checksum; nothing is left on disk.
 *
 * @example
 * ```ts
 * try {
 *   await downloadFile({ url: CIFAR10_URL, dest, md5: CIFAR10_MD5 });
 * } catch (e) {
 *   if (e instanceof ChecksumError) console.error(e.message); // the download was deleted
 * }
 * ```
 */
export class ChecksumError extends DownloadError {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "ChecksumError";
  }
}

/** Expected checksums (hex); any given is checked. */
export interface Checksums {
  /** Expected SHA-256, hex. */
  sha256?: string;
  /** Expected MD5, hex. */
  md5?: string;
}

/** Options of {@link downloadFile}. */
export interface DownloadOptions extends Checksums {
  /** URL to fetch. */
  url: string;
  /** Final path of the file. */
  dest: string;
  /** Called as bytes arrive with (bytes so far, total bytes or null). */
  onProgress?: (received: number, total: number | null) => void;
  /** Aborts the transfer (the `.part` file stays for resume). */
  signal?: AbortSignal;
}

/**
 * Streams a file through the requested hash algorithms; returns hex digests.
 *
 * @example
 * ```ts
 * const { sha256, md5 } = await hashFile("data/cifar-10-binary.tar.gz", ["sha256", "md5"]); // hex digests
 * ```
 */
export async function hashFile(path: string, algorithms: string[]): Promise<Record<string, string>> {
  const hashes = algorithms.map((a) => createHash(a));
  const f = await Deno.open(path, { read: true });
  for await (const chunk of f.readable) for (const h of hashes) h.update(chunk);
  return Object.fromEntries(algorithms.map((a, i) => [a, hashes[i].digest("hex")]));
}

/**
 * Checks `path` against the given checksums; returns null when they match (or none was given), else a
 * message naming the mismatch.
 *
 * @example
 * ```ts
 * const why = await checksumMismatch("data/cifar-10-binary.tar.gz", { md5: CIFAR10_MD5 }); // null when it matches
 * ```
 */
export async function checksumMismatch(path: string, sums: Checksums): Promise<string | null> {
  const algos = (["sha256", "md5"] as const).filter((a) => sums[a]);
  if (algos.length === 0) return null;
  const got = await hashFile(path, [...algos]);
  for (const a of algos) {
    if (got[a] !== sums[a]!.toLowerCase()) return `${a} is ${got[a]}, expected ${sums[a]}`;
  }
  return null;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

/**
 * Downloads `url` to `dest` (via `<dest>.part`, resuming it when present), verifies the checksums and
 * renames into place. Throws {@link DownloadError} (part kept) or {@link ChecksumError} (part deleted).
 *
 * @example
 * ```ts
 * const path = await downloadFile({ url: CIFAR10_URL, dest: "data/cifar-10-binary.tar.gz", md5: CIFAR10_MD5 });
 * ```
 */
export async function downloadFile(opts: DownloadOptions): Promise<string> {
  const part = `${opts.dest}.part`;
  let have = await fileSize(part);
  const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
  let res: Response;
  try {
    res = await fetch(opts.url, { headers, signal: opts.signal });
  } catch (e) {
    throw new DownloadError(
      `Cannot download ${opts.url}: ${(e as Error).message}. Check the network and retry.`,
    );
  }
  let complete = false;
  if (res.status === 416 && have > 0) {
    // The server has nothing past what we hold: the part is already whole. The checksum decides.
    await res.body?.cancel();
    complete = true;
  } else if (res.status === 206 && have > 0) {
    const cr = res.headers.get("content-range") ?? "";
    if (!cr.startsWith(`bytes ${have}-`)) {
      await res.body?.cancel();
      throw new DownloadError(`Server answered range ${have}- with '${cr}'; delete ${part} and retry.`);
    }
  } else if (res.status === 200) {
    have = 0;
  } else {
    await res.body?.cancel();
    throw new DownloadError(`Cannot download ${opts.url}: HTTP ${res.status} ${res.statusText}.`);
  }
  if (!complete) {
    const len = res.headers.get("content-length");
    const expected = len === null ? null : Number(len);
    const total = expected === null ? null : have + expected;
    const file = await Deno.open(part, { write: true, create: true, append: have > 0, truncate: have === 0 });
    let got = 0;
    try {
      // Each chunk is on disk before the next is read, so an interruption keeps everything received.
      for await (const chunk of res.body!) {
        for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
        got += chunk.length;
        opts.onProgress?.(have + got, total);
      }
    } catch (e) {
      throw new DownloadError(
        `Download of ${opts.url} interrupted after ${have + got} bytes (${(e as Error).message}); ` +
          `run it again to resume from ${part}.`,
      );
    } finally {
      file.close();
    }
    if (expected !== null && got !== expected) {
      throw new DownloadError(
        `Download of ${opts.url} incomplete: got ${got} of ${expected} bytes; run it again to resume from ${part}.`,
      );
    }
  }
  const bad = await checksumMismatch(part, opts);
  if (bad) {
    await Deno.remove(part).catch(() => {});
    throw new ChecksumError(
      `Checksum mismatch for ${opts.url}: ${bad}. The file was deleted; the download is corrupt or the URL ` +
        `serves a different file.`,
    );
  }
  await Deno.rename(part, opts.dest);
  return opts.dest;
}
