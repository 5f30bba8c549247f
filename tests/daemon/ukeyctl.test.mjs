// SPDX-License-Identifier: MIT
//
// ukeyctl against a running daemon over the Unix socket: human and --json
// output and exit codes; and when no daemon runs, exit 3.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, cardStart, cardStop, makeCert } from './harness.mjs';

let d;
const tmp = mkdtempSync(join(tmpdir(), 'ukeyctl-'));

before(async () => {
  const c = makeCert(tmp, 'ctl', 200, '/CN=李四/O=测试');
  cardStart('ctl', '--serial', '112233', '--seed', `9c:${c.crt}:${c.key}`);
  d = await new Daemon().start();
});
after(async () => {
  await d.stop();
  cardStop('ctl');
});

async function eventually(fn) {
  // the key is opened by its worker just after the daemon starts: ask until
  // ukeyctl's own answer says it is there (bounded)
  for (let i = 0; i < 100; i++) {
    const r = fn();
    if (r) return r;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return fn();
}

test('status, ping', () => {
  const s = d.ukeyctl('status');
  assert.equal(s.status, 0);
  assert.match(s.out, /^ukeyd \d+\.\d+\.\d+ running \(protocol 1\)/);
  assert.equal(d.ukeyctl('ping').out.trim(), 'pong');
  const j = JSON.parse(d.ukeyctl('--json', 'status').out);
  assert.equal(j.daemon, 'ukeyd');
});

test('list, certs, env', async () => {
  const listed = await eventually(() => {
    const r = d.ukeyctl('--json', 'list');
    const t = JSON.parse(r.out).tokens;
    return t.length ? t : null;
  });
  assert.equal(listed[0].tokenId, 'piv:112233');
  assert.match(d.ukeyctl('list').out, /piv:112233/);
  const certs = d.ukeyctl('certs');
  assert.equal(certs.status, 0);
  assert.match(certs.out, /slot 9c/);
  assert.match(certs.out, /CN=李四/);
  const j = JSON.parse(d.ukeyctl('--json', 'certs', 'piv:112233').out);
  assert.equal(j.certs[0].commonName, '李四');
  assert.equal(j.certs[0].status, 'valid');
  assert.equal(d.ukeyctl('certs', 'piv:nope').status, 1);
  const env = JSON.parse(d.ukeyctl('--json', 'env').out);
  assert.equal(env.pcsc.running, true);
  assert.match(d.ukeyctl('env').out, /PC\/SC service: running/);
});

test('usage errors exit 2', () => {
  assert.equal(d.ukeyctl('frobnicate').status, 2);
  assert.equal(d.ukeyctl().status, 2);
});

test('no daemon: exit 3', () => {
  const env = { ...d.env, XDG_RUNTIME_DIR: tmp };
  let status = 0;
  try {
    // a runtime dir with no daemon in it
    // eslint-disable-next-line no-sync
    require_exec(env);
  } catch (e) {
    status = e.status;
  }
  assert.equal(status, 3);
});

import { execFileSync } from 'node:child_process';
import { UKEYCTL } from './harness.mjs';
function require_exec(env) {
  execFileSync(UKEYCTL, ['status'], { env, stdio: 'ignore' });
}
