/**
 * CIFAR-10 in its binary format (`cifar-10-batches-bin/`): `data_batch_1.bin` .. `data_batch_5.bin` (train)
 * and `test_batch.bin`, each a sequence of 3073-byte records (1 label byte, then 1024 red, 1024 green,
 * 1024 blue bytes of a 32x32 image, row-major), plus `batches.meta.txt` with the class names (used when it names all 10 classes).
 *
 * The loader checks what the CIFAR page (https://www.cs.toronto.edu/~kriz/cifar.html) states about the
 * official files: the six batch file names, each file exactly 10,000 records (30,730,000 bytes), every label in
 * 0–9, exactly 1,000 test images per class and, over the five training batches, exactly 5,000 per class. No
 * per-file checksums of the binary version are published (only the archive's MD5, which the download
 * verifies), so a file with the right size and labels but other pixels cannot be told apart. `official:
 * false` relaxes the size and class-count checks for subsets in the same format.
 *
 * Also {@link downloadCifar10}: a resumable, checksum-verified download of the official archive that puts
 * the folder in place atomically. The default URL is never contacted by the tests.
 *
 * @module
 */
import {
  DatasetFormatError,
  DatasetUnavailableError,
  defaultDataDir,
  type ImageDataset,
  isDir,
  isFile,
  type Split,
} from "./dataset.ts";
import { checksumMismatch, type Checksums, downloadFile } from "./download.ts";
import { createTarDecoder } from "modern-tar";

/** The official CIFAR-10 binary archive. */
export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/** MD5 of {@link CIFAR10_URL}, as published on the CIFAR page. */
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
/** Folder name inside the archive and under the data directory. */
export const CIFAR10_FOLDER = "cifar-10-batches-bin";
/** The default class names (used when `batches.meta.txt` is absent). */
export const CIFAR10_CLASS_NAMES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];
/** Bytes per record: label + 32*32*3 pixels. */
export const CIFAR10_RECORD_BYTES: number = 1 + 3072;
/** Records in each official batch file. */
export const CIFAR10_RECORDS_PER_FILE = 10_000;
/** Size of each official batch file (10,000 records). */
export const CIFAR10_FILE_BYTES: number = CIFAR10_RECORDS_PER_FILE * CIFAR10_RECORD_BYTES;
/** Images per class in the official training batches together, and in the test batch. */
export const CIFAR10_PER_CLASS: Readonly<Record<Split, number>> = { train: 5000, test: 1000 };

const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILES = ["test_batch.bin"];
const ALL_FILES = [...TRAIN_FILES, ...TEST_FILES];

/** Options of {@link loadCifar10}. */
export interface Cifar10Options {
  /** Which split (default `train`). */
  split?: Split;
  /** Keep only the first `limit` examples. */
  limit?: number;
  /** The `cifar-10-batches-bin` folder (or its parent); overrides env `LOPT_CIFAR10_DIR` and the default. */
  dir?: string;
  /**
   * Require the official files (default true): each batch exactly 10,000 records and the published class
   * counts. `false` accepts any whole number of records (a subset in the same format).
   */
  official?: boolean;
}

/**
 * The folder the loader reads: `dir`, env `LOPT_CIFAR10_DIR`, or `<dataDir>/cifar-10-batches-bin`.
 *
 * @example
 * ```ts
 * cifar10Dir(); // $LOPT_CIFAR10_DIR, else "<dataDir>/cifar-10-batches-bin"
 * cifar10Dir("/data/cifar-10-batches-bin"); // "/data/cifar-10-batches-bin"
 * ```
 */
export function cifar10Dir(dir?: string): string {
  return dir ?? Deno.env.get("LOPT_CIFAR10_DIR") ?? `${defaultDataDir()}/${CIFAR10_FOLDER}`;
}

