// SPDX-License-Identifier: MIT
//
// Renewal under faults (DESIGN.md section 5): the key pulled at every APDU
// of renew.begin and of renew.install, the journal deleted, and the daemon
// SIGKILLed at every journal state. After each fault the token is audited
// (every certificate object matches the key in its slot, the old key still
// signs), then the renewal is recovered and must end with exactly one new
// certificate that matches its key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, Client, cardStart, cardRestart, cardStop, makeCert, until } from './harness.mjs';
import { TestCA, PIN, audit, randomChallenge } from './renew-lib.mjs';

const READER = 'Yubico ukey-vkey 00 00';
const NAME = 'faults';
const SERIAL = '70707';
const TOKEN = `piv:${SERIAL}`;
const RIG_DIR = process.env.UK_RIG_DIR;
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-faults-'));
const ca = new TestCA(join(tmp, 'ca'));
const old = makeCert(tmp, 'old', 20);
let d;
let c;

before(async () => {
  d = await new Daemon().start();
  c = await connect();
});
after(async () => {
  await d.stop();
  if (existsSync(join(RIG_DIR, `${NAME}.pid`))) cardStop(NAME);
  const s = summary;
  console.log(`# interruption points: begin ${s.begin}, install ${s.install}, ` +
    `daemon kills ${s.kills}; every one recovered`);
});
const summary = { begin: 0, install: 0, kills: 0 };

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

// Waits for a token event for our key (events seen earlier are dropped first).
function tokenEvent(kind) {
  return c.event((m) => m.method === `token.${kind}` && m.params.tokenId === TOKEN, 20000, `token.${kind}`);
}

async function insert(fresh, ...args) {
  c.events.length = 0;
  const seen = tokenEvent('inserted');
  (fresh ? cardStart : cardRestart)(NAME, '--serial', SERIAL, '--seed', `9a:${old.crt}:${old.key}`, ...args);
  await seen;
}

// Starts counting the key's APDUs now (ukey-vkey --arm-on-signal).
async function arm() {
  const log = join(RIG_DIR, `${NAME}.log`);
  const from = statSync(log).size;
  process.kill(Number(readFileSync(join(RIG_DIR, `${NAME}.pid`), 'utf8')), 'SIGUSR1');
  await until((async () => {
    while (!/armed/.test(readFileSync(log, 'utf8').slice(from))) {
      await new Promise((r) => setTimeout(r, 10));
    }
  })(), 10000, 'the key to log "armed"');
}

function journalDir() {
  return join(d.dir, 'state', 'ukeyd', 'renewals');
}

// The invariants: every certificate object matches its key; the old one is
// there and signs.
function assertSound(what) {
  const a = audit(READER);
  assert.ok(a.ok, `${what}: ${a.line}`);
  assert.ok(a.slots.includes('9a'), `${what}: the old certificate is gone (${a.line})`);
}

async function oldCertId() {
  const certs = (await ok('cert.list', { tokenId: TOKEN })).certs;
  const o = certs.find((x) => x.slot === '9a');
  assert.ok(o, 'old certificate listed');
  return o.certId;
}

// Exactly one new certificate, current, matching its key (audit).
async function assertRenewed(what) {
  const certs = (await ok('cert.list', { tokenId: TOKEN })).certs;
  assert.equal(certs.length, 2, `${what}: ${JSON.stringify(certs.map((x) => x.slot))}`);
  const fresh = certs.find((x) => x.slot !== '9a');
  assert.equal(fresh.current, true);
  assertSound(what);
  assert.deepEqual((await ok('renew.pending', { tokenId: TOKEN })).renewals, [], `${what}: nothing pending`);
}

async function beginAndInstall() {
  const b = await ok('renew.begin', { tokenId: TOKEN, certId: await oldCertId(), pin: PIN, challenge: randomChallenge() });
  return ok('renew.install', { tokenId: TOKEN, pin: PIN, certificate: ca.issue(b.csr) });
}

// Runs call with the key dropping off at APDU n of it. true when the call
// finished before the drop (n is past the call's last APDU).
async function pulledAt(n, call, prepare = async () => {}) {
  await insert(true, '--arm-on-signal', '--drop-after', String(n - 1));
  await oldCertId(); // the certificates are read before arming: the cache is warm
  await prepare();
  await arm();
  const gone = tokenEvent('removed');
  const r = await call();
  if (r.result) {
    cardStop(NAME);
    return true;
  }
  assert.equal(r.error.data.reason, 'CARD_REMOVED', `APDU ${n}: ${JSON.stringify(r.error)}`);
  await gone;
  await insert(false);
  assertSound(`pulled at APDU ${n}`);
  return false;
}

