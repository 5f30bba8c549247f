// SPDX-License-Identifier: MIT
//
// The whole protocol on a PKCS#11 token: SoftHSM2 (a real PKCS#11 module)
// through ukeyd's WebSocket — token.list/info, env.check, cert.list,
// pin.verify/change/unblock, and online renewal (begin, the test CA signs,
// install, pending, cancel) with EC and RSA keys, checked with OpenSC's
// pkcs11-tool and openssl after each step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Client } from '../daemon/harness.mjs';
import { TestCA, proofValid, randomChallenge, x509 } from '../daemon/renew-lib.mjs';
import { SOFTHSM, PIN, SO_PIN, initToken, deleteToken, seed, objects, audit, p11Daemon } from './p11-lib.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-p11-test-'));
const ca = new TestCA(join(tmp, 'ca'));
const EC = 'ukeyd-ec';
const RSA = 'ukeyd-rsa';
let d;
let c;
let ecId;
let rsaId;
let ecOld;
let rsaOld;

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

before(async () => {
  const ecSerial = initToken(EC);
  const rsaSerial = initToken(RSA);
  ecOld = seed(EC, '01', { days: 20 });
  rsaOld = seed(RSA, 'a1b2', { days: 10, type: 'rsa', subject: '/CN=李四/O=测试单位' });
  ecId = `p11:SoftHSM project:${ecSerial}`;
  rsaId = `p11:SoftHSM project:${rsaSerial}`;
  d = await p11Daemon([SOFTHSM]).start();
  c = await Client.open(d);
  await c.call('system.hello', { sdkVersion: '0.1.0' });
  // both tokens are announced (SoftHSM2 is loaded and scanned at start)
  for (const id of [ecId, rsaId]) {
    const listed = (await c.call('token.list')).result.tokens.some((t) => t.tokenId === id);
    if (!listed) {
      await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === id, 20000, id);
    }
  }
});
after(async () => {
  await d.stop();
  deleteToken(EC);
  deleteToken(RSA);
});

test('token.list, token.info and env.check show the PKCS#11 tokens and the module', async () => {
  const tokens = (await ok('token.list')).tokens;
  const t = tokens.find((x) => x.tokenId === ecId);
  assert.ok(t, JSON.stringify(tokens));
  assert.equal(t.driver, 'pkcs11');
  assert.equal(t.label, EC);
  assert.equal(t.manufacturer, 'SoftHSM project');
  assert.equal(t.model, 'SoftHSM v2');
  // the blank spare slot SoftHSM2 always has is not a token
  const p11 = tokens.filter((x) => x.driver === 'pkcs11');
  assert.ok(p11.every((x) => x.label !== '' && x.tokenId.startsWith('p11:SoftHSM project:')));
  const info = await ok('token.info', { tokenId: ecId });
  assert.equal(info.tokenId ?? info.token?.tokenId ?? ecId, ecId);
  const env = await ok('env.check');
  assert.equal(env.pkcs11.length, 1);
  assert.equal(env.pkcs11[0].module, SOFTHSM);
  assert.equal(env.pkcs11[0].status, 'ok');
  assert.equal(env.pkcs11[0].problem, undefined);
  assert.equal(env.pkcs11[0].slotEvents, false, 'SoftHSM2 has no C_WaitForSlotEvent');
  assert.ok(env.tokens.some((x) => x.tokenId === ecId));
});

test('cert.list: the certificate by its CKA_ID, with dates and the renewal window', async () => {
  const { certs } = await ok('cert.list', { tokenId: ecId });
  assert.equal(certs.length, 1);
  assert.equal(certs[0].slot, '01');
  assert.equal(certs[0].keyType, 'p256');
  assert.equal(certs[0].renewal.eligible, true);
  const fp = crypto.createHash('sha256').update(x509(ecOld.pem).raw).digest('hex');
  assert.equal(certs[0].certId, fp);
  const rsa = (await ok('cert.list', { tokenId: rsaId })).certs;
  assert.equal(rsa[0].slot, 'a1b2');
  assert.equal(rsa[0].keyType, 'rsa2048');
});

