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
