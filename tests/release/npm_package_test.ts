/**
 * The npm package (`deno task build-npm`): installed from its tarball into a fresh Node.js project (npm brings
 * the TensorFlow.js peer dependencies from the registry), it trains a tfjs-layers model through `model.fit`
 * with the pretrained optimizer on the wasm backend and its WebAssembly kernel, and its declarations type-check
 * a TypeScript user's code; the same package run by Deno opens the native kernel. One `npm install`: the slow
 * test of the suite.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildNpmPackage, rewriteDeclarationImports } from "../../release/npm_package.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

async function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: {
      NO_COLOR: "1",
      npm_config_audit: "false",
      npm_config_fund: "false",
      npm_config_update_notifier: "false",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

const FIT = `
import * as tf from "@tensorflow/tfjs";
import { loadPretrained, toTfOptimizer, pretrainedRelease } from "@lopt/lopt";
const l = await loadPretrained();
console.log(l.updateEngine);
const model = tf.sequential({ layers: [
  tf.layers.dense({ units: 16, inputShape: [4], activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
  tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
] });
const opt = toTfOptimizer(l.optimizer);
model.compile({ optimizer: opt, loss: "meanSquaredError" });
const x = tf.randomNormal([128, 4], 0, 1, "float32", 3);
const y = x.sum(1, true);
const h = await model.fit(x, y, { epochs: 10, batchSize: 32, verbose: 0 });
console.log(JSON.stringify({ node: process.version, backend: tf.getBackend(), profile: pretrainedRelease().profile, loss: h.history.loss }));
`;

const CONSUMER = `
import * as tf from "@tensorflow/tfjs";
import { adam, loadPretrained, toTfOptimizer, type LearnedOptimizer, type Optimizer } from "@lopt/lopt";
const l: LearnedOptimizer = await loadPretrained({ seed: 1, log: null });
const o: Optimizer = l.optimizer;
const t: tf.Optimizer = toTfOptimizer(adam({ learningRate: 1e-3 }));
const n: number = l.provenance.profile; // type error on purpose: profile is a string
console.log(o.name, t, n);
`;

Deno.test("rewriteDeclarationImports: relative .ts specifiers become .js, packages stay", () => {
  assert.equal(
    rewriteDeclarationImports(
      `export { a } from "./x/y.ts";\nimport type { T } from "@tensorflow/tfjs";\n` +
        `type U = import("../z.ts").U;`,
    ),
    `export { a } from "./x/y.js";\nimport type { T } from "@tensorflow/tfjs";\ntype U = import("../z.js").U;`,
  );
});

Deno.test({
  name: "npm package: installs into a Node.js project and trains a tfjs-layers model with model.fit",
  // CI and the project's machines have Node.js; elsewhere say so instead of failing.
  ignore: (await run("node", ["--version"], REPO).catch(() => ({ code: 1 }))).code !== 0,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "lopt-npm-" });
    try {
      const tarball = await buildNpmPackage(join(tmp, "build"));
      const project = join(tmp, "project");
      await Deno.mkdir(project);
      await Deno.writeTextFile(
        join(project, "package.json"),
        JSON.stringify({ name: "lopt-npm-test", private: true, type: "module" }),
      );
      const install = await run(
        "npm",
        ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball],
        project,
      );
      assert.equal(install.code, 0, install.text);
      const pkg = JSON.parse(await Deno.readTextFile(join(project, "node_modules/@lopt/lopt/package.json")));
      assert.deepEqual(Object.keys(pkg.peerDependencies), [
        "@tensorflow/tfjs",
        "@tensorflow/tfjs-backend-wasm",
      ]);

      await Deno.writeTextFile(join(project, "fit.mjs"), FIT);
      const fit = await run("node", ["fit.mjs"], project);
      assert.equal(fit.code, 0, fit.text);
      assert.match(fit.text, /^lopt: TensorFlow.js backend 'wasm' \(selected by lopt\)$/m);
      assert.match(fit.text, /HRNN update: WebAssembly fused kernel \(native: not running on Deno/);
      assert.doesNotMatch(fit.text, /Hi, looks like|tfjs-node/);
      const lines = fit.text.trim().split("\n");
      const out = JSON.parse(lines[lines.length - 1]) as { node: string; backend: string; loss: number[] };
      assert.match(out.node, /^v(2\d|[3-9]\d)\./, `Node ${out.node}`);
      assert.equal(out.backend, "wasm");
      assert.ok(out.loss.every(Number.isFinite), JSON.stringify(out.loss));
      assert.ok(
        out.loss[out.loss.length - 1] < out.loss[0],
        `loss did not fall: ${JSON.stringify(out.loss)}`,
      );

      // The same package under Deno (with FFI) opens its native kernel libraries on Linux x86-64.
      await Deno.writeTextFile(
        join(project, "deno.mjs"),
        `import { loadPretrained } from "@lopt/lopt";\nconsole.log((await loadPretrained()).updateEngine);\n`,
      );
      const onDeno = await run(Deno.execPath(), ["run", "-A", "deno.mjs"], project);
      assert.equal(onDeno.code, 0, onDeno.text);
      if (Deno.build.os === "linux" && Deno.build.arch === "x86_64") {
        assert.match(onDeno.text, /HRNN update: native fused kernel \(x86-64/);
      }

      // The declarations: a TypeScript user's code type-checks, except the deliberate error.
      await Deno.writeTextFile(join(project, "consumer.ts"), CONSUMER);
      await Deno.writeTextFile(
        join(project, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            module: "nodenext",
            moduleResolution: "nodenext",
            target: "es2022",
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            types: [],
            lib: ["es2022", "dom"],
          },
          files: ["consumer.ts"],
        }),
      );
      const tsc = await run(
        Deno.execPath(),
        ["run", "-A", join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"],
        project,
      );
      // tfjs' own declarations do not pass a full check (skipLibCheck false); ours and the user's must.
      const errors = tsc.text.split("\n").filter((l) =>
        /error TS\d+/.test(l) && !l.startsWith("node_modules/@tensorflow/")
      );
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(
        errors[0],
        /^consumer\.ts\(7,7\): error TS2322: Type 'string( \| undefined)?' is not assignable/,
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
