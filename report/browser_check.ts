/**
 * Opens a rendered report in headless Chromium (playwright-core), collects console errors, page errors,
 * failed or non-file requests and images that did not load, and saves a full-page screenshot.
 *
 * `deno run --allow-all report/browser_check.ts INDEX_HTML SCREENSHOT_PNG [CHROMIUM]` prints one JSON line
 * ({@link BrowserCheck}) and exits 0 (check the JSON), 1 on a browser failure, 2 on usage errors.
 * playwright-core reads `/proc` files at import, which Deno allows only with `--allow-all`; that is why this
 * runs as its own process.
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

/** Debian's Chromium, the default browser. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

/** What {@link checkInBrowser} saw. */
export interface BrowserCheck {
  /** Every `<img>` of the page: its `src` and whether it loaded (complete with a natural width). */
  images: { src: string; ok: boolean }[];
  /** Console errors, page errors, failed requests and requests that were not `file://`. */
  problems: string[];
  /** Path of the screenshot. */
  screenshot: string;
}

/**
 * Loads `indexHtml` from disk in headless Chromium and screenshots it to `screenshot`.
 *
 * @example
 * ```ts
 * const check = await checkInBrowser("results/report/index.html", "/tmp/report.png");
 * if (check.problems.length > 0) console.error(check.problems.join("\n"));
 * ```
 */
export async function checkInBrowser(
  indexHtml: string,
  screenshot: string,
  executablePath = DEFAULT_CHROMIUM,
): Promise<BrowserCheck> {
  const browser = await chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console error: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on(
      "requestfailed",
      (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`),
    );
    page.on("request", (r) => {
      if (!r.url().startsWith("file://")) problems.push(`network request: ${r.url()}`);
    });
    await page.goto(pathToFileURL(indexHtml).href, { waitUntil: "load" });
    // A string expression: the page's DOM types are not in Deno's type library.
    const images = await page.evaluate(
      "Array.from(document.images).map((i) => ({ src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0 }))",
    ) as { src: string; ok: boolean }[];
    await page.screenshot({ path: screenshot, fullPage: true });
    return { images, problems, screenshot };
  } finally {
    await browser.close();
  }
}

if (import.meta.main) {
  const [index, shot, exe] = Deno.args;
  if (!index || !shot) {
    console.error("usage: deno run --allow-all report/browser_check.ts INDEX_HTML SCREENSHOT_PNG [CHROMIUM]");
    Deno.exit(2);
  }
  try {
    console.log(JSON.stringify(await checkInBrowser(index, shot, exe)));
  } catch (e) {
    console.error(`browser check failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
