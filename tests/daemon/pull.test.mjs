// SPDX-License-Identifier: MIT
//
// A key pulled while the daemon works on it: the request in flight fails
// with CARD_REMOVED (never hangs), every client hears token.removed, the
// daemon keeps serving, and the same key plugged back in is the same
// token again with its certificates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, Client, cardStart, cardRestart, cardStop, makeCert } from './harness.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-pull-'));
let d;
let c;

before(async () => {
  d = await new Daemon().start();
  c = await Client.open(d);
  await c.call('system.hello');
});
after(async () => {
  await d.stop();
});

test('pulled during cert.list: CARD_REMOVED, token.removed, then back', async () => {
  const cert = makeCert(tmp, 'pull', 30);
  // the worker's open takes 3 APDUs (SELECT, GET SERIAL, GET VERSION); the
  // cold listing's 25 GET DATAs are cut after 7 more
  cardStart('pull', '--serial', '5150', '--seed', `9a:${cert.crt}:${cert.key}`, '--drop-after', '10');
  const ins = await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === 'piv:5150',
    20000, 'token.inserted');
  const r = await c.call('cert.list', { tokenId: ins.params.tokenId });
  assert.equal(r.error?.data?.reason, 'CARD_REMOVED', JSON.stringify(r));
  await c.event((m) => m.method === 'token.removed' && m.params.tokenId === 'piv:5150', 20000, 'token.removed');
  assert.deepEqual((await c.call('system.ping')).result, { pong: true });
  assert.deepEqual((await c.call('token.list')).result.tokens, []);
  cardRestart('pull');
  await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === 'piv:5150', 20000, 'token.inserted');
  const again = await c.call('cert.list', { tokenId: 'piv:5150' });
  assert.equal(again.result.certs.length, 1);
  assert.equal(again.result.certs[0].commonName, '张三');
  cardStop('pull');
  await c.event((m) => m.method === 'token.removed', 20000, 'token.removed');
});
