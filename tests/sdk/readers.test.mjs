// SPDX-License-Identifier: MIT
//
// Reader events through the SDK: the rig's pcscd stopped (the smart card
// service going away takes its readers with it: readerRemoved, and
// envCheck reports PCSC_UNAVAILABLE in both languages) and started again
// (readerAdded for both vpcd readers). Needs a pcscd the rig started
// (pcscd.pid in the rig directory), as inside scripts/isolate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, until } from '../daemon/harness.mjs';
import { client, eventOf } from './lib.mjs';

const RIG_DIR = process.env.UK_RIG_DIR;
const READERS = ['Yubico ukey-vkey 00 00', 'Yubico ukey-vkey 00 01'];
let d;
let uk;

before(async () => {
  d = await new Daemon().start();
  uk = client(d);
  await uk.connect();
});
after(async () => {
  uk.close();
  await d.stop();
  // whatever happened, leave the rig with its pcscd and readers
  execFileSync('bash', [process.env.UK_RIG_LIB, 'start', RIG_DIR], { stdio: 'inherit' });
});

function pcscdGone(pid) {
  return until(new Promise((resolve) => {
    const check = () => {
      try {
        process.kill(pid, 0);
        setTimeout(check, 50); // polling a pid for its exit: no event to wait on
      } catch {
        resolve();
      }
    };
    check();
  }), 20000, `pcscd ${pid} to exit`);
}

test('pcscd stopped: readerRemoved, PCSC_UNAVAILABLE; started again: readerAdded', async (t) => {
  const pidFile = join(RIG_DIR, 'pcscd.pid');
  if (!existsSync(pidFile)) {
    t.skip('the rig reuses a pcscd it did not start: not stopping it');
    return;
  }
  const before = await uk.envCheck();
  for (const r of READERS) assert.ok(before.readers.some((x) => x.name === r), r);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  process.kill(pid, 'SIGTERM');
  await pcscdGone(pid);
  for (const reader of READERS) {
    assert.deepEqual(await eventOf(uk, 'readerRemoved', (x) => x.reader === reader, 30000), { reader });
  }
  const env = await uk.envCheck();
  assert.deepEqual(env.readers, []);
  const p = env.problems.find((x) => x.code === 'PCSC_UNAVAILABLE' || x.code === 'NO_READER');
  assert.ok(p, JSON.stringify(env.problems));
  assert.match(p.message['zh-CN'], /[\u4e00-\u9fff]/);
  assert.ok(p.message.en.length > 0);

  execFileSync('bash', [process.env.UK_RIG_LIB, 'start', RIG_DIR], { stdio: 'inherit' });
  for (const reader of READERS) {
    assert.deepEqual(await eventOf(uk, 'readerAdded', (x) => x.reader === reader, 30000), { reader });
  }
  const again = await uk.envCheck();
  assert.equal(again.pcsc.running, true);
  for (const r of READERS) assert.ok(again.readers.some((x) => x.name === r), r);
  assert.equal(uk.connected, true, 'the SDK connection is not affected');
});