test('PIN: wrong, right, change and back, unblock with the SO PIN; the guard never repeats a wrong PIN', async () => {
  let e = await fails('pin.verify', { tokenId: ecId, pin: '000000' }, 'PIN_INCORRECT');
  // SoftHSM2 keeps no try counter (no COUNT_LOW / FINAL_TRY flags): the
  // daemon does not invent a number
  assert.ok(e.data.retriesLeft === undefined || e.data.retriesLeft === -1, JSON.stringify(e.data));
  e = await fails('pin.verify', { tokenId: ecId, pin: '000000' }, 'PIN_INCORRECT');
  await fails('pin.verify', { tokenId: ecId, pin: '12' }, 'PIN_INVALID_FORMAT');
  let r = await ok('pin.verify', { tokenId: ecId, pin: PIN });
  assert.ok(r.verified ?? true);
  await ok('pin.change', { tokenId: ecId, oldPin: PIN, newPin: '654321' });
  await fails('pin.verify', { tokenId: ecId, pin: PIN }, 'PIN_INCORRECT');
  await ok('pin.verify', { tokenId: ecId, pin: '654321' });
  await ok('pin.change', { tokenId: ecId, oldPin: '654321', newPin: PIN });
  // the PUK of a PKCS#11 token is its SO PIN
  await fails('pin.unblock', { tokenId: ecId, puk: '00000000', newPin: PIN }, 'PUK_INCORRECT');
  await ok('pin.unblock', { tokenId: ecId, puk: SO_PIN, newPin: '112233' });
  await ok('pin.verify', { tokenId: ecId, pin: '112233' });
  await ok('pin.change', { tokenId: ecId, oldPin: '112233', newPin: PIN });
  await ok('pin.verify', { tokenId: ecId, pin: PIN });
});

async function renew(tokenId, label, oldPem, keyType) {
  const [oldCert] = (await ok('cert.list', { tokenId })).certs;
  const before = objects(label);
  const challenge = randomChallenge();
  const t0 = performance.now();
  const b = await ok('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge,
    ...(keyType ? { keyType } : {}) });
  const beginMs = performance.now() - t0;
  assert.match(b.slot, /^[0-9a-f]{32}$/, 'a fresh 16-byte CKA_ID');
  assert.ok(proofValid(oldPem, challenge, b.csr, b.proof), 'proof of possession by the old key');
  const csrFile = join(tmp, `${label}.csr`);
  writeFileSync(csrFile, b.csr);
  execFileSync('openssl', ['req', '-in', csrFile, '-noout', '-verify'], { stdio: 'pipe' });
  // the staged key: token, private, sensitive, never extractable; a
  // labelled public key object; the old objects untouched
  const staged = objects(label).filter((o) => o.id === b.slot);
  const priv = staged.find((o) => o.kind === 'Private Key');
  assert.ok(priv && /sensitive/.test(priv.access) && /never extractable/.test(priv.access), JSON.stringify(staged));
  assert.ok(staged.some((o) => o.kind === 'Public Key' && o.label === 'ukeyd-staged'));
  for (const o of before) {
    assert.ok(objects(label).some((n) => n.kind === o.kind && n.id === o.id), `${o.kind} ${o.id} kept`);
  }
  assert.equal((await ok('cert.list', { tokenId })).certs.length, 1, 'the placeholder is not listed');
  const p = (await ok('renew.pending', { tokenId })).renewals;
  assert.equal(p.length, 1);
  assert.equal(p[0].onToken, true);
  let a = audit(label);
  assert.ok(a.ok, a.why);

  const issued = ca.issue(b.csr, { days: 730 });
  const t1 = performance.now();
  const inst = await ok('renew.install', { tokenId, pin: PIN, certificate: issued + ca.pem });
  console.log(`# ${label}: renew.begin ${beginMs.toFixed(0)} ms, renew.install ${(performance.now() - t1).toFixed(0)} ms (SoftHSM2, ${b.keyType})`);
  assert.equal(inst.installed, true);
  assert.equal(inst.slot, b.slot);
  const again = await ok('renew.install', { tokenId, pin: PIN, certificate: issued });
  assert.equal(again.alreadyInstalled, true);
  const list = (await ok('cert.list', { tokenId })).certs;
  assert.equal(list.length, 2);
  assert.equal(list.find((x) => x.certId === inst.certId).current, true);
  assert.deepEqual((await ok('renew.pending', { tokenId })).renewals, []);
  a = audit(label);
  assert.ok(a.ok, a.why);
  assert.deepEqual(a.ids, [oldCert.slot, b.slot].sort());
  // the certificate object as other middleware expects it, and the key
  // pair named like the certificate
  const cert = a.objs.find((o) => o.kind === 'Certificate' && o.id === b.slot);
  const cn = x509(issued).subject.split('\n').find((l) => l.startsWith('CN=')).slice(3);
  assert.equal(cert.label, cn);
  assert.equal(a.objs.find((o) => o.kind === 'Private Key' && o.id === b.slot).label, cn);
  const out = execFileSync('pkcs11-tool', ['--module', SOFTHSM, '--token-label', label, '--login',
    '--pin', PIN, '--list-objects', '--type', 'cert'], { encoding: 'utf8' });
  const serial = x509(issued).serialNumber.toLowerCase();
  assert.ok(out.toLowerCase().includes(serial), `serial ${serial} in\n${out}`);
  // a signature by the new key with pkcs11-tool verifies with the certificate
  const data = join(tmp, `${label}.data`);
  const sig = join(tmp, `${label}.sig`);
  writeFileSync(data, 'signed on the renewed key');
  const mech = keyType === 'rsa2048' || !x509(issued).publicKey.asymmetricKeyType.startsWith('ec')
    ? ['-m', 'SHA256-RSA-PKCS'] : ['-m', 'ECDSA', '--signature-format', 'openssl'];
  if (mech[1] === 'ECDSA') {
    // SoftHSM2 has CKM_ECDSA only: the hash is made here
    writeFileSync(`${data}.sha256`, crypto.createHash('sha256').update('signed on the renewed key').digest());
  }
  execFileSync('pkcs11-tool', ['--module', SOFTHSM, '--token-label', label, '--login', '--pin', PIN,
    '--sign', '--id', b.slot, ...mech, '-i', mech[1] === 'ECDSA' ? `${data}.sha256` : data, '-o', sig],
  { stdio: 'pipe' });
  assert.ok(crypto.verify('sha256', Buffer.from('signed on the renewed key'), x509(issued).publicKey,
    require_file(sig)));
  return { b, inst, oldCert };
}