function unavailable(dir: string, missing: string[]): DatasetUnavailableError {
  return new DatasetUnavailableError(
    "cifar10",
    `CIFAR-10 not found in ${dir} (missing: ${missing.join(", ")}). To provide it: run ` +
      `\`deno task data download cifar10\` (downloads ${CIFAR10_URL}, 163 MB, into ` +
      `${defaultDataDir()}/${CIFAR10_FOLDER}; set LOPT_DATA_DIR to change the data directory), or download and ` +
      `extract that archive yourself and set LOPT_CIFAR10_DIR (or the dataset's \`dir\`) to the extracted ` +
      `${CIFAR10_FOLDER} folder (it must hold ${ALL_FILES.join(", ")}).`,
    [dir],
  );
}

/**
 * The CIFAR-10 folder that is provided on this machine, for the cache key of the stages that read CIFAR-10:
 * env `LOPT_CIFAR10_DIR` when set, else `<dataDir>/cifar-10-batches-bin` when that folder exists, else "".
 * Stages use it as the default of their folder param, so setting the variable, or downloading the data,
 * changes their key and reruns them.
 *
 * @example
 * ```ts
 * const folder = cifar10DirIfProvided(); // "" when CIFAR-10 is not on this machine
 * ```
 */
export function cifar10DirIfProvided(): string {
  try {
    const env = Deno.env.get("LOPT_CIFAR10_DIR");
    if (env) return env;
    const dir = `${defaultDataDir()}/${CIFAR10_FOLDER}`;
    return Deno.statSync(dir).isDirectory ? dir : "";
  } catch {
    return ""; // no permission to read the environment or the folder, or the folder is absent
  }
}

/** Resolves `dir` to the folder with the batch files (accepting the parent of `cifar-10-batches-bin`). */
async function resolveFolder(dir: string): Promise<string> {
  if (!(await isFile(`${dir}/${ALL_FILES[0]}`)) && (await isDir(`${dir}/${CIFAR10_FOLDER}`))) {
    return `${dir}/${CIFAR10_FOLDER}`;
  }
  return dir;
}

/**
 * Files of `folder` (among the CIFAR-10 batch files) that are missing.
 *
 * @example
 * ```ts
 * const missing = await missingCifar10Files(cifar10Dir()); // e.g. ["test_batch.bin"]
 * ```
 */
export async function missingCifar10Files(folder: string, files: string[] = ALL_FILES): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) if (!(await isFile(`${folder}/${f}`))) out.push(f);
  return out;
}

/**
 * Reads class names from `batches.meta.txt` (one per non-empty line), or null when absent.
 *
 * @example
 * ```ts
 * const names = (await readCifar10ClassNames(folder)) ?? CIFAR10_CLASS_NAMES;
 * ```
 */
export async function readCifar10ClassNames(folder: string): Promise<string[] | null> {
  const p = `${folder}/batches.meta.txt`;
  if (!(await isFile(p))) return null;
  const names = (await Deno.readTextFile(p)).split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length > 0 ? names : null;
}

/**
 * Decodes CIFAR-10 binary records (label byte + CHW bytes) into NHWC floats in [0, 1] and labels. Writes
 * into `images`/`labels` at example offset `at`; decodes at most `max` records.
 *
 * @example
 * ```ts
 * const images = new Float32Array(CIFAR10_RECORDS_PER_FILE * 3072), labels = new Int32Array(CIFAR10_RECORDS_PER_FILE);
 * const n = decodeCifarRecords(await Deno.readFile(path), images, labels, 0, CIFAR10_RECORDS_PER_FILE, path);
 * ```
 */
