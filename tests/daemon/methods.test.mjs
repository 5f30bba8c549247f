// SPDX-License-Identifier: MIT
//
// Every method over a real WebSocket against a virtual key in the rig, the
// PIN rules (guard, last try, blocked, canary never logged), and bad input:
// malformed JSON, batch, unknown method, bad params, invalid UTF-8 (1007),
// oversize (1009).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, Client, cardStart, cardStop, makeCert } from './harness.mjs';

const CANARY = '931724'; // a PIN that must never appear in the logs
let d;
let c;
let certs;
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-methods-'));

before(async () => {
  certs = makeCert(tmp, 'user', 20);
  cardStart('methods', '--serial', '24680', '--seed', `9a:${certs.crt}:${certs.key}`);
  d = await new Daemon({ maxMessageBytes: 4096 }, { logLevel: 'trace' }).start();
  c = await Client.open(d);
  const hello = await c.call('system.hello', { sdkVersion: '0.1.0' });
  assert.equal(hello.result.daemon, 'ukeyd');
});
after(async () => {
  await d.stop();
  cardStop('methods');
});

async function token() {
  for (let i = 0; i < 200; i++) {
    const r = await c.call('token.list');
    const t = r.result.tokens.find((x) => x.serial === '24680');
    if (t) return t;
    await c.event((m) => m.method === 'token.inserted', 20000, 'token.inserted');
  }
  throw new Error('no token');
}

test('system.hello and system.ping', async () => {
  const h = await c.call('system.hello');
  assert.equal(h.result.protocol, 1);
  assert.match(h.result.version, /^\d+\.\d+\.\d+$/);
  assert.ok(Array.isArray(h.result.capabilities));
  const p = await c.call('system.ping');
  assert.deepEqual(p.result, { pong: true });
});

test('token.list, token.info', async () => {
  const t = await token();
  assert.equal(t.tokenId, 'piv:24680');
  assert.equal(t.driver, 'piv');
  assert.equal(t.reader, 'Yubico ukey-vkey 00 00');
  const info = await c.call('token.info', { tokenId: t.tokenId });
  assert.equal(info.result.tokenId, 'piv:24680');
  assert.equal(info.result.pin.retriesLeft, 3);
  assert.equal(info.result.pin.blocked, false);
});

test('cert.list with renewal window, cert.get', async () => {
  const t = await token();
  const r = await c.call('cert.list', { tokenId: t.tokenId });
  assert.equal(r.result.certs.length, 1);
  const cert = r.result.certs[0];
  assert.equal(cert.slot, '9a');
  assert.equal(cert.commonName, '张三');
  assert.equal(cert.organization, '山西测试单位');
  assert.equal(cert.keyType, 'p256');
  assert.equal(cert.status, 'expiring'); // 20 days left: the window is open
  assert.equal(cert.renewal.eligible, true);
  assert.ok(cert.renewal.daysToExpiry >= 19 && cert.renewal.daysToExpiry <= 20);
  const g = await c.call('cert.get', { tokenId: t.tokenId, certId: cert.certId });
  assert.match(g.result.pem, /^-----BEGIN CERTIFICATE-----\n/);
  const missing = await c.call('cert.get', { tokenId: t.tokenId, certId: '0'.repeat(64) });
  assert.equal(missing.error.data.reason, 'NOT_FOUND');
});

test('unknown token', async () => {
  const r = await c.call('cert.list', { tokenId: 'piv:999' });
  assert.equal(r.error.code, -32000);
  assert.equal(r.error.data.reason, 'NOT_FOUND');
});

