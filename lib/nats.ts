/**
 * Connecting to a NATS server (npm `nats`): the URL from `--nats` or `LOPT_NATS_URL`, credentials passed
 * through to the client and never printed, and errors that say what to do (including how to install
 * `nats-server` when none runs and it is not installed).
 *
 * Credentials: a token or user:password in the URL (`nats://TOKEN@host:4222`, `nats://user:pass@host:4222`),
 * or `LOPT_NATS_TOKEN`, or `LOPT_NATS_CREDS` (a `.creds` file), or `LOPT_NATS_NKEY` (a file holding an nkey
 * seed). Logs show the URL through {@link redactUrl}.
 *
 * @module
 */
import {
  connect,
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "nats";

export { NATS_URL_ENV } from "./nats_env.ts";

/** How to install the NATS server, for messages. */
export const NATS_SERVER_INSTALL =
  "install nats-server: `sudo apt-get install nats-server` (Debian/Ubuntu), or a release binary from " +
  "https://github.com/nats-io/nats-server/releases; then start it, e.g. `nats-server -a 127.0.0.1 -p 4222`";

/**
 * The URL without credentials (`nats://***@host:4222`), for logs and errors.
 *
 * @example
 * ```ts
 * redactUrl("nats://s3cret@10.0.0.5:4222"); // "nats://***@10.0.0.5:4222"
 * ```
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, "$1***@");
}

/**
 * The URL's server part and its credentials, split.
 *
 * @example
 * ```ts
 * parseNatsUrl("nats://tok@h:4222"); // { server: "nats://h:4222", token: "tok" }
 * ```
 */
export function parseNatsUrl(url: string): { server: string; token?: string; user?: string; pass?: string } {
  const m = /^((?:nats|tls|ws|wss):\/\/)?(?:([^@/]*)@)?([^/@\s]+)\/?$/i.exec(url.trim());
  if (!m) throw new NatsConfigError(`--nats: not a NATS URL: ${redactUrl(url)} (expected nats://host:port)`);
  const server = `${m[1] ?? "nats://"}${m[3]}`;
  if (m[2] === undefined) return { server };
  const info = decodeURIComponent(m[2]);
  const colon = info.indexOf(":");
  if (colon < 0) return { server, token: info };
  return { server, user: info.slice(0, colon), pass: info.slice(colon + 1) };
}

/**
 * A bad NATS setting (exit code 2 in the CLIs).
 *
 * @example
 * ```ts
 * if (e instanceof NatsConfigError) fail(e.message);
 * ```
 */
export class NatsConfigError extends Error {
  override name = "NatsConfigError";
}

/**
 * Whether `nats-server` is on PATH.
 *
 * @example
 * ```ts
 * if (!(await natsServerInstalled())) console.error(NATS_SERVER_INSTALL);
 * ```
 */
export async function natsServerInstalled(): Promise<boolean> {
  try {
    const out = await new Deno.Command("nats-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * Connects to the NATS server at `url` with the credentials of the URL or the environment; reconnects for
 * ever after a connection loss. Throws a {@link NatsConfigError} saying what to do when no server answers.
 *
 * @example
 * ```ts
 * const nc = await connectNats("nats://127.0.0.1:4222", "lopt-worker");
 * ```
 */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  const { server, token, user, pass } = parseNatsUrl(url);
  const opts: ConnectionOptions = {
    servers: server,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    timeout: 5000,
  };
  const envToken = Deno.env.get("LOPT_NATS_TOKEN");
  if (token ?? envToken) opts.token = token ?? envToken;
  if (user !== undefined) {
    opts.user = user;
    opts.pass = pass;
  }
  const creds = Deno.env.get("LOPT_NATS_CREDS");
  const nkey = Deno.env.get("LOPT_NATS_NKEY");
  try {
    if (creds) opts.authenticator = credsAuthenticator(await Deno.readFile(creds));
    else if (nkey) {
      opts.authenticator = nkeyAuthenticator(
        new TextEncoder().encode((await Deno.readTextFile(nkey)).trim()),
      );
    }
  } catch (e) {
    throw new NatsConfigError(`cannot read the NATS credentials file: ${(e as Error).message}`);
  }
  try {
    return await connect(opts);
  } catch (e) {
    swallowLateReset();
    const msg = (e as Error).message ?? String(e);
    const where = redactUrl(url);
    if (/auth/i.test(msg)) {
      throw new NatsConfigError(
        `the NATS server at ${where} refused the credentials (${msg}); check the token, user or ` +
          "LOPT_NATS_CREDS / LOPT_NATS_NKEY",
      );
    }
    const hint = await natsServerInstalled()
      ? "start one, e.g. `nats-server -a 127.0.0.1 -p 4222`, or check the URL"
      : `nats-server is not installed here; ${NATS_SERVER_INSTALL}`;
    throw new NatsConfigError(`no NATS server answers at ${where} (${msg}); ${hint}`);
  }
}

/**
 * After a refused connection (e.g. bad credentials), the npm client's Node socket can still report the
 * server's reset (`ECONNRESET`) as an uncaught error, after `connect()` has already rejected with the real
 * reason. For two seconds such an error is ignored, so the caller's clear message is what the user sees.
 */
function swallowLateReset(): void {
  const onError = (ev: ErrorEvent) => {
    if (/ECONNRESET/.test(String(ev.error?.message ?? ev.message))) ev.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  const t = setTimeout(() => globalThis.removeEventListener("error", onError), 2000);
  Deno.unrefTimer(t);
}