export function decodeCifarRecords(
  bytes: Uint8Array,
  images: Float32Array,
  labels: Int32Array,
  at: number,
  max: number,
  source = "CIFAR-10 batch",
  numClasses = 10,
): number {
  if (bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new DatasetFormatError(
      `${source}: size ${bytes.length} is not a multiple of ${CIFAR10_RECORD_BYTES} bytes (truncated or not ` +
        `the CIFAR-10 binary version).`,
    );
  }
  const n = Math.min(max, bytes.length / CIFAR10_RECORD_BYTES);
  const s = 1 / 255;
  for (let r = 0; r < n; r++) {
    const off = r * CIFAR10_RECORD_BYTES;
    const label = bytes[off];
    if (label >= numClasses) throw new DatasetFormatError(`${source}: record ${r} has label ${label}.`);
    labels[at + r] = label;
    const base = (at + r) * 3072;
    for (let p = 0; p < 1024; p++) {
      images[base + 3 * p] = bytes[off + 1 + p] * s;
      images[base + 3 * p + 1] = bytes[off + 1 + 1024 + p] * s;
      images[base + 3 * p + 2] = bytes[off + 1 + 2048 + p] * s;
    }
  }
  return n;
}

/**
 * Checks the size of batch file `path`: not empty, a whole number of records and, when `official`, exactly
 * 10,000 records. Throws a {@link DatasetFormatError} saying what is wrong with which file and what to do.
 *
 * @example
 * ```ts
 * checkCifar10FileSize(path, (await Deno.stat(path)).size); // throws unless 30,730,000 bytes
 * checkCifar10FileSize(path, 3 * CIFAR10_RECORD_BYTES, false); // a 3-record subset passes
 * ```
 */
export function checkCifar10FileSize(path: string, size: number, official = true): void {
  const fix = "re-extract cifar-10-binary.tar.gz, or run `deno task data download cifar10`";
  if (size === 0) {
    throw new DatasetFormatError(
      `${path} is empty (0 bytes); a CIFAR-10 binary batch file holds ${CIFAR10_RECORDS_PER_FILE} records of ` +
        `${CIFAR10_RECORD_BYTES} bytes (${CIFAR10_FILE_BYTES} bytes): ${fix}.`,
    );
  }
  if (size % CIFAR10_RECORD_BYTES !== 0) {
    throw new DatasetFormatError(
      `${path}: size ${size} is not a multiple of ${CIFAR10_RECORD_BYTES} bytes (truncated or not the CIFAR-10 ` +
        `binary version): ${fix}.`,
    );
  }
  if (official && size !== CIFAR10_FILE_BYTES) {
    throw new DatasetFormatError(
      `${path} has ${
        size / CIFAR10_RECORD_BYTES
      } records (${size} bytes); each official CIFAR-10 batch file ` +
        `has exactly ${CIFAR10_RECORDS_PER_FILE} (${CIFAR10_FILE_BYTES} bytes): ${fix}.`,
    );
  }
}

/** Adds the labels of every record of `bytes` to `counts`, checking each is below `numClasses`. */
function countLabels(bytes: Uint8Array, counts: number[], source: string, numClasses = 10): void {
  for (let off = 0, r = 0; off < bytes.length; off += CIFAR10_RECORD_BYTES, r++) {
    const label = bytes[off];
    if (label >= numClasses) {
      throw new DatasetFormatError(
        `${source}: record ${r} has label ${label}; CIFAR-10 labels are 0–${
          numClasses - 1
        } (the file is damaged ` +
          "or not the CIFAR-10 binary version).",
      );
    }
    counts[label]++;
  }
}

/** Python-version file names (no `.bin`) in `folder`, to tell the user which archive they extracted. */
async function looksLikePythonVersion(folder: string): Promise<boolean> {
  return await isFile(`${folder}/data_batch_1`) || await isFile(`${folder}/test_batch`);
}

/**
 * Loads a CIFAR-10 split (32x32x3, 10 classes; 50,000 train / 10,000 test) from the binary batch files,
 * checking the file names, sizes, labels and class counts (see the module doc). Throws
 * {@link DatasetUnavailableError} naming the ways to provide it when files are missing, and
 * {@link DatasetFormatError} naming the file when one is damaged or not the official one.
 *
 * @example
 * ```ts
 * const test = await loadCifar10({ split: "test", limit: 1000 });
 * console.log(test.n, test.classNames?.[0]); // 1000 "airplane"
 * ```
 */
