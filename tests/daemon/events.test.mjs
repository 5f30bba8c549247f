// SPDX-License-Identifier: MIT
//
// Events: token.inserted / token.removed reach every client that said
// hello, and only those; the latency from the key being plugged in to the
// event at a client is printed (a figure, not an assertion).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, Client, cardStart, cardStop, cardRestart } from './harness.mjs';

let d;
let clients;
let silent;

before(async () => {
  d = await new Daemon().start();
  clients = await Promise.all([1, 2, 3].map(() => Client.open(d)));
  await Promise.all(clients.map((x) => x.call('system.hello')));
  silent = await Client.open(d); // never says hello
});
after(async () => {
  await d.stop();
});

test('insert and remove reach every client after hello', async () => {
  cardStart('events', '--serial', '13579');
  const ins = await Promise.all(clients.map((x) => x.event(
    (m) => m.method === 'token.inserted' && m.params.tokenId === 'piv:13579', 20000, 'token.inserted')));
  for (const m of ins) {
    assert.equal(m.jsonrpc, '2.0');
    assert.equal(m.id, undefined);
    assert.equal(m.params.reader, 'Yubico ukey-vkey 00 00');
  }
  cardStop('events');
  await Promise.all(clients.map((x) => x.event(
    (m) => m.method === 'token.removed' && m.params.tokenId === 'piv:13579', 20000, 'token.removed')));
  const list = await clients[0].call('token.list');
  assert.deepEqual(list.result.tokens, []);
  assert.equal(silent.events.length, 0, 'a client without hello gets no events');
});

test('latency from re-insertion to token.inserted', async () => {
  const t0 = process.hrtime.bigint();
  cardRestart('events');
  const startedAt = process.hrtime.bigint(); // card-start returns once pcscd sees the card
  await clients[0].event((m) => m.method === 'token.inserted', 20000, 'token.inserted');
  const t1 = process.hrtime.bigint();
  console.log(`re-insert: rig saw the card after ${Number(startedAt - t0) / 1e6} ms; ` +
    `token.inserted at the client ${Number(t1 - startedAt) / 1e6} ms after that`);
  cardStop('events');
  await clients[0].event((m) => m.method === 'token.removed', 20000, 'token.removed');
});
