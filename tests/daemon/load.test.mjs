// SPDX-License-Identifier: MIT
//
// Many clients and slow cards: 100 concurrent clients all answered; a ping
// is answered while another client's request waits on a slow card (the
// loop never blocks on the card). Timings are printed, not asserted; the
// ordering of the answers is what the test checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, Client, cardStart, cardStop } from './harness.mjs';

let d;

before(async () => {
  cardStart('slow', '--serial', '97531', '--delay-ms', '150');
  d = await new Daemon({ maxClients: 200 }).start();
});
after(async () => {
  await d.stop();
  cardStop('slow');
});

test('100 concurrent clients', async () => {
  const many = await Promise.all(Array.from({ length: 100 }, () => Client.open(d)));
  const answers = await Promise.all(many.map((x) => x.call('system.ping')));
  assert.equal(answers.filter((a) => a.result && a.result.pong).length, 100);
  await Promise.all(many.map((x) => x.close()));
});

test('ping is answered while another client waits on a slow card', async () => {
  const a = await Client.open(d);
  const b = await Client.open(d);
  await a.call('system.hello');
  let tok = (await a.call('token.list')).result.tokens[0];
  if (!tok) {
    tok = (await a.event((m) => m.method === 'token.inserted', 20000, 'token.inserted')).params;
  }
  const order = [];
  const t0 = process.hrtime.bigint();
  // a cold cert.list reads every slot: ~25 APDUs at 150 ms each
  const slow = a.call('cert.list', { tokenId: tok.tokenId }, 60000).then((r) => { order.push('cert.list'); return r; });
  const pings = [];
  for (let i = 0; i < 20; i++) {
    const s = process.hrtime.bigint();
    await b.call('system.ping');
    pings.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  order.push('pings');
  const r = await slow;
  assert.ok(r.result, JSON.stringify(r));
  assert.deepEqual(order, ['pings', 'cert.list']);
  pings.sort((x, y) => x - y);
  console.log(`while the card was busy (${Number(process.hrtime.bigint() - t0) / 1e6} ms): ` +
    `ping median ${pings[10].toFixed(3)} ms, max ${pings[19].toFixed(3)} ms`);
});

test('ping round trip, 10,000 requests on one connection', async () => {
  const x = await Client.open(d);
  const times = [];
  for (let i = 0; i < 10000; i++) {
    const s = process.hrtime.bigint();
    await x.call('system.ping');
    times.push(Number(process.hrtime.bigint() - s) / 1e3);
  }
  times.sort((p, q) => p - q);
  console.log(`ping round trip over 10000: median ${times[5000].toFixed(1)} us, ` +
    `p99 ${times[9900].toFixed(1)} us`);
  assert.equal(times.length, 10000);
});
