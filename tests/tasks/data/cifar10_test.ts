import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  CIFAR10_CLASS_NAMES,
  CIFAR10_FILE_BYTES,
  CIFAR10_RECORD_BYTES,
  downloadCifar10,
  loadCifar10,
} from "../../../tasks/data/cifar10.ts";
import { DatasetFormatError, DatasetUnavailableError } from "../../../tasks/data/dataset.ts";
import { ChecksumError, DownloadError } from "../../../tasks/data/download.ts";
import { gzip } from "../../../tasks/data/idx.ts";
import { packTar } from "modern-tar";
import { createHash } from "node:crypto";

/** A batch file of `n` records; record r of batch b has label (b*7+r)%10 and pixel bytes derived from (b, r). */
function batchBytes(b: number, n: number): Uint8Array {
  const out = new Uint8Array(n * CIFAR10_RECORD_BYTES);
  for (let r = 0; r < n; r++) {
    const o = r * CIFAR10_RECORD_BYTES;
    out[o] = (b * 7 + r) % 10;
    for (let p = 0; p < 1024; p++) {
      out[o + 1 + p] = (p + r) % 256; // red
      out[o + 1 + 1024 + p] = (b * 40 + r) % 256; // green: constant per image
      out[o + 1 + 2048 + p] = 255 - (p % 256); // blue
    }
  }
  return out;
}

const FILES: [string, number, number][] = [
  ["data_batch_1.bin", 1, 3],
  ["data_batch_2.bin", 2, 2],
  ["data_batch_3.bin", 3, 3],
  ["data_batch_4.bin", 4, 1],
  ["data_batch_5.bin", 5, 2],
  ["test_batch.bin", 0, 4],
];

async function writeFolder(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [f, b, n] of FILES) await Deno.writeFile(`${dir}/${f}`, batchBytes(b, n));
  await Deno.writeTextFile(
    `${dir}/batches.meta.txt`,
    CIFAR10_CLASS_NAMES.map((c) => c.toUpperCase()).join("\n") + "\n\n",
  );
}

/** An uncompressed tar of `entries` (a directory where `data` is omitted). */
function tarOf(entries: { name: string; data?: Uint8Array }[]): Promise<Uint8Array> {
  return packTar(
    entries.map(({ name, data }) =>
      data === undefined
        ? { header: { name, type: "directory" as const, size: 0 } }
        : { header: { name, type: "file" as const, size: data.length }, body: data }
    ),
  );
}

async function archive(): Promise<Uint8Array> {
  const entries = [
    { name: "cifar-10-batches-bin/" },
    ...FILES.map(([f, b, n]) => ({
      name: `cifar-10-batches-bin/${f}`,
      data: batchBytes(b, n),
    })),
    { name: "cifar-10-batches-bin/batches.meta.txt", data: new TextEncoder().encode("airplane\n") },
    {
      name: "cifar-10-batches-bin/readme.html",
      data: new TextEncoder().encode("<html></html>"),
    },
  ];
  return await gzip(await tarOf(entries));
}

