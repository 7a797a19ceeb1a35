import assert from "node:assert/strict";
import { connectNats, NatsConfigError, parseNatsUrl, redactUrl } from "../../lib/nats.ts";
import { natsIgnore, startNatsServer } from "./nats_server.ts";

Deno.test("NATS URLs: credentials are split off and redacted", () => {
  assert.deepEqual(parseNatsUrl("nats://tok@10.0.0.5:4222"), {
    server: "nats://10.0.0.5:4222",
    token: "tok",
  });
  assert.deepEqual(parseNatsUrl("nats://u:p%40ss@h:4222"), {
    server: "nats://h:4222",
    user: "u",
    pass: "p@ss",
  });
  assert.deepEqual(parseNatsUrl("127.0.0.1:4222"), { server: "nats://127.0.0.1:4222" });
  assert.equal(redactUrl("nats://u:secret@h:4222"), "nats://***@h:4222");
  assert.equal(redactUrl("nats://h:4222"), "nats://h:4222");
  assert.throws(() => parseNatsUrl("nats://a b"), NatsConfigError);
});

Deno.test({
  name: "NATS: a wrong token is refused with a message that does not show it",
  ignore: natsIgnore,
  fn: async () => {
    const server = await startNatsServer({ token: "right-token" });
    try {
      const url = `nats://wrong-token@${server.url.slice("nats://".length)}`;
      const e = await connectNats(url, "test").then(() => null, (e) => e as Error);
      assert.ok(e instanceof NatsConfigError, String(e));
      assert.match(e.message, /refused the credentials/);
      assert.ok(!e.message.includes("wrong-token"));
      const nc = await connectNats(`nats://right-token@${server.url.slice("nats://".length)}`, "test");
      await nc.close();
    } finally {
      await server.stop();
    }
  },
});