export async function loadCifar10(opts: Cifar10Options = {}): Promise<ImageDataset> {
  const split = opts.split ?? "train";
  const official = opts.official ?? true;
  const folder = await resolveFolder(cifar10Dir(opts.dir));
  const files = split === "train" ? TRAIN_FILES : TEST_FILES;
  const missing = await missingCifar10Files(folder, files);
  if (missing.length > 0) {
    if (await looksLikePythonVersion(folder)) {
      throw new DatasetFormatError(
        `${folder} holds the Python version of CIFAR-10 (data_batch_1, … without .bin); lopt reads the binary ` +
          `version (${CIFAR10_URL}, folder ${CIFAR10_FOLDER}): run \`deno task data download cifar10\`.`,
      );
    }
    throw unavailable(folder, missing);
  }
  const sizes = await Promise.all(files.map(async (f) => (await Deno.stat(`${folder}/${f}`)).size));
  files.forEach((f, i) => checkCifar10FileSize(`${folder}/${f}`, sizes[i], official));
  const available = sizes.reduce((a, s) => a + Math.floor(s / CIFAR10_RECORD_BYTES), 0);
  const n = Math.min(available, opts.limit ?? available);
  const images = new Float32Array(n * 3072);
  const labels = new Int32Array(n);
  const counts = new Array<number>(10).fill(0);
  let at = 0;
  for (const f of files) {
    // Every file is read (labels and class counts are checked over the whole split), decoded up to `n`.
    const bytes = await Deno.readFile(`${folder}/${f}`);
    countLabels(bytes, counts, `${folder}/${f}`);
    if (at < n) at += decodeCifarRecords(bytes, images, labels, at, n - at, `${folder}/${f}`);
  }
  if (official && counts.some((c) => c !== CIFAR10_PER_CLASS[split])) {
    throw new DatasetFormatError(
      `${folder}: the ${split} batches hold ${
        counts.join(", ")
      } images of classes 0–9; the official CIFAR-10 ` +
        `${split} split has exactly ${
          CIFAR10_PER_CLASS[split]
        } per class (the files are damaged or not the ` +
        "official ones): re-extract cifar-10-binary.tar.gz, or run `deno task data download cifar10`.",
    );
  }
  const meta = await readCifar10ClassNames(folder);
  const classNames = meta && meta.length >= 10 ? meta : CIFAR10_CLASS_NAMES;
  return {
    name: "cifar10",
    standIn: false,
    split,
    images,
    labels,
    n,
    height: 32,
    width: 32,
    channels: 3,
    numClasses: 10,
    classNames: classNames.slice(0, 10),
  };
}

/** Options of {@link downloadCifar10}. */
export interface DownloadCifar10Options extends Checksums {
  /** Archive URL (default {@link CIFAR10_URL}; then the MD5 defaults to {@link CIFAR10_MD5}). */
  url?: string;
  /** Data directory that receives `cifar-10-batches-bin/` (default: env `LOPT_DATA_DIR` or `<repo>/data`). */
  dest?: string;
  /** Keep the verified `.tar.gz` next to the folder (default false). */
  keepArchive?: boolean;
  /** Progress callback (bytes so far, total or null). */
  onProgress?: (received: number, total: number | null) => void;
  /** Aborts the transfer (the partial download stays for resume). */
  signal?: AbortSignal;
}