Deno.test("cifar10: loads generated batch files (CHW -> HWC, labels, class names, limit)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-cifar-" });
  try {
    await writeFolder(`${dir}/cifar-10-batches-bin`);
    const train = await loadCifar10({ dir: `${dir}/cifar-10-batches-bin`, official: false });
    assertEquals([train.n, train.height, train.width, train.channels, train.numClasses], [11, 32, 32, 3, 10]);
    assertEquals(train.images.length, 11 * 3072);
    assertEquals(Array.from(train.labels), [7, 8, 9, 4, 5, 1, 2, 3, 8, 5, 6]);
    assertEquals(train.classNames, CIFAR10_CLASS_NAMES.map((c) => c.toUpperCase()));
    // Example 4 = batch 2 record 1: pixel p=(row 1, col 3) -> index 35.
    const px = 4 * 3072 + 35 * 3;
    assert(Math.abs(train.images[px] - 36 / 255) < 1e-6);
    assert(Math.abs(train.images[px + 1] - 81 / 255) < 1e-6);
    assert(Math.abs(train.images[px + 2] - 220 / 255) < 1e-6);
    // The parent folder works too; limit stops early.
    const test = await loadCifar10({ dir, split: "test", limit: 3, official: false });
    assertEquals([test.n, test.split, Array.from(test.labels)], [3, "test", [0, 1, 2]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cifar10: missing files and a truncated batch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-cifar-" });
  const old = Deno.env.get("LOPT_CIFAR10_DIR");
  try {
    Deno.env.set("LOPT_CIFAR10_DIR", dir);
    const err = await assertRejects(() => loadCifar10(), DatasetUnavailableError, "LOPT_CIFAR10_DIR");
    assert(err.message.includes("download cifar10") && err.message.includes("data_batch_1.bin"));
    assert(err.message.includes(dir));
    await writeFolder(dir);
    await Deno.writeFile(`${dir}/test_batch.bin`, batchBytes(0, 2).subarray(0, 5000));
    await assertRejects(
      () => loadCifar10({ split: "test", official: false }),
      DatasetFormatError,
      "not a multiple of 3073",
    );
    assertEquals((await loadCifar10({ official: false })).n, 11);
  } finally {
    if (old === undefined) Deno.env.delete("LOPT_CIFAR10_DIR");
    else Deno.env.set("LOPT_CIFAR10_DIR", old);
    await Deno.remove(dir, { recursive: true });
  }
});

/** An official-size test batch (10,000 records, 1,000 per class; pixels derived from the record index). */
function officialTestBatch(): Uint8Array {
  const out = new Uint8Array(CIFAR10_FILE_BYTES);
  for (let r = 0; r < 10_000; r++) {
    const o = r * CIFAR10_RECORD_BYTES;
    out[o] = r % 10;
    out.fill(r % 251, o + 1, o + CIFAR10_RECORD_BYTES);
  }
  return out;
}

Deno.test("cifar10: an empty, wrong-size, mislabelled or miscounted batch file is refused naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-cifar-check-" });
  try {
    await writeFolder(dir);
    const test = `${dir}/test_batch.bin`;
    // Zero bytes: says what is wrong with which file (not "Example index 0 is out of range").
    await Deno.writeFile(test, new Uint8Array(0));
    for (const official of [true, false]) {
      const e = await assertRejects(() => loadCifar10({ dir, split: "test", official }), DatasetFormatError);
      assertEquals(e.message.split("\n").length, 1);
      assert(
        e.message.startsWith(`${test} is empty (0 bytes); a CIFAR-10 binary batch file holds 10000`),
        e.message,
      );
    }
    // A whole number of records, but not the official 10,000.
    await Deno.writeFile(test, batchBytes(0, 4));
    await assertRejects(
      () => loadCifar10({ dir, split: "test" }),
      DatasetFormatError,
      `${test} has 4 records (12292 bytes); each official CIFAR-10 batch file has exactly 10000`,
    );
    // The official size with the published class counts loads.
    const good = officialTestBatch();
    await Deno.writeFile(test, good);
    const ds = await loadCifar10({ dir, split: "test", limit: 20 });
    assertEquals([ds.n, ds.labels[13]], [20, 3]);
    // A label out of range anywhere in the file (beyond `limit` too).
    const badLabel = good.slice();
    badLabel[9000 * CIFAR10_RECORD_BYTES] = 10;
    await Deno.writeFile(test, badLabel);
    await assertRejects(
      () => loadCifar10({ dir, split: "test", limit: 20 }),
      DatasetFormatError,
      `${test}: record 9000 has label 10; CIFAR-10 labels are 0–9`,
    );
    // Valid labels, but not 1,000 per class.
    const skewed = good.slice();
    skewed[0] = 1;
    await Deno.writeFile(test, skewed);
    await assertRejects(
      () => loadCifar10({ dir, split: "test" }),
      DatasetFormatError,
      "the test batches hold 999, 1001, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000 images of classes 0–9",
    );
    // The Python version's folder is named as such.
    const py = await Deno.makeTempDir({ prefix: "lopt-cifar-py-" });
    await Deno.writeFile(`${py}/data_batch_1`, new Uint8Array(10));
    await assertRejects(
      () => loadCifar10({ dir: py }),
      DatasetFormatError,
      "holds the Python version of CIFAR-10",
    );
    await Deno.remove(py, { recursive: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Serves `body` at /cifar.tar.gz on 127.0.0.1 with Range support; records the Range headers seen. */
function serve(body: Uint8Array, opts: { breakFirstAfter?: number } = {}) {
  const ranges: (string | null)[] = [];
  let breakAfter = opts.breakFirstAfter;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      const range = req.headers.get("range");
      ranges.push(range);
      if (new URL(req.url).pathname !== "/cifar.tar.gz") return new Response("no", { status: 404 });
      const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
      if (m) {
        const start = Number(m[1]);
        if (start >= body.length) return new Response(null, { status: 416 });
        return new Response(body.slice(start), {
          status: 206,
          headers: { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` },
        });
      }
      if (breakAfter !== undefined) {
        // Announce the full length, send a prefix, then drop the connection.
        const cut = breakAfter;
        breakAfter = undefined;
        const stream = new ReadableStream<Uint8Array>({
          start(ctl) {
            ctl.enqueue(body.slice(0, cut));
          },
          async pull(ctl) {
            await new Promise((r) => setTimeout(r, 20));
            ctl.close(); // shorter than content-length: the connection ends early
          },
        });
        return new Response(stream, { headers: { "content-length": String(body.length) } });
      }
      return new Response(body.slice());
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/cifar.tar.gz`;
  return {
    url,
    ranges,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("cifar10: download from a local server, verify, extract, move into place; then resume", async () => {
  const body = await archive();
  const sha256 = createHash("sha256").update(body).digest("hex");
  const md5 = createHash("md5").update(body).digest("hex");
  const srv = serve(body);
  const dest = await Deno.makeTempDir({ prefix: "lopt-dl-" });
  try {
    const folder = await downloadCifar10({ url: srv.url, dest, sha256 });
    assertEquals(folder, `${dest}/cifar-10-batches-bin`);
    assertEquals(await listing(dest), ["cifar-10-batches-bin"]); // no archive, part or staging left
    const ds = await loadCifar10({ dir: folder, split: "test", official: false });
    assertEquals([ds.n, Array.from(ds.labels)], [4, [0, 1, 2, 3]]);
    assertEquals(ds.classNames, CIFAR10_CLASS_NAMES); // a meta file with fewer than 10 names is ignored
    // A second call finds the complete folder and does not contact the server.
    const before = srv.ranges.length;
    await downloadCifar10({ url: srv.url, dest, sha256 });
    assertEquals(srv.ranges.length, before);

    // Resume: a .part holding the first 1000 bytes is completed with a Range request (md5 checked).
    const dest2 = await Deno.makeTempDir({ prefix: "lopt-dl-" });
    try {
      await Deno.writeFile(`${dest2}/cifar-10-binary.tar.gz.part`, body.subarray(0, 1000));
      await downloadCifar10({ url: srv.url, dest: dest2, md5, keepArchive: true });
      assertEquals(srv.ranges.at(-1), "bytes=1000-");
      assertEquals(await Deno.readFile(`${dest2}/cifar-10-binary.tar.gz`), body);
      assertEquals(await listing(dest2), ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
    } finally {
      await Deno.remove(dest2, { recursive: true });
    }
  } finally {
    await srv.close();
    await Deno.remove(dest, { recursive: true });
  }
});

Deno.test("cifar10: an interrupted download leaves only the .part file; the next call resumes it", async () => {
  const body = await archive();
  const sha256 = createHash("sha256").update(body).digest("hex");
  const srv = serve(body, { breakFirstAfter: Math.floor(body.length / 2) });
  const dest = await Deno.makeTempDir({ prefix: "lopt-dl-" });
  try {
    await assertRejects(() => downloadCifar10({ url: srv.url, dest, sha256 }), DownloadError, "resume");
    assertEquals(await listing(dest), ["cifar-10-binary.tar.gz.part"]);
    await assertRejects(() => loadCifar10({ dir: dest }), DatasetUnavailableError);
    const part = (await Deno.stat(`${dest}/cifar-10-binary.tar.gz.part`)).size;
    assert(part > 0 && part < body.length, `part has ${part} bytes`);
    await downloadCifar10({ url: srv.url, dest, sha256 });
    assertEquals(srv.ranges.at(-1), `bytes=${part}-`);
    assertEquals(await listing(dest), ["cifar-10-batches-bin"]);
    assertEquals((await loadCifar10({ dir: dest, official: false })).n, 11);
  } finally {
    await srv.close();
    await Deno.remove(dest, { recursive: true });
  }
});

Deno.test("cifar10: checksum mismatch is an error and leaves nothing in place", async () => {
  const srv = serve(await archive());
  const dest = await Deno.makeTempDir({ prefix: "lopt-dl-" });
  try {
    await assertRejects(
      () => downloadCifar10({ url: srv.url, dest, sha256: "0".repeat(64) }),
      ChecksumError,
      "Checksum mismatch",
    );
    assertEquals(await listing(dest), []);
    await assertRejects(() => loadCifar10({ dir: dest }), DatasetUnavailableError);
    // An archive without the batch files is rejected and leaves nothing either.
    const srv2 = serve(
      await gzip(await tarOf([{ name: "cifar-10-batches-bin/data_batch_1.bin", data: batchBytes(1, 1) }])),
    );
    try {
      await assertRejects(() => downloadCifar10({ url: srv2.url, dest }), DatasetFormatError, "lacks");
      assertEquals(await listing(dest), []);
    } finally {
      await srv2.close();
    }
  } finally {
    await srv.close();
    await Deno.remove(dest, { recursive: true });
  }
});

Deno.test("cifar10: a truncated or corrupt archive, or one with an unsafe path, is refused and not kept", async () => {
  const whole = await tarOf([{ name: "cifar-10-batches-bin/data_batch_1.bin", data: batchBytes(1, 3) }]);
  const corrupt = whole.slice();
  corrupt[10] ^= 0xff; // inside the first header: its checksum no longer matches
  const cases: [string, Uint8Array, string][] = [
    ["truncated", whole.slice(0, 2000), "truncated"],
    ["corrupt", corrupt, "checksum"],
    ["unsafe", await tarOf([{ name: "cifar-10-batches-bin/../evil.bin", data: Uint8Array.of(1) }]), "unsafe"],
  ];
  for (const [label, tar, message] of cases) {
    const srv = serve(await gzip(tar));
    const dest = await Deno.makeTempDir({ prefix: "lopt-dl-" });
    try {
      await assertRejects(() => downloadCifar10({ url: srv.url, dest }), DatasetFormatError, message);
      assertEquals(await listing(dest), [], label);
    } finally {
      await srv.close();
      await Deno.remove(dest, { recursive: true });
    }
  }
});
