// A stealth-patched Chromium crawling product pages: Debian's chromium
// (never a downloaded browser) driven by puppeteer-core with
// puppeteer-extra-plugin-stealth, the evasions scrapers use to hide
// automation (navigator.webdriver, plugins, languages, WebGL vendor,
// permissions, window.chrome, UA...). Usage:
//   node crawl.js BASE_URL headless|headful PAGES DELAY_MS
// With XFF set, every request carries x-forwarded-for: XFF (the address a
// gateway trusting one hop judges, as a scraper behind a residential proxy
// network appears). Prints one JSON line per page: {"page": n, "status": s,
// "title": t}.
const puppeteer = require("puppeteer-extra");
const Stealth = require("puppeteer-extra-plugin-stealth");
puppeteer.use(Stealth());

(async () => {
  const [base, mode, pages, delay] = [process.argv[2], process.argv[3], +process.argv[4] || 8, +process.argv[5] || 600];
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: mode !== "headful",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--window-size=1200,900"],
  });
  try {
    const page = await browser.newPage();
    if (process.env.XFF) await page.setExtraHTTPHeaders({ "x-forwarded-for": process.env.XFF });
    for (let i = 1; i <= pages; i++) {
      const resp = await page.goto(base + "/page/" + i, { waitUntil: "load", timeout: 20000 }).catch(() => null);
      // The challenge page answers itself and navigates on: give it time.
      await new Promise((r) => setTimeout(r, delay));
      const title = await page.title().catch(() => "?");
      console.log(JSON.stringify({ page: i, status: resp ? resp.status() : 0, title }));
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