test('the key pulled at every APDU of renew.begin, then recovered', async () => {
  for (let n = 1; n < 200; n++) {
    rmSync(journalDir(), { recursive: true, force: true });
    const done = await pulledAt(n, async () => c.call('renew.begin', {
      tokenId: TOKEN, certId: await oldCertId(), pin: PIN, challenge: randomChallenge(),
    }, 60000));
    if (done) {
      summary.begin = n - 1;
      break;
    }
    if (n % 2 === 0) {
      // recovery by cancel: whatever is pending goes, then a new renewal
      for (const p of (await ok('renew.pending', { tokenId: TOKEN })).renewals) {
        await ok('renew.cancel', { tokenId: TOKEN, renewalId: p.renewalId, pin: PIN });
      }
      assert.equal((await ok('cert.list', { tokenId: TOKEN })).certs.length, 1);
    }
    // recovery by beginning again (an interrupted begin never blocks one)
    await beginAndInstall();
    await assertRenewed(`begin pulled at APDU ${n}`);
    cardStop(NAME);
  }
  assert.ok(summary.begin >= 10, `begin used ${summary.begin} APDUs`);
});

test('the key pulled at every APDU of renew.install, then installed again', async () => {
  for (let n = 1; n < 200; n++) {
    rmSync(journalDir(), { recursive: true, force: true });
    let issued;
    const done = await pulledAt(n,
      () => c.call('renew.install', { tokenId: TOKEN, pin: PIN, certificate: issued }, 60000),
      async () => {
        const b = await ok('renew.begin', {
          tokenId: TOKEN, certId: await oldCertId(), pin: PIN, challenge: randomChallenge(),
        });
        issued = ca.issue(b.csr);
        await oldCertId(); // as the hall does after paying: cert.list, the cache warm again
      });
    if (done) {
      summary.install = n - 1;
      break;
    }
    // every other time the journal is lost too: the token alone must do
    if (n % 2 === 0) rmSync(journalDir(), { recursive: true, force: true });
    const r = await ok('renew.install', { tokenId: TOKEN, pin: PIN, certificate: issued });
    assert.equal(r.installed, true);
    await assertRenewed(`install pulled at APDU ${n}`);
    cardStop(NAME);
  }
  assert.ok(summary.install >= 5, `install used ${summary.install} APDUs`);
});

// The daemon killed while the slow key works (--delay-ms), at each journal
// state; a new daemon recovers from the journal and the token.
async function killAt(state, call) {
  const from = d.log.length;
  const pending = call();
  await d.waitLog(new RegExp(`renewal [0-9a-f]{32}: ${state}`), 30000, from);
  d.proc.kill('SIGKILL');
  await d.exited;
  void pending.catch(() => {});
  summary.kills++;
  c = null;
  d.log = '';
  await d.start();
  c = await connect();
  const seen = c.events.find((m) => m.method === 'token.inserted') ? null : tokenEvent('inserted');
  const list = await c.call('token.list');
  if (!list.result.tokens.some((t) => t.tokenId === TOKEN)) await seen;
  assertSound(`daemon killed at ${state}`);
}

test('the daemon killed at every journal state, then recovered', async () => {
  // generating: killed while the key generates; begin again reuses the slot
  await insert(true, '--delay-ms', '150');
  let certId = await oldCertId();
  await killAt('generating', () => c.call('renew.begin', { tokenId: TOKEN, certId, pin: PIN, challenge: randomChallenge() }, 60000));
  let p = (await ok('renew.pending', { tokenId: TOKEN })).renewals;
  assert.ok(p.length <= 1 && p.every((x) => ['generating', 'staged'].includes(x.state)), JSON.stringify(p));
  await beginAndInstall();
  await assertRenewed('killed while generating');
  cardStop(NAME);

  // requested: the answer was sent (or not); the CSR in the journal survives
  await insert(true, '--delay-ms', '20');
  certId = await oldCertId();
  await killAt('requested', () => c.call('renew.begin', { tokenId: TOKEN, certId, pin: PIN, challenge: randomChallenge() }, 60000));
  p = (await ok('renew.pending', { tokenId: TOKEN })).renewals;
  assert.equal(p.length, 1);
  assert.equal(p[0].state, 'requested');
  assert.match(p[0].csr, /CERTIFICATE REQUEST/);
  const again = await c.call('renew.begin', { tokenId: TOKEN, certId, pin: PIN, challenge: randomChallenge() });
  assert.equal(again.error.data.reason, 'RENEWAL_PENDING');
  const issued = ca.issue(p[0].csr);

  // installing: killed while the certificate is written; the record keeps it
  cardStop(NAME);
  await insert(false, '--delay-ms', '150');
  await killAt('installing', () => c.call('renew.install', { tokenId: TOKEN, pin: PIN, certificate: issued }, 60000));
  p = (await ok('renew.pending', { tokenId: TOKEN })).renewals;
  if (p.length) {
    assert.equal(p[0].state, 'installing');
    assert.equal(p[0].certificate.replace(/\s/g, ''), issued.replace(/\s/g, ''));
  }
  // the journal deleted as well: the token is the truth
  rmSync(journalDir(), { recursive: true, force: true });
  const r = await ok('renew.install', { tokenId: TOKEN, pin: PIN, certificate: issued });
  assert.equal(r.installed, true);
  await assertRenewed('killed while installing, journal deleted');
  cardStop(NAME);
});
