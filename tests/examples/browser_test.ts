/**
 * The browser demo (`examples/browser/`): served by its own `serve.ts` from a local HTTP server, driven by
 * headless Chromium (playwright-core + Debian's `chromium`, a fresh profile). The page must train both models
 * with no console error, page error, failed request or request to another host, on the tfjs wasm backend with
 * lopt's WebAssembly kernel, draw both loss curves, and the learned optimizer's loss must fall. Skipped
 * (visibly, as `ignored`) when chromium is not installed; `.ci/run` installs it.
 */
import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";

const CHROMIUM = "/usr/bin/chromium";
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const STEPS = 150;

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

Deno.test({
  name:
    "browser demo: trains with the pretrained optimizer beside Adam in headless Chromium, both curves drawn",
  ignore: !hasChromium(),
  async fn() {
    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "--node-modules-dir=auto",
        "-P=serve-example",
        "examples/browser/serve.ts",
        "--port",
        "0",
      ],
      cwd: REPO,
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!/serving (http\S+)/.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the demo server stopped before serving: ${text}`);
        text += value;
      }
      const url = /serving (http\S+)/.exec(text)![1];
      const drive = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--node-modules-dir=auto", "tests/examples/fixtures/browser_demo_driver.ts"]
          .concat([`${url}?steps=${STEPS}`, "240000"]),
        cwd: REPO,
        env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(drive.code, 0, dec.decode(drive.stderr));
      const lines = dec.decode(drive.stdout).trim().split("\n");
      const r = JSON.parse(lines[lines.length - 1]) as {
        demo: { learned: number[]; adam: number[]; backend: string; updateEngine: string; error?: string };
        points: number[];
        problems: string[];
      };
      assert.equal(r.demo.error, undefined, r.demo.error);
      assert.deepEqual(r.problems, []);
      assert.equal(r.demo.backend, "wasm");
      assert.match(r.demo.updateEngine, /^HRNN update: WebAssembly fused kernel/);
      assert.deepEqual(r.points, [STEPS, STEPS], "both curves drawn, one point per step");
      assert.equal(r.demo.learned.length, STEPS);
      assert.ok(r.demo.adam.every(Number.isFinite) && r.demo.learned.every(Number.isFinite));
      const first = mean(r.demo.learned.slice(0, 10)), last = mean(r.demo.learned.slice(-10));
      assert.ok(last < first, `the learned optimizer's loss did not fall: ${first} -> ${last}`);
      await reader.cancel();
    } finally {
      server.kill();
      await server.status;
    }
  },
});
