import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { cropGeometry, resizeCenterCrop, resizeCenterCropTensor } from "../../../tasks/data/resize.ts";

tf.enableProdMode();
await tf.setBackend("cpu");

/** Both implementations on one interleaved image: [plain-array result, tfjs result]. */
function both(
  src: Float32Array | Uint8Array,
  w: number,
  h: number,
  c: number,
  size: number,
  shorter = size,
  scale = 1,
): [number[], number[]] {
  const a = resizeCenterCrop(src, w, h, c, size, shorter, scale);
  const t = tf.tidy(() =>
    resizeCenterCropTensor(tf.tensor3d(src, [h, w, c], "float32"), size, shorter, scale)
  );
  const b = Array.from(t.dataSync());
  t.dispose();
  return [Array.from(a), b];
}

Deno.test("resize: bilinear, box pre-filter and center crop on exact gradients (both forms)", () => {
  // 4x1 horizontal ramp 0,10,20,30 upscaled x2 (shorter side 1 -> 2, crop 2 of 8 wide: columns 3..4).
  // Resized width 8, columns 3 and 4 sample source x = 3.5*0.5-0.5 = 1.25 and 1.75.
  for (const r of both(Float32Array.from([0, 10, 20, 30]), 4, 1, 1, 2)) {
    assertEquals(r, [12.5, 17.5, 12.5, 17.5]);
  }
  // 8x4 image, value = x: crop 4x4 at shorter side 4 keeps columns 2..5 exactly.
  const wide = Float32Array.from({ length: 32 }, (_, i) => i % 8);
  for (const r of both(wide, 8, 4, 1, 4)) assertEquals(r.slice(0, 4), [2, 3, 4, 5]);
  // 8x8 -> 2x2 uses 4x4 box averages.
  const img = Float32Array.from({ length: 64 }, (_, i) => ((i >> 3) < 4 ? 0 : 100) + ((i & 7) < 4 ? 0 : 1));
  for (const r of both(img, 8, 8, 1, 2)) assertEquals(r, [0, 1, 100, 101]);
  assertThrows(() => resizeCenterCrop(img, 8, 8, 1, 4, 2), RangeError);
  assertThrows(() => cropGeometry(8, 8, 4, 2), RangeError);
  assertEquals(cropGeometry(500, 375, 64), {
    box: 5,
    width: 100,
    height: 75,
    resizedWidth: 85,
    resizedHeight: 64,
    left: 10,
    top: 0,
  });
});

Deno.test("resize: the tfjs form matches the plain-array form on photo-like RGB bytes", () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  // [width, height, size, shorter]: box pre-filters of 2 and 3, a non-square crop, an upscale.
  const cases: [number, number, number, number][] = [[160, 120, 32, 32], [90, 130, 24, 29], [40, 30, 32, 48]];
  for (const [w, h, size, shorter] of cases) {
    const img = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < 3; k++) {
          const v = 128 + 100 * Math.sin(x / 7 + k) * Math.cos(y / 9) + 30 * (rnd() - 0.5);
          img[(y * w + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
    const [a, b] = both(img, w, h, 3, size, shorter, 1 / 255);
    assertEquals(a.length, size * size * 3);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    assert(maxDiff < 1e-5, `${w}x${h} -> ${size} (shorter ${shorter}): max difference ${maxDiff}`);
  }
});
