/**
 * Where a stage run executes: a local child process (the default, `childCommand` of `child.ts`), or another
 * machine through a NATS JetStream work queue (`nats_executor.ts`). Either way the runner gets the child's
 * stdout (log text and protocol lines, see `protocol.ts`) and stderr as text, and its exit status; sealing
 * and publishing stay in the runner.
 *
 * @module
 */
import { childCommand, type ChildJob } from "./child.ts";

/** A stage run in progress. */
export interface RunningStage {
  /** Resolves when the run has ended (code 0: success). */
  status: Promise<{ code: number; signal: string | null }>;
  /** Asks the run to stop (SIGTERM), or stops it at once (SIGKILL). */
  kill(signal: "SIGTERM" | "SIGKILL"): void;
}

/** Starts stage runs. */
export interface StageExecutor {
  /** One line for the log (`local child process`, `NATS work queue at nats://***@host:4222`). */
  readonly description: string;
  /**
   * Starts the run of `job` (written to `jobFile`); `onStdout` / `onStderr` receive the child's output as it
   * comes. The staging directory `job.outDir` exists and is empty.
   */
  start(
    job: ChildJob,
    jobFile: string,
    onStdout: (text: string) => void,
    onStderr: (text: string) => void,
  ): RunningStage;
  /** Releases connections (after the last run). */
  close(): Promise<void>;
}

/**
 * The local executor: each stage run is a child Deno process of this one.
 *
 * @example
 * ```ts
 * const running = localExecutor().start(job, jobFile, (t) => log(t), (t) => log(t));
 * const { code } = await running.status;
 * ```
 */
export function localExecutor(childFlags?: string[]): StageExecutor {
  return {
    description: "local child processes",
    start(_job, jobFile, onStdout, onStderr) {
      const { cmd, args } = childCommand(jobFile, childFlags);
      const child = new Deno.Command(cmd, {
        args,
        cwd: Deno.cwd(),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const pumps = Promise.all([
        (async () => {
          for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) onStdout(chunk);
        })(),
        (async () => {
          for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) onStderr(chunk);
        })(),
      ]);
      return {
        status: (async () => {
          const st = await child.status;
          try {
            await child.stdin.close();
          } catch { /* already closed */ }
          await pumps;
          return { code: st.code, signal: st.signal };
        })(),
        kill(signal) {
          try {
            child.kill(signal);
          } catch { /* already exited */ }
        },
      };
    },
    close: () => Promise.resolve(),
  };
}
