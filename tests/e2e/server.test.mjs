// SPDX-License-Identifier: MIT
//
// The demo hall's server as the CA behind the pages, through its HTTP API
// alone (no browser, no key): orders with a challenge each, the request
// checked (proof by the old key over challenge ‖ CSR DER, CSR signature,
// subject, a new key), payment before issuance, the issued certificate
// handed out again, input refused with clear errors, and the state kept
// across a restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import crypto from 'node:crypto';
import { Hall, days, SUBJECT, pemBody } from './lib.mjs';

let hall;

before(async () => {
  hall = await new Hall().start();
});
after(async () => {
  await hall.stop();
});

// An old certificate from the hall's CA, and a renewal request as the
// daemon would make it: a new key's CSR with the old subject, and the old
// key's signature over SHA-256(challenge ‖ CSR DER).
function oldCert(name, opts = {}) {
  const c = hall.issueFor(name, { start: days(-345), end: days(20), ...opts });
  const pem = readFileSync(c.crt, 'utf8');
  const certId = crypto.createHash('sha256').update(Buffer.from(pemBody(pem), 'base64')).digest('hex');
  return { ...c, pem, certId };
}

function request(old, challenge, { subject = SUBJECT, reuseKey = false, signWith } = {}) {
  const dir = join(hall.dir, 'keys');
  const n = crypto.randomBytes(4).toString('hex');
  const key = reuseKey ? old.key : join(dir, `new-${n}.key`);
  const csrFile = join(dir, `new-${n}.csr`);
  const args = ['req', '-new', '-utf8', '-subj', subject, '-out', csrFile];
  if (reuseKey) {
    args.push('-key', key);
  } else {
    args.push('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key);
  }
  execFileSync('openssl', args, { stdio: 'ignore' });
  const csr = readFileSync(csrFile, 'utf8');
  const data = Buffer.concat([Buffer.from(challenge, 'ascii'), Buffer.from(pemBody(csr), 'base64')]);
  const signature = crypto.sign('sha256', data, readFileSync(signWith || old.key)).toString('base64');
  return { csr, proof: { algorithm: 'ecdsa-with-SHA256', signature },
    renewalId: crypto.randomBytes(16).toString('hex') };
}

async function order(old) {
  const r = await hall.api('POST', '/api/orders', { tokenId: 'piv:20240001', certId: old.certId, certificate: old.pem });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.order;
}

test('an order per renewal, each with its own random challenge', async () => {
  const a = await order(oldCert('a'));
  const b = await order(oldCert('b'));
  assert.equal(a.status, 'created');
  assert.match(a.id, /^R\d{8}[0-9A-F]{8}$/);
  assert.notEqual(a.challenge, b.challenge);
  assert.ok(Buffer.from(a.challenge, 'base64url').length >= 32);
  assert.equal(a.commonName, '张三');
  assert.equal(a.organization, '山西测试单位');
  // the same certificate again: the open order, not a second one
  const old = oldCert('again');
  const first = await order(old);
  const again = await hall.api('POST', '/api/orders', { tokenId: 'piv:20240001', certId: old.certId, certificate: old.pem });
  assert.equal(again.status, 200);
  assert.equal(again.body.existing, true);
  assert.equal(again.body.order.id, first.id);
});

test('the whole renewal: request, payment, issuance, the certificate again, installed', async () => {
  const old = oldCert('whole');
  const o = await order(old);
  const req = request(old, o.challenge);

  // no payment before the request, no certificate before payment
  assert.equal((await hall.api('POST', `/api/orders/${o.id}/pay`, {})).body.error.code, 'ORDER_STATE');
  assert.equal((await hall.api('GET', `/api/orders/${o.id}/certificate`)).status, 409);

  const r = await hall.api('POST', `/api/orders/${o.id}/request`, req);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.order.status, 'requested');
  assert.equal((await hall.api('GET', `/api/orders/${o.id}/certificate`)).body.error.code, 'NOT_PAID');
  // the same request again is fine (a page that lost the answer)
  assert.equal((await hall.api('POST', `/api/orders/${o.id}/request`, req)).status, 200);

  const paid = await hall.api('POST', `/api/orders/${o.id}/pay`, { method: 'mock' });
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  assert.equal(paid.body.order.status, 'issued');
  assert.match(paid.body.order.payment.transactionId, /^MOCK/);

  const c1 = (await hall.api('GET', `/api/orders/${o.id}/certificate`)).body;
  const c2 = (await hall.api('GET', `/api/orders/${o.id}/certificate`)).body;
  assert.equal(c1.certificate, c2.certificate, 'handed out again, the same certificate');
  const x = new crypto.X509Certificate(c1.certificate);
  const ca = new crypto.X509Certificate(c1.chain[0]);
  assert.ok(x.verify(ca.publicKey), 'issued by the hall CA');
  assert.equal(x.subject, new crypto.X509Certificate(old.pem).subject);
  // the new key is the CSR's, not the old one
  const csrKey = execFileSync('openssl', ['req', '-noout', '-pubkey'], { input: req.csr, encoding: 'utf8' });
  assert.equal(x.publicKey.export({ type: 'spki', format: 'pem' }), crypto.createPublicKey(csrKey).export({ type: 'spki', format: 'pem' }));
  // one year past the old expiry
  assert.ok(new Date(x.validTo) > days(380));
  assert.equal(c1.certId, crypto.createHash('sha256').update(x.raw).digest('hex'));

  const wrong = await hall.api('POST', `/api/orders/${o.id}/installed`, { certId: old.certId });
  assert.equal(wrong.body.error.code, 'CERT_ID_MISMATCH');
  const done = await hall.api('POST', `/api/orders/${o.id}/installed`, { certId: c1.certId });
  assert.equal(done.body.order.status, 'installed');
  // found again by certificate and by renewal
  assert.equal((await hall.api('GET', `/api/orders?renewalId=${req.renewalId}`)).body.orders[0].id, o.id);
  assert.equal((await hall.api('GET', `/api/orders?certId=${old.certId}`)).body.orders[0].id, o.id);
  // a renewed certificate is not renewed twice
  const twice = await hall.api('POST', '/api/orders', { tokenId: 'piv:20240001', certId: old.certId, certificate: old.pem });
  assert.equal(twice.body.error.code, 'ALREADY_RENEWED');
});

