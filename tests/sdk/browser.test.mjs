// SPDX-License-Identifier: MIT
//
// The SDK's connect diagnosis in real Chromium (headless, playwright-core):
// what a page learns when it cannot connect. A public https page (served
// through Playwright's routing, so Chromium treats it as public) with the
// Local Network Access permission not given (headless denies: the SDK says
// BROWSER_BLOCKED) or granted (connects; HELPER_NOT_RUNNING with no
// daemon; ORIGIN_NOT_ALLOWED, through the HTTP probe, for an origin the
// daemon refuses); a page on loopback (not gated). Run directly (not with
// --test): exits 77 (ctest: skipped) when playwright-core or chromium is
// missing.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const CHROMIUM = process.env.UK_CHROMIUM || '/usr/bin/chromium';
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.log('playwright-core is not installed (npm ci): skipped');
  process.exit(77);
}
if (!existsSync(CHROMIUM)) {
  console.log(`no ${CHROMIUM}: skipped`);
  process.exit(77);
}

const { test, before, after } = await import('node:test');
const assert = (await import('node:assert/strict')).default;
const { Daemon, ORIGIN } = await import('../daemon/harness.mjs');

const SDK = readFileSync(fileURLToPath(new URL('../../web-sdk/ukey.js', import.meta.url)), 'utf8');
let browser;
let d;
let ports;

// The page: connects once (no background retries) and reports.
const page = (opts) => `<!doctype html><meta charset="utf-8"><script type="module">
import { UKeyClient } from './ukey.js';
window.run = async () => {
  const uk = new UKeyClient(${JSON.stringify({ reconnect: false, ...opts })});
  const before = await UKeyClient.localNetworkAccess();
  try {
    const h = await uk.connect();
    uk.close();
    return { version: h.version, before };
  } catch (e) {
    uk.close();
    return { reason: e.reason, data: e.data, message: e.message, before,
      after: await UKeyClient.localNetworkAccess() };
  }
};
</script>`;

async function publicPage(origin, grant) {
  const ctx = await browser.newContext();
  try {
    if (grant) await ctx.grantPermissions(['local-network-access'], { origin });
    await ctx.route(`${origin}/**`, (r) => (new URL(r.request().url()).pathname === '/ukey.js'
      ? r.fulfill({ contentType: 'text/javascript', body: SDK })
      : r.fulfill({ contentType: 'text/html', body: page({ ports }) })));
    const p = await ctx.newPage();
    await p.goto(`${origin}/`);
    return await p.evaluate(() => window.run());
  } finally {
    await ctx.close();
  }
}

async function loopbackPage() {
  const srv = http.createServer((q, r) => {
    r.setHeader('content-type', q.url === '/ukey.js' ? 'text/javascript' : 'text/html');
    r.end(q.url === '/ukey.js' ? SDK : page({ ports }));
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    await p.goto(`http://127.0.0.1:${srv.address().port}/`);
    return await p.evaluate(() => window.run());
  } finally {
    await ctx.close();
    srv.close();
  }
}

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  d = new Daemon();
  ports = [0, 1, 2, 3, 4].map((i) => d.config.port + i);
});
after(async () => {
  await browser.close();
  if (d.proc) await d.stop();
});

test('no daemon: public page without the permission is BROWSER_BLOCKED; granted, HELPER_NOT_RUNNING', async () => {
  let r = await publicPage(ORIGIN, false);
  assert.equal(r.reason, 'BROWSER_BLOCKED', JSON.stringify(r));
  assert.equal(r.data.permission, 'denied');
  assert.equal(r.before, 'prompt'); // headless denied the prompt the socket raised
  assert.match(r.message, /本地网络访问/);
  r = await publicPage(ORIGIN, true);
  assert.equal(r.reason, 'HELPER_NOT_RUNNING', JSON.stringify(r));
  assert.equal(r.before, 'granted');
  assert.equal(r.data.permission, 'granted');
  r = await loopbackPage();
  assert.equal(r.reason, 'HELPER_NOT_RUNNING', JSON.stringify(r));
  assert.equal(r.data.permission, undefined, 'a loopback page is not gated');
});

test('daemon running: blocked, granted and connected, a refused origin told apart', async () => {
  await d.start();
  let r = await publicPage(ORIGIN, false);
  assert.equal(r.reason, 'BROWSER_BLOCKED', JSON.stringify(r));
  r = await publicPage(ORIGIN, true);
  assert.equal(r.version, '0.1.0', JSON.stringify(r));
  const logAt = d.log.length;
  r = await publicPage('https://evil.example.com', true);
  assert.equal(r.reason, 'ORIGIN_NOT_ALLOWED', JSON.stringify(r));
  assert.equal(r.data.probe, true);
  assert.equal(r.data.port, d.port);
  await d.waitLog(/refused a WebSocket upgrade/, 10000, logAt);
  // a loopback page is not in allowedOrigins either (its origin has a port)
  r = await loopbackPage();
  assert.equal(r.reason, 'ORIGIN_NOT_ALLOWED', JSON.stringify(r));
});
