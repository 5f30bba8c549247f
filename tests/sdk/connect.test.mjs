// SPDX-License-Identifier: MIT
//
// Finding and keeping the daemon: HELPER_NOT_RUNNING with no daemon, the
// client connecting by itself once one starts; port fallback (another
// program on 17485, ukeyd on 17486); HELPER_OUTDATED; a refused Origin
// told apart from "not running" both when the WebSocket implementation
// shows the 403 (npm ws) and when it hides it like a browser (the plain
// HTTP probe); the connect timeout; the daemon killed with requests in
// flight (CONNECTION_LOST), restarted, and the client back by itself with
// its events; request ids never reused across connections. Uses the real
// ports 17485-17489: run inside scripts/isolate (own network namespace).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { Daemon, cardStart, cardStop, existsSync } from '../daemon/harness.mjs';
import { DEFAULT_PORTS, MIN_DAEMON_VERSION, UKeyError } from '../../web-sdk/ukey.js';
import { client, eventOf, rejection } from './lib.mjs';

const DOWNLOAD = 'https://hall.example.cn/download/ukeyd_0.1.0_amd64.deb';
const cleanups = [];
// Every cleanup runs, even after one throws (a daemon a failed test left
// killed): a client left reconnecting would keep the test process alive.
after(async () => {
  const errors = [];
  for (const f of cleanups.reverse()) {
    try {
      await f();
    } catch (e) {
      errors.push(e);
    }
  }
  if (existsSync(`${process.env.UK_RIG_DIR}/sdkconn.pid`)) cardStop('sdkconn');
  if (errors.length) throw errors[0];
});

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

// A WebSocket that tells the page as little as a browser does: its error
// event carries no message (no HTTP status).
class BrowserLikeWebSocket extends WebSocket {
  get onerror() { return super.onerror; }
  set onerror(fn) { super.onerror = typeof fn === 'function' ? () => fn({ type: 'error' }) : fn; }
}

// Records the ids of every request sent through it.
const sentIds = [];
class SpyWebSocket extends WebSocket {
  send(data, ...rest) {
    sentIds.push(JSON.parse(data).id);
    return super.send(data, ...rest);
  }
}

// true when nothing listens on any of the ports (we can bind each)
async function allFree(ports) {
  for (const port of ports) {
    try {
      await new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => s.close(resolve));
      });
    } catch {
      return false;
    }
  }
  return true;
}

test('no daemon: HELPER_NOT_RUNNING; another program on 17485, ukeyd on 17486: found by itself', { timeout: 90000 }, async () => {
  // Inside scripts/isolate 17485-17489 are free. Run outside it next to a
  // ukeyd (or the demo), the same scenario runs on five other ports.
  let ports = [...DEFAULT_PORTS];
  const isolated = await allFree(ports);
  if (!isolated) {
    ports = [37490, 37491, 37492, 37493, 37494];
    console.log(`# ${DEFAULT_PORTS.join(',')} in use (not isolated?): using ${ports.join(',')}`);
  }
  const [first, second] = ports;
  const uk = client(null, { downloadUrl: DOWNLOAD, ports: isolated ? undefined : ports });
  cleanups.push(() => uk.close());
  assert.deepEqual(uk.ports, ports);
  const e = await rejection(uk.connect());
  assert.ok(e instanceof UKeyError);
  assert.equal(e.reason, 'HELPER_NOT_RUNNING');
  assert.equal(e.code, null);
  assert.equal(e.downloadUrl, DOWNLOAD);
  assert.deepEqual(e.data.ports, ports);
  assert.ok(e.data.attempts.every((a) => a.kind === 'refused'), JSON.stringify(e.data.attempts));
  assert.match(e.message, /未检测到 USB-KEY 控件/);
  assert.match(e.messages.en, /helper \(ukeyd\) was not found/);
  assert.equal(uk.connected, false);
  // the event carries the failure's facts too
  const down = await eventOf(uk, 'connectionChanged');
  assert.deepEqual({ ...down, data: undefined }, { connected: false, reason: 'HELPER_NOT_RUNNING', data: undefined });
  assert.deepEqual(down.data.ports, ports);

  // something else answers plain HTTP on 17485; ukeyd then takes 17486
  const other = await listen(http.createServer((q, r) => r.end('another program')), first);
  cleanups.push(() => new Promise((resolve) => other.close(resolve)));
  const d = await new Daemon({ port: first }).start();
  cleanups.push(() => d.stop());
  assert.equal(d.port, second);
  // the client was retrying in the background: it finds the daemon alone
  const up = await eventOf(uk, 'connectionChanged', (x) => x.connected, 30000);
  assert.deepEqual(up, { connected: true, port: second });
  assert.equal(uk.connected, true);
  assert.equal(uk.port, second);
  assert.equal(uk.daemon.daemon, 'ukeyd');
  assert.deepEqual(await uk.ping(), { pong: true });
  uk.close();

  // a fresh client goes through 17485 (an HTTP 200 to the upgrade) to 17486
  const fresh = client(null, { ports: isolated ? undefined : ports, reconnect: false });
  const hello = await fresh.connect();
  assert.equal(fresh.port, second);
  assert.equal(hello.version, uk.daemon.version);
  fresh.close();
});

