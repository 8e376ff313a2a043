// Drives the web console in Debian's headless Chromium, through a TCP relay this script owns and
// cuts: the token comes in the fragment (and must leave the address bar), the list shows the
// workspace, its terminal opens, typing reaches the shell, the relay drops every connection and
// refuses new ones for a while, and the page resumes the session: earlier output intact, output
// made meanwhile shown, and a terminal query replayed on resume is not answered into the shell.
//
// Usage: node console.mjs <server host:port> <workspace id> <workspace name> <token> <screenshot>
// Prints one JSON line of what it saw; the Rust test checks it and the container's files.
import net from 'node:net';
import { chromium } from 'playwright-core';

const [server, wsId, wsName, token, screenshot] = process.argv.slice(2);
const [serverHost, serverPort] = [server.slice(0, server.lastIndexOf(':')), Number(server.slice(server.lastIndexOf(':') + 1))];

// The relay: while `down`, it drops connections as they arrive.
const open = new Set();
let down = false;
const relay = net.createServer((client) => {
  if (down) return client.destroy();
  const upstream = net.connect(serverPort, serverHost);
  open.add(client);
  open.add(upstream);
  const close = () => { client.destroy(); upstream.destroy(); open.delete(client); open.delete(upstream); };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.pipe(upstream);
  upstream.pipe(client);
});
await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${relay.address().port}`;
const cut = () => { const n = open.size; for (const s of open) s.destroy(); open.clear(); return n; };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const seen = { problems: [], statuses: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 640 } });
  // Requests that fail while the relay is cut are the point of the test, not a problem.
  let dropping = false;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (dropping && m.text().startsWith('Failed to load resource: net::')) return;
    seen.problems.push(m.text());
  });
  page.on('pageerror', (e) => seen.problems.push(String(e)));
  const requested = [];
  page.on('request', (r) => requested.push(r.url()));

  const res = await page.goto(`${base}/console#token=${token}`);
  seen.csp = res.headers()['content-security-policy'] ?? null;
  await page.waitForSelector(`#rows a:text("${wsName}")`, { timeout: 15000 });
  seen.addressBar = page.url();
  seen.stored = await page.evaluate(() => sessionStorage.getItem('workspace-server-token'));
  await page.click(`#rows a:text("${wsName}")`);
  await page.waitForURL(`**/console/workspaces/${wsId}`);

  const screen = () => page.evaluate(() => document.querySelector('.xterm-rows')?.innerText ?? '');
  const waitScreen = async (needle, ms = 20000) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if ((await screen()).includes(needle)) return true;
      await sleep(100);
    }
    throw new Error(`"${needle}" never showed; the screen:\n${await screen()}`);
  };
  const type = async (line) => { await page.keyboard.type(line); await page.keyboard.press('Enter'); };
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');
  await sleep(300);

  // Typing reaches the shell (the Rust test reads the file) and its output is on the screen.
  await type("echo made > /tmp/console-made; echo typed-$((6*7))");
  await waitScreen('typed-42');
  // A live query is answered (the terminal and this capture work).
  await type("printf '\\033[c'; stty -echo -icanon min 0 time 20; dd bs=64 count=1 2>/dev/null | od -An -c > /tmp/live; stty sane; echo live-$((1+1))-done");
  await waitScreen('live-2-done');

  // The connection drops while the shell asks the terminal a question nobody is there to see.
  await type("echo st''arted; sleep 2; printf '\\033[c\\033[6n'; stty -echo -icanon min 0 time 80; dd bs=64 count=1 2>/dev/null | od -An -c > /tmp/replayed; stty sane; echo replay-$((2+2))-done");
  await waitScreen('started');
  dropping = true;
  down = true;
  seen.cut = cut();
  const until = Date.now() + 3200;
  while (Date.now() < until) {
    const s = await page.evaluate(() => document.getElementById('status').textContent);
    if (s && !seen.statuses.includes(s)) seen.statuses.push(s);
    await sleep(50);
  }
  down = false;
  await waitScreen('replay-4-done', 30000);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');
  dropping = false;
  const after = await screen();
  seen.earlierKept = after.includes('typed-42') && after.includes('live-2-done');
  seen.tokenInUrls = requested.filter((u) => u.includes(token));
  await page.screenshot({ path: screenshot });
} catch (e) {
  seen.problems.push(`script: ${e.message}`);
} finally {
  await browser.close();
  relay.close();
}
console.log(JSON.stringify(seen));
