// SPDX-License-Identifier: MIT
//
// The renewal in a real browser: Chromium on the demo hall's pages, the
// SDK, a real ukeyd, pcscd and the virtual key. The happy path from the
// environment check to 证书更新成功, checked afterwards on the key with
// ukeyctl and OpenSC's pkcs15-tool; then the PIN: wrong (tries shown), the
// last try (the confirmation dialog, cancelled and accepted) and blocked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, Client, cardStart, cardStop } from '../daemon/harness.mjs';
import { audit } from '../daemon/renew-lib.mjs';
import {
  Hall, launchBrowser, newPage, withPage, pullAll, shot, step, envRow, ukeyctlCerts, pkcs15Certs, pemBody, days, PIN,
} from './lib.mjs';

const READER = 'Yubico ukey-vkey 00 00';
const RIG_DIR = process.env.UK_RIG_DIR;
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

// A key with a certificate from the hall's CA that expires in 20 days
// (RSA, as in scripts/run-demo; the other tests use P-256).
function plug(name, serial, keyType = 'rsa') {
  const old = hall.issueFor(name, { start: days(-345), end: days(20), keyType });
  keys.push(name);
  cardStart(name, '--serial', serial, '--seed', `9a:${old.crt}:${old.key}`);
  return { tokenId: `piv:${serial}`, oldPem: readFileSync(old.crt, 'utf8') };
}

// From the renewal page's environment check to the PIN step.
async function toPin(page, shots) {
  await page.goto(new URL('renew.html', hall.url).href);
  await envRow(page, 'helper', 'ok');
  await envRow(page, 'driver', 'ok');
  if (shots) await shot(page, 'renew-01-env-ok');
  await page.click('[data-action="next"]');
  await step(page, 'select');
  await page.waitForSelector('tr[data-renewable="true"] [data-action="renew"]');
  if (shots) await shot(page, 'renew-02-select');
  await page.click('tr[data-renewable="true"] [data-action="renew"]');
  await step(page, 'pin');
  await page.waitForSelector('#pin-retries [data-retries="3"]');
}

test('happy path: environment check → select → PIN → confirm → pay → install → success', async () => {
  const { tokenId, oldPem } = plug('e2e-happy', '20240001');
  const oldId = crypto.createHash('sha256').update(new crypto.X509Certificate(oldPem).raw).digest('hex');
  await withPage(browser, 'happy', async (page) => {

    await toPin(page, true);
    // the certificate row says what the page knows about it
    assert.equal(await page.textContent('#pin-key'), 'ukey virtual PIV（序列号 20240001）证书：张三（山西测试单位）');
    await shot(page, 'renew-03-pin');
    await page.fill('#pin-input', PIN);
    await page.click('#pin-submit');

    await step(page, 'confirm');
    await page.waitForSelector('#confirm-info [data-order]');
    const orderId = await page.getAttribute('#confirm-info [data-order]', 'data-order');
    const info = await page.textContent('#confirm-info');
    for (const s of ['张三', '山西测试单位', '91140100MA0DEMO01X', '¥200.00', 'RSA 2048']) {
      assert.ok(info.includes(s), `confirmation shows ${s}: ${info}`);
    }
    await shot(page, 'renew-04-confirm');
    await page.click('#confirm-pay');

    await step(page, 'pay', 120000); // renew.begin generates a key on the card
    let order = hall.orders()[orderId];
    assert.equal(order.status, 'requested', 'the CA has the request before payment');
    assert.equal(order.oldCertId, oldId);
    assert.match(order.renewalId, /^[0-9a-f]{32}$/);
    await shot(page, 'renew-05-pay');
    await page.click('#pay-mock');

    await step(page, 'install');
    order = hall.orders()[orderId];
    assert.equal(order.status, 'issued', 'paid, then issued');
    await page.waitForSelector('#install-info .note.ok');
    await shot(page, 'renew-06-install');
    await page.fill('#install-pin', PIN);
    await page.click('#install-submit');

    await step(page, 'done', 120000);
    const installed = await page.getAttribute('[data-installed]', 'data-installed');
    assert.equal(await page.getAttribute('[data-installed]', 'data-already'), 'false');
    await shot(page, 'renew-07-done');
    order = hall.orders()[orderId];
    assert.equal(order.status, 'installed', 'the page told the hall');
    assert.equal(order.newCertId, installed);

    // on the key, as other programs see it
    const certs = ukeyctlCerts(d, tokenId);
    assert.equal(certs.length, 2, JSON.stringify(certs.map((c) => c.slot)));
    const fresh = certs.find((c) => c.certId === installed);
    assert.ok(fresh, 'ukeyctl lists the new certificate');
    assert.equal(fresh.current, true);
    assert.notEqual(fresh.slot, '9a');
    assert.equal(fresh.commonName, '张三');
    const oldOne = certs.find((c) => c.certId === oldId);
    assert.equal(oldOne.current, false);
    assert.equal(oldOne.renewal.reason, 'SUPERSEDED');
    assert.equal(oldOne.renewal.supersededBy, installed);
    const viaOpenSC = pkcs15Certs(READER).map(pemBody);
    assert.ok(viaOpenSC.includes(pemBody(order.certificate)), 'pkcs15-tool reads the issued certificate');
    assert.ok(viaOpenSC.includes(pemBody(oldPem)), 'and the old one is still there');
    const a = audit(READER);
    assert.ok(a.ok, a.line);

    // the list after the renewal: the old certificate is marked renewed
    await page.click('[data-action="show-certs"]');
    await page.waitForSelector(`tr[data-cert-id="${oldId}"][data-renewable="false"]`);
    await page.waitForSelector(`tr[data-cert-id="${installed}"]`);
    await shot(page, 'renew-08-after');
  });
  cardStop('e2e-happy');
});

