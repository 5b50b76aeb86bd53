// A reviewer's session in Debian's chromium, driven by playwright-core (no browser
// download): log in, search, open a hit's conversation, its history, the space's
// about page, the audit log, export the search's scope and download it, log out.
// It asserts nothing itself: it prints one JSON object of what the pages showed,
// which the Rust test (tests/archive/browser.rs) checks. Every dialog that opens
// (an alert from hostile content would be one) and every request that leaves the
// server is recorded.
//
// Usage: node review.mjs CONFIG_JSON
//   {"base", "user", "password", "reply", "post", "removed", "hostile", "space",
//    "downloads", "screenshots" (optional directory), "chromium" (optional path)}

import { chromium } from "playwright-core";
import { createHash } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const config = JSON.parse(process.argv[2]);
const facts = { dialogs: [], foreign_requests: [], page_errors: [], steps: [] };

const browser = await chromium.launch({
  executablePath: config.chromium || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

async function shot(page, name) {
  if (!config.screenshots) return;
  mkdirSync(config.screenshots, { recursive: true });
  await page.screenshot({ path: join(config.screenshots, `${name}.png`), fullPage: true });
}

/** Texts of every element matching `selector`. */
function texts(page, selector) {
  return page.locator(selector).allInnerTexts();
}

let current = null;
try {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1200, height: 800 },
  });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(30000);
  page.on("dialog", async (dialog) => {
    facts.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => facts.page_errors.push(String(error)));
  page.on("request", (request) => {
    if (!request.url().startsWith(config.base)) facts.foreign_requests.push(request.url());
  });

  // Not logged in: the search page sends us to the login form.
  await page.goto(`${config.base}/search?q=budget`);
  facts.unauthenticated_url = page.url();
  await shot(page, "login");

  // A wrong password first: still the login page, with its error.
  await page.fill('input[name="username"]', config.user);
  await page.fill('input[name="password"]', "not the password");
  await Promise.all([page.waitForLoadState("load"), page.click('button[type="submit"]')]);
  facts.wrong_password_error = await page.locator('[role="alert"]').innerText();
  facts.wrong_password_url = page.url();

  await page.fill('input[name="username"]', config.user);
  await page.fill('input[name="password"]', config.password);
  await Promise.all([page.waitForURL(/\/search/), page.click('button[type="submit"]')]);
  facts.after_login_url = page.url();
  facts.who = await page.locator('[data-testid="who"]').innerText();

  // Search through the form.
  await page.fill('input[name="q"]', "budget");
  await Promise.all([page.waitForURL(/q=budget/), page.click('form.search button[type="submit"]')]);
  facts.hit_count = await page.locator('[data-testid="hit-count"]').innerText();
  facts.hit_ids = await page.locator("li.hit").evaluateAll((els) => els.map((e) => e.dataset.id));
  facts.hit_marks = await texts(page, "li.hit .mark");
  facts.highlighted = await texts(page, "li.hit mark");
  await shot(page, "search");

  // A hostile query is shown back, escaped.
  await page.goto(`${config.base}/search?q=${encodeURIComponent("<script>alert('q')</script>")}`);
  facts.hostile_query_value = await page.locator('input[name="q"]').inputValue();

  // Back to the first search; open the reply's conversation from its hit.
  await page.goto(`${config.base}/search?q=budget`);
  await Promise.all([
    page.waitForURL(/\/spaces\//),
    page.click(`li.hit[data-id="${config.reply}"] a.open`),
  ]);
  facts.conversation_url = page.url();
  facts.conversation_title = await page.locator("h1.space-title").innerText();
  facts.conversation_ids = await page
    .locator("article.msg")
    .evaluateAll((els) => els.map((e) => e.dataset.id));
  facts.reply_parent = await page
    .locator(`article#m-${config.reply}`)
    .evaluate((e) => e.closest(".replies")?.closest("article.msg")?.dataset.id ?? null);
  facts.anchor = await page.locator("article.msg.anchor").getAttribute("data-id");
  facts.removed_struck = await page.locator(`article#m-${config.removed} del.body`).innerText();
  facts.removed_note = await page.locator(`article#m-${config.removed} .removal`).innerText();
  facts.hostile_text = await page.locator(`article#m-${config.hostile} .body`).innerText();
  facts.hostile_links = await page.locator(`article#m-${config.hostile} a[href^="javascript:"]`).count();
  facts.scripts_in_messages = await page.locator(".conversation script").count();
  // The stored image loads (lazily: scroll to it and wait).
  await page.locator(".conversation img").first().scrollIntoViewIfNeeded();
  await page.waitForFunction(() =>
    [...document.querySelectorAll(".conversation img")].every((i) => i.complete && i.naturalWidth > 0),
  );
  facts.images = await page
    .locator(".conversation img")
    .evaluateAll((els) => els.map((e) => ({ alt: e.alt, width: e.naturalWidth, complete: e.complete })));
  facts.file_names = await texts(page, ".conversation ul.files li");
  await shot(page, "conversation");

  // The reply's history: its versions and the word diff.
  await Promise.all([
    page.waitForURL(/\/messages\//),
    page.click(`article#m-${config.reply} a.edited-mark`),
  ]);
  facts.history_url = page.url();
  facts.versions = await texts(page, "ol.versions li.version .change");
  facts.inserted = await texts(page, "ol.versions ins");
  facts.deleted = await texts(page, "ol.versions del");
  facts.payloads = await page.locator("details.payload").count();
  await shot(page, "message");

  // The space's about page: titles (one hostile) and members.
  await page.goto(`${config.base}/spaces/${config.space}/about`);
  facts.titles = await texts(page, "table.titles tbody tr");
  facts.members = await texts(page, "table.members tbody tr");
  await shot(page, "about");

  // Export the search's scope and download it.
  await page.goto(`${config.base}/search?q=budget`);
  await Promise.all([page.waitForURL(/\/exports\//), page.click('form.export button[type="submit"]')]);
  facts.export_url = page.url();
  facts.export_sha256 = await page.locator('[data-testid="export-sha256"]').innerText();
  await shot(page, "export");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click('a[href$="/download"]'),
  ]);
  const saved = join(config.downloads, download.suggestedFilename());
  await download.saveAs(saved);
  facts.download_name = download.suggestedFilename();
  facts.download_path = saved;
  facts.download_sha256 = createHash("sha256").update(readFileSync(saved)).digest("hex");

  // The audit log, as an admin sees it.
  await page.goto(`${config.base}/audit`);
  facts.audit_actions = await page
    .locator("table.audit tbody tr")
    .evaluateAll((els) => els.map((e) => e.dataset.action));
  await shot(page, "audit");

  // Log out: back at the login page, and the search page is closed again.
  await Promise.all([page.waitForURL(/\/login/), page.click("form.logout button")]);
  facts.after_logout_url = page.url();
  await page.goto(`${config.base}/search?q=budget`);
  facts.after_logout_search_url = page.url();
  facts.after_logout_hits = await page.locator("li.hit").count();
} catch (error) {
  facts.error = String(error && error.stack ? error.stack : error);
  if (current) {
    facts.error_url = current.url();
    facts.error_page = await current.locator("body").innerText().catch(() => "");
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(facts));