test('a daemon older than minDaemonVersion: HELPER_OUTDATED with the download link', { timeout: 90000 }, async () => {
  const d = await new Daemon().start();
  cleanups.push(() => d.stop());
  const uk = client(d, { minDaemonVersion: '99.0.0', downloadUrl: DOWNLOAD, reconnect: false });
  const e = await rejection(uk.connect());
  assert.equal(e.reason, 'HELPER_OUTDATED');
  assert.equal(e.downloadUrl, DOWNLOAD);
  assert.equal(e.data.minDaemonVersion, '99.0.0');
  assert.match(e.data.daemonVersion, /^\d+\.\d+\.\d+/);
  assert.equal(e.message, `USB-KEY 控件版本过旧（${e.data.daemonVersion}，至少需要 99.0.0）。请下载安装新版控件。`);
  assert.equal(uk.connected, false);
  // the SDK's own minimum is met by this daemon
  const ok = client(d, { reconnect: false });
  assert.equal((await ok.connect()).version, e.data.daemonVersion);
  assert.equal(ok.minDaemonVersion, MIN_DAEMON_VERSION);
  ok.close();
  uk.close();
});

test('a refused Origin: ORIGIN_NOT_ALLOWED, seen through the 403 or the HTTP probe; the daemon logs it', { timeout: 90000 }, async () => {
  const d = await new Daemon().start();
  cleanups.push(() => d.stop());
  const origin = 'https://evil.example.com';
  // npm ws shows the 403 answer to the upgrade
  const a = client(d, { origin, reconnect: false });
  let e = await rejection(a.connect());
  assert.equal(e.reason, 'ORIGIN_NOT_ALLOWED');
  assert.equal(e.data.status, 403);
  assert.equal(e.data.port, d.port);
  assert.match(e.message, /拒绝了本网站的连接/);
  await d.waitLog(/refused a WebSocket upgrade/);
  // a browser shows nothing: the plain HTTP probe finds the daemon listening
  const b = client(d, { origin, reconnect: false, WebSocket: BrowserLikeWebSocket });
  e = await rejection(b.connect());
  assert.equal(e.reason, 'ORIGIN_NOT_ALLOWED');
  assert.equal(e.data.probe, true);
  assert.deepEqual(e.data.attempts, [{ port: d.port, kind: 'refused' }]);
  // without the probe a browser cannot tell: not running (the documented limit)
  const c = client(d, { origin, reconnect: false, WebSocket: BrowserLikeWebSocket, probe: false });
  e = await rejection(c.connect());
  assert.equal(e.reason, 'HELPER_NOT_RUNNING');
  // the allowlisted origin on the same daemon connects
  const good = client(d, { reconnect: false, WebSocket: BrowserLikeWebSocket });
  await good.connect();
  good.close();
});

