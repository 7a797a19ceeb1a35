/**
 * Announces which compute device a process runs its TensorFlow.js work on (backend, and for `webgpu` the
 * adapter), so the code that records a run (the pipeline's stage child) can write it down without loading
 * TensorFlow.js itself. `lib/backend.ts` announces; listeners receive every announcement, and one made before
 * a listener subscribed is replayed to it.
 *
 * @module
 */

type Listener = (description: string) => void;
const listeners: Listener[] = [];
let last: string | null = null;

/**
 * Records that this process now computes on `description` (e.g. `wasm`, or
 * `webgpu (llvmpipe (LLVM 15.0.6, 256 bits); software adapter)`) and tells every listener.
 *
 * @example
 * ```ts
 * announceComputeDevice("wasm");
 * ```
 */
export function announceComputeDevice(description: string): void {
  if (description === last) return;
  last = description;
  for (const l of listeners) l(description);
}

/**
 * Calls `fn` with every announcement from now on, and at once with the latest one if there was any.
 *
 * @example
 * ```ts
 * onComputeDevice((d) => console.log(`backend: ${d}`));
 * ```
 */
export function onComputeDevice(fn: Listener): void {
  listeners.push(fn);
  if (last !== null) fn(last);
}

/**
 * The latest announced compute device, or null when none was announced.
 *
 * @example
 * ```ts
 * const device = currentComputeDevice() ?? "not set up";
 * ```
 */
export function currentComputeDevice(): string | null {
  return last;
}
