/**
 * The `gpu` profile: the `default` profile everywhere except `imagenet-transfer`, which runs its full-size
 * networks on the `webgpu` backend (see that stage). Stages whose work does not change on a GPU declare their
 * profiles through {@link withGpuProfile}, so `--profile gpu` gives them exactly their `default` values.
 *
 * @module
 */

/**
 * `profiles` plus a `gpu` profile equal to its `default` one (`{}` when there is none).
 *
 * @example
 * ```ts
 * const profiles = withGpuProfile({ smoke: { steps: 2 }, default: { steps: 200 } });
 * profiles.gpu; // { steps: 200 }
 * ```
 */
export function withGpuProfile<T extends { default?: object }>(profiles: T): T & { gpu: T["default"] } {
  return { ...profiles, gpu: profiles.default ?? {} };
}
