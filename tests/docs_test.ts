/**
 * The docs stay self-contained: every relative link of every tracked markdown file reaches a tracked file (and a
 * heading, when it names one), no tracked file points at the shared folder beside the checkout, and every
 * `design §N.M` citation in the code and the docs names a numbered heading of `docs/design.md`.
 *
 * The checks are plain text scans of the tracked files (`git ls-files`; a walk of the tree where git is
 * missing), a few megabytes in all.
 */
import { strict as assert } from "node:assert";
import { posix } from "node:path";
import { REPO } from "./fixtures/deno_process.ts";

const DESIGN = "docs/design.md";
/** Built from parts so that this file does not contain what it looks for. */
const SHARED = ["..", "shared"].join("/");
const CITE = ["design", "§"].join(" ");
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", ".scratch"]);

/** Repo-relative paths of the tracked files. */
function trackedFiles(): string[] {
  try {
    const out = new Deno.Command("git", { args: ["ls-files", "-z"], cwd: REPO, stderr: "null" }).outputSync();
    if (out.success) return new TextDecoder().decode(out.stdout).split("\0").filter((p) => p !== "");
  } catch {
    // no git on this machine: walk the tree below
  }
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of Deno.readDirSync(posix.join(REPO, dir))) {
      const path = dir === "" ? e.name : `${dir}/${e.name}`;
      if (e.isDirectory && !SKIP_DIRS.has(e.name) && !(dir === "results" && e.name !== "schema")) walk(path);
      else if (e.isFile && (dir !== "results" || e.name === "README.md")) files.push(path);
    }
  };
  walk("");
  return files;
}

/** Markdown without its fenced code blocks (a heading or link inside one is not one). */
function withoutFences(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
}

/** Markdown without fenced code blocks and inline code spans (links inside code are not links). */
function proseOf(markdown: string): string {
  return withoutFences(markdown).replace(/`+[^`\n]*`+/g, "");
}

/** Link targets of a markdown text: inline links and images, and reference definitions. */
function linkTargets(markdown: string): string[] {
  const prose = proseOf(markdown);
  const targets: string[] = [];
  for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]);
  for (const m of prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) targets.push(m[1]);
  return targets;
}

/** GitHub's anchor for a heading text: inline markup dropped, lower case, punctuation removed, spaces → `-`. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[`*]/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a markdown file's headings, with GitHub's `-1`, `-2` suffixes for repeated ones. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutFences(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Section numbers that headings of a markdown text start with (`## 4. …` and `### 4.7 …`). */
function headingNumbers(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/gm)].map((m) => m[1]));
}

/**
 * Section numbers a text cites as `design §N.M`, with the numbers chained to such a citation:
 * `design §6.3–6.4`, `design §6.1/6.2`, `design §2.3, §2.4`, `design §4.4–§4.7`, `design §4.6 and §4.7`.
 */
function designCitations(text: string): string[] {
  const num = String.raw`\d+(?:\.\d+)*`;
  const chain = new RegExp(
    String.raw`${CITE}(${num})((?:\s*(?:[–/-]|[–/-]\s*§|,\s*§|\s(?:and|or)\s+§)\s*${num})*)`,
    "g",
  );
  const out: string[] = [];
  for (const m of text.matchAll(chain)) {
    out.push(m[1]);
    for (const n of m[2].matchAll(new RegExp(num, "g"))) out.push(n[0]);
  }
  return out;
}

/** The tracked files and every folder that holds one. */
function withFolders(files: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    out.add(f);
    for (let i = f.indexOf("/"); i !== -1; i = f.indexOf("/", i + 1)) out.add(f.slice(0, i));
  }
  return out;
}

