import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../lib/backend.ts";
import { makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { createMetaParams, metaParamList, metaParamsFromList } from "../../../models/hrnn/meta_params.ts";
import { makeHrnn } from "../../../models/hrnn/hrnn.ts";
import { benchHrnnUpdate } from "../../../models/hrnn/bench.ts";
await initBackend();
console.log("fwd", JSON.stringify(benchHrnnUpdate(100000, 20)));
const config = makeHrnnConfig();
const mp = createMetaParams(config, 1);
const n = 100000;
const params = [tf.randomNormal([n])];
const grads = [tf.randomNormal([n])];
const list = metaParamList(mp, config);
const ts: number[] = [];
for (let i = 0; i < 6; i++) {
  const t0 = performance.now();
  tf.tidy(() => {
    const g = tf.grads((...xs: tf.Tensor[]) => {
      const opt = makeHrnn(metaParamsFromList(xs, config), config, { seed: 1 });
      let s = opt.init(params);
      let p = params;
      let loss = tf.scalar(0);
      for (let t = 0; t < 2; t++) {
        const r = opt.update(grads, s, p);
        p = p.map((x, j) => tf.add(x, r.updates[j]));
        s = r.state;
        loss = tf.add(loss, tf.sum(tf.square(p[0])));
      }
      return loss as tf.Scalar;
    })(list);
    g[0].dataSync();
  });
  ts.push(performance.now() - t0);
}
ts.sort((a, b) => a - b);
console.log("2-step unroll fwd+bwd (incl init)", ts.map((t) => t.toFixed(0)).join(" "));
