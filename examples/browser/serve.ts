/**
 * Serves the browser demo: bundles `app.ts` (with TensorFlow.js, its wasm backend and lopt, all from this
 * checkout's `node_modules` and sources) into `app.js` in memory, then serves `index.html`, `app.js` and the
 * tfjs wasm backend's `.wasm` files from `node_modules` under `/wasm/`. Nothing comes from a CDN.
 *
 * ```sh
 * deno run --node-modules-dir=auto -P=serve-example examples/browser/serve.ts [--port 8000]
 * ```
 *
 * It prints `serving http://127.0.0.1:PORT/` when ready (`--port 0` picks a free port).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";

const HERE = new URL(".", import.meta.url).pathname;
const REPO = new URL("../../", import.meta.url).pathname;
const WASM_DIR = join(REPO, "node_modules/@tensorflow/tfjs-backend-wasm/dist");

const HELP = `Usage: deno run --node-modules-dir=auto -P=serve-example examples/browser/serve.ts [--port N]

Bundles the browser demo and serves it on 127.0.0.1 (default port 8000; 0 picks a free one).`;

/**
 * Bundles `app.ts` with `deno bundle` (esbuild) for browsers; returns the JavaScript.
 *
 * @example
 * ```ts
 * const js = await bundleApp(); // serve it as /app.js
 * ```
 */
export async function bundleApp(): Promise<string> {
  const out = join(await Deno.makeTempDir({ prefix: "lopt-browser-" }), "app.js");
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "-q",
        "--node-modules-dir=manual",
        "--platform",
        "browser",
        "--format",
        "esm",
        "--minify",
      ]
        .concat(["-o", out, join(HERE, "app.ts")]),
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code !== 0) throw new Error(`deno bundle failed: ${new TextDecoder().decode(r.stderr)}`);
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(join(out, ".."), { recursive: true });
  }
}

// A static handler for three kinds of files: the standard library's file server is on JSR, which this project's
// machines cannot reach.
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
};

function handler(appJs: string): (req: Request) => Promise<Response> {
  return async (req) => {
    const path = new URL(req.url).pathname;
    const respond = (body: BodyInit, name: string) =>
      new Response(body, { headers: { "content-type": TYPES[name.slice(name.lastIndexOf("."))] } });
    if (path === "/" || path === "/index.html") {
      return respond(await Deno.readFile(join(HERE, "index.html")), ".html");
    }
    if (path === "/app.js") return respond(appJs, ".js");
    const wasm = /^\/wasm\/(tfjs-backend-wasm(?:-simd|-threaded-simd)?\.wasm)$/.exec(path);
    if (wasm) return respond(await Deno.readFile(join(WASM_DIR, wasm[1])), ".wasm");
    return new Response("not found", { status: 404 });
  };
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: { port: { type: "string", default: "8000" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) {
    console.error(`error: --port expects an integer in [0, 65535], got ${values.port}`);
    Deno.exit(2);
  }
  console.error("bundling the demo…");
  const appJs = await bundleApp();
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => console.log(`serving http://127.0.0.1:${port}/`),
  }, handler(appJs));
}