/** The relative links of a markdown file that reach no tracked file or folder, or no heading of it. */
function brokenLinks(
  file: string,
  text: string,
  tracked: Set<string>,
  read: (p: string) => string,
): string[] {
  const broken: string[] = [];
  for (const raw of linkTargets(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(raw)) continue; // http:, https:, mailto:
    const [pathPart, anchor] = raw.split("#", 2);
    const path = pathPart === ""
      ? file
      : posix.normalize(posix.join(posix.dirname(file), decodeURIComponent(pathPart))).replace(/\/$/, "");
    if (path.startsWith("..")) broken.push(`${file}: ${raw} leaves the repository`);
    else if (!tracked.has(path)) broken.push(`${file}: ${raw} (no tracked file ${path})`);
    else if (anchor && path.endsWith(".md") && !anchors(read(path)).has(anchor)) {
      broken.push(`${file}: ${raw} (no heading #${anchor} in ${path})`);
    }
  }
  return broken;
}

const files = trackedFiles();
const tracked = withFolders(files);
const cache = new Map<string, string>();
const read = (p: string): string => {
  if (!cache.has(p)) cache.set(p, Deno.readTextFileSync(posix.join(REPO, p)));
  return cache.get(p)!;
};

Deno.test("the link, anchor and citation parsers find what they should", () => {
  const md = '# A b\n\nSee [x](docs/x.md#a-b), ![i](img.png) [y](<y.md> "title") [w](https://e.org).\n' +
    "`[no](code.md)`\n```\n[no](block.md)\n```\n[ref]: ref.md\n## A b\n### 11.15 `x` wrappers — noise\n";
  assert.deepEqual(linkTargets(md), ["docs/x.md#a-b", "img.png", "y.md", "https://e.org", "ref.md"]);
  assert.deepEqual([...anchors(md)], ["a-b", "a-b-1", "1115-x-wrappers--noise"]);
  assert.deepEqual([...headingNumbers("## 4. The HRNN\n### 4.7 One update\n#### no number\n")], ["4", "4.7"]);
  assert.deepEqual(
    designCitations(`(${CITE}6.3–6.4), ${CITE}2.3, §2.4 and ${CITE}4.7 steps 1-6; ${CITE}10.`),
    [
      "6.3",
      "6.4",
      "2.3",
      "2.4",
      "4.7",
      "10",
    ],
  );
  const t = withFolders(["a/b.md", "a/c/d.ts"]);
  const reader = (p: string) => (p === "a/b.md" ? "# Top\n" : "");
  assert.deepEqual(
    brokenLinks("a/b.md", "[1](c/d.ts) [2](c/) [3](b.md#top) [4](#top) [5](../../x.md)", t, reader),
    [
      "a/b.md: ../../x.md leaves the repository",
    ],
  );
  assert.equal(brokenLinks("a/b.md", "[1](e.md) [2](#gone)", t, reader).length, 2);
});

Deno.test("every relative link in the tracked markdown files reaches a tracked file or heading", () => {
  const broken = files.filter((f) => f.endsWith(".md")).flatMap((f) =>
    brokenLinks(f, read(f), tracked, read)
  );
  assert.deepEqual(broken, []);
});

Deno.test("no tracked file points at the shared folder outside the repository", () => {
  // Every file, binary ones too, read byte for byte (windows-1252 maps each byte to one character).
  const bytes = new TextDecoder("windows-1252");
  const hits = files.filter((f) => bytes.decode(Deno.readFileSync(posix.join(REPO, f))).includes(SHARED));
  assert.deepEqual(hits, []);
});

Deno.test("every design § citation in the code and the docs names a heading of docs/design.md", () => {
  const sections = headingNumbers(read(DESIGN));
  assert.ok(sections.has("4.7") && sections.has("11.15"), "docs/design.md has its numbered sections");
  const missing = files
    .filter((f) => /\.(ts|c|h|md)$/.test(f) && f !== DESIGN)
    .flatMap((f) => designCitations(read(f)).filter((n) => !sections.has(n)).map((n) => `${f}: §${n}`));
  assert.deepEqual(missing, []);
});
