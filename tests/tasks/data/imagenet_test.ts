import jpeg from "jpeg-js";
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { DatasetFormatError, DatasetUnavailableError } from "../../../tasks/data/dataset.ts";
import { indexImageNet, loadImageNet, openImageNet, parseValLabels } from "../../../tasks/data/imagenet.ts";

const WNIDS = ["n01440764", "n01443537", "n02102040"]; // written out of order below on purpose
const COLORS: [number, number, number][] = [[230, 20, 20], [20, 230, 20], [20, 20, 230]];

function jpegOf(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...rgb, 255], 4 * i);
  return new Uint8Array(jpeg.encode({ width: w, height: h, data }, 95).data);
}

/** train: class c has c+2 images of varying sizes; val: one per class, flat with a labels file. */
async function makeTree(root: string, flatVal: boolean): Promise<void> {
  for (const c of [2, 0, 1]) {
    const w = WNIDS[c];
    await Deno.mkdir(`${root}/train/${w}`, { recursive: true });
    for (let i = 0; i < c + 2; i++) {
      await Deno.writeFile(`${root}/train/${w}/${w}_${i}.JPEG`, jpegOf(40 + 8 * i, 30 + 5 * c, COLORS[c]));
    }
  }
  await Deno.writeTextFile(`${root}/train/${WNIDS[0]}/notes.txt`, "not an image");
  if (flatVal) {
    await Deno.mkdir(`${root}/val`, { recursive: true });
    const lines = ["ImageId,PredictionString"];
    for (let c = 0; c < 3; c++) {
      const name = `ILSVRC2012_val_0000000${c + 1}`;
      await Deno.writeFile(`${root}/val/${name}.JPEG`, jpegOf(50, 50, COLORS[2 - c]));
      lines.push(`${name},${WNIDS[2 - c]} 1 2 3 4`);
    }
    await Deno.writeTextFile(`${root}/LOC_val_solution.csv`, lines.join("\n") + "\n");
  } else {
    for (let c = 0; c < 3; c++) {
      await Deno.mkdir(`${root}/val/${WNIDS[c]}`, { recursive: true });
      await Deno.writeFile(`${root}/val/${WNIDS[c]}/v${c}.JPEG`, jpegOf(33, 47, COLORS[c]));
    }
  }
  await Deno.writeTextFile(
    `${root}/LOC_synset_mapping.txt`,
    `${WNIDS[0]} tench, Tinca tinca\n${WNIDS[1]} goldfish, Carassius auratus\n`,
  );
}

function meanColor(images: Float32Array, k: number, size: number): number[] {
  const m = [0, 0, 0];
  const per = size * size * 3;
  for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) m[c] += images[k * per + 3 * p + c];
  return m.map((v) => (v / (size * size)) * 255);
}

Deno.test("imagenet: class folders sorted by wnid, round-robin limit, lazy decode, resize+crop", async () => {
  const root = await Deno.makeTempDir({ prefix: "lopt-imagenet-" });
  try {
    await makeTree(root, false);
    const idx = await indexImageNet({ dir: root });
    assertEquals(idx.wnids, WNIDS);
    assertEquals(idx.files.length, 2 + 3 + 4);
    assertEquals(idx.classNames, ["tench, Tinca tinca", "goldfish, Carassius auratus", WNIDS[2]]);
    const small = await openImageNet({ dir: root, limit: 5, size: 16 });
    assertEquals(Array.from(small.labels), [0, 1, 2, 0, 1]); // round-robin over classes
    assertEquals([small.n, small.height, small.width, small.channels, small.numClasses], [5, 16, 16, 3, 3]);
    const { images, labels } = await small.loadExamples([2, 0]);
    assertEquals(images.length, 2 * 16 * 16 * 3);
    assertEquals(Array.from(labels), [2, 0]);
    const blue = meanColor(images, 0, 16);
    const red = meanColor(images, 1, 16);
    assert(Math.abs(blue[2] - 230) < 8 && blue[0] < 30, `blue ${blue}`);
    assert(Math.abs(red[0] - 230) < 8 && red[2] < 30, `red ${red}`);
    for (const v of images) assert(v >= 0 && v <= 1);
    await assertRejects(() => small.loadExamples([5]), RangeError);

    const val = await loadImageNet({ dir: root, split: "val", size: 8, resizeShorter: 10 });
    assertEquals([val.n, val.split, Array.from(val.labels)], [3, "test", [0, 1, 2]]);
    assertEquals(val.images.length, 3 * 8 * 8 * 3);

    tf.enableProdMode();
    await tf.setBackend("cpu");
    const before = tf.memory().numTensors;
    const { x, y } = await small.batchTensors([0, 1, 2], { oneHot: true });
    assertEquals([x.shape, y.shape], [[3, 16, 16, 3], [3, 3]]);
    assertEquals(Array.from(await y.data()), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    tf.dispose([x, y]);
    assertEquals(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imagenet: flat val folder with Kaggle LOC_val_solution.csv labels", async () => {
  const root = await Deno.makeTempDir({ prefix: "lopt-imagenet-" });
  try {
    await makeTree(root, true);
    const ds = await openImageNet({ dir: root, split: "test", size: 4 });
    // File c holds class 2-c; examples come in class order.
    assertEquals(Array.from(ds.labels), [0, 1, 2]);
    assert(ds.index.files[0].endsWith("ILSVRC2012_val_00000003.JPEG"));
    const { images } = await ds.loadExamples([0]);
    assert(meanColor(images, 0, 4)[0] > 200);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imagenet: parseValLabels accepts '<file> <wnid>' and '<file> <index>'", () => {
  const wnids = ["n00000001", "n00000002"];
  const m = parseValLabels("file label\nval/x.JPEG n00000002\ny.JPEG\t0\n\n", wnids);
  assertEquals([...m.entries()], [["x", 1], ["y", 0]]);
  assertThrows(() => parseValLabels("z.JPEG n00000009\n", wnids), DatasetFormatError, "not a known class");
  assertThrows(() => parseValLabels("z.JPEG 2\n", wnids), DatasetFormatError, ">= 2 classes");
});

Deno.test("imagenet: missing folder names LOPT_IMAGENET_DIR and the layout", async () => {
  const root = await Deno.makeTempDir({ prefix: "lopt-imagenet-" });
  try {
    const err = await assertRejects(
      () => openImageNet({ dir: root }),
      DatasetUnavailableError,
      "LOPT_IMAGENET_DIR",
    );
    assert(err.message.includes("train/<wnid>/*.JPEG") && err.message.includes(root));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
