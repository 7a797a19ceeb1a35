/**
 * Out-of-memory guard for the tfjs `wasm` backend (4.22.0).
 *
 * The backend allocates every tensor with `wasm._malloc` and never checks the result. The wasm heap is a
 * 32-bit address space capped at 4 GiB, so once the live tensors approach that size `malloc` returns NULL (0)
 * and the backend registers the tensor at address 0: the kernel then writes the tensor's data over the
 * allocator's own bookkeeping at the bottom of the heap, and the process dies later, somewhere unrelated,
 * with `RuntimeError: memory access out of bounds` (typically in `disposeData` → `free`, or in the next
 * `malloc`). Sizes of 4 GiB or more are worse still: the byte count wraps modulo 2³² before it reaches
 * `malloc`, which then hands out a block far smaller than the tensor.
 *
 * {@link installHeapGuard} wraps `BackendWasm.prototype.move` (the single place where the backend allocates a
 * tensor: `write`, `makeOutput` and backend switches go through it) so that such an allocation throws a
 * {@link WasmOutOfMemoryError} instead, before anything is written, leaving the heap intact and the backend
 * usable. Allocations made inside the wasm module's C++ code (e.g. XNNPACK scratch buffers) are not covered.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

/** Largest wasm heap the tfjs wasm binaries can grow to (bytes): 65536 pages of 64 KiB. */
export const WASM_HEAP_LIMIT = 4 * 1024 ** 3;

/**
 * Thrown when a tensor does not fit in the wasm heap (instead of the backend silently corrupting it).
 *
 * @example
 * ```ts
 * const err = new WasmOutOfMemoryError(2 ** 32, 2 ** 31, [1024, 1024, 1024], "float32");
 * err.requestedBytes; // 4294967296
 * ```
 */
export class WasmOutOfMemoryError extends Error {
  /** Bytes the failed allocation asked for. */
  readonly requestedBytes: number;
  /** Current size of the wasm heap in bytes. */
  readonly heapBytes: number;

  constructor(requestedBytes: number, heapBytes: number, shape: number[], dtype: string) {
    const gib = (n: number) => (n / 1024 ** 3).toFixed(2);
    const limit = gib(WASM_HEAP_LIMIT);
    super(
      `The tfjs wasm backend ran out of memory: a ${dtype} tensor of shape [${shape.join(", ")}] needs ` +
        `${gib(requestedBytes)} GiB, and the wasm heap (now ${gib(heapBytes)} GiB) cannot grow past ` +
        `${limit} GiB. Compute in smaller batches (e.g. evaluate a full-dataset objective in ` +
        "chunks), dispose tensors you no longer need, or use a backend without this limit (--backend cpu or " +
        "--backend tensorflow).",
    );
    this.name = "WasmOutOfMemoryError";
    this.requestedBytes = requestedBytes;
    this.heapBytes = heapBytes;
  }
}

/** The parts of the Emscripten module the guard touches. */
interface MallocModule {
  _malloc: (bytes: number) => number;
  asm?: { malloc?: (bytes: number) => number };
  HEAPU8: Uint8Array;
}

type MoveFn = BackendWasm["move"];

const GUARDED = Symbol.for("lopt.wasmMallocGuarded");
const ORIGINAL_MOVE = Symbol.for("lopt.wasmOriginalMove");

/** Details of the allocation in progress, for the error message (set by the guarded `move`). */
let pending: { shape: number[]; dtype: string } = { shape: [], dtype: "float32" };

/**
 * Makes `wasm._malloc` throw instead of returning NULL. Wraps the raw export `asm.malloc` when present: the
 * Emscripten `_malloc` is a stub that replaces itself with the raw export on its first call, which would
 * drop a wrapper around the stub (the guarded `move` re-installs it in that case).
 */
function guardMalloc(wasm: MallocModule): void {
  const current = wasm._malloc as MallocModule["_malloc"] & { [GUARDED]?: true };
  if (current[GUARDED]) return;
  const raw = wasm.asm?.malloc ?? current;
  const guarded = Object.assign((bytes: number): number => {
    const ptr = raw(bytes);
    if (ptr === 0 && bytes > 0) {
      throw new WasmOutOfMemoryError(bytes, wasm.HEAPU8.length, pending.shape, pending.dtype);
    }
    return ptr;
  }, { [GUARDED]: true as const });
  wasm._malloc = guarded;
}

/**
 * Installs the guard on `BackendWasm.prototype.move` (see the module doc). Idempotent; applies to wasm
 * backends created before and after the call. Called by `registerWasmKernels`.
 *
 * @example
 * ```ts
 * installHeapGuard();
 * tf.zeros([1024, 1024, 1024]); // on wasm: throws a WasmOutOfMemoryError instead of corrupting the heap
 * ```
 */
export function installHeapGuard(): void {
  const proto = BackendWasm.prototype as BackendWasm & { [ORIGINAL_MOVE]?: MoveFn };
  if (proto[ORIGINAL_MOVE]) return;
  const original = proto.move;
  proto[ORIGINAL_MOVE] = original;
  proto.move = function (this: BackendWasm, dataId, values, shape, dtype, refCount) {
    if (dtype !== "string") {
      const wasm = this.wasm as unknown as MallocModule;
      const bytes = tf.util.sizeFromShape(shape) * tf.util.bytesPerElement(dtype);
      // malloc takes a 32-bit size: larger requests would wrap around instead of failing.
      if (bytes >= WASM_HEAP_LIMIT) throw new WasmOutOfMemoryError(bytes, wasm.HEAPU8.length, shape, dtype);
      guardMalloc(wasm);
      pending = { shape, dtype };
    }
    return original.call(this, dataId, values, shape, dtype, refCount);
  };
}
