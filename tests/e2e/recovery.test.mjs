// SPDX-License-Identifier: MIT
//
// 异常恢复 in a real browser. The virtual key is armed to vanish in the
// middle of writing the new certificate (ukey-vkey --arm-on-signal
// --drop-after): the page shows the failure page, 异常恢复 waits for the key,
// finds the staged key (renew.pending), fetches the issued certificate from
// the hall again and installs it; the key then holds the new certificate
// exactly once. A renewal left after payment (the browser closed) is
// finished from the certificate list with 继续办理, and one whose request
// did not reach the hall's server (restarted) is handed over again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, cardStart, cardRestart, cardStop, until } from '../daemon/harness.mjs';
import { audit } from '../daemon/renew-lib.mjs';
import {
  Hall, launchBrowser, newPage, withPage, pullAll, shot, step, envRow, ukeyctlCerts, pkcs15Certs, pemBody, days, PIN,
} from './lib.mjs';

const READER = 'Yubico ukey-vkey 00 00';
const RIG_DIR = process.env.UK_RIG_DIR;
// APDUs of renew.install answered before the key vanishes: the status
// query and VERIFY, the certificate slot's object, management-key
// authentication (2), then into the chained PUT DATA of the certificate
const DROP_AFTER = 7;
let hall;
let d;
let browser;
const keys = [];

before(async () => {
  hall = await new Hall().start();
  d = await new Daemon({ allowedOrigins: [hall.origin] }).start();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await d?.stop();
  await hall?.stop();
  pullAll(keys, cardStop);
});

function issueOld(name) {
  const old = hall.issueFor(name, { start: days(-345), end: days(20) });
  return { ...old, pem: readFileSync(old.crt, 'utf8') };
}

// ukey-vkey --arm-on-signal: count APDUs from now on.
async function arm(name) {
  const log = join(RIG_DIR, `${name}.log`);
  const from = statSync(log).size;
  process.kill(Number(readFileSync(join(RIG_DIR, `${name}.pid`), 'utf8')), 'SIGUSR1');
  await until((async () => {
    while (!/armed/.test(readFileSync(log, 'utf8').slice(from))) {
      await new Promise((r) => setTimeout(r, 20));
    }
  })(), 10000, 'the key to log "armed"');
}

// Through the wizard up to the install step (paid, certificate issued).
async function toInstall(page, prefix) {
  await page.goto(new URL('renew.html', hall.url).href);
  await envRow(page, 'driver', 'ok');
  await page.click('[data-action="next"]');
  await page.click('tr[data-renewable="true"] [data-action="renew"]');
  await step(page, 'pin');
  await page.fill('#pin-input', PIN);
  await page.click('#pin-submit');
  await step(page, 'confirm');
  await page.waitForSelector('#confirm-info [data-order]');
  const orderId = await page.getAttribute('#confirm-info [data-order]', 'data-order');
  await page.click('#confirm-pay');
  await step(page, 'pay', 120000);
  await page.click('#pay-mock');
  await step(page, 'install');
  await page.waitForSelector('#install-info .note.ok');
  if (prefix) await shot(page, `${prefix}-install`);
  return orderId;
}

// Exactly one new certificate on the key: the order's, current, with its key.
function assertInstalledOnce(tokenId, order, oldPem) {
  const certs = ukeyctlCerts(d, tokenId);
  assert.equal(certs.length, 2, `old + new: ${JSON.stringify(certs.map((c) => [c.slot, c.certId]))}`);
  assert.equal(certs.filter((c) => c.certId === order.newCertId).length, 1);
  assert.equal(certs.find((c) => c.certId === order.newCertId).current, true);
  const viaOpenSC = pkcs15Certs(READER).map(pemBody);
  assert.equal(viaOpenSC.filter((p) => p === pemBody(order.certificate)).length, 1,
    'pkcs15-tool reads the new certificate once');
  assert.ok(viaOpenSC.includes(pemBody(oldPem)), 'the old certificate is still there');
  const a = audit(READER);
  assert.ok(a.ok, a.line);
  assert.equal(a.slots.length, 2, a.line);
}

