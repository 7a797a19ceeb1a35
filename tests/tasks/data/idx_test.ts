import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { DatasetFormatError } from "../../../tasks/data/dataset.ts";
import { encodeIdx, gunzip, gzip, parseIdx, readIdxFile } from "../../../tasks/data/idx.ts";

function imageFile(n: number, h: number, w: number): Uint8Array {
  const data = new Uint8Array(n * h * w);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
  return encodeIdx({ dtype: "uint8", dims: [n, h, w], data });
}

Deno.test("idx: parses a 3-dim ubyte image file with its 16-byte header", () => {
  const bytes = imageFile(3, 4, 5);
  assertEquals(bytes.length, 16 + 60);
  assertEquals(Array.from(bytes.subarray(0, 8)), [0, 0, 8, 3, 0, 0, 0, 3]);
  const arr = parseIdx(bytes);
  assertEquals(arr.dtype, "uint8");
  assertEquals(arr.dims, [3, 4, 5]);
  assertEquals(arr.data.length, 60);
  assertEquals(arr.data[59], (59 * 7) % 256);
});

Deno.test("idx: label file (8-byte header), limit, and big-endian multi-byte types", () => {
  const labels = encodeIdx({ dtype: "uint8", dims: [4], data: Uint8Array.from([3, 1, 4, 1]) });
  assertEquals(labels.length, 8 + 4);
  const lim = parseIdx(labels, { limit: 2 });
  assertEquals(lim.dims, [2]);
  assertEquals(Array.from(lim.data), [3, 1]);
  const ints = encodeIdx({ dtype: "int32", dims: [2, 2], data: Int32Array.from([1, -2, 70000, 258]) });
  assertEquals(Array.from(ints.subarray(ints.length - 4)), [0, 0, 1, 2]); // 258 big-endian
  assertEquals(Array.from(parseIdx(ints).data), [1, -2, 70000, 258]);
  const f = parseIdx(encodeIdx({ dtype: "float32", dims: [3], data: Float32Array.from([0.5, -1.25, 3]) }));
  assertEquals(Array.from(f.data), [0.5, -1.25, 3]);
  const s = parseIdx(encodeIdx({ dtype: "int16", dims: [2], data: Int16Array.from([-300, 5]) }));
  assertEquals(Array.from(s.data), [-300, 5]);
  const d = parseIdx(encodeIdx({ dtype: "float64", dims: [1], data: Float64Array.from([Math.PI]) }));
  assertEquals(d.data[0], Math.PI);
});

Deno.test("idx: bad magic, unknown dtype, truncated header and data are errors", () => {
  const good = imageFile(2, 2, 2);
  const badMagic = good.slice();
  badMagic[0] = 1;
  assertThrows(() => parseIdx(badMagic, { source: "x.idx" }), DatasetFormatError, "bad IDX magic");
  const badType = good.slice();
  badType[2] = 0x42;
  assertThrows(() => parseIdx(badType), DatasetFormatError, "unknown IDX dtype");
  assertThrows(() => parseIdx(good.subarray(0, 10)), DatasetFormatError, "truncated IDX header");
  assertThrows(() => parseIdx(good.subarray(0, good.length - 1)), DatasetFormatError, "truncated IDX file");
  assertThrows(() => parseIdx(new Uint8Array([0, 0])), DatasetFormatError, "truncated");
});

Deno.test("idx: gzip round trip and .gz files; corrupt gzip is an error", async () => {
  const raw = imageFile(5, 3, 3);
  const gz = await gzip(raw);
  assertEquals(gz[0], 0x1f);
  assertEquals(await gunzip(gz), raw);
  assertThrows(() => parseIdx(gz), DatasetFormatError, "gzipped");
  const dir = await Deno.makeTempDir({ prefix: "lopt-idx-" });
  try {
    await Deno.writeFile(`${dir}/a-idx3-ubyte.gz`, gz);
    const arr = await readIdxFile(`${dir}/a-idx3-ubyte.gz`, { limit: 2 });
    assertEquals(arr.dims, [2, 3, 3]);
    assertEquals(Array.from(arr.data), Array.from(raw.subarray(16, 16 + 18)));
    await Deno.writeFile(`${dir}/bad.gz`, gz.subarray(0, gz.length - 12));
    await assertRejects(() => readIdxFile(`${dir}/bad.gz`), DatasetFormatError);
    assert(true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
