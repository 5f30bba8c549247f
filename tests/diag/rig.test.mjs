// SPDX-License-Identifier: MIT
//
// The problem codes that depend on the key's contents, on the rig (pcscd +
// vpcd + the virtual key): NO_CARD, CERT_RENEWABLE, CERT_NOT_YET_RENEWABLE,
// CERT_EXPIRED (renewable online, and past the window), CARD_UNSUPPORTED,
// PIN_BLOCKED, and HELPER_OUTDATED from system.hello's minDaemonVersion.
// The facts come from the token's worker: env.check answers at once with
// "factsPending" and env.changed {"cause": "token"} follows the read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, Client, cardStart, cardStop, makeCert } from '../daemon/harness.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-diag-rig-'));
let d;
let c;

before(async () => {
  d = await new Daemon({ usbKeysFile: join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'share', 'usb-keys.json') }).start();
  c = await Client.open(d);
  await c.call('system.hello', { sdkVersion: '0.1.0' });
});
after(async () => {
  await d.stop();
});

const codes = (r) => r.result.problems.map((p) => p.code);

// A self-signed certificate with given dates (YYYYMMDDHHMMSSZ), which
// `openssl req -x509` cannot backdate: `openssl ca -selfsign` can.
function makeCertDated(name, start, end) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'ca.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\n' +
    'serial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' +
    'organizationName=optional\n');
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  const o = { cwd: dir, stdio: 'ignore' };
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'key.pem', '-out', 'req.csr', '-utf8', '-subj', '/CN=张三/O=山西测试单位'], o);
  execFileSync('openssl', ['ca', '-batch', '-selfsign', '-config', 'ca.cnf', '-keyfile', 'key.pem', '-in', 'req.csr',
    '-out', 'cert.pem', '-startdate', start, '-enddate', end, '-utf8', '-notext'], o);
  return { key: join(dir, 'key.pem'), crt: join(dir, 'cert.pem') };
}

const stamp = (d) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
const daysAgo = (n) => new Date(Date.now() - n * 86400000);

// env.check once the token's facts are read: ask, wait for the worker's
// env.changed, ask again
async function envWithFacts(tokenId) {
  let r = await c.call('env.check');
  for (let i = 0; i < 5; i++) {
    const t = r.result.tokens.find((x) => x.tokenId === tokenId);
    if (t && t.facts && !t.factsPending) return r;
    await c.event((m) => m.method === 'env.changed' && m.params.cause === 'token' && m.params.tokenId === tokenId,
      20000, 'env.changed for the token');
    r = await c.call('env.check');
  }
  throw new Error(`no facts for ${tokenId}: ${JSON.stringify(r.result.tokens)}`);
}

async function insert(name, serial, ...args) {
  c.events.length = 0;
  cardStart(name, '--serial', serial, ...args);
  await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === `piv:${serial}`, 20000, 'token.inserted');
}

async function pull(name, serial) {
  cardStop(name);
  await c.event((m) => m.method === 'token.removed' && m.params.tokenId === `piv:${serial}`, 20000, 'token.removed');
}

test('NO_CARD: readers, no key in them', async () => {
  const r = await c.call('env.check');
  assert.ok(r.result.readers.length > 0);
  assert.ok(codes(r).includes('NO_CARD'), codes(r).join());
  const p = r.result.problems.find((x) => x.code === 'NO_CARD');
  assert.ok(p.message['zh-CN'] && p.fix['zh-CN'] && p.message.en && p.fix.en);
});

test('CERT_RENEWABLE: a certificate inside its renewal window (info)', async () => {
  const cert = makeCert(tmp, 'soon', 20);
  await insert('diag-soon', '81001', '--seed', `9a:${cert.crt}:${cert.key}`);
  const r = await envWithFacts('piv:81001');
  const p = r.result.problems.find((x) => x.code === 'CERT_RENEWABLE');
  assert.ok(p, codes(r).join());
  assert.equal(p.severity, 'info');
  assert.equal(p.tokenId, 'piv:81001');
  assert.match(p.message['zh-CN'], /张三/);
  assert.ok(!codes(r).includes('NO_CARD'));
  const t = r.result.tokens.find((x) => x.tokenId === 'piv:81001');
  assert.equal(t.facts.pin.retriesLeft, 3);
  assert.ok(r.result.readers.some((x) => x.card && /^[0-9A-F]+$/.test(x.atr)), 'the ATR is reported');
  await pull('diag-soon', '81001');
});

test('CERT_NOT_YET_RENEWABLE: a certificate whose window opens later (info)', async () => {
  const cert = makeCert(tmp, 'later', 400);
  await insert('diag-later', '81002', '--seed', `9a:${cert.crt}:${cert.key}`);
  const r = await envWithFacts('piv:81002');
  const p = r.result.problems.find((x) => x.code === 'CERT_NOT_YET_RENEWABLE');
  assert.ok(p, codes(r).join());
  assert.equal(p.severity, 'info');
  assert.ok(p.renewalOpensAt > new Date().toISOString());
  assert.ok(!codes(r).includes('CERT_RENEWABLE'));
  await pull('diag-later', '81002');
});