test('the key pulled while the certificate is written → 更新失败 → 异常恢复 → success, installed once', async () => {
  const name = 'e2e-pull';
  const serial = '20240003';
  const tokenId = `piv:${serial}`;
  const old = issueOld(name);
  keys.push(name);
  cardStart(name, '--serial', serial, '--seed', `9a:${old.crt}:${old.key}`, '--arm-on-signal',
    '--drop-after', String(DROP_AFTER));
  await withPage(browser, 'pull', async (page) => {
    const orderId = await toInstall(page, 'recovery-01');

    await page.fill('#install-pin', PIN);
    await arm(name);
    await page.click('#install-submit');
    await step(page, 'failed', 60000);
    assert.equal(await page.getAttribute('#failed-reason', 'data-reason'), 'CARD_REMOVED');
    assert.match(await page.textContent('#failed-reason'), /USB-KEY 被拔出/);
    await shot(page, 'recovery-02-failed');
    assert.equal(hall.orders()[orderId].status, 'issued', 'paid and issued, not installed');

    // 异常恢复 with the key still out: the page waits for it
    await page.click('#recover');
    await page.waitForSelector('#recover-wait:not([hidden])');
    assert.match(await page.textContent('#recover-wait'), new RegExp(`序列号 ${serial}`));
    await shot(page, 'recovery-03-insert-key');
    cardRestart(name, '--serial', serial, '--seed', `9a:${old.crt}:${old.key}`);
    await step(page, 'install');
    await page.waitForSelector('#install-info [data-recovery="found"]');
    await shot(page, 'recovery-04-install-again');
    await page.fill('#install-pin', PIN);
    await page.click('#install-submit');
    await step(page, 'done', 120000);
    await shot(page, 'recovery-05-done');

    const order = hall.orders()[orderId];
    assert.equal(order.status, 'installed');
    assert.equal(await page.getAttribute('[data-installed]', 'data-installed'), order.newCertId);
    assertInstalledOnce(tokenId, order, old.pem);
  });
  cardStop(name);
});

test('paid, then the browser closed: 继续办理 from the certificate list installs it', async () => {
  const name = 'e2e-resume';
  const serial = '20240004';
  const tokenId = `piv:${serial}`;
  const old = issueOld(name);
  keys.push(name);
  cardStart(name, '--serial', serial, '--seed', `9a:${old.crt}:${old.key}`);
  let orderId;
  await withPage(browser, 'resume-pay', async (page) => {
    orderId = await toInstall(page);
  }); // the page is gone before installing

  await withPage(browser, 'resume', async (page) => {
    await page.goto(new URL('renew.html', hall.url).href);
    await envRow(page, 'driver', 'ok');
    await page.click('[data-action="next"]');
    const oldId = crypto.createHash('sha256').update(new crypto.X509Certificate(old.pem).raw).digest('hex');
    await page.waitForSelector(`tr[data-cert-id="${oldId}"] [data-action="resume"]`);
    await shot(page, 'resume-01-select');
    await page.click(`tr[data-cert-id="${oldId}"] [data-action="resume"]`);
    await step(page, 'install');
    await page.fill('#install-pin', PIN);
    await page.click('#install-submit');
    await step(page, 'done', 120000);
    const order = hall.orders()[orderId];
    assert.equal(order.status, 'installed');
    assertInstalledOnce(tokenId, order, old.pem);
  });
  cardStop(name);
});

test('the hall\'s server restarts between renew.begin and the request: 确认并支付 again sends the same request', async () => {
  const name = 'e2e-restart';
  const serial = '20240006';
  const tokenId = `piv:${serial}`;
  const old = issueOld(name);
  keys.push(name);
  cardStart(name, '--serial', serial, '--seed', `9a:${old.crt}:${old.key}`);
  await withPage(browser, 'restart', async (page) => {
    await page.goto(new URL('renew.html', hall.url).href);
    await envRow(page, 'driver', 'ok');
    await page.click('[data-action="next"]');
    await page.click('tr[data-renewable="true"] [data-action="renew"]');
    await page.fill('#pin-input', PIN);
    await page.click('#pin-submit');
    await page.waitForSelector('#confirm-info [data-order]');
    const orderId = await page.getAttribute('#confirm-info [data-order]', 'data-order');

    await hall.stop();
    await page.click('#confirm-pay');
    await page.waitForSelector('#confirm-error:not([hidden])', { timeout: 120000 });
    assert.match(await page.textContent('#confirm-error'), /无法连接服务大厅服务器/);
    await shot(page, 'restart-01-hall-down');
    const staged = ukeyctlPending(tokenId);
    assert.equal(staged.length, 1, 'renew.begin went through: one renewal staged');

    await hall.start(); // same port, same state
    await page.click('#confirm-pay');
    await step(page, 'pay');
    const order = hall.orders()[orderId];
    assert.equal(order.status, 'requested');
    assert.equal(order.renewalId, staged[0].renewalId, 'the request of the staged key, not a new one');
    await page.click('#pay-mock');
    await step(page, 'install');
    await page.fill('#install-pin', PIN);
    await page.click('#install-submit');
    await step(page, 'done', 120000);
    assertInstalledOnce(tokenId, hall.orders()[orderId], old.pem);
  });
  cardStop(name);
});

function ukeyctlPending(tokenId) {
  const r = d.ukeyctl('--json', 'renew-pending', tokenId);
  if (r.status !== 0) throw new Error(`ukeyctl renew-pending: ${r.status} ${r.out} ${r.err}`);
  return JSON.parse(r.out).renewals;
}
