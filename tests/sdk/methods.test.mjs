// SPDX-License-Identifier: MIT
//
// The SDK against a real ukeyd and virtual keys on the rig: every typed
// helper, the events, error mapping (wrong PIN with retries in zh-CN and
// en, last try, blocked, PUK), client-side type checks, request timeouts
// on a slow key (the late answer dropped), close() rejecting what is in
// flight, and the whole renewal (begin, pending, cancel, install, the
// recovery re-install) with a test CA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, cardStart, cardStop, makeCert } from '../daemon/harness.mjs';
import { TestCA, PIN, proofValid, randomChallenge } from '../daemon/renew-lib.mjs';
import { UKeyError } from '../../web-sdk/ukey.js';
import { client, eventOf, rejection } from './lib.mjs';

const READER = 'Yubico ukey-vkey 00 00';
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-sdk-'));
let d;
let uk;
const KEY = 'piv:20001';

before(async () => {
  d = await new Daemon().start();
  uk = client(d);
  await uk.connect();
});
after(async () => {
  uk.close();
  await d.stop();
  for (const k of ['sdk', 'sdkslow']) {
    if (existsSync(join(process.env.UK_RIG_DIR, `${k}.pid`))) cardStop(k);
  }
});

test('connect, hello, ping; the client is connected to the daemon it found', async () => {
  assert.equal(uk.connected, true);
  assert.equal(uk.port, d.port);
  assert.equal(uk.daemon.daemon, 'ukeyd');
  assert.equal(uk.daemon.protocol, 1);
  assert.match(uk.daemon.version, /^\d+\.\d+\.\d+/);
  const h = await uk.hello();
  assert.deepEqual(h, uk.daemon);
  assert.deepEqual(await uk.ping(), { pong: true });
});

test('a key plugged in: tokenInserted; listTokens, tokenInfo, envCheck', async () => {
  const old = makeCert(tmp, 'sdk', 20);
  cardStart('sdk', '--serial', '20001', '--seed', `9a:${old.crt}:${old.key}`);
  const ins = await eventOf(uk, 'tokenInserted', (t) => t.tokenId === KEY);
  assert.equal(ins.reader, READER);
  assert.equal(ins.serial, '20001');
  const { tokens } = await uk.listTokens();
  assert.deepEqual(tokens.map((t) => t.tokenId), [KEY]);
  const info = await uk.tokenInfo(KEY);
  assert.equal(info.tokenId, KEY);
  assert.equal(info.pin.retriesLeft, 3);
  const env = await uk.envCheck();
  assert.equal(env.daemon.running, true);
  assert.equal(env.pcsc.running, true);
  // nothing in the way: info notices (a renewal window) and the warning of
  // a machine without USB are not problems
  assert.deepEqual(env.problems.filter((p) => p.severity === 'error'), []);
  assert.ok(env.readers.some((r) => r.name === READER && r.card));
  // the key's PIN and certificates are read after this first answer;
  // envChanged says when, and the next answer carries them
  const pending = env.tokens.find((t) => t.tokenId === KEY);
  assert.equal(pending.factsPending, true);
  await eventOf(uk, 'envChanged', (e) => e.cause === 'token' && e.tokenId === KEY);
  const read = (await uk.envCheck()).tokens.find((t) => t.tokenId === KEY);
  assert.equal(read.factsPending, undefined);
  assert.equal(read.facts.pin.retriesLeft, 3);
  assert.deepEqual(read.facts.certs.map((c) => c.commonName), ['张三']);
});

test('listCerts and getCert; an unknown certificate is NOT_FOUND', async () => {
  const { certs } = await uk.listCerts(KEY);
  assert.equal(certs.length, 1);
  assert.equal(certs[0].commonName, '张三');
  assert.equal(certs[0].renewal.eligible, true);
  const g = await uk.getCert(KEY, certs[0].certId);
  assert.equal(g.certId, certs[0].certId);
  assert.match(g.pem, /^-----BEGIN CERTIFICATE-----/);
  const e = await rejection(uk.getCert(KEY, '0'.repeat(64)));
  assert.ok(e instanceof UKeyError);
  assert.equal(e.reason, 'NOT_FOUND');
  assert.equal(e.code, -32000);
  assert.equal(e.message, UKeyError.message('NOT_FOUND', 'zh-CN'));
  const gone = await rejection(uk.listCerts('piv:99999999'));
  assert.equal(gone.reason, 'NOT_FOUND');
});