test('requests that do not prove the old key, or change the subject, or keep the key, are refused', async () => {
  const old = oldCert('refuse');
  const o = await order(old);
  const stranger = oldCert('stranger');
  const cases = [
    ['proof by another key', request(old, o.challenge, { signWith: stranger.key }), 'PROOF_INVALID'],
    ['proof over another challenge', request(old, 'A'.repeat(43)), 'PROOF_INVALID'],
    ['another subject', request(old, o.challenge, { subject: '/CN=李四/O=山西测试单位/OU=信息部/serialNumber=91140100MA0DEMO01X' }), 'SUBJECT_MISMATCH'],
    ['the old key again', request(old, o.challenge, { reuseKey: true }), 'KEY_REUSED'],
  ];
  for (const [what, body, code] of cases) {
    const r = await hall.api('POST', `/api/orders/${o.id}/request`, body);
    assert.equal(r.status, 422, what);
    assert.equal(r.body.error.code, code, `${what}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, /[\u4e00-\u9fff]/, 'a zh-CN message');
  }
  // a CSR whose self-signature is broken (a byte of the signature flipped)
  const good = request(old, o.challenge);
  const der = Buffer.from(pemBody(good.csr), 'base64');
  der[der.length - 5] ^= 0x55;
  const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const data = Buffer.concat([Buffer.from(o.challenge, 'ascii'), der]);
  const r = await hall.api('POST', `/api/orders/${o.id}/request`, { ...good, csr: broken,
    proof: { algorithm: 'ecdsa-with-SHA256', signature: crypto.sign('sha256', data, readFileSync(old.key)).toString('base64') } });
  assert.equal(r.body.error.code, 'CSR_INVALID', JSON.stringify(r.body));
  // the order is still waiting for a good request
  assert.equal((await hall.api('GET', `/api/orders/${o.id}`)).body.order.status, 'created');
  assert.equal((await hall.api('POST', `/api/orders/${o.id}/request`, good)).status, 200);
});

test('certificates the hall may not renew', async () => {
  // another CA's certificate
  const dir = join(hall.dir, 'keys');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'self.key'), '-out', join(dir, 'self.pem'), '-days', '20', '-subj', '/CN=张三'], { stdio: 'ignore' });
  const self = readFileSync(join(dir, 'self.pem'), 'utf8');
  const selfId = crypto.createHash('sha256').update(Buffer.from(pemBody(self), 'base64')).digest('hex');
  let r = await hall.api('POST', '/api/orders', { tokenId: 'piv:1', certId: selfId, certificate: self });
  assert.equal(r.body.error.code, 'NOT_OUR_CERTIFICATE');
  // outside the window: 60 days left; expired 13 months ago
  for (const [name, start, end] of [['early', days(-300), days(60)], ['late', days(-800), days(-400)]]) {
    const c = oldCert(name, { start, end });
    r = await hall.api('POST', '/api/orders', { tokenId: 'piv:1', certId: c.certId, certificate: c.pem });
    assert.equal(r.status, 422, name);
    assert.equal(r.body.error.code, 'RENEWAL_NOT_ALLOWED', name);
    assert.ok(r.body.error.opensAt && r.body.error.closesAt);
  }
  // expired 11 months ago: still inside
  const c = oldCert('expired', { start: days(-700), end: days(-330) });
  r = await hall.api('POST', '/api/orders', { tokenId: 'piv:1', certId: c.certId, certificate: c.pem });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});

test('bad input of every kind gets a clear JSON error', async () => {
  const old = oldCert('bad');
  const o = await order(old);
  const cases = [
    ['POST', '/api/orders', '{"tokenId":', 400, 'INVALID_JSON'],
    ['POST', '/api/orders', '[]', 400, 'INVALID_BODY'],
    ['POST', '/api/orders', { tokenId: 'piv:1', certId: old.certId }, 400, 'INVALID_CERTIFICATE'],
    ['POST', '/api/orders', { tokenId: 'piv:1', certId: old.certId, certificate: old.pem, x: 1 }, 400, 'UNKNOWN_FIELD'],
    ['POST', '/api/orders', { tokenId: 7, certId: old.certId, certificate: old.pem }, 400, 'MISSING_FIELD'],
    ['POST', '/api/orders', { tokenId: 'nocolon', certId: old.certId, certificate: old.pem }, 400, 'INVALID_FIELD'],
    ['POST', '/api/orders', { tokenId: 'piv:1', certId: 'AB', certificate: old.pem }, 400, 'INVALID_FIELD'],
    ['POST', '/api/orders', { tokenId: 'piv:1', certId: 'a'.repeat(64), certificate: old.pem }, 400, 'CERT_ID_MISMATCH'],
    ['POST', '/api/orders', { tokenId: 'piv:1', certId: old.certId, certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, 400, 'INVALID_CERTIFICATE'],
    ['POST', '/api/orders', { tokenId: 'piv:1', certId: old.certId, certificate: 'x'.repeat(70000) }, 413, 'BODY_TOO_LARGE'],
    ['GET', '/api/orders/R2026112400000000', undefined, 404, 'ORDER_NOT_FOUND'],
    ['GET', '/api/orders/..%2F..%2Fetc', undefined, 404, 'ORDER_NOT_FOUND'],
    ['GET', '/api/orders', undefined, 400, 'MISSING_FIELD'],
    ['GET', '/api/orders?certId=zz', undefined, 400, 'INVALID_FIELD'],
    ['DELETE', `/api/orders/${o.id}`, undefined, 405, 'METHOD_NOT_ALLOWED'],
    ['POST', `/api/orders/${o.id}/request`, { csr: 'nope', proof: {}, renewalId: 'a'.repeat(32) }, 400, 'INVALID_CSR'],
    ['POST', `/api/orders/${o.id}/request`, { csr: request(old, o.challenge).csr, renewalId: 'a'.repeat(32) }, 400, 'MISSING_FIELD'],
    ['POST', `/api/orders/${o.id}/request`, { ...request(old, o.challenge), renewalId: 'xyz' }, 400, 'INVALID_FIELD'],
    ['POST', `/api/orders/${o.id}/request`, { ...request(old, o.challenge), proof: { algorithm: 'sha256WithRSAEncryption', signature: 'AAAA' } }, 400, 'PROOF_ALGORITHM'],
    ['POST', `/api/orders/${o.id}/request`, { ...request(old, o.challenge), proof: { algorithm: 'ecdsa-with-SHA256', signature: '***' } }, 400, 'INVALID_FIELD'],
    ['POST', `/api/orders/${o.id}/pay`, { method: 'cash' }, 400, 'INVALID_FIELD'],
    ['GET', '/api/nothing', undefined, 404, 'NOT_FOUND'],
  ];
  for (const [method, path, body, status, code] of cases) {
    const r = await hall.api(method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, code, `${method} ${path}`);
    assert.equal(typeof r.body.error.message, 'string');
  }
  // not JSON at all
  const r = await fetch(new URL('/api/orders', hall.url), { method: 'POST', body: 'a=b',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(r.status, 415);
  // files outside the pages are not served
  for (const p of ['/../server.mjs', '/%2e%2e/server.mjs', '/sdk/../demo/ca.mjs', '/.hidden', '/downloads/../../etc/passwd']) {
    assert.equal((await fetch(new URL(p, hall.url))).status, 404, p);
  }
  assert.equal((await fetch(new URL('/sdk/ukey.js', hall.url))).status, 200);
  // the server is still well
  assert.equal((await hall.api('GET', '/api/config')).status, 200);
});

test('the state survives a restart; the file is replaced whole', async () => {
  const old = oldCert('restart');
  const o = await order(old);
  await hall.api('POST', `/api/orders/${o.id}/request`, request(old, o.challenge));
  await hall.api('POST', `/api/orders/${o.id}/pay`, {});
  const before = (await hall.api('GET', `/api/orders/${o.id}/certificate`)).body.certificate;
  await hall.stop();
  await hall.start(); // same port, same state directory
  const after = await hall.api('GET', `/api/orders/${o.id}/certificate`);
  assert.equal(after.status, 200);
  assert.equal(after.body.certificate, before);
  assert.equal((await hall.api('GET', `/api/orders/${o.id}`)).body.order.status, 'issued');
  assert.ok(existsSync(join(hall.dir, 'orders.json')));
  assert.deepEqual(readdirSync(hall.dir).filter((f) => f.endsWith('.tmp')), []);
  // the CA was made once: the order issued before the restart verifies with today's CA
  const ca = new crypto.X509Certificate(readFileSync(join(hall.dir, 'ca', 'ca.pem')));
  assert.ok(new crypto.X509Certificate(before).verify(ca.publicKey));
});