test('a port that accepts and never answers: the connect timeout, then the next port', { timeout: 90000 }, async () => {
  const sockets = [];
  const mute = await listen(net.createServer((s) => sockets.push(s)), 0);
  cleanups.push(() => new Promise((resolve) => { sockets.forEach((s) => s.destroy()); mute.close(resolve); }));
  const d = await new Daemon().start();
  cleanups.push(() => d.stop());
  const mutePort = mute.address().port;
  const uk = client(null, { ports: [mutePort], connectTimeoutMs: 300, reconnect: false });
  const e = await rejection(uk.connect());
  assert.equal(e.reason, 'HELPER_NOT_RUNNING');
  assert.deepEqual(e.data.attempts, [{ port: mutePort, kind: 'timeout' }]);
  const both = client(null, { ports: [mutePort, d.port], connectTimeoutMs: 300, reconnect: false });
  await both.connect();
  assert.equal(both.port, d.port);
  both.close();
});

test('daemon killed with requests in flight: CONNECTION_LOST; restarted: the client is back by itself', { timeout: 90000 }, async () => {
  const d = await new Daemon().start();
  cleanups.push(() => d.stop());
  const uk = client(d, { WebSocket: SpyWebSocket });
  cleanups.push(() => uk.close());
  await uk.connect();
  cardStart('sdkconn', '--serial', '20003', '--delay-ms', '200');
  const KEY = 'piv:20003';
  await eventOf(uk, 'tokenInserted', (t) => t.tokenId === KEY, 60000);
  assert.deepEqual(await eventOf(uk, 'connectionChanged'), { connected: true, port: d.port });

  // card requests on a key that takes 200 ms per APDU: surely unanswered
  const inflight = [uk.pinStatus(KEY), uk.tokenInfo(KEY), uk.call('pin.status', { tokenId: KEY })];
  d.proc.kill('SIGKILL');
  for (const p of inflight) {
    const e = await rejection(p);
    assert.equal(e.reason, 'CONNECTION_LOST');
  }
  assert.deepEqual(await eventOf(uk, 'connectionChanged', (x) => !x.connected),
    { connected: false, reason: 'CONNECTION_LOST' });
  assert.equal(uk.connected, false);
  await d.exited;
  // while it is down, retries fail: reported once as not running
  const again = await eventOf(uk, 'connectionChanged', (x) => !x.connected, 30000);
  assert.equal(again.reason, 'HELPER_NOT_RUNNING');
  assert.ok(Array.isArray(again.data.attempts), JSON.stringify(again));

  await d.start();
  const up = await eventOf(uk, 'connectionChanged', (x) => x.connected, 30000);
  assert.equal(up.port, d.port);
  assert.equal(uk.connected, true);
  assert.deepEqual(await uk.ping(), { pong: true });
  // the new daemon opens the key (slowly); then events flow again (the SDK
  // said hello on the new connection)
  while (!(await uk.listTokens()).tokens.some((t) => t.tokenId === KEY)) {
    await eventOf(uk, 'tokenInserted', (t) => t.tokenId === KEY, 60000);
  }
  cardStop('sdkconn');
  await eventOf(uk, 'tokenRemoved', (x) => x.tokenId === KEY);
  cardStart('sdkconn', '--serial', '20003');
  const back = await eventOf(uk, 'tokenInserted', (t) => t.tokenId === KEY, 60000);
  assert.equal(back.serial, '20003');
  assert.equal((await uk.pinStatus(KEY)).retriesLeft, 3);
  cardStop('sdkconn');
  // ids across both connections: integers, never reused
  assert.ok(sentIds.length >= 6);
  assert.ok(sentIds.every((id) => Number.isInteger(id)));
  assert.equal(new Set(sentIds).size, sentIds.length, `ids reused: ${sentIds}`);
});
