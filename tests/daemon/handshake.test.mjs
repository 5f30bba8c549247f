// SPDX-License-Identifier: MIT
//
// The handshake gate (DESIGN.md section 6): raw upgrade requests, each
// asserting accept (101) or refuse, and proof that nothing listens beyond
// loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Daemon, rawUpgrade, upgradeLines, ORIGIN, ORIGIN2 } from './harness.mjs';

let d;
before(async () => { d = await new Daemon().start(); });
after(async () => { await d.stop(); });

const accepted = (line) => /^HTTP\/1\.1 101/.test(line);

const cases = [
  ['allowed origin', {}, true],
  ['second allowed origin', { origin: ORIGIN2 }, true],
  ['localhost Host', { host: (p) => `localhost:${p}` }, true],
  ['other origin', { origin: 'https://evil.example.com' }, false],
  ['origin differing only in case', { origin: 'https://HALL.example.cn' }, false],
  ['origin with a trailing slash', { origin: `${ORIGIN}/` }, false],
  ['origin as a prefix', { origin: `${ORIGIN}.evil.com` }, false],
  ['no origin', { omit: ['Origin:'] }, false],
  ['null origin', { origin: 'null' }, false],
  ['repeated Origin (allowed twice)', { extra: [`Origin: ${ORIGIN}`] }, false],
  ['repeated Origin (evil second)', { extra: ['Origin: https://evil.example.com'] }, false],
  ['Host of another name', { host: (p) => `hall.example.cn:${p}` }, false],
  ['rebinding-style Host', { host: (p) => `attacker.example.com:${p}` }, false],
  ['Host without port', { host: () => '127.0.0.1' }, false],
  ['Host with another port', { host: (p) => `127.0.0.1:${p + 1}` }, false],
  ['no Host', { omit: ['Host:'] }, false],
  ['repeated Host', { extra: ['Host: attacker.example.com'] }, false],
  ['too-long Origin', { origin: `https://${'a'.repeat(3000)}.cn` }, false],
  ['a subprotocol we do not offer', { extra: ['Sec-WebSocket-Protocol: chat'] }, false],
];

for (const [name, opt, ok] of cases) {
  test(`handshake: ${name} -> ${ok ? 'accepted' : 'refused'}`, async () => {
    const o = { ...opt };
    if (typeof o.host === 'function') o.host = o.host(d.port);
    const line = await rawUpgrade(d.port, upgradeLines(d.port, o));
    assert.equal(accepted(line), ok, `answer: ${line}`);
  });
}

// hosts without IPv6 loopback (some containers): ukeyd then listens on 127.0.0.1 only
const hasV6 = () => /listening on 127\.0\.0\.1:\d+ and \[::1\]/.test(d.log);

test('handshake: IPv6 loopback with [::1] Host -> accepted', async (t) => {
  if (!hasV6()) {
    t.skip('no IPv6 loopback on this host');
    return;
  }
  const line = await rawUpgrade(d.port, upgradeLines(d.port, { host: `[::1]:${d.port}` }), { family: 6 });
  assert.ok(accepted(line), line);
});

test('handshake: no subprotocol still passes the gate (bad origin refused)', async () => {
  const line = await rawUpgrade(d.port, upgradeLines(d.port, { origin: 'https://evil.example.com',
    omit: ['Sec-WebSocket-Protocol'] }));
  assert.ok(!accepted(line), line);
});

test('a refused upgrade is answered 403', async () => {
  const line = await rawUpgrade(d.port, upgradeLines(d.port, { origin: 'https://evil.example.com' }));
  assert.match(line, /^HTTP\/1\.[01] 403/);
});

test('plain HTTP GET is not served', async () => {
  const line = await rawUpgrade(d.port, ['GET / HTTP/1.1', `Host: 127.0.0.1:${d.port}`]);
  assert.match(line, /^HTTP\/1\.[01] 404/);
});

test('refusals are logged once with the reason', () => {
  assert.match(d.log, /refused a WebSocket upgrade: Origin not in allowedOrigins/);
  assert.match(d.log, /refused a WebSocket upgrade: Host is not a loopback name/);
});

// /proc/net/tcp{,6}: every listening socket on our port is bound to loopback
test('nothing listens beyond loopback', () => {
  const hex = d.port.toString(16).toUpperCase().padStart(4, '0');
  const listening = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[3] === '0A' && cols[1].endsWith(`:${hex}`)) listening.push(cols[1]);
    }
  }
  const expected = [`0100007F:${hex}`];
  if (hasV6()) expected.push(`00000000000000000000000001000000:${hex}`);
  assert.deepEqual(listening.sort(), expected.sort());
});