test('PIN: wrong, same wrong again (no try spent), last try, blocked, unblock, change', async () => {
  const t = await token();
  const id = t.tokenId;
  let r = await c.call('pin.verify', { tokenId: id, pin: CANARY });
  assert.equal(r.error.data.reason, 'PIN_INCORRECT');
  assert.equal(r.error.data.retriesLeft, 2);
  r = await c.call('pin.verify', { tokenId: id, pin: CANARY });
  assert.equal(r.error.data.reason, 'PIN_INCORRECT');
  assert.equal(r.error.data.retriesLeft, 2);
  r = await c.call('pin.status', { tokenId: id });
  assert.equal(r.result.retriesLeft, 2, 'the repeated wrong PIN never reached the card');
  r = await c.call('pin.verify', { tokenId: id, pin: '000000' });
  assert.equal(r.error.data.retriesLeft, 1);
  r = await c.call('pin.verify', { tokenId: id, pin: '123456' });
  assert.equal(r.error.data.reason, 'PIN_LAST_TRY');
  assert.equal(r.error.data.retriesLeft, 1);
  r = await c.call('pin.status', { tokenId: id });
  assert.equal(r.result.retriesLeft, 1, 'PIN_LAST_TRY sends nothing');
  r = await c.call('pin.verify', { tokenId: id, pin: '111111', confirmLastTry: true });
  assert.equal(r.error.data.reason, 'PIN_BLOCKED');
  assert.equal(r.error.data.retriesLeft, 0);
  r = await c.call('pin.verify', { tokenId: id, pin: '123456', confirmLastTry: true });
  assert.equal(r.error.data.reason, 'PIN_BLOCKED');
  r = await c.call('pin.unblock', { tokenId: id, puk: '87654321', newPin: '654321' });
  assert.equal(r.error.data.reason, 'PUK_INCORRECT');
  assert.equal(r.error.data.retriesLeft, 2);
  r = await c.call('pin.unblock', { tokenId: id, puk: '12345678', newPin: '654321' });
  assert.ok(r.result, JSON.stringify(r));
  r = await c.call('pin.change', { tokenId: id, oldPin: '654321', newPin: '123456' });
  assert.ok(r.result, JSON.stringify(r));
  r = await c.call('pin.verify', { tokenId: id, pin: '123456' });
  assert.deepEqual(r.result, { verified: true });
  r = await c.call('pin.verify', { tokenId: id, pin: '12' });
  assert.equal(r.error.data.reason, 'PIN_INVALID_FORMAT');
});

test('the PIN canary never reaches the logs', () => {
  assert.ok(d.log.length > 1000, 'trace logging ran');
  assert.ok(!d.log.includes(CANARY), 'a PIN was logged');
});

test('malformed requests get JSON-RPC errors and the connection lives on', async () => {
  const bad = [
    ['{not json', -32700],
    ['[{"jsonrpc":"2.0","id":1,"method":"system.ping"}]', -32600],
    ['{"jsonrpc":"2.0","id":"x1","method":"no.such"}', -32601],
    ['{"jsonrpc":"2.0","id":"x2","method":"pin.verify","params":{"tokenId":"piv:1","pin":5}}', -32602],
    ['{"jsonrpc":"2.0","id":"x3","method":"system.ping","method":"system.ping"}', -32600],
    ['{"jsonrpc":"1.0","id":"x4","method":"system.ping"}', -32600],
  ];
  for (const [text, code] of bad) {
    const reply = new Promise((resolve) => c.ws.once('message', (data) => resolve(JSON.parse(String(data)))));
    c.send(text);
    const m = await reply;
    assert.equal(m.error.code, code, `${text} -> ${JSON.stringify(m)}`);
    assert.equal(typeof m.error.data.reason, 'string');
    if (code === -32602) assert.equal(m.error.data.field, 'pin');
  }
  const p = await c.call('system.ping');
  assert.deepEqual(p.result, { pong: true });
});

test('invalid UTF-8 closes with 1007', async () => {
  const x = await Client.open(d);
  x.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
  const { code } = await x.closed;
  assert.equal(code, 1007);
});

test('a binary frame closes with 1003', async () => {
  const x = await Client.open(d);
  x.ws.send(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"system.ping"}'), { binary: true });
  const { code } = await x.closed;
  assert.equal(code, 1003);
});

test('a message split over many fragments is one message', async () => {
  const x = await Client.open(d);
  const text = JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'system.ping' });
  const answer = new Promise((resolve) => x.ws.once('message', (m) => resolve(JSON.parse(String(m)))));
  for (let i = 0; i < text.length; i += 5) {
    x.ws.send(text.slice(i, i + 5), { fin: i + 5 >= text.length });
  }
  const m = await answer;
  assert.equal(m.id, 77);
  assert.deepEqual(m.result, { pong: true });
  await x.close();
});

test('a message over maxMessageBytes closes with 1009', async () => {
  const x = await Client.open(d);
  x.send({ jsonrpc: '2.0', id: 1, method: 'system.ping', params: { pad: 'x'.repeat(5000) } });
  const { code } = await x.closed;
  assert.equal(code, 1009);
  const p = await c.call('system.ping');
  assert.deepEqual(p.result, { pong: true }, 'other clients are unaffected');
});

test('env.check', async () => {
  const r = await c.call('env.check');
  assert.equal(r.result.pcsc.running, true);
  assert.ok(r.result.readers.some((x) => x.card));
  assert.equal(r.result.tokens.length, 1);
  // ready: nothing in the way (the certificate's renewal notice is info,
  // and a machine without USB gets the USB_UNAVAILABLE warning)
  assert.deepEqual(r.result.problems.filter((p) => p.severity === 'error'), []);
});