test('requests in parallel: one promise per request, each with its own answer', async () => {
  const [tokens, pong, info, certs, pin] = await Promise.all([uk.listTokens(), uk.ping(),
    uk.tokenInfo(KEY), uk.listCerts(KEY), uk.pinStatus(KEY)]);
  assert.ok(Array.isArray(tokens.tokens));
  assert.deepEqual(pong, { pong: true });
  assert.equal(info.tokenId, KEY);
  assert.equal(certs.certs.length, 1);
  assert.equal(pin.retriesLeft, 3);
});

test('PIN errors mapped: wrong (retries in zh-CN and en), last try, blocked, PUK, change', async () => {
  assert.deepEqual(await uk.verifyPin(KEY, PIN), { verified: true });
  let e = await rejection(uk.verifyPin(KEY, '000000'));
  assert.equal(e.reason, 'PIN_INCORRECT');
  assert.equal(e.code, -32000);
  assert.equal(e.data.retriesLeft, 2);
  assert.equal(e.message, 'PIN 码错误，还可以尝试 2 次。');
  assert.equal(e.messages['zh-CN'], e.message);
  assert.equal(e.messages.en, 'Wrong PIN. 2 tries left.');
  assert.match(e.detail, /PIN/i); // the daemon's English text, for logs
  // the same client in English
  const en = client(d, { lang: 'en' });
  try {
    e = await rejection(en.verifyPin(KEY, '000001'));
    assert.equal(e.reason, 'PIN_INCORRECT');
    assert.equal(e.data.retriesLeft, 1);
    assert.equal(e.message, 'Wrong PIN. 1 try left.');
    assert.equal(e.messages['zh-CN'], 'PIN 码错误，还可以尝试 1 次。');
  } finally {
    en.close();
  }
  e = await rejection(uk.verifyPin(KEY, '000002'));
  assert.equal(e.reason, 'PIN_LAST_TRY');
  assert.equal(e.data.retriesLeft, 1);
  e = await rejection(uk.verifyPin(KEY, '000002', { confirmLastTry: true }));
  assert.equal(e.reason, 'PIN_BLOCKED');
  assert.equal(e.message, 'PIN 码已锁定，请联系客服解锁。');
  assert.equal((await uk.pinStatus(KEY)).blocked, true);
  e = await rejection(uk.unblockPin(KEY, '87654321', '654321'));
  assert.equal(e.reason, 'PUK_INCORRECT');
  assert.equal(typeof e.data.retriesLeft, 'number');
  assert.deepEqual(await uk.unblockPin(KEY, '12345678', '654321'), { unblocked: true });
  e = await rejection(uk.changePin(KEY, '123456', PIN));
  assert.equal(e.reason, 'PIN_INCORRECT');
  assert.deepEqual(await uk.changePin(KEY, '654321', PIN), { changed: true });
  assert.deepEqual(await uk.verifyPin(KEY, PIN), { verified: true });
  e = await rejection(uk.verifyPin(KEY, '12'));
  assert.equal(e.reason, 'PIN_INVALID_FORMAT');
  assert.equal(e.message, 'PIN 码应为 6 到 8 位。');
});

