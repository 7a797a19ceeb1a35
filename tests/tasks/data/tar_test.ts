import { assertEquals, assertRejects } from "./assert.ts";
import { createTar, readTar, type TarEntry, TarFormatError } from "../../../tasks/data/tar.ts";

async function entries(bytes: Uint8Array, chunk = 100): Promise<{ entry: TarEntry; data: Uint8Array }[]> {
  // Feed the archive in odd-sized chunks to exercise the buffering.
  const stream = ReadableStream.from((function* () {
    for (let i = 0; i < bytes.length; i += chunk) yield bytes.slice(i, i + chunk);
  })());
  const out: { entry: TarEntry; data: Uint8Array }[] = [];
  await readTar(stream, async (entry, body) => {
    const parts: number[] = [];
    for await (const c of body) parts.push(...c);
    out.push({ entry, data: Uint8Array.from(parts) });
  });
  return out;
}

Deno.test("tar: round trip of files, a directory and a long (prefix) name", async () => {
  const long = `${"d".repeat(80)}/${"f".repeat(60)}.bin`;
  const a = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const tar = createTar([{ name: "top/" }, { name: "top/a.bin", data: a }, {
    name: long,
    data: new Uint8Array(512),
  }, {
    name: "empty",
    data: new Uint8Array(0),
  }]);
  assertEquals(tar.length % 512, 0);
  const got = await entries(tar, 333);
  assertEquals(got.map((g) => [g.entry.name, g.entry.type, g.entry.size]), [
    ["top/", "directory", 0],
    ["top/a.bin", "file", 1000],
    [long, "file", 512],
    ["empty", "file", 0],
  ]);
  assertEquals(got[1].data, a);
});

Deno.test("tar: unread bodies are skipped", async () => {
  const tar = createTar([{ name: "x", data: new Uint8Array(700).fill(1) }, {
    name: "y",
    data: Uint8Array.of(9),
  }]);
  const names: string[] = [];
  let y = -1;
  await readTar(ReadableStream.from([tar]), async (e, body) => {
    names.push(e.name);
    if (e.name === "y") { for await (const c of body) y = c[0]; }
  });
  assertEquals(names, ["x", "y"]);
  assertEquals(y, 9);
});

Deno.test("tar: corrupt header checksum and truncated body are errors", async () => {
  const tar = createTar([{ name: "x", data: new Uint8Array(2000) }]);
  const bad = tar.slice();
  bad[10] ^= 0xff;
  await assertRejects(() => entries(bad), TarFormatError, "checksum");
  await assertRejects(() => entries(tar.slice(0, 1200)), TarFormatError, "Truncated");
});
