/**
 * The worker listing of `deno task workers`: collects the heartbeats NATS workers publish (asking them for one
 * at once) and formats them as a table.
 *
 * @module
 */
import type { NatsConnection } from "nats";
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT } from "./nats_pool.ts";
import type { WorkerStatus } from "./protocol.ts";

/**
 * The workers heard within `waitMs` (the latest status of each), sorted by id.
 *
 * @example
 * ```ts
 * const workers = await listWorkers(nc, 1500);
 * ```
 */
export async function listWorkers(nc: NatsConnection, waitMs: number): Promise<WorkerStatus[]> {
  const seen = new Map<string, WorkerStatus>();
  const dec = new TextDecoder();
  const sub = nc.subscribe(HEARTBEAT_SUBJECT, {
    callback: (_e, m) => {
      try {
        const s = JSON.parse(dec.decode(m.data)) as WorkerStatus;
        if (typeof s.workerId === "string") seen.set(s.workerId, s);
      } catch { /* not a status */ }
    },
  });
  nc.publish(DISCOVER_SUBJECT);
  await nc.flush();
  await new Promise((r) => setTimeout(r, waitMs));
  sub.unsubscribe();
  return [...seen.values()].sort((a, b) => a.workerId.localeCompare(b.workerId));
}

/**
 * A table of workers: id, host and pid, what it runs, tasks done, rate, last heartbeat.
 *
 * @example
 * ```ts
 * console.log(formatWorkers(await listWorkers(nc, 1500), Date.now()));
 * ```
 */
export function formatWorkers(list: WorkerStatus[], now: number): string {
  if (list.length === 0) return "no meta-training workers answered";
  const rows = list.map((s) => [
    s.workerId,
    `${s.host}:${s.pid}`,
    s.running ?? (s.job ? `idle (job ${s.job.slice(0, 12)})` : "idle"),
    String(s.tasksDone),
    `${s.innerStepsPerSecond.toFixed(1)} steps/s`,
    `${Math.max(0, (now - s.at) / 1000).toFixed(1)} s ago`,
    s.loptVersion,
  ]);
  const head = ["worker", "host:pid", "running", "tasks", "rate", "heartbeat", "version"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}
