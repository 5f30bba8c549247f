// SPDX-License-Identifier: MIT
//
// The diagnosis against fake USB devices (umockdev): enumeration through
// libusb, and each problem code that depends on what is plugged in, with a
// real pcscd started inside the same fake environment where the code needs
// one. Every run is wrapped in scripts/isolate by run-env.sh, so the
// pcscd here never meets the rig's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEV = (n) => join(HERE, 'devices', `${n}.umockdev`);
const SOFTHSM = '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so';

function run(...args) {
  const out = mkdtempSync(join(tmpdir(), 'ukeyd-diag-'));
  try {
    execFileSync('bash', [join(HERE, 'run-env.sh'), out, ...args], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 120000 });
    const env = JSON.parse(readFileSync(join(out, 'env.json'), 'utf8'));
    const log = readFileSync(join(out, 'ukeyd.log'), 'utf8');
    const pcscd = existsSync(join(out, 'pcscd.log')) ? readFileSync(join(out, 'pcscd.log'), 'utf8') : '';
    assert.doesNotMatch(log, /Sanitizer|runtime error/, log);
    return { env, log, pcscd };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
const codes = (env) => env.problems.map((p) => p.code);
const problem = (env, code) => env.problems.find((p) => p.code === code);
const dev = (env, vid, pid) => env.usb.devices.find((d) => d.vid === vid && d.pid === pid);

function assertExplained(p) {
  for (const part of ['message', 'fix']) {
    assert.ok(p[part]['zh-CN'].length > 4 && p[part].en.length > 4, `${p.code}.${part}`);
  }
  assert.match(p.severity, /^(error|warning|info)$/);
}

test('enumeration: libusb sees the fake keys, sysfs gives their strings; a keyboard is left out', () => {
  const { env } = run(DEV('ccid-unlisted'), DEV('vendor-hid'), DEV('keyboard'));
  assert.equal(env.usb.available, true);
  assert.equal(env.usb.hotplug, true);
  assert.equal(env.usb.devices.length, 2, JSON.stringify(env.usb.devices));
  const c = dev(env, '096e', '0ffe');
  assert.deepEqual([c.maker, c.product, c.serial, c.kind, c.known, c.smartCardClass],
    ['Feitian', 'ePass Test Unlisted', 'FT0001', 'ccid', false, true]);
  assert.deepEqual(c.interfaceClasses, ['0b']);
  assert.equal(c.driverListed, false);
  // an unknown model of a known maker: the maker and its download
  assert.equal(c.knownMaker, 'Feitian');
  assert.match(c.driverUrl, /^https:\/\//);
  const v = dev(env, '096e', '0309');
  assert.deepEqual([v.kind, v.known, v.knownName, v.knownMaker, v.product], ['vendor', true, 'ePass3000GM', 'Feitian', 'ePass3000GM']);
  assert.match(v.driverUrl, /^https:\/\//);
  assert.equal(dev(env, '046d', 'c31c'), undefined);
});

test('PCSC_UNAVAILABLE: no pcscd', () => {
  const { env } = run(DEV('ccid-unlisted'));
  assert.equal(env.pcsc.running, false);
  assert.ok(codes(env).includes('PCSC_UNAVAILABLE'), codes(env).join());
  assertExplained(problem(env, 'PCSC_UNAVAILABLE'));
  assert.match(problem(env, 'PCSC_UNAVAILABLE').fix.en, /systemctl enable --now pcscd\.socket/);
  // without the service, an unlisted CCID key is not blamed on libccid
  assert.ok(!codes(env).includes('CCID_NOT_LISTED'));
});

test('NO_READER and USB_UNAVAILABLE: pcscd runs, no reader, no USB bus at all', () => {
  const { env } = run('--pcscd', '--no-readers');
  assert.equal(env.pcsc.running, true);
  assert.deepEqual(env.readers, []);
  assert.deepEqual(codes(env).sort(), ['NO_READER', 'USB_UNAVAILABLE']);
  assert.equal(problem(env, 'USB_UNAVAILABLE').severity, 'warning');
  assert.match(env.usb.reason, /no USB bus/);
  env.problems.forEach(assertExplained);
});

test('CCID_NOT_LISTED: pcscd inside the fake environment ignores a CCID key libccid does not list', () => {
  const { env, pcscd } = run('--pcscd', '--no-readers', DEV('ccid-unlisted'), DEV('ccid-listed'));
  // pcscd saw both devices through libudev and took only the listed one
  assert.match(pcscd, /Looking for a driver for VID: 0x096E, PID: 0x0FFE/);
  assert.doesNotMatch(pcscd, /Adding USB device: .*Unlisted/);
  assert.match(pcscd, /Adding USB device: Feitian ePass2003/);
  const ps = env.problems.filter((p) => p.code === 'CCID_NOT_LISTED');
  const unlisted = ps.find((p) => p.device.pid === '0ffe');
  assert.ok(unlisted, JSON.stringify(env.problems));
  assert.match(unlisted.message.en, /does not support this model/);
  assert.match(unlisted.fix['zh-CN'], /libccid/);
  assertExplained(unlisted);
  assert.equal(dev(env, '096e', '0ffe').reader, null);
  // the listed one has a driver that could not start it here (umockdev
  // does not emulate its USB transfers): the same code, the other advice
  const listed = ps.find((p) => p.device.pid === '0807');
  assert.ok(listed);
  assert.match(listed.fix.en, /restart the smart card service/);
  assert.ok(!codes(env).includes('NO_READER'), 'the specific cause replaces NO_READER');
});

test('VENDOR_DRIVER_MISSING: a vendor-class key without its module; gone once pkcs11Modules names one', () => {
  const a = run('--pcscd', '--no-readers', DEV('vendor-hid'));
  const p = problem(a.env, 'VENDOR_DRIVER_MISSING');
  assert.ok(p, codes(a.env).join());
  assertExplained(p);
  assert.deepEqual([p.device.vid, p.device.pid], ['096e', '0309']);
  assert.match(p.driverUrl, /^https:\/\//);
  assert.ok(p.fix['zh-CN'].includes(p.driverUrl));
  assert.equal(dev(a.env, '096e', '0309').moduleConfigured, false);

  const b = run('--pcscd', '--no-readers', '--config', JSON.stringify({ pkcs11Modules: [SOFTHSM] }), DEV('vendor-hid'));
  assert.ok(!codes(b.env).includes('VENDOR_DRIVER_MISSING'), codes(b.env).join());
  assert.equal(dev(b.env, '096e', '0309').moduleConfigured, true);
  assert.equal(dev(b.env, '096e', '0309').module, SOFTHSM);
});

test('USB_KEY_LIST_INVALID: a bad list is a problem with its reason, never a crash; the good list still counts', () => {
  const bad = join(mkdtempSync(join(tmpdir(), 'ukeyd-list-')), 'bad.json');
  execFileSync('bash', ['-c', `printf '{"format":"ukeyd-usb-keys/1","keys":[{"vid":"96e","pid":"0001","kind":"ccid","name":"x"}]}' > ${bad}`]);
  const { env } = run('--config', JSON.stringify({ usbKeys: [bad] }), DEV('vendor-hid'));
  const p = problem(env, 'USB_KEY_LIST_INVALID');
  assert.ok(p, codes(env).join());
  assert.match(p.error, /keys\[0\]: vid must be four hex digits/);
  assert.equal(dev(env, '096e', '0309').known, true, 'the installed list is still used');
  rmSync(dirname(bad), { recursive: true, force: true });
});
