// SPDX-License-Identifier: MIT
//
// The SDK's pure parts, no daemon: a zh-CN and an en message for every
// reason the daemon can send (read from common/include/uk/rc.h and
// docs/protocol.md, so a new reason without messages fails here), version
// comparison, the error class, and what the module exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as sdk from '../../web-sdk/ukey.js';

const { UKeyClient, UKeyError, compareVersions, KNOWN_REASONS, SDK_REASONS } = sdk;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function daemonReasons() {
  const rc = readFileSync(join(root, 'common', 'include', 'uk', 'rc.h'), 'utf8');
  const fromRc = [...rc.matchAll(/X\(UK_\w+,\s*-?\d+,\s*"([A-Z_]+)"/g)].map((m) => m[1]);
  const proto = readFileSync(join(root, 'docs', 'protocol.md'), 'utf8');
  // the reason tables: rows of the error tables name reasons in backticks
  const rows = proto.split('\n').filter((l) => l.startsWith('| ') && /^\| (-3\d{4}|`[A-Z])/.test(l));
  const fromDoc = rows.flatMap((l) => [...l.matchAll(/`([A-Z][A-Z_]{3,})`/g)].map((m) => m[1]));
  assert.ok(fromDoc.includes('PIN_INCORRECT') && fromDoc.includes('INVALID_JSON'), 'parsed the tables');
  return { fromRc, all: [...new Set([...fromRc, ...fromDoc])] };
}

test('every reason in rc.h and docs/protocol.md has a zh-CN and an en message', () => {
  const { fromRc, all } = daemonReasons();
  assert.ok(fromRc.length >= 30, `parsed ${fromRc.length} reasons from rc.h`);
  // names in the protocol text that are not reasons
  const notReasons = new Set(['SUPERSEDED', 'PRINTED']);
  for (const r of [...all.filter((x) => !notReasons.has(x)), ...SDK_REASONS]) {
    assert.ok(KNOWN_REASONS.includes(r), `no message for ${r}`);
    const zh = UKeyError.message(r, 'zh-CN', {});
    const en = UKeyError.message(r, 'en', {});
    assert.match(zh, /[\u4e00-\u9fff]/, `${r}: zh-CN message has Chinese`);
    assert.match(en, /^[\x20-\x7e]+$/, `${r}: en message is plain English`);
    assert.notEqual(zh, en);
  }
});

test('messages carry the numbers from error.data; unknown reasons still read well', () => {
  assert.equal(UKeyError.message('PIN_INCORRECT', 'zh-CN', { retriesLeft: 2 }), 'PIN 码错误，还可以尝试 2 次。');
  assert.equal(UKeyError.message('PIN_INCORRECT', 'en', { retriesLeft: 1 }), 'Wrong PIN. 1 try left.');
  assert.equal(UKeyError.message('PIN_INCORRECT', 'en-US', { retriesLeft: 0 }), 'Wrong PIN. 0 tries left.');
  assert.match(UKeyError.message('BROWSER_BLOCKED', 'zh-CN', { permission: 'prompt' }), /允许/);
  assert.match(UKeyError.message('BROWSER_BLOCKED', 'en', { permission: 'denied' }), /blocked/);
  assert.equal(UKeyError.message('SOMETHING_NEW', 'en'), 'The operation failed (SOMETHING_NEW).');
  assert.equal(UKeyError.message('SOMETHING_NEW'), '操作失败（SOMETHING_NEW）。');
});

test('UKeyError: reason, code, data, messages, downloadUrl only for HELPER_*', () => {
  const e = new UKeyError('PIN_INCORRECT', { code: -32000, data: { retriesLeft: 2 }, lang: 'en' });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'UKeyError');
  assert.equal(e.code, -32000);
  assert.equal(e.message, 'Wrong PIN. 2 tries left.');
  assert.equal(e.messages['zh-CN'], 'PIN 码错误，还可以尝试 2 次。');
  assert.equal('downloadUrl' in e, false);
  const h = new UKeyError('HELPER_OUTDATED', { downloadUrl: 'https://x.example/d',
    data: { daemonVersion: '0.0.9', minDaemonVersion: '0.1.0' } });
  assert.equal(h.downloadUrl, 'https://x.example/d');
  assert.equal(h.code, null);
  assert.match(h.message, /0\.0\.9.*0\.1\.0/);
  assert.deepEqual(new UKeyError('TIMEOUT', { data: null }).data, {});
});

test('compareVersions: semver order, pre-releases before releases, junk is NaN', () => {
  const ordered = ['0.0.9', '0.1.0-alpha', '0.1.0-alpha.1', '0.1.0-alpha.beta', '0.1.0-beta.2',
    '0.1.0-beta.11', '0.1.0-rc.1', '0.1.0', '0.1.1', '0.2.0', '0.10.0', '1.0.0', '10.0.0'];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      const c = compareVersions(ordered[i], ordered[j]);
      assert.equal(Math.sign(c), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  assert.equal(compareVersions('v1.2.3', '1.2.3+build.5'), 0);
  assert.ok(Number.isNaN(compareVersions('1.2', '1.2.0')));
  assert.ok(Number.isNaN(compareVersions(undefined, '1.2.0')));
});

test('module: constants, options, events; no WebSocket is NO_WEBSOCKET, not a crash', async () => {
  assert.match(sdk.SDK_VERSION, /^\d+\.\d+\.\d+$/);
  assert.deepEqual([...sdk.DEFAULT_PORTS], [17485, 17486, 17487, 17488, 17489]);
  const uk = new UKeyClient({ WebSocket: null, reconnect: false });
  assert.equal(uk.host, '127.0.0.1');
  assert.equal(uk.lang, 'zh-CN');
  assert.equal(uk.requestTimeoutMs, 30000);
  assert.equal(uk.longRequestTimeoutMs, 180000);
  assert.equal(uk.connectTimeoutMs, 3000);
  assert.equal(uk.connected, false);
  assert.equal(uk.daemon, null);
  assert.throws(() => uk.on('tokenInsrted', () => {}), TypeError);
  const fn = () => {};
  assert.equal(uk.on('tokenInserted', fn).off('tokenInserted', fn), uk);
  if (typeof globalThis.WebSocket !== 'function') {
    const e = await uk.connect().catch((x) => x);
    assert.equal(e.reason, 'NO_WEBSOCKET');
  }
  // Node has no Permissions API for Local Network Access
  assert.equal(await UKeyClient.localNetworkAccess(), 'unsupported');
});

// Today's ukeyd asks for SDK 0.1.0 and speaks protocol 1, so a daemon that
// wants a newer SDK cannot be had from it: a stand-in WebSocket server
// answers system.hello the way such a daemon would.
test('a daemon that wants a newer SDK or speaks a newer protocol: SDK_OUTDATED; an older protocol: HELPER_OUTDATED', async () => {
  const { WebSocketServer, default: WebSocket } = await import('ws');
  const cases = [
    [{ version: '0.1.0', protocol: 1, minSdkVersion: '9.0.0' }, 'SDK_OUTDATED'],
    [{ version: '0.1.0', protocol: 2, minSdkVersion: '0.1.0' }, 'SDK_OUTDATED'],
    [{ version: '0.1.0', protocol: 0, minSdkVersion: '0.1.0' }, 'HELPER_OUTDATED'],
    [{ version: 'garbage', protocol: 1, minSdkVersion: '0.1.0' }, 'HELPER_OUTDATED'],
    [{ version: '0.1.0', protocol: 1, minSdkVersion: '0.1.0' }, null],
  ];
  for (const [hello, reason] of cases) {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.on('listening', resolve));
    wss.on('connection', (ws) => ws.on('message', (m) => {
      const req = JSON.parse(String(m));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: req.id,
        result: { daemon: 'ukeyd', capabilities: [], ...hello } }));
    }));
    const uk = new UKeyClient({ WebSocket, ports: [wss.address().port], reconnect: false });
    try {
      const r = await uk.connect().then(() => null, (e) => e);
      if (reason === null) {
        assert.equal(r, null, `${JSON.stringify(hello)}: ${r && r.reason}`);
      } else {
        assert.equal(r.reason, reason, JSON.stringify(hello));
        assert.equal(r.data.minSdkVersion, hello.minSdkVersion);
        assert.equal(uk.connected, false);
        if (reason === 'SDK_OUTDATED') assert.match(r.message, /联系网站客服/);
      }
    } finally {
      uk.close();
      await new Promise((resolve) => wss.close(resolve));
    }
  }
});

// A public hall page in a browser that gates loopback access (Local
// Network Access): a socket that never answers, and the permission as the
// Permissions API tells it. Chromium keeps the socket CONNECTING with no
// event while its prompt is open (BROWSER.md).
test('Local Network Access: prompt open, denied, granted; told apart from "not running"', async () => {
  class SilentSocket {
    constructor(url) { SilentSocket.urls.push(url); }
    close() {}
  }
  class RefusedSocket {
    constructor() { setTimeout(() => { this.onerror?.({}); this.onclose?.({ code: 1006 }); }, 5); }
    close() {}
  }
  const saved = { location: globalThis.location, navigator: Object.getOwnPropertyDescriptor(globalThis, 'navigator') };
  let state = 'prompt';
  const asked = [];
  globalThis.location = { hostname: 'hall.example.cn', origin: 'https://hall.example.cn' };
  Object.defineProperty(globalThis, 'navigator', {
    configurable: true,
    value: { permissions: { query: async ({ name }) => { asked.push(name); return { state }; } } },
  });
  const client = (WebSocket) => new UKeyClient({ WebSocket, ports: [17485, 17486, 17487], connectTimeoutMs: 100,
    reconnect: false, probe: false });
  const failure = async (uk) => {
    try {
      await uk.connect();
    } catch (e) {
      return e;
    } finally {
      uk.close();
    }
    throw new Error('connect() resolved');
  };
  try {
    // the prompt is open: one port waited on, not all five; the page is told to answer the browser
    SilentSocket.urls = [];
    const changes = [];
    const first = client(SilentSocket);
    first.on('connectionChanged', (c) => changes.push(c));
    let e = await failure(first);
    // the event carries the same facts, for a page that shows background retries
    assert.equal(changes[0].reason, 'BROWSER_BLOCKED');
    assert.equal(changes[0].data.waiting, true);
    assert.equal(e.reason, 'BROWSER_BLOCKED');
    assert.equal(e.data.permission, 'prompt');
    assert.equal(e.data.waiting, true);
    assert.deepEqual(SilentSocket.urls, ['ws://127.0.0.1:17485/']);
    assert.equal(asked[0], 'loopback-network');
    assert.match(UKeyError.message(e.reason, 'zh-CN', e.data), /浏览器正在询问/);
    // denied: blocked, with the way to allow it
    state = 'denied';
    e = await failure(client(RefusedSocket));
    assert.equal(e.reason, 'BROWSER_BLOCKED');
    assert.equal(e.data.permission, 'denied');
    assert.match(e.message, /本地网络访问/);
    // granted, and nothing answers: the helper is not running
    state = 'granted';
    e = await failure(client(RefusedSocket));
    assert.equal(e.reason, 'HELPER_NOT_RUNNING');
    // a page served from loopback is never gated: not running, whatever the permission
    state = 'denied';
    globalThis.location = { hostname: '127.0.0.1', origin: 'http://127.0.0.1:8080' };
    e = await failure(client(RefusedSocket));
    assert.equal(e.reason, 'HELPER_NOT_RUNNING');
  } finally {
    globalThis.location = saved.location;
    if (saved.navigator) Object.defineProperty(globalThis, 'navigator', saved.navigator);
    else delete globalThis.navigator;
  }
});
