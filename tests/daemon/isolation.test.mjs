// SPDX-License-Identifier: MIT
//
// Who may talk to the daemon, and what a flood does: a connection from
// another local user is refused before the handshake (TCP and Unix
// socket); idle sockets that never upgrade do not starve a connected
// client; connections beyond maxClients are refused; ukeyctl watch prints
// events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { Daemon, Client, UKEYCTL, cardStart, cardStop, until, rawUpgrade, upgradeLines } from './harness.mjs';

let d;

before(async () => { d = await new Daemon({ maxClients: 20 }).start(); });
after(async () => { await d.stop(); });

const otherUser = process.getuid() === 0 && spawnSync('setpriv', ['--version']).status === 0;

test('a TCP client of another user is refused before the handshake', { skip: !otherUser && 'needs root and setpriv to act as another user' }, async () => {
  // a one-shot upgrade attempt as uid 65534, printing the first answer line
  const script = `
    const s = require('net').connect(${d.port}, '127.0.0.1');
    let b = '';
    s.on('connect', () => s.write(${JSON.stringify(upgradeLines(d.port).join('\r\n') + '\r\n\r\n')}));
    s.on('data', (x) => { b += x; });
    s.on('close', () => { console.log(b.split('\\r\\n')[0] || 'closed'); });
    s.on('error', () => {});`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.stdout.trim(), 'closed', r.stdout + r.stderr);
  await d.waitLog(/peer belongs to another user/);
});

test('the same request from this user is accepted', async () => {
  const line = await rawUpgrade(d.port, upgradeLines(d.port));
  assert.match(line, /^HTTP\/1\.1 101/);
});

test('idle sockets that never upgrade do not starve a connected client', async () => {
  const c = await Client.open(d);
  const idle = [];
  for (let i = 0; i < 30; i++) {
    idle.push(await new Promise((resolve) => {
      const s = net.connect(d.port, '127.0.0.1', () => resolve(s));
      s.on('error', () => {});
    }));
  }
  // beyond maxClients new connections are closed at once
  const refused = await until(new Promise((resolve) => {
    const s = net.connect(d.port, '127.0.0.1');
    s.on('close', () => resolve(true));
    s.on('error', () => {});
  }), 15000, 'an over-the-cap connection to be closed');
  assert.ok(refused);
  for (let i = 0; i < 50; i++) {
    assert.deepEqual((await c.call('system.ping')).result, { pong: true });
  }
  const mark = d.log.length;
  idle.forEach((s) => s.destroy());
  await c.close();
  // the daemon frees the places as it sees the sockets go
  await d.waitLog(/connection gone; 0 clients/, 10000, mark);
});

test('closed connections free their place under the cap', async () => {
  // maxClients is 20: sixty connections one after the other all get in,
  // each waiting for the daemon to have let go of the one before
  for (let i = 0; i < 60; i++) {
    const mark = d.log.length;
    const c = await Client.open(d);
    assert.deepEqual((await c.call('system.ping')).result, { pong: true });
    await c.close();
    await d.waitLog(/connection gone/, 10000, mark);
  }
  // and sockets that never upgraded, once closed, too
  for (let i = 0; i < 40; i++) {
    const mark = d.log.length;
    await new Promise((resolve) => {
      const s = net.connect(d.port, '127.0.0.1', () => { s.destroy(); });
      s.on('close', resolve);
      s.on('error', () => {});
    });
    await d.waitLog(/connection gone/, 10000, mark);
  }
  const c = await Client.open(d);
  assert.deepEqual((await c.call('system.ping')).result, { pong: true });
  await c.close();
});

test('ukeyctl watch prints token events', async () => {
  const w = spawn(UKEYCTL, ['watch'], { env: d.env });
  let out = '';
  const saw = (re) => until(new Promise((resolve) => {
    const check = () => { if (re.test(out)) resolve(); };
    w.stdout.on('data', (x) => { out += x; check(); });
    check();
  }), 20000, `ukeyctl watch to print ${re}`);
  try {
    // watch has said hello once the daemon answers; a client's ping after
    // it proves the hello was handled before the card goes in
    const c = await Client.open(d);
    await c.call('system.ping');
    await c.close();
    cardStart('watch', '--serial', '4444');
    await saw(/token\.inserted Yubico ukey-vkey 00 00 piv:4444/);
    cardStop('watch');
    await saw(/token\.removed Yubico ukey-vkey 00 00 piv:4444/);
  } finally {
    w.kill();
  }
});
