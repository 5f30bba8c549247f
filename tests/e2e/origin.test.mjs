// SPDX-License-Identifier: MIT
//
// Who may reach ukeyd from a browser. A page from an origin missing from
// allowedOrigins is refused at the handshake (the SDK says so, the daemon
// logs it). A hall on the public web meets Chromium's Local Network Access
// gate: served as https://hall.test (an unknown address space counts as
// public), the page connects when the loopback-network permission is
// granted, reports BROWSER_BLOCKED when it is denied, and waits for a click
// before asking.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon } from '../daemon/harness.mjs';
import { Hall, launchBrowser, withPage, shot, envRow, UKEYD_PORTS } from './lib.mjs';

const PUBLIC = 'https://hall.test';
let hall;
let d;
let browser;

before(async () => {
  hall = await new Hall().start();
  d = await new Daemon({ allowedOrigins: [hall.origin, PUBLIC] }).start();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await d?.stop();
  await hall?.stop();
});

test('a page from an origin not in allowedOrigins cannot connect; the SDK says so and the daemon logs it', async () => {
  // the same hall, reached as localhost: another origin, not allowlisted
  const other = hall.url.replace('127.0.0.1', 'localhost');
  assert.notEqual(new URL(other).origin, hall.origin);
  const from = d.log.length;
  await withPage(browser, 'origin', async (page) => {
    await page.goto(new URL('env.html', other).href);
    await page.waitForSelector('tr[data-row="helper"][data-reason="ORIGIN_NOT_ALLOWED"]');
    assert.match(await page.textContent('tr[data-row="helper"]'), /拒绝连接/);
    await shot(page, 'origin-01-refused');
    // the SDK by itself, from this page
    const reason = await page.evaluate(async (ports) => {
      const { UKeyClient } = await import('/sdk/ukey.js');
      const uk = new UKeyClient({ ports, reconnect: false });
      try {
        await uk.connect();
        return 'connected';
      } catch (e) {
        return `${e.name}:${e.reason}`;
      } finally {
        uk.close();
      }
    }, UKEYD_PORTS);
    assert.equal(reason, 'UKeyError:ORIGIN_NOT_ALLOWED');
  });
  await d.waitLog(/refused a WebSocket upgrade: Origin not in allowedOrigins/, 10000, from);
});

// The hall as a public https site: every request to https://hall.test is
// answered by the hall's server on loopback.
async function asPublicSite(context) {
  await context.route(`${PUBLIC}/**`, async (route) => {
    const u = new URL(route.request().url());
    let response;
    try {
      response = await route.fetch({ url: new URL(u.pathname + u.search, hall.url).href });
    } catch (e) {
      // a request still in flight when the test closed its page
      if (/disposed|closed/i.test(e.message)) return;
      throw e;
    }
    await route.fulfill({ response }).catch(() => {});
  });
}

async function permissionState(page) {
  return page.evaluate(async () => (await navigator.permissions.query({ name: 'loopback-network' })).state);
}

// CDP Browser.setPermission for the page's browser context. The override
// lasts while the CDP session that set it stays attached: the caller keeps
// it until the end of the test.
async function setLoopbackPermission(page, setting) {
  const session = await page.context().newCDPSession(page);
  const { targetInfo } = await session.send('Target.getTargetInfo');
  await session.detach();
  const cdp = await browser.newBrowserCDPSession();
  await cdp.send('Browser.setPermission', { permission: { name: 'loopback-network' }, setting,
    origin: PUBLIC, browserContextId: targetInfo.browserContextId });
  return cdp;
}

test('public hall, Local Network Access granted: the page connects', async () => {
  await withPage(browser, 'lna-granted', async (page, context) => {
    await asPublicSite(context);
    await context.grantPermissions(['local-network-access'], { origin: PUBLIC });
    const from = d.log.length;
    await page.goto(`${PUBLIC}/env.html`);
    await envRow(page, 'helper', 'ok');
    assert.equal(await permissionState(page), 'granted');
    await envRow(page, 'driver', 'bad'); // no key in this test
    await shot(page, 'lna-01-granted');
    // the daemon saw the public origin, and let it in
    assert.doesNotMatch(d.log.slice(from), /refused a WebSocket upgrade/);
  });
});

test('public hall, Local Network Access denied: BROWSER_BLOCKED, not "helper not running"', async () => {
  await withPage(browser, 'lna-denied', async (page, context) => {
    await asPublicSite(context);
    await page.goto(`${PUBLIC}/index.html`);
    const cdp = await setLoopbackPermission(page, 'denied');
    assert.equal(await permissionState(page), 'denied');
    await page.goto(`${PUBLIC}/env.html`);
    await page.waitForSelector('tr[data-row="helper"][data-reason="BROWSER_BLOCKED"]');
    const row = await page.textContent('tr[data-row="helper"]');
    assert.match(row, /被浏览器阻止/);
    assert.match(row, /本地网络访问/);
    await shot(page, 'lna-02-denied');
    await cdp.detach();
  });
});

test('public hall, permission not asked yet: the page waits for a click, then the browser decides', async () => {
  await withPage(browser, 'lna-prompt', async (page, context) => {
    await asPublicSite(context);
    await page.goto(`${PUBLIC}/env.html`);
    assert.equal(await permissionState(page), 'prompt');
    await page.waitForSelector('tr[data-row="helper"] [data-action="start"]');
    assert.match(await page.textContent('tr[data-row="helper"]'), /待授权/);
    await shot(page, 'lna-03-ask-first');
    // headless Chromium answers the prompt with "block" at once
    await page.click('tr[data-row="helper"] [data-action="start"]');
    await page.waitForSelector('tr[data-row="helper"][data-reason="BROWSER_BLOCKED"]');
  });
});
