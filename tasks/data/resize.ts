/**
 * Resizing an image so that its shorter side has a given length and cropping its central square: bilinear
 * interpolation with half-pixel centers, after a box pre-filter (the average of f×f blocks) when shrinking by
 * 2× or more so that a large downscale does not alias.
 *
 * {@link resizeCenterCropTensor} does it with tfjs ops (`tf.avgPool`, `tf.image.resizeBilinear`) on any
 * backend; {@link resizeCenterCrop} does the same on plain arrays, synchronously, for callers that build
 * images one at a time inside synchronous code.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { resizeCenterCropTensor } from "./resize.ts";
 * const photo = tf.zeros([375, 500, 3]) as tf.Tensor3D; // bytes 0..255
 * const x = resizeCenterCropTensor(photo, 64); // [64, 64, 3], values in [0, 1]
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Where {@link resizeCenterCrop} and {@link resizeCenterCropTensor} sample: the box pre-filter factor, the
 * size after it, the resized size and the crop's top-left corner.
 *
 * @example
 * ```ts
 * const g = cropGeometry(500, 375, 64, 64);
 * // g.box = 5: 100 x 75 after the pre-filter, resized to 85 x 64, crop from x = 10
 * ```
 */
export interface CropGeometry {
  /** Box pre-filter factor (1: none). */
  box: number;
  /** Width and height after the pre-filter. */
  width: number;
  height: number;
  /** Width and height after the bilinear resize (the shorter one is the requested shorter side). */
  resizedWidth: number;
  resizedHeight: number;
  /** Top-left corner of the central crop in the resized image. */
  left: number;
  top: number;
}

/**
 * The {@link CropGeometry} of a `width`×`height` image resized to shorter side `shorter` and cropped to
 * `size`×`size`. Throws a RangeError when `shorter` < `size`.
 *
 * @example
 * ```ts
 * cropGeometry(28, 28, 16).box; // 1 (no pre-filter below a 2x shrink)
 * ```
 */
export function cropGeometry(width: number, height: number, size: number, shorter = size): CropGeometry {
  if (shorter < size) throw new RangeError(`resizeShorter (${shorter}) must be >= size (${size}).`);
  const f = Math.floor(Math.min(width, height) / shorter);
  const box = f >= 2 ? f : 1;
  const w = Math.floor(width / box);
  const h = Math.floor(height / box);
  const s = shorter / Math.min(w, h);
  const sw = Math.max(size, Math.round(w * s));
  const sh = Math.max(size, Math.round(h * s));
  return {
    box,
    width: w,
    height: h,
    resizedWidth: sw,
    resizedHeight: sh,
    left: Math.floor((sw - size) / 2),
    top: Math.floor((sh - size) / 2),
  };
}

/**
 * Resizes an image tensor [height, width, channels] so that its shorter side is `shorter` (a box pre-filter
 * with `tf.avgPool` first when shrinking by 2× or more, then `tf.image.resizeBilinear` with half-pixel
 * centers) and returns the central `size`×`size` crop times `scale` (1/255 maps bytes to [0, 1]), as
 * float32. The caller disposes both tensors.
 *
 * @example
 * ```ts
 * const x = resizeCenterCropTensor(tf.tensor3d(rgbBytes, [h, w, 3], "float32"), 64, 72);
 * ```
 */
export function resizeCenterCropTensor(
  image: tf.Tensor3D,
  size: number,
  shorter: number = size,
  scale = 1 / 255,
): tf.Tensor3D {
  const [height, width, channels] = image.shape;
  const g = cropGeometry(width, height, size, shorter);
  return tf.tidy(() => {
    let x: tf.Tensor3D = image.dtype === "float32" ? image : tf.cast(image, "float32");
    if (g.box > 1) x = tf.avgPool(x, g.box, g.box, "valid");
    const resized = tf.image.resizeBilinear(x, [g.resizedHeight, g.resizedWidth], false, true);
    return tf.mul(tf.slice(resized, [g.top, g.left, 0], [size, size, channels]), scale);
  });
}

/**
 * The synchronous, plain-array form of {@link resizeCenterCropTensor} for an interleaved image (same
 * geometry and interpolation; they agree to float32 rounding, at most 2e-6 on [0, 1] pixels in
 * `tests/tasks/data/resize_test.ts`). Writes into `out` at `offset` when given.
 *
 * Kept by hand because its caller, the MNIST stand-in of the ImageNet experiment, colours one example at a
 * time inside synchronous code, and a tfjs result cannot be read back synchronously on the webgpu backend
 * under Deno; on 28×28 digits the tfjs path is also 2–5× slower per image (28→32 pixels: 0.05 against
 * 0.02 ms on wasm, 0.11 against 0.02 ms on cpu; one run of 30 images each, side by side).
 *
 * @example
 * ```ts
 * const crop = resizeCenterCrop(digit, 28, 28, 1, 16); // Float32Array of 16 x 16
 * ```
 */
export function resizeCenterCrop(
  src: Uint8Array | Float32Array,
  width: number,
  height: number,
  channels: number,
  size: number,
  shorter: number = size,
  scale = 1 / 255,
  out: Float32Array = new Float32Array(size * size * channels),
  offset = 0,
): Float32Array {
  const g = cropGeometry(width, height, size, shorter);
  const img = g.box > 1 ? boxDownsample(src, width, height, channels, g.box) : src;
  const w = g.width, h = g.height;
  // Scale factors per axis so that the resized image spans exactly resizedWidth x resizedHeight.
  const fx = w / g.resizedWidth;
  const fy = h / g.resizedHeight;
  for (let y = 0; y < size; y++) {
    const syf = Math.min(Math.max((y + g.top + 0.5) * fy - 0.5, 0), h - 1);
    const y0 = Math.floor(syf);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = syf - y0;
    for (let x = 0; x < size; x++) {
      const sxf = Math.min(Math.max((x + g.left + 0.5) * fx - 0.5, 0), w - 1);
      const x0 = Math.floor(sxf);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = sxf - x0;
      const a = (y0 * w + x0) * channels;
      const b = (y0 * w + x1) * channels;
      const c = (y1 * w + x0) * channels;
      const d = (y1 * w + x1) * channels;
      const o = offset + (y * size + x) * channels;
      for (let k = 0; k < channels; k++) {
        const top = img[a + k] + (img[b + k] - img[a + k]) * wx;
        const bot = img[c + k] + (img[d + k] - img[c + k]) * wx;
        out[o + k] = (top + (bot - top) * wy) * scale;
      }
    }
  }
  return out;
}

/** Averages f×f blocks of an interleaved image (the box pre-filter of {@link resizeCenterCrop}). */
function boxDownsample(
  src: Uint8Array | Float32Array,
  width: number,
  height: number,
  channels: number,
  f: number,
): Float32Array {
  const w = Math.floor(width / f);
  const h = Math.floor(height / f);
  const out = new Float32Array(w * h * channels);
  const inv = 1 / (f * f);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * channels;
      for (let dy = 0; dy < f; dy++) {
        let i = ((y * f + dy) * width + x * f) * channels;
        for (let dx = 0; dx < f; dx++) {
          for (let c = 0; c < channels; c++) out[o + c] += src[i + c];
          i += channels;
        }
      }
      for (let c = 0; c < channels; c++) out[o + c] *= inv;
    }
  }
  return out;
}
