/**
 * Command line for datasets: `deno task data download cifar10 [--dest DIR]` and
 * `deno task data info <kind> [--split S] [--dir DIR]`. Prints messages, not stacks.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CIFAR10_URL, downloadCifar10 } from "./cifar10.ts";
import { classCounts, DatasetFormatError, DatasetUnavailableError, defaultDataDir } from "./dataset.ts";
import { DownloadError } from "./download.ts";
import { DATASET_KINDS, type DatasetKind, loadDataset } from "./index.ts";

const HELP = `Usage:
  deno task data download cifar10 [--dest DIR] [--url URL] [--sha256 HEX | --md5 HEX]
      Downloads the CIFAR-10 binary archive (default ${CIFAR10_URL}, checked against its published MD5)
      and extracts it to DIR/cifar-10-batches-bin (DIR default: $LOPT_DATA_DIR or ${defaultDataDir()}).
      An interrupted download resumes on the next run.
  deno task data info KIND [--split train|test] [--dir DIR] [--limit N]
      Loads a dataset (${DATASET_KINDS.join(", ")}) and prints its size and class counts.
  --help  Shows this help.`;

/**
 * Runs the CLI with `args`; returns the exit code.
 *
 * @example
 * ```ts
 * const code = await main(["info", "mnist", "--split", "test"]);
 * Deno.exit(code);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      dest: { type: "string" },
      url: { type: "string" },
      sha256: { type: "string" },
      md5: { type: "string" },
      split: { type: "string" },
      dir: { type: "string" },
      limit: { type: "string" },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  try {
    const [cmd, what] = positionals;
    if (cmd === "download" && what === "cifar10") {
      let last = 0;
      const folder = await downloadCifar10({
        dest: values.dest,
        url: values.url,
        sha256: values.sha256,
        md5: values.md5,
        onProgress: (got, total) => {
          if (got - last >= 8 << 20 || got === total) {
            last = got;
            console.error(
              `  ${(got / 1e6).toFixed(1)} MB${total ? ` of ${(total / 1e6).toFixed(1)} MB` : ""}`,
            );
          }
        },
      });
      console.log(`CIFAR-10 is ready in ${folder}`);
      return 0;
    }
    if (cmd === "info" && what && (DATASET_KINDS as readonly string[]).includes(what)) {
      const split = values.split === "test" ? "test" : "train";
      const limit = values.limit ? Number(values.limit) : undefined;
      const ds = await loadDataset({ kind: what as DatasetKind, split, dir: values.dir, limit });
      console.log(
        `${ds.name} ${ds.split}: ${ds.n} images ${ds.height}x${ds.width}x${ds.channels}, ` +
          `${ds.numClasses} classes, counts ${classCounts(ds).join(",")}`,
      );
      return 0;
    }
    console.error(`Unknown command '${positionals.join(" ")}'.\n\n${HELP}`);
    return 2;
  } catch (e) {
    if (
      e instanceof DatasetUnavailableError || e instanceof DownloadError || e instanceof DatasetFormatError
    ) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