test('bad arguments: wrong types refused by the SDK, the rest by the daemon', async () => {
  let e = await rejection(uk.verifyPin(KEY, 123456));
  assert.equal(e.reason, 'PARAM_TYPE');
  assert.equal(e.code, -32602);
  assert.equal(e.data.field, 'pin');
  e = await rejection(uk.verifyPin(KEY, PIN, { confirmLastTry: 'yes' }));
  assert.equal(e.data.field, 'confirmLastTry');
  e = await rejection(uk.renewBegin({ tokenId: KEY, certId: 'x', pin: PIN }));
  assert.equal(e.data.field, 'challenge');
  e = await rejection(uk.call('token.info', [KEY]));
  assert.equal(e.reason, 'PARAMS_NOT_OBJECT');
  // the daemon is the authority on the rest
  e = await rejection(uk.call('cert.list', { tokenId: KEY, extra: 1 }));
  assert.equal(e.reason, 'PARAM_UNKNOWN');
  assert.equal(e.code, -32602);
  assert.equal(e.data.field, 'extra');
  e = await rejection(uk.call('no.such.method'));
  assert.equal(e.reason, 'METHOD_NOT_FOUND');
  assert.equal(e.code, -32601);
  e = await rejection(uk.getCert(KEY, 'not-hex'));
  assert.ok(['PARAM_FORMAT', 'PARAM_LENGTH'].includes(e.reason), e.reason);
  assert.equal(e.data.field, 'certId');
  e = await rejection(uk.renewBegin({ tokenId: KEY, certId: '0'.repeat(64), pin: PIN, challenge: 'short' }));
  assert.equal(e.data.field, 'challenge');
  assert.deepEqual(await uk.ping(), { pong: true }, 'the connection survives bad input');
});

test('renewal: begin, progress, pending, RENEWAL_PENDING, cancel; begin again, install, recovery', async () => {
  const ca = new TestCA(join(tmp, 'ca'));
  const [old] = (await uk.listCerts(KEY)).certs;
  const oldPem = (await uk.getCert(KEY, old.certId)).pem;
  let challenge = randomChallenge();
  const b1 = await uk.renewBegin({ tokenId: KEY, certId: old.certId, pin: PIN, challenge });
  assert.match(b1.renewalId, /^[0-9a-f]{32}$/);
  assert.ok(proofValid(oldPem, challenge, b1.csr, b1.proof), 'the proof verifies with the old certificate');
  for (const stage of ['verifyingPin', 'generatingKey', 'storingPublicKey', 'signingRequest']) {
    const p = await eventOf(uk, 'renewProgress', (x) => x.stage === stage, 5000);
    assert.equal(p.tokenId, KEY);
  }
  let pending = await uk.renewPending(KEY);
  assert.deepEqual(pending.renewals.map((r) => [r.renewalId, r.state]), [[b1.renewalId, 'requested']]);
  const again = await rejection(uk.renewBegin({ tokenId: KEY, certId: old.certId, pin: PIN, challenge }));
  assert.equal(again.reason, 'RENEWAL_PENDING');
  assert.equal(again.data.renewalId, b1.renewalId);
  assert.match(again.messages['zh-CN'], /异常恢复/);
  const c = await uk.renewCancel({ tokenId: KEY, renewalId: b1.renewalId, pin: PIN });
  assert.deepEqual(c, { cancelled: true, renewalId: b1.renewalId });
  assert.deepEqual((await uk.renewPending(KEY)).renewals, []);
  const nf = await rejection(uk.renewCancel({ tokenId: KEY, renewalId: b1.renewalId, pin: PIN }));
  assert.equal(nf.reason, 'RENEWAL_NOT_FOUND');

  challenge = randomChallenge();
  const b2 = await uk.renewBegin({ tokenId: KEY, certId: old.certId, pin: PIN, challenge });
  // what a hall does after a failure: renew.pending has what the CA needs
  pending = await uk.renewPending(KEY);
  assert.equal(pending.renewals[0].csr, b2.csr);
  const bad = await rejection(uk.renewInstall({ tokenId: KEY, pin: PIN, certificate: 'garbage' }));
  assert.equal(bad.reason, 'MALFORMED_DATA');
  const issued = ca.issue(b2.csr, { days: 730 });
  const wrongPin = await rejection(uk.renewInstall({ tokenId: KEY, pin: '999999', certificate: issued }));
  assert.equal(wrongPin.reason, 'PIN_INCORRECT');
  assert.equal(wrongPin.data.retriesLeft, 2);
  const inst = await uk.renewInstall({ tokenId: KEY, pin: PIN, certificate: issued + ca.pem,
    renewalId: b2.renewalId });
  assert.equal(inst.installed, true);
  assert.equal(inst.alreadyInstalled, false);
  for (const stage of ['verifyingPin', 'writingCertificate', 'verifying']) {
    await eventOf(uk, 'renewProgress', (x) => x.stage === stage && x.renewalId === b2.renewalId, 5000);
  }
  // 异常恢复: the same certificate again installs nothing twice
  const rec = await uk.renewInstall({ tokenId: KEY, pin: PIN, certificate: issued });
  assert.equal(rec.installed, true);
  assert.equal(rec.alreadyInstalled, true);
  assert.equal(rec.certId, inst.certId);
  const certs = (await uk.listCerts(KEY)).certs;
  assert.equal(certs.length, 2);
  const prev = certs.find((x) => x.certId === old.certId);
  assert.equal(prev.renewal.reason, 'SUPERSEDED');
  const na = await rejection(uk.renewBegin({ tokenId: KEY, certId: old.certId, pin: PIN,
    challenge: randomChallenge() }));
  assert.equal(na.reason, 'RENEWAL_NOT_ALLOWED');
  assert.equal(na.data.supersededBy, inst.certId);
  assert.equal(na.message, '该证书已经更新过，请使用新证书。');
});

