/**
 * `deno task worker`: a meta-training worker. With `--nats URL` (or `LOPT_NATS_URL`) it serves coordinators
 * through that NATS server until stopped (Ctrl-C); with the hidden `--stdio` it is a local worker of one
 * coordinator, talking over its stdin/stdout (started by `pipe_pool.ts`, exits when its stdin ends).
 *
 * @module
 */
import { initBackend } from "../../../lib/backend.ts";
import type { BackendName } from "../../../lib/backend.ts";
import { connectNats, NATS_URL_ENV, NatsConfigError, redactUrl } from "../../../lib/nats.ts";
import { MARKER } from "../../../pipeline/protocol.ts";
import { loptVersion } from "./protocol.ts";
import type { CoordinatorRequest } from "./protocol.ts";
import { MetaWorker } from "./worker.ts";

const HELP = `deno task worker [--nats URL] [--id ID] [--stages [--ack-wait SECONDS]]

Runs a meta-training worker for coordinators (meta-train stages run with --nats) reached through a NATS server.
It takes the partial unrolls a coordinator hands it, computes their meta-gradient estimates with the same code
as local meta-training, and returns them. It refuses a coordinator of another lopt commit or configuration.
Stop it with Ctrl-C; a coordinator reassigns the work of a worker that goes away.

With --stages it is a stage worker instead: it takes stage runs of pipelines started with --executor nats from
the server's JetStream work queue, one at a time, and runs each exactly as the pipeline's local child would.
It needs the same lopt commit and the pipeline's results directory mounted at the same path (e.g. NFS).

options:
  --nats URL   the NATS server (default: $${NATS_URL_ENV}); credentials: nats://TOKEN@host:port,
               nats://user:pass@host:port, or LOPT_NATS_TOKEN, LOPT_NATS_CREDS (.creds file),
               LOPT_NATS_NKEY (nkey seed file); they are never printed
  --id ID      worker id in the curve and in \`deno task workers\` (default: <host>-<pid>); letters, digits, - _
  --stages     take stage runs (--executor nats) instead of meta-training work
  --ack-wait S with --stages: a run whose worker stops answering for S seconds goes to another worker
               (default 30)
  --help       this text
`;

function fail(msg: string): never {
  console.error(`error: ${msg}`);
  Deno.exit(2);
}

async function main(args: string[]): Promise<void> {
  let url = Deno.env.get(NATS_URL_ENV) ?? "";
  let id = "";
  let stdio = false;
  let stages = false;
  let ackWait = 30;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) fail(`${a} needs a value (see --help)`);
      return v;
    };
    if (a === "--help" || a === "-h") {
      console.log(HELP);
      return;
    } else if (a === "--nats") url = value();
    else if (a === "--id") id = value();
    else if (a === "--stdio") stdio = true;
    else if (a === "--stages") stages = true;
    else if (a === "--ack-wait") {
      ackWait = Number(value());
      if (!(ackWait >= 1 && ackWait <= 3600)) fail("--ack-wait expects seconds in [1, 3600]");
    } else fail(`unknown option ${a} (see --help)`);
  }
  if (id === "") id = `${Deno.hostname()}-${Deno.pid}`.replace(/[^A-Za-z0-9_-]/g, "_");
  if (!/^[A-Za-z0-9_-]+$/.test(id)) fail(`--id ${JSON.stringify(id)}: use letters, digits, - and _ only`);
  const version = await loptVersion();
  const worker = new MetaWorker(id, version, (b) => initBackend(b as BackendName));
  if (stdio) return await serveStdio(worker);
  if (!url) fail(`no NATS server given: pass --nats URL or set ${NATS_URL_ENV} (see --help)`);
  let nc;
  try {
    nc = await connectNats(url, `lopt-worker ${id}`);
  } catch (e) {
    if (e instanceof NatsConfigError) fail(e.message);
    throw e;
  }
  const stop = () => {
    console.error(`worker ${id}: stopping`);
    nc.close().finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  if (stages) {
    console.error(`stage worker ${id} serving through ${redactUrl(url)}`);
    const { serveStageWorker } = await import("../../../pipeline/stage_worker.ts");
    await serveStageWorker(nc, {
      id,
      ackWaitMs: ackWait * 1000,
      env: { [NATS_URL_ENV]: url },
      log: (l) => console.error(l),
    });
    return;
  }
  console.error(`meta-training worker ${id} serving through ${redactUrl(url)} (${version})`);
  const { serveNatsWorker } = await import("./nats_pool.ts");
  await serveNatsWorker(worker, nc);
}

/** The local worker: requests as JSON lines on stdin, replies as protocol lines on stdout. */
async function serveStdio(worker: MetaWorker): Promise<void> {
  const out = (m: unknown) => {
    const bytes = new TextEncoder().encode(MARKER + JSON.stringify(m) + "\n");
    for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
  };
  out(worker.status());
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of Deno.stdin.readable) {
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      out(await worker.handle(JSON.parse(line) as CoordinatorRequest));
    }
  }
  worker.close();
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