function safeMember(name: string): string | null {
  const parts = name.replace(/^\.\//, "").split("/").filter((p) => p !== "" && p !== ".");
  if (name.startsWith("/") || parts.includes("..")) {
    throw new DatasetFormatError(`Refusing unsafe path in archive: ${name}`);
  }
  if (parts.length !== 2 || parts[0] !== CIFAR10_FOLDER) return null;
  return parts[1];
}

/**
 * Downloads the CIFAR-10 binary archive, verifies its checksum, extracts `cifar-10-batches-bin/` into a
 * staging folder and renames it to `<dest>/cifar-10-batches-bin` (atomic: the folder appears complete or
 * not at all). Returns the folder. Does nothing when a complete folder is already there. An interrupted
 * transfer leaves `<dest>/cifar-10-binary.tar.gz.part`, resumed by the next call (HTTP Range); a checksum
 * mismatch deletes it and throws.
 *
 * @example
 * ```ts
 * const folder = await downloadCifar10({ onProgress: (got, total) => console.error(got, total) });
 * const train = await loadCifar10({ dir: folder });
 * ```
 */
export async function downloadCifar10(opts: DownloadCifar10Options = {}): Promise<string> {
  const url = opts.url ?? CIFAR10_URL;
  const sums: Checksums = { sha256: opts.sha256, md5: opts.md5 };
  if (!sums.sha256 && !sums.md5 && url === CIFAR10_URL) sums.md5 = CIFAR10_MD5;
  const dest = opts.dest ?? defaultDataDir();
  const folder = `${dest}/${CIFAR10_FOLDER}`;
  if (await isDir(folder)) {
    const missing = await missingCifar10Files(folder);
    if (missing.length === 0) return folder;
    throw new DatasetFormatError(
      `${folder} exists but lacks ${missing.join(", ")}; it was not made by this downloader. Remove it and ` +
        `run the download again.`,
    );
  }
  await Deno.mkdir(dest, { recursive: true });
  const archive = `${dest}/cifar-10-binary.tar.gz`;
  if (await isFile(archive)) {
    // A verified archive from an earlier run whose extraction did not finish; re-check and reuse it.
    if (await checksumMismatch(archive, sums)) await Deno.remove(archive);
  }
  if (!(await isFile(archive))) {
    await downloadFile({ url, dest: archive, ...sums, onProgress: opts.onProgress, signal: opts.signal });
  }
  const staging = await Deno.makeTempDir({ dir: dest, prefix: `.${CIFAR10_FOLDER}.staging-` });
  try {
    const file = await Deno.open(archive, { read: true });
    const stream: ReadableStream<Uint8Array> = file.readable.pipeThrough(new DecompressionStream("gzip"));
    try {
      // Entry by entry: each body streams to its file, so the archive is never held in memory whole.
      for await (const { header, body } of stream.pipeThrough(createTarDecoder({ strict: true }))) {
        const base = safeMember(header.name);
        if (header.type !== "file" || base === null) {
          await body.cancel();
          continue;
        }
        const out = await Deno.open(`${staging}/${base}`, { write: true, create: true, truncate: true });
        await body.pipeTo(out.writable);
      }
    } catch (e) {
      if (e instanceof DatasetFormatError) throw e;
      throw new DatasetFormatError(`${archive}: cannot extract (${(e as Error).message}).`);
    }
    const missing = await missingCifar10Files(staging);
    if (missing.length > 0) {
      throw new DatasetFormatError(
        `${url} is not the CIFAR-10 binary archive: it lacks ${missing.join(", ")}.`,
      );
    }
    for (const f of ALL_FILES) {
      try {
        checkCifar10FileSize(f, (await Deno.stat(`${staging}/${f}`)).size, url === CIFAR10_URL);
      } catch (e) {
        throw new DatasetFormatError(`${url}: ${(e as Error).message}`);
      }
    }
    await Deno.rename(staging, folder);
  } catch (e) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    if (e instanceof DatasetFormatError) {
      await Deno.remove(archive).catch(() => {}); // verified but unusable: do not reuse it
    }
    throw e;
  }
  if (!opts.keepArchive) await Deno.remove(archive).catch(() => {});
  return folder;
}
