// SPDX-License-Identifier: MIT
//
// 环境检测 live, in a real browser: the USB-KEY row follows the key in and
// out and the smart card service going away and coming back; the helper
// row follows ukeyd stopping (未安装或未运行, with the installer's download
// link) and starting again — all in one document, never reloaded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Daemon, cardStart, cardRestart, cardStop } from '../daemon/harness.mjs';
import { Hall, launchBrowser, withPage, pullAll, shot, envRow, days } from './lib.mjs';

const RIG_DIR = process.env.UK_RIG_DIR;
const KEY = 'e2e-env';
let hall;
let d;
let browser;
let old;

before(async () => {
  hall = await new Hall().start();
  d = await new Daemon({ allowedOrigins: [hall.origin] }).start();
  browser = await launchBrowser();
  old = hall.issueFor(KEY, { start: days(-345), end: days(20) });
});
after(async () => {
  await browser?.close();
  await d?.stop();
  await hall?.stop();
  pullAll([KEY], cardStop);
});

const plug = (fresh) => (fresh ? cardStart : cardRestart)(KEY, '--serial', '20240005',
  '--seed', `9a:${old.crt}:${old.key}`);

async function nextEnabled(page, yes) {
  await page.waitForSelector(`[data-action="next"][aria-disabled="${yes ? 'false' : 'true'}"]`);
}

test('the key in and out, pcscd gone and back, ukeyd stopped and started: the page follows without a reload', async () => {
  await withPage(browser, 'env', async (page) => {
    await page.goto(new URL('env.html', hall.url).href);
    await envRow(page, 'helper', 'ok');
    await envRow(page, 'driver', 'bad');
    assert.equal(await page.getAttribute('tr[data-row="driver"]', 'data-reason'), 'NO_CARD');
    assert.match(await page.textContent('tr[data-row="driver"]'), /请插入 USB-KEY/);
    await nextEnabled(page, false);
    await shot(page, 'env-01-no-key');
    // the page must stay this one document from here on
    await page.evaluate(() => { window.sameDocument = 'yes'; });

    // key in, out, in again: live
    plug(true);
    await envRow(page, 'driver', 'ok');
    assert.match(await page.textContent('tr[data-row="driver"]'), /序列号 20240005/);
    await nextEnabled(page, true);
    await shot(page, 'env-02-ok');
    cardStop(KEY);
    await envRow(page, 'driver', 'bad');
    await nextEnabled(page, false);
    plug(false);
    await envRow(page, 'driver', 'ok');

    // the smart card service stops: 重新检测 shows it with its fix
    const pcscdPid = Number(readFileSync(join(RIG_DIR, 'pcscd.pid'), 'utf8'));
    process.kill(pcscdPid, 'SIGTERM');
    await page.click('[data-action="recheck"]');
    await page.waitForSelector('tr[data-row="driver"][data-reason="PCSC_UNAVAILABLE"]');
    assert.match(await page.textContent('tr[data-row="driver"]'), /智能卡服务（pcscd）未运行/);
    assert.ok(await page.isVisible('tr[data-row="driver"] [data-action="driver"]'), 'driver download offered');
    await shot(page, 'env-03-pcscd-stopped');
    execFileSync('bash', [process.env.UK_RIG_LIB, 'start', RIG_DIR], { stdio: 'inherit' });
    // the key dials the new pcscd by itself; the helper tells the page
    await page.click('[data-action="recheck"]');
    await envRow(page, 'driver', 'ok', 60000);

    // ukeyd stops: 未安装或未运行, and the installer's link
    await d.stop();
    await page.waitForSelector('tr[data-row="helper"][data-reason="HELPER_NOT_RUNNING"]', { timeout: 60000 });
    const helperRow = await page.textContent('tr[data-row="helper"]');
    assert.match(helperRow, /未运行/);
    const href = await page.getAttribute('tr[data-row="helper"] [data-action="download"]', 'href');
    const cfg = (await hall.api('GET', '/api/config')).body;
    assert.equal(href, cfg.downloadUrl);
    const dl = await fetch(new URL(href, hall.url));
    assert.equal(dl.status, 200, `the download link works (${href})`);
    await dl.arrayBuffer();
    await envRow(page, 'driver', 'idle');
    await nextEnabled(page, false);
    assert.equal(await page.getAttribute('.helper-pill', 'data-state'), 'bad');
    await shot(page, 'env-04-not-running');

    // started again: the page finds it by itself (the SDK reconnects)
    d = await new Daemon({ allowedOrigins: [hall.origin] }).start();
    await envRow(page, 'helper', 'ok', 60000);
    await envRow(page, 'driver', 'ok');
    await nextEnabled(page, true);
    assert.equal(await page.evaluate(() => window.sameDocument), 'yes', 'no reload');
    await shot(page, 'env-05-back');
  });
  cardStop(KEY);
});

test('home, help centre and invoice query: the pages a visitor walks through', async () => {
  await withPage(browser, 'pages', async (page) => {
    await page.goto(hall.url);
    await shot(page, 'home');
    // 证书更新 starts with the environment check, as in the hall's manual
    await page.click('a[data-service="renew"]');
    await page.waitForURL(/\/env\.html$/);
    await page.goto(new URL('help.html', hall.url).href);
    await page.waitForSelector('[data-panel="flow"]:not([hidden])');
    await shot(page, 'help-flow');
    await page.click('#help-nav a[data-tab="downloads"]');
    await page.waitForSelector('[data-panel="downloads"]:not([hidden])');
    const cfg = (await hall.api('GET', '/api/config')).body;
    for (const d of cfg.downloads) {
      const href = await page.getAttribute(`[data-download="${d.package}"]`, 'href');
      assert.equal((await fetch(new URL(href, hall.url))).status, 200, href);
    }
    assert.equal((await fetch(new URL('/downloads/ca.pem', hall.url))).status, 200);
    await shot(page, 'help-downloads');
    await page.click('#help-nav a[data-tab="faq"]');
    const cats = await page.$$eval('[data-faq]', (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(cats, ['证书类', '驱动类', '控件类', '其他']);
    await page.click('[data-faq="control"]');
    await page.click('[data-faq-panel="control"] details:nth-of-type(2) summary');
    assert.match(await page.textContent('[data-faq-panel="control"] details[open]'), /127\.0\.0\.1/);
    await shot(page, 'help-faq');
    await page.click('#help-nav a[data-tab="support"]');
    await page.fill('#chat-input', '证书怎么更新？');
    await page.click('#chat-form button');
    await page.waitForSelector('#chat-msgs .msg.me');
    await page.goto(new URL('invoice.html', hall.url).href);
    await page.fill('input[name="org"]', '山西测试单位');
    await page.fill('input[name="taxId"]', '91140100MA0DEMO01X');
    await page.fill('input[name="phone"]', '13800000000');
    await page.fill('input[name="captcha"]', '0000'); // 0 is never in a code
    await page.click('#invoice-form button[type="submit"]');
    await page.waitForSelector('#invoice-result .note.error');
    await shot(page, 'invoice');
    const missing = await page.goto(new URL('no-such-page.html', hall.url).href);
    assert.equal(missing.status(), 404);
  });
});
