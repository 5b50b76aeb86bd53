// The HTML export (export --format html) opened from disk in Debian's chromium,
// driven by playwright-core (no browser download): once with JavaScript off (it
// must read the same) and once with it on (nothing from a message may run). Every
// page of the transcript is visited. It asserts nothing itself: it prints one JSON
// object of what the pages showed, which tests/archive/transcript.rs checks.
//
// Usage: node transcript.mjs CONFIG_JSON
//   {"dir" (the export), "pages" (paths inside it), "screenshot" (a PNG to write),
//    "chromium" (optional path)}

import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const config = JSON.parse(process.argv[2]);
const facts = {
  dialogs: [],
  foreign_requests: [],
  page_errors: [],
  message_ids: [],
  message_ids_without_js: [],
  images: [],
  struck: [],
  versions: [],
  index_text: "",
};

const browser = await chromium.launch({
  executablePath: config.chromium || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function visit(context, withJs) {
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.on("dialog", async (dialog) => {
    facts.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => facts.page_errors.push(String(error)));
  page.on("request", (request) => {
    if (!request.url().startsWith("file://")) facts.foreign_requests.push(request.url());
  });
  for (const rel of config.pages) {
    await page.goto(pathToFileURL(join(config.dir, rel)).href, { waitUntil: "load" });
    const ids = await page.locator("[data-message-id]").evaluateAll(
      (els) => els.map((e) => e.getAttribute("data-message-id")));
    if (withJs) {
      facts.message_ids.push(...ids);
      facts.images.push(...await page.locator("img").evaluateAll(
        (els) => els.map((e) => ({ src: e.getAttribute("src"), width: e.naturalWidth }))));
      facts.struck.push(...await page.locator(".removed del").allInnerTexts());
      facts.versions.push(...await page.locator("details.versions summary").allInnerTexts());
    } else {
      facts.message_ids_without_js.push(...ids);
    }
    if (rel === "index.html" && withJs) {
      facts.index_text = await page.locator("body").innerText();
    }
  }
  return page;
}

try {
  const viewport = { width: 1000, height: 700 };
  const off = await browser.newContext({ javaScriptEnabled: false, viewport });
  await visit(off, false);
  const on = await browser.newContext({ viewport });
  const page = await visit(on, true);
  // A screenshot of the first space's page, and of an empty page to tell it from.
  await page.goto(pathToFileURL(join(config.dir, config.pages[1] || config.pages[0])).href);
  await page.screenshot({ path: config.screenshot, fullPage: true });
  const shot = readFileSync(config.screenshot);
  await page.goto("about:blank");
  const blank = await page.screenshot({ fullPage: true });
  facts.screenshot_bytes = shot.length;
  facts.screenshot_differs_from_blank = !shot.equals(blank);
  // The print style sheet applies: links to messages are hidden on paper.
  await page.goto(pathToFileURL(join(config.dir, config.pages[1] || config.pages[0])).href);
  await page.emulateMedia({ media: "print" });
  facts.print_hides_permalinks = await page.locator(".permalink").evaluateAll(
    (els) => els.length > 0 && els.every((e) => getComputedStyle(e).display === "none"));
} catch (error) {
  facts.error = String(error && error.stack || error);
}
await browser.close();
console.log(JSON.stringify(facts));
