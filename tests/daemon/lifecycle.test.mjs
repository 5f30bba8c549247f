// SPDX-License-Identifier: MIT
//
// The daemon's life: --check-config names the file and key of a bad
// value; one daemon per user; the next port when the first is taken; the
// port and pid files; a clean exit on SIGTERM, also while a card request
// runs; a client is told when the daemon goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { Daemon, Client, UKEYD, cardStart, cardStop } from './harness.mjs';

function run(args, env) {
  try {
    return { status: 0, out: execFileSync(UKEYD, args, { env, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (e) {
    return { status: e.status, out: String(e.stdout), err: String(e.stderr) };
  }
}

test('--check-config: good and bad files', () => {
  const d = new Daemon();
  const good = run(['--check-config'], d.env);
  assert.equal(good.status, 0);
  // the user's two origins, joined with the system file's when the package
  // is installed on this machine
  const sys = '/etc/ukeyd/config.json';
  const origins = new Set(d.config.allowedOrigins);
  if (existsSync(sys)) {
    for (const o of JSON.parse(readFileSync(sys, 'utf8')).allowedOrigins ?? []) origins.add(o);
  }
  assert.match(good.out, new RegExp(`configuration OK: port 37485, ${origins.size} allowed origin`));
  const bad = join(d.dir, 'bad.json');
  writeFileSync(bad, '{"allowedOrigins": ["https://hall.example.cn/"]}');
  const r = run(['--config', bad, '--check-config'], d.env);
  assert.equal(r.status, 2);
  assert.match(r.err, /bad\.json: key 'allowedOrigins\[0\]'/);
  assert.equal(run(['--config', join(d.dir, 'missing.json')], d.env).status, 2);
  assert.equal(run(['--bogus'], d.env).status, 2);
  assert.match(run(['--version'], d.env).out, /^ukeyd \d+\.\d+\.\d+/);
});

test('one daemon per user; port and pid files; clean SIGTERM', async () => {
  const d = await new Daemon().start();
  assert.equal(Number(readFileSync(join(d.runtime, 'ukeyd', 'pid'), 'utf8')), d.proc.pid);
  assert.equal(d.port, 37485);
  const second = run([], d.env);
  assert.equal(second.status, 1);
  assert.match(second.err, /already running/);
  const c = await Client.open(d);
  const { code } = await d.stop();
  assert.equal(code, 0);
  const closed = await c.closed;
  assert.ok(closed.code >= 1000, `closed with ${closed.code}`);
});

test('the next port when the first is taken', async () => {
  const blocker = net.createServer().listen(37485, '127.0.0.1');
  await new Promise((resolve) => blocker.once('listening', resolve));
  try {
    const d = await new Daemon().start();
    assert.equal(d.port, 37486);
    const c = await Client.open(d);
    assert.deepEqual((await c.call('system.ping')).result, { pong: true });
    assert.equal((await d.stop()).code, 0);
  } finally {
    blocker.close();
  }
});

test('SIGTERM while a card request runs: it finishes or fails cleanly, exit 0', async () => {
  cardStart('term', '--serial', '8642', '--delay-ms', '100');
  const d = await new Daemon().start();
  try {
    const c = await Client.open(d);
    await c.call('system.hello');
    let tok = (await c.call('token.list')).result.tokens[0];
    if (!tok) tok = (await c.event((m) => m.method === 'token.inserted', 20000, 'token.inserted')).params;
    const slow = c.call('cert.list', { tokenId: tok.tokenId }, 60000).catch((e) => ({ lost: String(e) }));
    d.proc.kill('SIGTERM');
    const { code } = await d.stop();
    assert.equal(code, 0);
    // answered before the loop stopped, or the connection closed: nothing hangs
    await Promise.race([slow, c.closed]);
  } finally {
    cardStop('term');
  }
});