test('CERT_EXPIRED: expired a month ago, still renewable online', async () => {
  const cert = makeCertDated('expired-recent', stamp(daysAgo(400)), stamp(daysAgo(30)));
  await insert('diag-exp1', '81004', '--seed', `9a:${cert.crt}:${cert.key}`);
  const r = await envWithFacts('piv:81004');
  const p = r.result.problems.find((x) => x.code === 'CERT_EXPIRED');
  assert.ok(p, codes(r).join());
  assert.equal(p.severity, 'error');
  assert.match(p.fix.en, /can still be renewed online/);
  assert.match(p.fix['zh-CN'], /在线更新/);
  await pull('diag-exp1', '81004');
});

test('CERT_EXPIRED: expired two years ago, past the renewal window', async () => {
  const cert = makeCertDated('expired-old', stamp(daysAgo(1100)), stamp(daysAgo(730)));
  await insert('diag-exp2', '81005', '--seed', `9a:${cert.crt}:${cert.key}`);
  const r = await envWithFacts('piv:81005');
  const p = r.result.problems.find((x) => x.code === 'CERT_EXPIRED');
  assert.ok(p, codes(r).join());
  assert.match(p.fix.en, /past the online renewal period/);
  assert.match(p.fix['zh-CN'], /业务网点/);
  await pull('diag-exp2', '81005');
});

test('CARD_UNSUPPORTED: a card without the PIV application', async () => {
  c.events.length = 0;
  // the key refuses SELECT of the PIV application (6A82: not found)
  cardStart('diag-nopiv', '--serial', '81006', '--sw-at', '1:6A82');
  await c.event((m) => m.method === 'env.changed' && m.params.cause === 'card', 20000, 'env.changed for the card');
  const r = await c.call('env.check');
  assert.ok(r.result.readers.some((x) => x.card && !x.cardSupported), JSON.stringify(r.result.readers));
  assert.ok(codes(r).includes('CARD_UNSUPPORTED'), JSON.stringify(r.result));
  assert.deepEqual(r.result.tokens, []);
  cardStop('diag-nopiv');
});

test('PIN_BLOCKED: after the last wrong PIN, the next check says so', async () => {
  const cert = makeCert(tmp, 'blocked', 400);
  await insert('diag-pin', '81003', '--pin-tries', '1', '--seed', `9a:${cert.crt}:${cert.key}`);
  let r = await envWithFacts('piv:81003');
  assert.ok(!codes(r).includes('PIN_BLOCKED'));
  const v = await c.call('pin.verify', { tokenId: 'piv:81003', pin: '999999', confirmLastTry: true });
  assert.equal(v.error.data.reason, 'PIN_BLOCKED', JSON.stringify(v));
  r = await envWithFacts('piv:81003');
  const p = r.result.problems.find((x) => x.code === 'PIN_BLOCKED');
  assert.ok(p, codes(r).join());
  assert.equal(p.severity, 'error');
  assert.equal(p.tokenId, 'piv:81003');
  assert.match(p.fix['zh-CN'], /解锁/);
  // ukeyctl env prints it for a person, with the fix
  const out = d.ukeyctl('env').out;
  assert.match(out, /PIN_BLOCKED/);
  assert.match(out, /fix: Only the certificate authority can unblock it/);
  const zh = execFileSync(join(process.env.UK_BUILD_DIR, 'daemon', 'ukeyctl'), ['env'],
    { env: { ...d.env, LANG: 'zh_CN.UTF-8', LC_ALL: '', LC_MESSAGES: '' }, encoding: 'utf8' });
  assert.match(zh, /PIN 码：已锁定/);
  assert.match(zh, /解决办法：PIN 码只能由发证机构解锁/);
  await pull('diag-pin', '81003');
});

test('HELPER_OUTDATED: a page that needs a newer ukeyd says so in hello', async () => {
  const old = await Client.open(d);
  await old.call('system.hello', { sdkVersion: '0.1.0', minDaemonVersion: '9.0.0' });
  const r = await old.call('env.check');
  const p = r.result.problems.find((x) => x.code === 'HELPER_OUTDATED');
  assert.ok(p, JSON.stringify(r.result.problems));
  assert.equal(p.minDaemonVersion, '9.0.0');
  await old.close();
  const ok = await c.call('env.check');
  assert.ok(!codes(ok).includes('HELPER_OUTDATED'));
});

test('ukeyctl diagnose writes a report without PINs', async () => {
  const file = join(tmp, 'report.txt');
  const res = d.ukeyctl('diagnose', file);
  assert.equal(res.status, 0, res.err);
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(file, 'utf8');
  for (const part of ['== versions', '== distribution', '== kernel', '== environment check', '== 环境检测',
    '== configuration (secrets removed)', '== recent ukeyd log']) {
    assert.ok(text.includes(part), part);
  }
  assert.doesNotMatch(text, /999999|123456/);
});
