/**
 * `deno task build-npm`: builds the npm package of the public module (`mod.ts`) into `dist/npm/package/` and
 * packs it to `dist/npm/lopt-<version>.tgz`:
 *
 * - `dist/mod.js`: one ES module (bundled by `deno bundle`, esbuild), with the WebAssembly HRNN kernel and the
 *   pretrained weights embedded; `@tensorflow/tfjs` and `@tensorflow/tfjs-backend-wasm` stay imports (peer
 *   dependencies, the versions this code is tested with);
 * - `dist/types/`: the declarations (`tsc --emitDeclarationOnly`), relative imports ending in `.js`;
 * - `dist/kernel/native/`: the native kernel libraries, which the module opens when it runs on Deno with FFI
 *   (Node.js has no FFI: there the WebAssembly kernel runs).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";

const HELP = `Usage: deno task build-npm [--out DIR]

Builds the npm package of mod.ts (ESM bundle + .d.ts, tfjs as a peer dependency, the wasm kernel and
the pretrained weights embedded, the native kernel libraries beside it) and packs it with npm pack.

Options:
  --out DIR    output folder (default: dist/npm); the tarball path is printed last
  -h, --help   this help`;

const REPO = new URL("..", import.meta.url).pathname;

/**
 * The peer dependencies: the TensorFlow.js packages of `deno.json`, at the versions pinned there.
 *
 * @example
 * ```ts
 * peerDependencies({ "@tensorflow/tfjs": "npm:@tensorflow/tfjs@4.22.0", ... }); // { "@tensorflow/tfjs": "4.22.0", … }
 * ```
 */
export function peerDependencies(imports: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"]) {
    const m = /^npm:(@?[^@]+)@([^/]+)$/.exec(imports[name] ?? "");
    if (!m) throw new Error(`deno.json imports has no pinned npm version of ${name}`);
    out[name] = m[2];
  }
  return out;
}

/**
 * Relative `.ts` specifiers of a declaration file rewritten to `.js` (how a Node.js project resolves them).
 *
 * @example
 * ```ts
 * rewriteDeclarationImports(`export * from "./a.ts";`); // `export * from "./a.js";`
 * ```
 */
export function rewriteDeclarationImports(text: string): string {
  return text.replace(/((?:from|import)\s*\(?\s*["'])(\.\.?\/[^"']+)\.ts(["'])/g, "$1$2.js$3");
}

async function run(cmd: string, args: string[], cwd = REPO): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}):\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...await walk(p));
    else out.push(p);
  }
  return out;
}

function npmReadme(name: string): string {
  return `# ${name}

A learned optimizer for TensorFlow.js: the hierarchical RNN optimizer of _Learned Optimizers that Scale and
Generalize_ (Wichrowska et al., 2017), meta-trained by the lopt project, with pretrained weights.

\`\`\`js
import * as tf from "@tensorflow/tfjs";
import { loadPretrained, toTfOptimizer } from "${name}";
const { optimizer } = await loadPretrained(); // selects the wasm backend unless you set one
model.compile({ optimizer: toTfOptimizer(optimizer), loss: "categoricalCrossentropy" });
\`\`\`

Peer dependencies: \`@tensorflow/tfjs\` and \`@tensorflow/tfjs-backend-wasm\`. The update runs as one
WebAssembly kernel on the tfjs wasm backend (on Deno with \`--allow-ffi\` on Linux x86-64, a native build of it);
on other backends as tfjs ops. \`pretrainedRelease()\` returns where the weights come from and how they were
evaluated.
`;
}

/**
 * Builds the package folder and the tarball; returns the tarball's path.
 *
 * @example
 * ```ts
 * const tgz = await buildNpmPackage("dist/npm"); // then: npm install <tgz>
 * ```
 */
export async function buildNpmPackage(outDir: string): Promise<string> {
  const deno = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json"))) as {
    name: string;
    version: string;
    license?: string;
    imports: Record<string, string>;
  };
  const pkgDir = join(outDir, "package");
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(pkgDir, "dist", "kernel", "native"), { recursive: true });
  const peers = peerDependencies(deno.imports);

  const externals = [...Object.keys(peers), "node:*"].flatMap((e) => ["--external", e]);
  await run(Deno.execPath(), [
    "bundle",
    "-q",
    "--node-modules-dir=manual",
    "--platform",
    "browser",
    "--format",
    "esm",
    ...externals,
    "-o",
    join(pkgDir, "dist", "mod.js"),
    join(REPO, "mod.ts"),
  ]);

  const tsconfig = join(outDir, "tsconfig.types.json");
  await Deno.writeTextFile(
    tsconfig,
    JSON.stringify({
      compilerOptions: {
        declaration: true,
        emitDeclarationOnly: true,
        allowImportingTsExtensions: true,
        // Declarations only, no type check: `deno task check` type-checks these sources (tsc lacks Deno's types).
        noCheck: true,
        skipLibCheck: true,
        module: "esnext",
        moduleResolution: "bundler",
        target: "es2022",
        resolveJsonModule: true,
        strict: true,
        lib: ["es2022", "dom"],
        rootDir: REPO,
        outDir: join(pkgDir, "dist", "types"),
      },
      files: [join(REPO, "mod.ts")],
    }),
  );
  await run(Deno.execPath(), [
    "run",
    "-A",
    "--node-modules-dir=manual",
    join(REPO, "node_modules/typescript/bin/tsc"),
    "-p",
    tsconfig,
  ]);
  for (const f of await walk(join(pkgDir, "dist", "types"))) {
    if (f.endsWith(".d.ts")) {
      await Deno.writeTextFile(f, rewriteDeclarationImports(await Deno.readTextFile(f)));
    }
  }

  const nativeDir = join(REPO, "models/hrnn/kernel/native");
  for await (const e of Deno.readDir(nativeDir)) {
    if (e.name.endsWith(".so")) {
      await Deno.copyFile(join(nativeDir, e.name), join(pkgDir, "dist", "kernel", "native", e.name));
    }
  }
  const pkg = {
    name: deno.name,
    version: deno.version,
    description:
      "A learned optimizer for TensorFlow.js (hierarchical RNN, Wichrowska et al. 2017), pretrained",
    license: deno.license,
    type: "module",
    main: "./dist/mod.js",
    types: "./dist/types/mod.d.ts",
    exports: { ".": { types: "./dist/types/mod.d.ts", default: "./dist/mod.js" } },
    files: ["dist/", "README.md", "LICENSE"],
    sideEffects: true,
    peerDependencies: peers,
    engines: { node: ">=20" },
  };
  await Deno.writeTextFile(join(pkgDir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  await Deno.writeTextFile(join(pkgDir, "README.md"), npmReadme(deno.name));
  await Deno.copyFile(join(REPO, "LICENSE"), join(pkgDir, "LICENSE"));
  const packed = (await run("npm", ["pack", "--silent", "--pack-destination", outDir], pkgDir)).trim()
    .split("\n").pop()!;
  return join(outDir, packed);
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n(deno task build-npm --help for usage)`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  try {
    const outDir = values.out ?? join(REPO, "dist", "npm");
    console.error(`build-npm: bundling mod.ts into ${outDir}`);
    console.log(await buildNpmPackage(outDir));
  } catch (e) {
    console.error(`build-npm: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
