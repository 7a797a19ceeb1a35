/**
 * A parser for the IDX file format of MNIST and Fashion-MNIST (plain or gzipped).
 *
 * Layout: 2 zero bytes, a dtype byte (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32,
 * 0x0E float64), the number of dimensions, then each dimension as a big-endian uint32, then the data in
 * big-endian row-major order. An image file (3 dims) therefore has a 16-byte header, a label file (1 dim)
 * an 8-byte header.
 *
 * @module
 */
import { DatasetFormatError } from "./dataset.ts";

/** IDX element types by their dtype byte. */
export const IDX_DTYPES = {
  0x08: "uint8",
  0x09: "int8",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
} as const;

/** Name of an IDX element type. */
export type IdxDtype = typeof IDX_DTYPES[keyof typeof IDX_DTYPES];

/** Typed array holding IDX data of one of the {@link IdxDtype}s. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX tensor. */
export interface IdxArray {
  /** Element type. */
  dtype: IdxDtype;
  /** Dimensions, as stored (the first one possibly reduced by `limit`). */
  dims: number[];
  /** Elements in row-major order, in native byte order. */
  data: IdxData;
}

const BYTES: Record<IdxDtype, number> = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 };

/** Options of {@link parseIdx}. */
export interface ParseIdxOptions {
  /** Keep only the first `limit` items along the first dimension. */
  limit?: number;
  /** Name of the source (a path) used in error messages. */
  source?: string;
}

/**
 * Parses an IDX buffer. Throws {@link DatasetFormatError} on a bad magic number or a truncated file.
 *
 * @example
 * ```ts
 * const arr = parseIdx(await Deno.readFile(path), { limit: 100, source: path });
 * console.log(arr.dtype, arr.dims); // "uint8" [100, 28, 28]
 * ```
 */
export function parseIdx(bytes: Uint8Array, opts: ParseIdxOptions = {}): IdxArray {
  const src = opts.source ?? "IDX data";
  if (bytes.length < 4) throw new DatasetFormatError(`${src}: truncated IDX file (${bytes.length} bytes).`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hint = bytes[0] === 0x1f && bytes[1] === 0x8b
      ? " It looks gzipped: name it *.gz or gunzip it."
      : "";
    throw new DatasetFormatError(
      `${src}: bad IDX magic number 0x${hex(bytes, 0, 4)} (expected 0x0000 then dtype and rank).${hint}`,
    );
  }
  const dtype = IDX_DTYPES[bytes[2] as keyof typeof IDX_DTYPES];
  if (dtype === undefined) {
    throw new DatasetFormatError(
      `${src}: unknown IDX dtype byte 0x${bytes[2].toString(16).padStart(2, "0")}.`,
    );
  }
  const rank = bytes[3];
  const headerLen = 4 + 4 * rank;
  if (bytes.length < headerLen) {
    throw new DatasetFormatError(`${src}: truncated IDX header (${bytes.length} of ${headerLen} bytes).`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const itemElems = dims.slice(1).reduce((a, b) => a * b, 1);
  const total = rank === 0 ? 1 : dims[0] * itemElems;
  const width = BYTES[dtype];
  const need = headerLen + total * width;
  if (bytes.length < need) {
    throw new DatasetFormatError(
      `${src}: truncated IDX file: header says ${dims.join("x")} ${dtype} (${need} bytes), file has ` +
        `${bytes.length} bytes.`,
    );
  }
  if (rank > 0 && opts.limit !== undefined && opts.limit < dims[0]) dims[0] = Math.max(0, opts.limit);
  const count = rank === 0 ? 1 : dims[0] * itemElems;
  const data = readElements(view, headerLen, count, dtype);
  return { dtype, dims, data };
}

function readElements(view: DataView, off: number, count: number, dtype: IdxDtype): IdxData {
  switch (dtype) {
    case "uint8":
      return new Uint8Array(view.buffer, view.byteOffset + off, count).slice();
    case "int8":
      return new Int8Array(view.buffer, view.byteOffset + off, count).slice();
    case "int16": {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(off + 2 * i, false);
      return out;
    }
    case "int32": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(off + 4 * i, false);
      return out;
    }
    case "float32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(off + 4 * i, false);
      return out;
    }
    case "float64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(off + 8 * i, false);
      return out;
    }
  }
}

/**
 * Encodes an IDX buffer (the inverse of {@link parseIdx}); used to write test fixtures.
 *
 * @example
 * ```ts
 * const bytes = encodeIdx({ dtype: "uint8", dims: [2], data: Uint8Array.of(3, 7) }); // 8-byte header + 2 bytes
 * ```
 */
export function encodeIdx(arr: IdxArray): Uint8Array {
  const code = Number(Object.entries(IDX_DTYPES).find(([, v]) => v === arr.dtype)![0]);
  const headerLen = 4 + 4 * arr.dims.length;
  const width = BYTES[arr.dtype];
  const out = new Uint8Array(headerLen + arr.data.length * width);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = arr.dims.length;
  arr.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < arr.data.length; i++) {
    const o = headerLen + i * width;
    const v = arr.data[i];
    switch (arr.dtype) {
      case "uint8":
        view.setUint8(o, v);
        break;
      case "int8":
        view.setInt8(o, v);
        break;
      case "int16":
        view.setInt16(o, v, false);
        break;
      case "int32":
        view.setInt32(o, v, false);
        break;
      case "float32":
        view.setFloat32(o, v, false);
        break;
      case "float64":
        view.setFloat64(o, v, false);
        break;
    }
  }
  return out;
}

/**
 * True when the bytes start with the gzip magic number 1f 8b.
 *
 * @example
 * ```ts
 * isGzip(await Deno.readFile("data/fashion-mnist/t10k-labels-idx1-ubyte.gz")); // true
 * ```
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Gunzips a buffer with the platform's `DecompressionStream("gzip")`. Throws {@link DatasetFormatError} on bad data.
 *
 * @example
 * ```ts
 * const raw = await gunzip(await Deno.readFile(path), path);
 * ```
 */
export async function gunzip(bytes: Uint8Array, source = "gzip data"): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DatasetFormatError(
      `${source}: cannot gunzip (${(e as Error).message}); the file is corrupt or truncated.`,
    );
  }
}

/**
 * Gzips a buffer with `CompressionStream("gzip")` (used to write test fixtures).
 *
 * @example
 * ```ts
 * const labels = encodeIdx({ dtype: "uint8", dims: [3], data: Uint8Array.of(0, 1, 2) });
 * await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte.gz`, await gzip(labels));
 * ```
 */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Reads and parses an IDX file; a file whose name ends in `.gz` (or which starts with the gzip magic) is
 * gunzipped first.
 *
 * @example
 * ```ts
 * const labels = await readIdxFile(`${dir}/t10k-labels-idx1-ubyte.gz`, { limit: 10 });
 * console.log(labels.dims); // [10]
 * ```
 */
export async function readIdxFile(
  path: string,
  opts: Omit<ParseIdxOptions, "source"> = {},
): Promise<IdxArray> {
  let bytes: Uint8Array = await Deno.readFile(path);
  if (path.endsWith(".gz") || isGzip(bytes)) bytes = await gunzip(bytes, path);
  return parseIdx(bytes, { ...opts, source: path });
}

function hex(b: Uint8Array, from: number, to: number): string {
  return Array.from(b.subarray(from, to), (x) => x.toString(16).padStart(2, "0")).join("");
}
