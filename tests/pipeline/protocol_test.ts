import assert from "node:assert/strict";
import { type ChildMessage, encodeMessage, ProtocolSplitter } from "../../pipeline/protocol.ts";

Deno.test("protocol: messages are split from log output across chunk boundaries", () => {
  const logs: string[] = [];
  const msgs: ChildMessage[] = [];
  const s = new ProtocolSplitter((t) => logs.push(t), (m) => msgs.push(m));
  const stream = "hello\n" + encodeMessage({ type: "progress", done: 1, total: 2 }) + "partial" +
    encodeMessage({ type: "log", message: "x" }) + "tail";
  for (let i = 0; i < stream.length; i += 3) s.push(stream.slice(i, i + 3));
  s.end();
  assert.deepEqual(logs, ["hello\n", "partial\n", "tail"]);
  assert.deepEqual(msgs, [{ type: "progress", done: 1, total: 2 }, { type: "log", message: "x" }]);
});
