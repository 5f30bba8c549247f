// SPDX-License-Identifier: MIT
//
// Online renewal through a real daemon, pcscd and the virtual key: the
// happy path checked by third-party tools (OpenSC's pkcs11-tool,
// yubico-piv-tool, openssl), the proof of possession, progress events,
// idempotent install, cancel, and every refusal — each followed by a check
// that nothing on the token changed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import crypto from 'node:crypto';
import { Daemon, Client, cardStart, cardStop, makeCert } from './harness.mjs';
import { TestCA, PIN, audit, proofValid, randomChallenge, x509, pemBody } from './renew-lib.mjs';

const READER = 'Yubico ukey-vkey 00 00';
const READER2 = 'Yubico ukey-vkey 00 01';
const SUBJECT = '/CN=张三/O=山西测试单位/OU=信息部';
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-renew-'));
const ca = new TestCA(join(tmp, 'ca'));
let d;
let c;

before(async () => {
  d = await new Daemon().start();
  c = await Client.open(d);
  await c.call('system.hello', { sdkVersion: '0.1.0' });
});
after(async () => {
  await d.stop();
  for (const k of ['renew', 'renew2']) {
    if (existsSync(join(process.env.UK_RIG_DIR, `${k}.pid`))) cardStop(k);
  }
});

// Plugs a key in (a fresh state) and waits for the daemon to open it.
async function plug(name, serial, args, port = '35963') {
  const seen = c.event((m) => m.method === 'token.inserted' && m.params.tokenId === `piv:${serial}`,
    20000, `token.inserted piv:${serial}`);
  cardStart(name, '--serial', serial, '--port', port, ...args);
  await seen;
  return `piv:${serial}`;
}

async function ok(method, params) {
  const r = await c.call(method, params, 60000);
  assert.ok(r.result, `${method} failed: ${JSON.stringify(r.error)}`);
  return r.result;
}

async function fails(method, params, reason) {
  const r = await c.call(method, params, 60000);
  assert.ok(r.error, `${method} should fail with ${reason}, got ${JSON.stringify(r.result)}`);
  assert.equal(r.error.data.reason, reason, JSON.stringify(r.error));
  return r.error;
}

function certObjects(reader) {
  const out = execFileSync(join(process.env.UK_BUILD_DIR, 'tests', 'integration', 'token-shell'),
    [reader], { input: 'open\ncerts\nquit\n', encoding: 'utf8' });
  return out.split('\n').filter((l) => l.startsWith('cert ')).sort().join('\n');
}