test('key pulled: tokenRemoved; requests on it are NOT_FOUND', async () => {
  cardStop('sdk');
  const rm = await eventOf(uk, 'tokenRemoved', (x) => x.tokenId === KEY);
  assert.equal(rm.reader, READER);
  const e = await rejection(uk.pinStatus(KEY));
  assert.equal(e.reason, 'NOT_FOUND');
  assert.equal(e.message, '未找到 USB-KEY 或证书，请确认 USB-KEY 已插好。');
});

test('request timeout on a slow key: TIMEOUT, the late answer dropped, the connection goes on', async () => {
  cardStart('sdkslow', '--serial', '20002', '--port', '35964', '--delay-ms', '400');
  const slow = 'piv:20002';
  await eventOf(uk, 'tokenInserted', (t) => t.tokenId === slow, 60000);
  const short = client(d, { requestTimeoutMs: 100 });
  try {
    await short.connect();
    let e = await rejection(short.pinStatus(slow)); // ≥ one APDU of 400 ms
    assert.equal(e.reason, 'TIMEOUT');
    assert.equal(e.code, null);
    assert.equal(e.method, 'pin.status');
    assert.equal(e.data.timeoutMs, 100);
    assert.equal(e.message, '操作超时，请确认 USB-KEY 已插好后重试。');
    e = await rejection(uk.call('pin.status', { tokenId: slow }, { timeoutMs: 100 }));
    assert.equal(e.reason, 'TIMEOUT');
    // the late answers arrive and are dropped; answers still match their requests
    const [p1, pin] = await Promise.all([short.ping(), uk.pinStatus(slow)]);
    assert.deepEqual(p1, { pong: true });
    assert.equal(pin.retriesLeft, 3);
    assert.equal(short.connected, true);
    assert.equal(short._pending.size, 0);
  } finally {
    short.close();
  }
  cardStop('sdkslow');
  await eventOf(uk, 'tokenRemoved', (x) => x.tokenId === slow);
});

test('close(): requests in flight reject with CONNECTION_LOST; no reconnect', async () => {
  const c2 = client(d);
  await c2.connect();
  const inflight = [c2.ping(), c2.envCheck(), c2.listTokens()];
  c2.close();
  for (const p of inflight) {
    const e = await rejection(p);
    assert.equal(e.reason, 'CONNECTION_LOST');
    assert.equal(e.message, '与 USB-KEY 控件的连接已断开，请重试。');
  }
  assert.equal(c2.connected, false);
  assert.deepEqual(await eventOf(c2, 'connectionChanged', (x) => !x.connected), { connected: false, reason: 'CLOSED' });
  assert.equal(c2._retryTimer, null);
  // a call after close() connects again (the page asked for it)
  assert.deepEqual(await c2.ping(), { pong: true });
  c2.close();
});
