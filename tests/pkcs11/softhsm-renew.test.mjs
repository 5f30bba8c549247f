// SPDX-License-Identifier: MIT
//
// Renewal on a PKCS#11 token interrupted: ukeyd SIGKILLed at each journal
// state (generating, requested, installing) while a slow module (SoftHSM2
// behind tests/pkcs11/slow_module.c) works, then a new daemon recovers —
// with the journal, and with the journal deleted (the token is the
// truth). After every kill the token is audited with OpenSC's pkcs11-tool
// straight on SoftHSM2: every certificate object has the key pair of its
// CKA_ID, and the old certificate and key are still there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../daemon/harness.mjs';
import { TestCA, randomChallenge } from '../daemon/renew-lib.mjs';
import { SOFTHSM, PIN, initToken, deleteToken, seed, audit, p11Daemon } from './p11-lib.mjs';

const LABEL = 'ukeyd-faults';
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-p11-faults-'));
const ca = new TestCA(join(tmp, 'ca'));
let d;
let c;
let TOKEN;
const kills = [];

async function connect() {
  const cl = await Client.open(d);
  await cl.call('system.hello', { sdkVersion: '0.1.0' });
  return cl;
}

async function ok(method, params) {
  const r = await c.call(method, params, 60000);
  assert.ok(r.result, `${method}: ${JSON.stringify(r.error)}`);
  return r.result;
}

async function listed() {
  if (!(await c.call('token.list')).result.tokens.some((t) => t.tokenId === TOKEN)) {
    await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === TOKEN, 20000, TOKEN);
  }
}

function journalDir() {
  return join(d.dir, 'state', 'ukeyd', 'renewals');
}

function assertSound(what) {
  const a = audit(LABEL);
  assert.ok(a.ok, `${what}: ${a.why}`);
  assert.ok(a.ids.includes('01'), `${what}: the old certificate is gone`);
  assert.ok(a.objs.some((o) => o.kind === 'Private Key' && o.id === '01'), `${what}: the old key is gone`);
  return a;
}

async function oldCertId() {
  const o = (await ok('cert.list', { tokenId: TOKEN })).certs.find((x) => x.slot === '01');
  assert.ok(o, 'old certificate listed');
  return o.certId;
}

// The daemon killed once the journal says state; a new one started.
async function killAt(state, call) {
  const from = d.log.length;
  const pending = call();
  await d.waitLog(new RegExp(`renewal [0-9a-f]{32}: ${state}`), 30000, from);
  d.proc.kill('SIGKILL');
  await d.exited;
  void pending.catch(() => {});
  kills.push(state);
  d.log = '';
  await d.start();
  c = await connect();
  await listed();
  assertSound(`killed at ${state}`);
}

// One renewed certificate besides the old one, nothing pending, sound.
async function assertRenewed(what) {
  const certs = (await ok('cert.list', { tokenId: TOKEN })).certs;
  assert.equal(certs.length, 2, `${what}: ${JSON.stringify(certs.map((x) => x.slot))}`);
  assert.equal(certs.find((x) => x.slot !== '01').current, true);
  assert.deepEqual((await ok('renew.pending', { tokenId: TOKEN })).renewals, [], `${what}: nothing pending`);
  const a = assertSound(what);
  assert.equal(a.ids.length, 2, `${what}: ${a.ids}`);
}

async function fresh() {
  if (d) {
    await d.stop();
  }
  const serial = initToken(LABEL);
  seed(LABEL, '01', { days: 20 });
  TOKEN = `p11:SoftHSM project:${serial}`;
  process.env.UKT_SLOW_TARGET = SOFTHSM;
  process.env.UKT_SLOW_MS = '400';
  d = p11Daemon([process.env.UK_P11_SLOW]);
  await d.start();
  c = await connect();
  await listed();
}

before(fresh);
after(async () => {
  await d.stop();
  deleteToken(LABEL);
  console.log(`# daemon killed at: ${kills.join(', ')}; every one recovered`);
});

test('killed while generating: begin again reuses the CKA_ID; nothing half-made is certified', async () => {
  const certId = await oldCertId();
  await killAt('generating', () => c.call('renew.begin', { tokenId: TOKEN, certId, pin: PIN,
    challenge: randomChallenge(), keyType: 'rsa2048' }, 60000));
  const p = (await ok('renew.pending', { tokenId: TOKEN })).renewals;
  assert.ok(p.length <= 1 && p.every((x) => ['generating', 'staged'].includes(x.state)), JSON.stringify(p));
  const b = await ok('renew.begin', { tokenId: TOKEN, certId, pin: PIN, challenge: randomChallenge() });
  if (p.length === 1 && p[0].state === 'generating') {
    assert.equal(b.slot, p[0].slot, 'the uncertified key place is used again');
  }
  await ok('renew.install', { tokenId: TOKEN, pin: PIN, certificate: ca.issue(b.csr) });
  await assertRenewed('killed while generating');
});

test('killed at requested, then at installing; recovered with the journal and then without it', async () => {
  await fresh();
  const certId = await oldCertId();
  await killAt('requested', () => c.call('renew.begin', { tokenId: TOKEN, certId, pin: PIN,
    challenge: randomChallenge() }, 60000));
  let p = (await ok('renew.pending', { tokenId: TOKEN })).renewals;
  assert.equal(p.length, 1);
  assert.equal(p[0].state, 'requested');
  assert.equal(p[0].onToken, true);
  const again = await c.call('renew.begin', { tokenId: TOKEN, certId, pin: PIN, challenge: randomChallenge() });
  assert.equal(again.error.data.reason, 'RENEWAL_PENDING');
  const issued = ca.issue(p[0].csr);

  await killAt('installing', () => c.call('renew.install', { tokenId: TOKEN, pin: PIN,
    certificate: issued }, 60000));
  p = (await ok('renew.pending', { tokenId: TOKEN })).renewals;
  if (p.length) {
    assert.equal(p[0].state, 'installing');
  }
  // the journal gone as well: the staged key is found on the token alone
  rmSync(journalDir(), { recursive: true, force: true });
  const r = await ok('renew.install', { tokenId: TOKEN, pin: PIN, certificate: issued });
  assert.equal(r.installed, true);
  await assertRenewed('killed while installing, journal deleted');
});

test('journal deleted right after begin: pending and install work from the token alone', async () => {
  await fresh();
  const b = await ok('renew.begin', { tokenId: TOKEN, certId: await oldCertId(), pin: PIN,
    challenge: randomChallenge() });
  await d.stop();
  d = p11Daemon([process.env.UK_P11_SLOW]);
  rmSync(journalDir(), { recursive: true, force: true });
  await d.start();
  c = await connect();
  await listed();
  const p = (await ok('renew.pending', { tokenId: TOKEN })).renewals;
  assert.equal(p.length, 1);
  assert.equal(p[0].renewalId, b.renewalId);
  assert.equal(p[0].slot, b.slot);
  await ok('renew.install', { tokenId: TOKEN, pin: PIN, certificate: ca.issue(b.csr) });
  await assertRenewed('journal deleted after begin');
});