test('happy path: begin, the CA signs, install; third-party tools see the new key', async () => {
  const old = makeCert(tmp, 'happy', 20, SUBJECT);
  const tokenId = await plug('renew', '13579', ['--seed', `9a:${old.crt}:${old.key}`]);
  const oldPem = readFileSync(old.crt, 'utf8');
  const [oldCert] = (await ok('cert.list', { tokenId })).certs;
  assert.equal(oldCert.current, true);
  assert.equal(oldCert.renewal.eligible, true);

  // a second client (another tab) sees the token's events, never this renewal's progress
  const other = await Client.open(d);
  await other.call('system.hello', { sdkVersion: '0.1.0' });
  const challenge = randomChallenge();
  const t0 = performance.now();
  const b = await ok('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge });
  const beginMs = performance.now() - t0;
  assert.match(b.renewalId, /^[0-9a-f]{32}$/);
  assert.equal(b.slot, '82');
  assert.equal(b.keyType, 'p256');
  assert.equal(b.oldCertId, oldCert.certId);
  assert.equal(b.proof.algorithm, 'ecdsa-with-SHA256');
  // the proof verifies with the OLD certificate, over this challenge and CSR
  assert.ok(proofValid(oldPem, challenge, b.csr, b.proof), 'proof of possession');
  assert.ok(!proofValid(oldPem, challenge + 'x', b.csr, b.proof), 'proof bound to the challenge');
  // the CSR: the old subject, the new key, a valid self-signature
  const csrFile = join(tmp, 'happy.csr');
  writeFileSync(csrFile, b.csr);
  const subj = execFileSync('openssl', ['req', '-in', csrFile, '-noout', '-verify', '-subject',
    '-nameopt', 'utf8,sep_comma_plus'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(subj, /CN=张三,\s*O=山西测试单位,\s*OU=信息部/);
  const csrPub = execFileSync('openssl', ['req', '-in', csrFile, '-noout', '-pubkey'], { encoding: 'utf8' });
  assert.equal(crypto.createPublicKey(csrPub).export({ type: 'spki', format: 'der' }).toString('hex'),
    crypto.createPublicKey(b.publicKey).export({ type: 'spki', format: 'der' }).toString('hex'));
  // progress, in order, to this client
  const stages = [];
  for (const want of ['verifyingPin', 'generatingKey', 'storingPublicKey', 'signingRequest']) {
    const e = await c.event((m) => m.method === 'renew.progress' && m.params.stage === want, 5000, want);
    stages.push(e.params.stage);
  }
  assert.deepEqual(stages, ['verifyingPin', 'generatingKey', 'storingPublicKey', 'signingRequest']);
  // the staged key is not a certificate of the holder: cert.list is unchanged
  assert.equal((await ok('cert.list', { tokenId })).certs.length, 1);
  const p = await ok('renew.pending', { tokenId });
  assert.equal(p.renewals.length, 1);
  assert.equal(p.renewals[0].renewalId, b.renewalId);
  assert.equal(p.renewals[0].state, 'requested');
  assert.equal(p.renewals[0].csr, b.csr);
  assert.equal(p.renewals[0].onToken, true);
  assert.match(p.renewals[0].oldCertificate, /BEGIN CERTIFICATE/);
  assert.ok(audit(READER).ok);

  // the CA issues (a chain: leaf then CA, as a hall would hand it out)
  const issued = ca.issue(b.csr, { days: 730 });
  const t1 = performance.now();
  const inst = await ok('renew.install', { tokenId, pin: PIN, certificate: issued + ca.pem });
  const installMs = performance.now() - t1;
  console.log(`# renew.begin ${beginMs.toFixed(0)} ms, renew.install ${installMs.toFixed(0)} ms (virtual key, p256)`);
  assert.equal(inst.installed, true);
  assert.equal(inst.alreadyInstalled, false);
  assert.equal(inst.slot, '82');
  assert.equal(inst.renewalId, b.renewalId);
  for (const want of ['verifyingPin', 'writingCertificate', 'verifying']) {
    await c.event((m) => m.method === 'renew.progress' && m.params.stage === want &&
      m.params.renewalId === b.renewalId, 5000, want);
  }
  const leaf = x509(issued);
  const list = (await ok('cert.list', { tokenId })).certs;
  assert.equal(list.length, 2);
  const fresh = list.find((x) => x.certId === inst.certId);
  const prev = list.find((x) => x.certId === oldCert.certId);
  assert.ok(fresh && prev, 'both certificates listed');
  assert.equal(fresh.slot, '82');
  assert.equal(new Date(fresh.notBefore).getTime(), new Date(leaf.validFrom).getTime());
  assert.equal(new Date(fresh.notAfter).getTime(), new Date(leaf.validTo).getTime());
  assert.equal(fresh.current, true);
  assert.equal(prev.current, false);
  assert.equal(prev.renewal.eligible, false);
  assert.equal(prev.renewal.reason, 'SUPERSEDED');
  assert.equal(prev.slot, '9a', 'the old certificate and key stay');
  assert.deepEqual((await ok('renew.pending', { tokenId })).renewals, []);
  assert.deepEqual((await other.call('system.ping')).result, { pong: true });
  assert.deepEqual(other.events.filter((m) => m.method === 'renew.progress'), []);
  await other.close();

  // idempotent
  const again = await ok('renew.install', { tokenId, pin: PIN, certificate: issued });
  assert.equal(again.alreadyInstalled, true);
  assert.equal(again.certId, inst.certId);

  // third parties: yubico-piv-tool reads it and signs with the new key
  const ypt = execFileSync('yubico-piv-tool', ['-r', READER, '-a', 'read-certificate', '-s', '82'],
    { encoding: 'utf8' });
  assert.ok(pemBody(ypt).equals(pemBody(issued)));
  const issuedFile = join(tmp, 'issued.pem');
  writeFileSync(issuedFile, issued);
  const ts = spawnSync('yubico-piv-tool', ['-r', READER, '-a', 'verify-pin', '-P', PIN, '-a',
    'test-signature', '-s', '82', '-i', issuedFile], { encoding: 'utf8' });
  assert.equal(ts.status, 0, ts.stderr);
  assert.match(ts.stdout + ts.stderr, /Successful ECDSA verification/);
  // OpenSC's PKCS#11 module: the first retired slot (82) is object id 05
  const der = join(tmp, 'p11.der');
  execFileSync('pkcs11-tool', ['--module', '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so',
    '--read-object', '--type', 'cert', '--id', '05', '-o', der], { stdio: ['ignore', 'pipe', 'pipe'] });
  assert.ok(readFileSync(der).equals(pemBody(issued)));
  // every certificate object matches its key: 9a (old) and 82 (new)
  const a = audit(READER);
  assert.ok(a.ok, a.line);
  assert.deepEqual(a.slots.sort(), ['82', '9a']);
  // the old certificate cannot be renewed again; the new one is not due
  await fails('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge }, 'RENEWAL_NOT_ALLOWED');
  cardStop('renew');
});

test('RSA key in 9C (PIN always): the proof re-verifies the PIN; keyType override; base64 DER', async () => {
  const dir = mkdtempSync(join(tmp, 'rsa-'));
  const key = join(dir, 'k.pem');
  const crt = join(dir, 'c.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
    '-days', '10', '-utf8', '-subj', '/CN=李四/O=测试单位'], { stdio: 'ignore' });
  const tokenId = await plug('renew2', '24601', ['--seed', `9c:${crt}:${key}`], '35964');
  const [old] = (await ok('cert.list', { tokenId })).certs;
  assert.equal(old.slot, '9c');
  const challenge = randomChallenge();
  const b = await ok('renew.begin', { tokenId, certId: old.certId, pin: PIN, challenge, keyType: 'rsa2048' });
  assert.equal(b.keyType, 'rsa2048');
  assert.equal(b.proof.algorithm, 'sha256WithRSAEncryption');
  assert.ok(proofValid(readFileSync(crt, 'utf8'), challenge, b.csr, b.proof));
  // the CA's answer as one base64 DER certificate (no PEM armour)
  const issued = ca.issue(b.csr);
  const der64 = pemBody(issued).toString('base64');
  const inst = await ok('renew.install', { tokenId, pin: PIN, certificate: der64 });
  assert.equal(inst.installed, true);
  assert.equal(inst.alreadyInstalled, false);
  // the same certificate again, as PEM: already installed, nothing written
  assert.equal((await ok('renew.install', { tokenId, pin: PIN, certificate: issued })).alreadyInstalled, true);
  const a = audit(READER2);
  assert.ok(a.ok, a.line);
  assert.deepEqual(a.slots.sort(), ['82', '9c']);
  cardStop('renew2');
});

test('refusals: each leaves the token as it was', async () => {
  const old = makeCert(tmp, 'refuse', 20, SUBJECT);
  const tokenId = await plug('renew', '11223', ['--seed', `9a:${old.crt}:${old.key}`]);
  const [oldCert] = (await ok('cert.list', { tokenId })).certs;
  const challenge = randomChallenge();

  // install with no pending renewal
  const stranger = makeCert(tmp, 'stranger', 300, SUBJECT);
  await fails('renew.install', { tokenId, pin: PIN, certificate: readFileSync(stranger.crt, 'utf8') },
    'RENEWAL_NOT_FOUND');
  // wrong PIN at begin: nothing staged
  const before0 = certObjects(READER);
  const e = await fails('renew.begin', { tokenId, certId: oldCert.certId, pin: '000000', challenge },
    'PIN_INCORRECT');
  assert.equal(e.data.retriesLeft, 2);
  assert.equal(certObjects(READER), before0);
  assert.deepEqual((await ok('renew.pending', { tokenId })).renewals, []);
  // bad params
  const bad = await c.call('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge: 'short' });
  assert.equal(bad.error.code, -32602);
  const bad2 = await c.call('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge, keyType: 'rsa512' });
  assert.equal(bad2.error.data.field, 'keyType');

  // two renewals of the same certificate at once: one wins
  const c2 = await Client.open(d);
  const [r1, r2] = await Promise.all([
    c.call('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge }, 60000),
    c2.call('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge }, 60000),
  ]);
  await c2.close();
  const win = r1.result ? r1 : r2;
  const lose = r1.result ? r2 : r1;
  assert.ok(win.result, JSON.stringify(r1) + JSON.stringify(r2));
  assert.equal(lose.error.data.reason, 'RENEWAL_PENDING');
  assert.equal(lose.error.data.renewalId, win.result.renewalId);
  const b = win.result;
  const staged = certObjects(READER);

  const refuse = async (certificate, reason) => {
    const err = await fails('renew.install', { tokenId, pin: PIN, certificate }, reason);
    assert.equal(certObjects(READER), staged, `${reason}: nothing written`);
    return err;
  };
  // a certificate for another key (same subject, same CA)
  const otherKey = join(tmp, 'other.key');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', otherKey, '-out', join(tmp, 'other.csr'), '-utf8', '-subj', SUBJECT], { stdio: 'ignore' });
  await refuse(ca.issue(readFileSync(join(tmp, 'other.csr'), 'utf8')), 'CERT_KEY_MISMATCH');
  // a chain without the leaf
  await refuse(ca.pem, 'CERT_KEY_MISMATCH');
  // expired, and not yet valid
  const day = 86400_000;
  let err = await refuse(ca.issue(b.csr, { start: new Date(Date.now() - 40 * day), end: new Date(Date.now() - day) }),
    'CERT_NOT_VALID');
  assert.ok(err.data.notAfter);
  await refuse(ca.issue(b.csr, { start: new Date(Date.now() + 2 * day), days: 365 }), 'CERT_NOT_VALID');
  // another subject
  err = await refuse(ca.issue(b.csr, { subject: '/CN=王五/O=山西测试单位/OU=信息部' }), 'CERT_SUBJECT_MISMATCH');
  assert.match(err.data.expected, /张三/);
  // garbage of several kinds
  for (const g of ['hello', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    crypto.randomBytes(300).toString('base64'), 'MIIB']) {
    const ge = await refuse(g, 'MALFORMED_DATA');
    assert.equal(ge.data.field, 'certificate');
  }
  // a renewalId that is not this one
  await fails('renew.install', { tokenId, pin: PIN, certificate: ca.issue(b.csr), renewalId: 'ab'.repeat(16) },
    'RENEWAL_NOT_FOUND');
  // wrong PIN at install: nothing written, still pending
  const good = ca.issue(b.csr);
  await fails('renew.install', { tokenId, pin: '000000', certificate: good }, 'PIN_INCORRECT');
  assert.equal(certObjects(READER), staged);
  assert.equal((await ok('renew.pending', { tokenId })).renewals.length, 1);
  const a = audit(READER);
  assert.ok(a.ok, a.line);

  // cancel: the placeholder and the record go, the old certificate stays
  await fails('renew.cancel', { tokenId, renewalId: 'cd'.repeat(16), pin: PIN }, 'RENEWAL_NOT_FOUND');
  const cancelled = await ok('renew.cancel', { tokenId, renewalId: b.renewalId, pin: PIN });
  assert.equal(cancelled.cancelled, true);
  assert.equal(certObjects(READER), before0);
  assert.deepEqual((await ok('renew.pending', { tokenId })).renewals, []);
  const after = (await ok('cert.list', { tokenId })).certs;
  assert.deepEqual(after.map((x) => x.certId), [oldCert.certId]);
  // the cancelled key's certificate is refused now
  await fails('renew.install', { tokenId, pin: PIN, certificate: good }, 'RENEWAL_NOT_FOUND');
  cardStop('renew');
});

test('begin outside the renewal window', async () => {
  const old = makeCert(tmp, 'early', 400, SUBJECT);
  const tokenId = await plug('renew', '33445', ['--seed', `9a:${old.crt}:${old.key}`]);
  const [cert] = (await ok('cert.list', { tokenId })).certs;
  assert.equal(cert.renewal.eligible, false);
  const e = await fails('renew.begin', { tokenId, certId: cert.certId, pin: PIN, challenge: randomChallenge() },
    'RENEWAL_NOT_ALLOWED');
  assert.equal(e.data.opensAt, cert.renewal.opensAt);
  assert.equal(e.data.closesAt, cert.renewal.closesAt);
  // no PIN try was spent, nothing written
  assert.equal((await ok('pin.status', { tokenId })).retriesLeft, 3);
  assert.deepEqual((await ok('renew.pending', { tokenId })).renewals, []);
  cardStop('renew');
  // and nothing journaled for this key
  const jdir = join(d.dir, 'state', 'ukeyd', 'renewals');
  const records = existsSync(jdir) ? readdirSync(jdir).map((f) => readFileSync(join(jdir, f), 'utf8')) : [];
  assert.ok(!records.some((r) => r.includes(tokenId)), records.join('\n'));
});

test('ukeyctl renew-pending and renew-install, for support staff', async () => {
  const old = makeCert(tmp, 'ctl', 20, SUBJECT);
  const tokenId = await plug('renew', '55667', ['--seed', `9a:${old.crt}:${old.key}`]);
  const [cert] = (await ok('cert.list', { tokenId })).certs;
  const b = await ok('renew.begin', { tokenId, certId: cert.certId, pin: PIN, challenge: randomChallenge() });
  const pending = d.ukeyctl('renew-pending', tokenId);
  assert.equal(pending.status, 0, pending.err);
  assert.match(pending.out, new RegExp(`renewal ${b.renewalId}\\s+requested`));
  const json = JSON.parse(d.ukeyctl('--json', 'renew-pending', tokenId).out);
  assert.equal(json.renewals[0].csr, b.csr);
  // a damaged record is reported and rebuilt from the key
  const rec = join(d.dir, 'state', 'ukeyd', 'renewals', `${b.renewalId}.json`);
  writeFileSync(rec, '{"state": "requ');
  const damaged = await ok('renew.pending', { tokenId });
  assert.equal(damaged.journalDamaged, 1);
  assert.equal(damaged.renewals.length, 1);
  assert.equal(damaged.renewals[0].renewalId, b.renewalId);
  assert.equal(damaged.renewals[0].source, 'token');
  assert.equal(damaged.renewals[0].state, 'staged');
  const rebuilt = JSON.parse(readFileSync(rec, 'utf8'));
  assert.equal(rebuilt.state, 'staged');
  assert.equal(rebuilt.tokenId, tokenId);
  assert.equal((await ok('renew.pending', { tokenId })).journalDamaged, 0);
  const file = join(tmp, 'ctl-issued.pem');
  writeFileSync(file, ca.issue(b.csr));
  const run = (pin) => spawnSync(join(process.env.UK_BUILD_DIR, 'daemon', 'ukeyctl'),
    ['renew-install', file, tokenId], { env: d.env, input: `${pin}\n`, encoding: 'utf8' });
  const wrong = run('000000');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /PIN_INCORRECT/);
  const r = run(PIN);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^installed: certificate [0-9a-f]{64} in slot 82/);
  assert.match(run(PIN).stdout, /^already installed/);
  assert.match(d.ukeyctl('renew-pending', tokenId).out, /no unfinished renewal/);
  assert.ok(!existsSync(rec), 'the record goes with the commit');
  assert.ok(!d.log.includes('000000'), 'a PIN in the daemon log');
  cardStop('renew');
});

test('the socket stays responsive while a slow key generates', async () => {
  const old = makeCert(tmp, 'slow', 20, SUBJECT);
  const tokenId = await plug('renew', '99881', ['--seed', `9a:${old.crt}:${old.key}`, '--delay-ms', '100']);
  const [cert] = (await ok('cert.list', { tokenId })).certs;
  let beginDone = false;
  const begin = c.call('renew.begin', { tokenId, certId: cert.certId, pin: PIN, challenge: randomChallenge() }, 60000)
    .then((r) => { beginDone = true; return r; });
  await c.event((m) => m.method === 'renew.progress' && m.params.stage === 'generatingKey', 20000, 'generatingKey');
  const other = await Client.open(d);
  const t0 = performance.now();
  const pong = await other.call('system.ping');
  const rtt = performance.now() - t0;
  const list = await other.call('token.list');
  assert.deepEqual(pong.result, { pong: true });
  assert.ok(list.result.tokens.some((t) => t.tokenId === tokenId));
  assert.equal(beginDone, false, 'ping and token.list answered while the key was still busy');
  console.log(`# system.ping during on-card key generation: ${rtt.toFixed(2)} ms`);
  await other.close();
  assert.ok((await begin).result);
  cardStop('renew');
});

test('keepOldCertificate false: the old certificate goes with the commit', async () => {
  await d.stop();
  d = await new Daemon({ renewal: { keepOldCertificate: false } }).start();
  c = await Client.open(d);
  await c.call('system.hello', { sdkVersion: '0.1.0' });
  const old = makeCert(tmp, 'drop', 20, SUBJECT);
  const tokenId = await plug('renew', '77001', ['--seed', `9a:${old.crt}:${old.key}`]);
  const [cert] = (await ok('cert.list', { tokenId })).certs;
  const b = await ok('renew.begin', { tokenId, certId: cert.certId, pin: PIN, challenge: randomChallenge() });
  // until the install commits, the old certificate is there
  assert.deepEqual((await ok('cert.list', { tokenId })).certs.map((x) => x.slot), ['9a']);
  const inst = await ok('renew.install', { tokenId, pin: PIN, certificate: ca.issue(b.csr) });
  assert.equal(inst.installed, true);
  const certs = (await ok('cert.list', { tokenId })).certs;
  assert.deepEqual(certs.map((x) => [x.slot, x.current]), [['82', true]]);
  const a = audit(READER);
  assert.ok(a.ok, a.line);
  assert.deepEqual(a.slots, ['82']);
  cardStop('renew');
});
