/**
 * The error type for mistakes a user can fix (bad flags, unknown stages, ill-typed params, a busy results
 * directory). The CLI prints its message without a stack trace and exits with code 2.
 *
 * @module
 */

/**
 * A user-facing pipeline error: its message says what is wrong and what to do.
 *
 * @example
 * ```ts
 * throw new PipelineError(`unknown stage "trian"; valid stages: meta-train, report`);
 * ```
 */
export class PipelineError extends Error {
  /** Creates the error with a message meant for the user. */
  constructor(message: string) {
    super(message);
    this.name = "PipelineError";
  }
}
