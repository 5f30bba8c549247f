// SPDX-License-Identifier: MIT
//
// Modules that misbehave, through ukeyd's WebSocket: one whose C_Initialize
// fails is reported in env.check and nothing else changes; one that hangs
// in a call blocks only its own token's worker — the socket, token.list and
// a SoftHSM2 token keep answering — and answers once the module returns; a
// configured module path that is not absolute is refused at start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, openSync, writeSync, closeSync, constants, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, UKEYD } from '../daemon/harness.mjs';
import { SOFTHSM, initToken, deleteToken, seed, p11Daemon } from './p11-lib.mjs';

const FAIL = process.env.UK_P11_FAIL_INIT;
const HANG = process.env.UK_P11_HANG;
const EVENTS = process.env.UK_P11_EVENTS;
const LABEL = 'ukeyd-modules';
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-p11-modules-'));
const fifo = join(tmp, 'hang.fifo');
const HANG_ID = 'p11:ukeyd tests:0007';
let d;
let c;
let hsmId;

async function ok(method, params) {
  const r = await c.call(method, params, 30000);
  assert.ok(r.result, `${method}: ${JSON.stringify(r.error)}`);
  return r.result;
}

// env.check once `module` is past 'loading' (its loader thread reports
// when C_Initialize returns), bounded at 20 s.
async function envLoaded(client, module) {
  let env;
  for (const end = Date.now() + 20000; Date.now() < end;) {
    env = (await client.call('env.check')).result;
    if (env.pkcs11.find((x) => x.module === module)?.status !== 'loading') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return env;
}

before(async () => {
  hsmId = `p11:SoftHSM project:${initToken(LABEL)}`;
  seed(LABEL, '01');
  execFileSync('mkfifo', [fifo]);
  process.env.UKT_HANG_FIFO = fifo;
  d = p11Daemon([FAIL, HANG, SOFTHSM]);
  await d.start();
  c = await Client.open(d);
  await c.call('system.hello', { sdkVersion: '0.1.0' });
  for (const id of [hsmId, HANG_ID]) {
    if (!(await c.call('token.list')).result.tokens.some((t) => t.tokenId === id)) {
      await c.event((m) => m.method === 'token.inserted' && m.params.tokenId === id, 20000, id);
    }
  }
});
after(async () => {
  await d.stop();
  deleteToken(LABEL);
});

test('a module whose C_Initialize fails is reported in env.check; the others work', async () => {
  const env = await envLoaded(c, FAIL);
  const byPath = Object.fromEntries(env.pkcs11.map((m) => [m.module, m]));
  assert.equal(byPath[FAIL].status, 'failed', JSON.stringify(env.pkcs11));
  assert.equal(byPath[FAIL].problem, 'MODULE_INIT_FAILED');
  assert.equal(byPath[HANG].status, 'ok');
  assert.equal(byPath[HANG].description, 'ukeyd test module 1.0');
  assert.equal(byPath[SOFTHSM].status, 'ok');
  assert.ok(env.tokens.some((t) => t.tokenId === hsmId));
  assert.match(d.log, /C_Initialize: CK_RV 0x30: MODULE_INIT_FAILED/);
  // and a problem the environment page shows, naming the module
  const prob = env.problems.find((p) => p.code === 'PKCS11_MODULE_FAILED');
  assert.ok(prob, JSON.stringify(env.problems));
  assert.equal(prob.module, FAIL);
  assert.equal(prob.reason, 'MODULE_INIT_FAILED');
  assert.equal(prob.severity, 'warning');
  // and ukeyctl env says so
  const cli = d.ukeyctl('env');
  assert.equal(cli.status, 0, cli.err);
  assert.ok(cli.out.includes(`PKCS#11 module: ${FAIL} failed MODULE_INIT_FAILED`), cli.out);
  assert.ok(cli.out.includes(`PKCS#11 module: ${SOFTHSM} ok`), cli.out);
});

// A daemon of its own with one module (a config entry) and extra
// environment: fn(client, the module's env.check status) once the module
// has loaded; the daemon stops whatever fn did.
async function withModule(entry, env, fn) {
  const path = entry.path ?? entry;
  const dm = p11Daemon([entry]);
  Object.assign(dm.env, env);
  await dm.start();
  try {
    const cm = await Client.open(dm);
    await cm.call('system.hello', { sdkVersion: '0.1.0' });
    const m = (await envLoaded(cm, path)).pkcs11.find((x) => x.module === path);
    assert.equal(m?.status, 'ok', JSON.stringify(m));
    await fn(cm, m, dm);
    await cm.close();
  } finally {
    await dm.stop();
  }
}

test("a module's own options (initArgs) reach its C_Initialize", async () => {
  await withModule({ path: FAIL, initArgs: 'ukt-device=present' }, {}, (_, m) => {
    assert.equal(m.description, 'ukeyd test module 1.0');
  });
});

test("a module's own slot events (C_WaitForSlotEvent): its token comes and goes with no PC/SC event", async () => {
  const file = join(tmp, 'event-token');
  const id = 'p11:ukeyd tests:0008';
  await withModule(EVENTS, { UKT_EVENT_TOKEN_FILE: file }, async (c3, m, d3) => {
    assert.equal(m.slotEvents, true);
    assert.deepEqual((await c3.call('token.list')).result.tokens, []);
    for (let round = 0; round < 2; round++) {
      const ins = c3.event((x) => x.method === 'token.inserted' && x.params.tokenId === id, 20000, `${id} inserted`);
      const t0 = performance.now();
      writeFileSync(file, '');
      const t = (await ins).params;
      const inMs = performance.now() - t0;
      assert.equal(t.label, 'Event token');
      assert.equal(t.driver, 'pkcs11');
      const rem = c3.event((x) => x.method === 'token.removed' && x.params.tokenId === id, 20000, `${id} removed`);
      const t1 = performance.now();
      unlinkSync(file);
      await rem;
      console.log(`# module slot event to the client: inserted ${inMs.toFixed(1)} ms, ` +
        `removed ${(performance.now() - t1).toFixed(1)} ms`);
    }
    assert.doesNotMatch(d3.log, /following PC\/SC instead/);
  });
});

test('a module hanging in a call blocks only its token: the socket and other tokens answer', async () => {
  // The module stops in C_FindObjectsInit until the test writes to its FIFO,
  // once per call. env.check (the test above) asks every idle token's worker
  // to read its facts (PIN state, certificates), so the hanging token's
  // worker may already be waiting there before the cert.list below: count
  // the waits in the log and release each one.
  const waits = () => (d.log.match(/C_FindObjectsInit waits/g) || []).length;
  let released = 0;
  const nextWait = async (n) => {
    for (let i = 0; waits() < n && i < 400; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(waits() >= n, `no call waiting in the module (${waits()} < ${n})`);
  };
  // Writes one byte for the call waiting in the module. The FIFO is opened
  // without blocking (ENXIO while the call has not opened its end yet), so
  // the test never stalls on a call that is not there.
  const release = async () => {
    for (let i = 0; ; i++) {
      try {
        const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
        writeSync(fd, 'x');
        closeSync(fd);
        released++;
        return;
      } catch (e) {
        if (e.code !== 'ENXIO') throw e;
        if (i >= 200) {
          // nobody opened the FIFO in 10 s: that wait line had no call left
          // behind it; the loop below still requires both answers
          console.log('# no call waiting in the module behind a wait line');
          released++;
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const hung = c.call('cert.list', { tokenId: HANG_ID }, 60000);
  let settled = false;
  void hung.then(() => { settled = true; });
  await nextWait(1);
  // meanwhile, on the same connection and on another one
  const t0 = performance.now();
  const ping = await ok('system.ping');
  assert.ok(ping);
  assert.ok((await ok('token.list')).tokens.some((t) => t.tokenId === HANG_ID));
  const certs = (await ok('cert.list', { tokenId: hsmId })).certs;
  assert.equal(certs.length, 1);
  const other = await Client.open(d);
  await other.call('system.hello', { sdkVersion: '0.1.0' });
  assert.ok((await other.call('env.check')).result);
  await other.close();
  console.log(`# while a module hangs: ping, token.list, cert.list on SoftHSM2, a second client in ${(performance.now() - t0).toFixed(0)} ms`);
  // a second request for the hanging token waits in its queue
  const queued = c.call('token.info', { tokenId: HANG_ID }, 60000);
  assert.equal(settled, false);
  // the module returns (the test writes to its FIFO), call after call —
  // the cert.list, the queued request, the facts read the second env.check
  // asked for, in the worker's order — until both requests have answered
  const answered = (pr) => {
    const st = { done: false };
    void pr.then(() => { st.done = true; });
    return st;
  };
  const queuedState = answered(queued);
  while (!settled || !queuedState.done) {
    for (let i = 0; waits() <= released && !(settled && queuedState.done) && i < 400; i++) {
      await new Promise((res) => setTimeout(res, 50));
    }
    if (waits() > released) {
      await release();
    } else if (!(settled && queuedState.done)) {
      assert.fail(`no answer and no call waiting in the module (${released} released)`);
    }
  }
  const r = await hung;
  assert.equal(r.error.data.reason, 'CARD_ERROR', JSON.stringify(r));
  const info = await queued;
  assert.ok(info.result || info.error, JSON.stringify(info));
  // a facts read may follow (the second env.check asked for one): let it go
  while (waits() > released) await release();
});

test('a module path that is not absolute is refused at start', async () => {
  const dir = mkdtempSync(join(tmp, 'cfg-'));
  mkdirSync(join(dir, 'ukeyd'));
  writeFileSync(join(dir, 'ukeyd', 'config.json'), JSON.stringify({ pkcs11Modules: ['libsofthsm2.so'] }));
  const r = spawnSync(UKEYD, [], { env: { ...process.env, XDG_CONFIG_HOME: dir, XDG_RUNTIME_DIR: dir },
    encoding: 'utf8', timeout: 20000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /pkcs11Modules\[0\].*absolute path/);
});
