/**
 * `deno task workers`: lists the meta-training workers reachable through a NATS server: what each runs, its
 * rate and its last heartbeat.
 *
 * @module
 */
import { connectNats, NATS_URL_ENV, NatsConfigError, redactUrl } from "../../../lib/nats.ts";
import { formatWorkers, listWorkers } from "./status.ts";

const HELP = `deno task workers [--nats URL] [--wait SECONDS] [--json]

Lists the meta-training workers (deno task worker) connected to a NATS server: id, host and pid, what each
runs, tasks done, inner steps per second, last heartbeat and lopt version.

options:
  --nats URL      the NATS server (default: $${NATS_URL_ENV}); credentials as for deno task worker
  --wait SECONDS  how long to listen for heartbeats (default 1.5)
  --json          print the statuses as JSON
  --help          this text
`;

function fail(msg: string): never {
  console.error(`error: ${msg}`);
  Deno.exit(2);
}

if (import.meta.main) {
  let url = Deno.env.get(NATS_URL_ENV) ?? "";
  let wait = 1.5;
  let json = false;
  const args = Deno.args;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--help" || a === "-h") {
      console.log(HELP);
      Deno.exit(0);
    } else if (a === "--nats") url = args[++i] ?? fail("--nats needs a URL");
    else if (a === "--wait") {
      wait = Number(args[++i]);
      if (!(wait > 0 && wait <= 60)) fail("--wait needs a number of seconds in (0, 60]");
    } else if (a === "--json") json = true;
    else fail(`unknown option ${a} (see --help)`);
  }
  if (!url) fail(`no NATS server given: pass --nats URL or set ${NATS_URL_ENV}`);
  try {
    const nc = await connectNats(url, "lopt-workers-status");
    const list = await listWorkers(nc, wait * 1000);
    await nc.close();
    if (json) console.log(JSON.stringify(list, null, 2));
    else {
      console.log(`meta-training workers at ${redactUrl(url)}:`);
      console.log(formatWorkers(list, Date.now()));
    }
    Deno.exit(0);
  } catch (e) {
    if (e instanceof NatsConfigError) fail(e.message);
    throw e;
  }
}
