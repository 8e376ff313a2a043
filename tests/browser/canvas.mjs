// Opens a page served through the server's canvas proxy in Debian's headless Chromium and prints
// what ran: the inline script, the external script, and a WebSocket echo through the proxy.
// Usage: node canvas.mjs <page url>. Prints one JSON line; exits non-zero when the page never
// finished (its scripts were blocked).
import { chromium } from 'playwright-core';

const url = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const problems = [];
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  const response = await page.goto(url);
  let done = true;
  try {
    await page.waitForFunction(() => document.body.dataset.done === '1', null, { timeout: 15000 });
  } catch {
    done = false;
  }
  const text = async (id) => page.evaluate((i) => document.getElementById(i).textContent, id);
  console.log(JSON.stringify({
    status: response.status(),
    csp: response.headers()['content-security-policy'] ?? null,
    inline: await text('inline'),
    external: await text('external'),
    ws: await text('ws'),
    done,
    problems,
  }));
  process.exitCode = done ? 0 : 1;
} finally {
  await browser.close();
}