test('PIN: a wrong PIN shows the tries left, the last try asks first, a blocked PIN says what to do', async () => {
  const { tokenId } = plug('e2e-pin', '20240002', 'ec');
  await withPage(browser, 'pin', async (page) => {
    const c = await Client.open(d, { origin: hall.origin });
    await c.call('system.hello', {});
    const pinStatus = async () => (await c.call('pin.status', { tokenId })).result;
    await toPin(page, false);

    // wrong: the tries left, from the key
    await page.fill('#pin-input', '000000');
    await page.click('#pin-submit');
    await page.waitForSelector('#pin-retries [data-retries="2"]');
    assert.match(await page.textContent('#pin-error'), /PIN 码错误，还可以尝试 2 次/);
    await shot(page, 'pin-01-wrong');
    assert.equal((await pinStatus()).retriesLeft, 2);

    await page.fill('#pin-input', '111111');
    await page.click('#pin-submit');
    await page.waitForSelector('#pin-retries [data-retries="1"]');
    assert.equal((await pinStatus()).retriesLeft, 1);

    // the last try: the page asks; cancelling sends nothing
    await page.fill('#pin-input', '222222');
    await page.click('#pin-submit');
    await page.waitForSelector('dialog#last-try[open]');
    assert.match(await page.textContent('dialog#last-try'), /最后 1 次/);
    await shot(page, 'pin-02-last-try');
    await page.click('dialog#last-try [data-answer="no"]');
    await page.waitForSelector('dialog#last-try', { state: 'detached' });
    assert.match(await page.textContent('#pin-error'), /已取消验证/);
    assert.equal((await pinStatus()).retriesLeft, 1, 'no try spent by cancelling');
    await step(page, 'pin');

    // confirmed: the key decides, and the PIN is blocked
    await page.click('#pin-submit');
    await page.waitForSelector('dialog#last-try[open]');
    await page.click('dialog#last-try [data-answer="yes"]');
    await page.waitForSelector('#pin-blocked [data-state="blocked"]');
    assert.match(await page.textContent('#pin-blocked'), /服务网点/);
    assert.equal(await page.isVisible('#pin-form'), false);
    await shot(page, 'pin-03-blocked');
    const st = await pinStatus();
    assert.equal(st.blocked, true);

    // coming back later: the page knows before any PIN is typed
    await page.click('#pin-blocked a[href="/"]');
    await page.goto(new URL('renew.html', hall.url).href);
    await envRow(page, 'driver', 'ok');
    await page.click('[data-action="next"]');
    await page.click('tr[data-renewable="true"] [data-action="renew"]');
    await page.waitForSelector('#pin-blocked [data-state="blocked"]');
    await c.close();
  });
  cardStop('e2e-pin');
});