function require_file(f) { return execFileSync('cat', [f]); }

test('renewal on an EC key: staged key, CSR, proof, install; pkcs11-tool signs with the new key', async () => {
  await renew(ecId, EC, ecOld.pem);
});

test('renewal on an RSA key: CKM_RSA_PKCS with the DigestInfo built on the host', async () => {
  const { b } = await renew(rsaId, RSA, rsaOld.pem, 'rsa2048');
  assert.equal(b.proof.algorithm, 'sha256WithRSAEncryption');
});

test('renew.cancel removes the staged key pair and its placeholder, nothing else', async () => {
  const label = 'ukeyd-cancel';
  const serial = initToken(label);
  const old = seed(label, '07', { days: 5 });
  await d.stop();
  d = await p11Daemon([SOFTHSM]).start();
  c = await Client.open(d);
  await c.call('system.hello', { sdkVersion: '0.1.0' });
  const tokenId = `p11:SoftHSM project:${serial}`;
  if (!(await c.call('token.list')).result.tokens.some((t) => t.tokenId === tokenId)) {
    await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === tokenId, 20000, tokenId);
  }
  const before = objects(label).map((o) => `${o.kind}:${o.id}`).sort();
  const [oldCert] = (await ok('cert.list', { tokenId })).certs;
  const b = await ok('renew.begin', { tokenId, certId: oldCert.certId, pin: PIN, challenge: randomChallenge() });
  assert.ok(objects(label).some((o) => o.id === b.slot));
  // a certificate for another key is refused, nothing written
  const other = join(tmp, 'other.csr');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', join(tmp, 'other.key'), '-out', other, '-utf8', '-subj', '/CN=王五/O=山西测试单位'],
  { stdio: 'ignore' });
  await fails('renew.install', { tokenId, pin: PIN, certificate: ca.issue(execFileSync('cat', [other], { encoding: 'utf8' })) },
    'CERT_KEY_MISMATCH');
  void old;
  await ok('renew.cancel', { tokenId, renewalId: b.renewalId, pin: PIN });
  assert.deepEqual(objects(label).map((o) => `${o.kind}:${o.id}`).sort(), before);
  assert.deepEqual((await ok('renew.pending', { tokenId })).renewals, []);
  deleteToken(label);
});
