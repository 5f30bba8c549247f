// SPDX-License-Identifier: MIT
//
// OpenSC's opensc-pkcs11.so over the virtual PIV key on the rig:
//  - through ukeyd's PKCS#11 driver (tests/pkcs11/p11_check.c): the token,
//    its certificates, the PIN with OpenSC's retry flags (COUNT_LOW, then
//    FINAL_TRY = one try left, as the PIV driver says it), and a signature
//    with each key — ECDSA on 9A and RSA PKCS#1 v1.5 on 9C, whose PIN policy
//    "always" is a context-specific login — verified with the certificate;
//  - in the daemon next to the PIV driver: the key is listed once, by the
//    PIV driver, while OpenSC's module sees the same card;
//  - a module without slot events is scanned again on PC/SC events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, Client, cardStart, cardStop, makeCert, BUILD } from '../daemon/harness.mjs';
import { PIN } from '../daemon/renew-lib.mjs';


const OPENSC = process.env.UK_OPENSC_MODULE;
const HANG = process.env.UK_P11_HANG;
const READER = 'Yubico ukey-vkey 00 00';
const SERIAL = '7355608';
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-opensc-'));
let plugged = false;

before(() => {
  const auth = makeCert(tmp, 'auth', 30);
  const rsaKey = join(tmp, 'sign.key');
  const rsaCrt = join(tmp, 'sign.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', rsaKey,
    '-out', rsaCrt, '-days', '30', '-utf8', '-subj', '/CN=李四 签名/O=测试单位'], { stdio: 'ignore' });
  cardStart('p11', '--serial', SERIAL, '--seed', `9a:${auth.crt}:${auth.key}`,
    '--seed', `9c:${rsaCrt}:${rsaKey}`);
  plugged = true;
});
after(() => {
  if (plugged) cardStop('p11');
});

test('OpenSC through the PKCS#11 driver: list, PIN with retry flags, sign with both keys', () => {
  const out = execFileSync(join(BUILD, 'tests', 'pkcs11', 'p11-check'), [OPENSC, READER, PIN],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  console.log(out.trim().split('\n').map((l) => `# ${l}`).join('\n'));
  const lines = out.trim().split('\n');
  assert.match(lines[0], /^token p11:piv_II:\S+ /);
  // two wrong PINs: COUNT_LOW (count unknown), then FINAL_TRY (one left)
  assert.equal(lines[1], 'pin-wrong PIN_INCORRECT -1');
  assert.equal(lines[2], 'pin-wrong PIN_INCORRECT 1');
  assert.equal(lines[3], 'pin-status OK 1');
  assert.equal(lines[4], 'pin-verify OK');
  const certs = lines.filter((l) => l.startsWith('cert '));
  assert.deepEqual(certs.map((l) => l.split(' ')[2]).sort(), ['p256', 'rsa2048']);
  const signs = lines.filter((l) => l.startsWith('sign '));
  assert.equal(signs.length, 2);
  for (const s of signs) assert.match(s, /^sign \S+ OK verified$/);
});

test('ukeyd with OpenSC\'s module: the PIV key is listed once, by the PIV driver', async () => {
  const d = await new Daemon({ pkcs11Modules: [OPENSC] }).start();
  try {
    const c = await Client.open(d);
    await c.call('system.hello', { sdkVersion: '0.1.0' });
    const id = `piv:${SERIAL}`;
    if (!(await c.call('token.list')).result.tokens.some((t) => t.tokenId === id)) {
      await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === id, 20000, id);
    }
    // OpenSC's module opened the same card and ukeyd saw it is the PIV key
    await d.waitLog(/(is a key the PIV driver lists|is the PIV key piv:\d+); listed once/, 30000);
    const tokens = (await c.call('token.list')).result.tokens;
    const here = tokens.filter((t) => t.reader === READER);
    assert.equal(here.length, 1, JSON.stringify(tokens));
    assert.equal(here[0].driver, 'piv');
    assert.ok(!tokens.some((t) => t.tokenId.startsWith('p11:piv_II:')), JSON.stringify(tokens));
    const env = (await c.call('env.check')).result;
    const m = env.pkcs11.find((x) => x.module === OPENSC);
    assert.equal(m.status, 'ok', JSON.stringify(env.pkcs11));
    console.log(`# OpenSC module: ${m.description}; slot events: ${m.slotEvents}`);
    // pulled: gone once (token.removed for the PIV key, none for OpenSC's)
    const gone = c.event((x) => x.method === 'token.removed' && x.params.tokenId === id, 20000, 'removed');
    cardStop('p11');
    plugged = false;
    await gone;
    assert.ok(!c.events.some((x) => x.method === 'token.removed' && x.params.tokenId.startsWith('p11:')));
    await c.close();
  } finally {
    await d.stop();
  }
});

test('a module without slot events is looked at again on each PC/SC event', async () => {
  // the test module's token is there only while a file exists, and the
  // module has no C_WaitForSlotEvent: as a vendor key whose driver only
  // PC/SC hears about
  const flag = join(tmp, 'token-present');
  process.env.UKT_TOKEN_FILE = flag;
  const d = await new Daemon({ pkcs11Modules: [HANG] }).start();
  delete process.env.UKT_TOKEN_FILE;
  const id = 'p11:ukeyd tests:0007';
  try {
    const c = await Client.open(d);
    await c.call('system.hello', { sdkVersion: '0.1.0' });
    let env = (await c.call('env.check')).result;
    for (let i = 0; env.pkcs11[0].status === 'loading' && i < 100; i++) env = (await c.call('env.check')).result;
    assert.equal(env.pkcs11[0].slotEvents, false);
    assert.ok(!(await c.call('token.list')).result.tokens.some((t) => t.tokenId === id));
    writeFileSync(flag, '');
    // a key plugged into a reader is a PC/SC event: the module is asked again
    const seen = c.event((m) => m.method === 'token.inserted' && m.params.tokenId === id, 20000, id);
    cardStart('p11', '--serial', '7355609');
    plugged = true;
    assert.equal((await seen).params.driver, 'pkcs11');
    assert.ok((await c.call('token.list')).result.tokens.some((t) => t.tokenId === id));
    // gone from the module, and the next PC/SC event tells
    rmSync(flag);
    const gone = c.event((m) => m.method === 'token.removed' && m.params.tokenId === id, 20000, `${id} removed`);
    cardStop('p11');
    plugged = false;
    await gone;
    assert.ok(!(await c.call('token.list')).result.tokens.some((t) => t.tokenId === id));
    await c.close();
  } finally {
    if (plugged) {
      cardStop('p11');
      plugged = false;
    }
    await d.stop();
  }
});
