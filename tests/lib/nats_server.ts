/**
 * A real `nats-server` for tests, on a free loopback port. Tests that need it use {@link natsIgnore}: they
 * run when `nats-server` is installed; without it they are reported as ignored on a developer machine and
 * FAIL in CI (environment variable `CI` set, as `.ci/run` does), where `.ci/run` installs it.
 *
 * @module
 */
import { NATS_SERVER_INSTALL } from "../../lib/nats.ts";

const installed = (() => {
  try {
    return new Deno.Command("nats-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync()
      .success;
  } catch {
    return false;
  }
})();

/** Whether CI asked for every test to run (`CI` set to anything but empty, `0` or `false`). */
const inCi = !["", "0", "false"].includes((Deno.env.get("CI") ?? "").toLowerCase());

/**
 * `ignore` for a `Deno.test` that needs `nats-server`: true only when it is missing outside CI.
 *
 * @example
 * ```ts
 * Deno.test({ name: "…", ignore: natsIgnore, fn: async () => { const s = await startNatsServer(); … } });
 * ```
 */
export const natsIgnore = !installed && !inCi;

/** A running test server. */
export interface TestNatsServer {
  /** `nats://127.0.0.1:PORT` (without credentials). */
  url: string;
  /** Stops the server and removes its storage. */
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Starts `nats-server` on a free loopback port (optionally with a token, JetStream, a smaller `max_payload`)
 * and waits until it
 * accepts connections. Throws, with how to install it, when it is missing.
 *
 * @example
 * ```ts
 * const server = await startNatsServer({ token: "t0ken" });
 * try { … } finally { await server.stop(); }
 * ```
 */
export async function startNatsServer(
  o: { token?: string; jetstream?: boolean; maxPayload?: number } = {},
): Promise<TestNatsServer> {
  if (!installed) {
    throw new Error(`this test needs nats-server, which is not installed; ${NATS_SERVER_INSTALL}`);
  }
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "lopt-nats-" });
  const args = ["-a", "127.0.0.1", "-p", String(port)];
  if (o.token) args.push("--auth", o.token);
  if (o.jetstream) args.push("-js", "-sd", dir);
  if (o.maxPayload) {
    await Deno.writeTextFile(`${dir}/server.conf`, `max_payload: ${o.maxPayload}\n`);
    args.push("-c", `${dir}/server.conf`);
  }
  const proc = new Deno.Command("nats-server", { args, stdout: "null", stderr: "piped", stdin: "null" })
    .spawn();
  const stderr = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  (async () => {
    while (true) {
      const { value, done } = await stderr.read();
      if (done) break;
      log += value;
    }
  })();
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`nats-server did not start on port ${port}: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
