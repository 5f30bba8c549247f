// SPDX-License-Identifier: MIT
//
// What the PKCS#11 daemon tests share: SoftHSM2 tokens in the fixture's
// private directory (SOFTHSM2_CONF), seeded with a key and certificate by
// OpenSC's pkcs11-tool, and the token audit: every certificate object must
// have a public key object with its CKA_ID whose key is the certificate's.
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import crypto from 'node:crypto';
import { Daemon } from '../daemon/harness.mjs';

export const SOFTHSM = process.env.UK_SOFTHSM2_MODULE;
export const PIN = '123456';
export const SO_PIN = '87654321';
const tmp = mkdtempSync(join(tmpdir(), 'ukeyd-p11-'));

function tool(label, ...args) {
  return execFileSync('pkcs11-tool', ['--module', SOFTHSM, '--token-label', label, ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// A fresh token (any older one with the label is deleted first). Returns
// its serial as SoftHSM2 reports it.
export function initToken(label) {
  try {
    execFileSync('softhsm2-util', ['--delete-token', '--token', label], { stdio: 'ignore' });
  } catch { /* none yet */ }
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN,
    '--pin', PIN], { stdio: 'ignore' });
  const out = execFileSync('softhsm2-util', ['--show-slots'], { encoding: 'utf8' });
  const blocks = out.split(/\nSlot /);
  const mine = blocks.find((b) => new RegExp(`Label:[ ]+${label}[ ]*(\\n|$)`).test(b));
  return /Serial number:\s+(\S+)/.exec(mine)[1];
}

export function deleteToken(label) {
  execFileSync('softhsm2-util', ['--delete-token', '--token', label], { stdio: 'ignore' });
}

// Seeds a key pair and its self-signed certificate (valid `days`) at CKA_ID id.
export function seed(label, id, { days = 20, subject = '/CN=王五/O=山西测试单位', type = 'ec' } = {}) {
  const dir = mkdtempSync(join(tmp, 'seed-'));
  const key = join(dir, 'k.pem');
  const crt = join(dir, 'c.pem');
  const args = type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
    : ['-newkey', 'rsa:2048'];
  execFileSync('openssl', ['req', '-x509', ...args, '-nodes', '-keyout', key, '-out', crt,
    '-days', String(days), '-utf8', '-subj', subject], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-in', crt, '-outform', 'DER', '-out', join(dir, 'c.der')]);
  execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-outform', 'DER', '-out', join(dir, 'p.der')]);
  for (const [file, type2] of [[key, 'privkey'], [join(dir, 'c.der'), 'cert'], [join(dir, 'p.der'), 'pubkey']]) {
    tool(label, '--login', '--pin', PIN, '--write-object', file, '--type', type2, '--id', id,
      '--label', 'holder');
  }
  return { key, crt, pem: readFileSync(crt, 'utf8') };
}

// The token's objects as pkcs11-tool lists them: [{kind, id, label}].
export function objects(label) {
  const out = tool(label, '--login', '--pin', PIN, '--list-objects');
  const objs = [];
  let cur = null;
  for (const line of out.split('\n')) {
    const head = /^(Certificate|Public Key|Private Key) Object/.exec(line);
    if (head) {
      cur = { kind: head[1], id: '', label: '', extractable: !/never extractable/.test(line) };
      objs.push(cur);
    } else if (cur && /^\s+ID:\s+(\S+)/.test(line)) {
      cur.id = /^\s+ID:\s+(\S+)/.exec(line)[1];
    } else if (cur && /^\s+label:\s+(.*)$/.test(line)) {
      cur.label = /^\s+label:\s+(.*)$/.exec(line)[1].trim();
    } else if (cur && /^\s+Access:\s+(.*)$/.test(line)) {
      cur.access = /^\s+Access:\s+(.*)$/.exec(line)[1];
    }
  }
  return objs;
}

function readObject(label, type, id) {
  const f = join(tmp, `obj-${crypto.randomBytes(6).toString('hex')}`);
  tool(label, '--login', '--pin', PIN, '--read-object', '--type', type, '--id', id, '-o', f);
  return readFileSync(f);
}

// Every certificate object's key is the public key object with its CKA_ID,
// and a private key is there too. Returns { ok, ids, why }.
export function audit(label) {
  const objs = objects(label);
  const certs = objs.filter((o) => o.kind === 'Certificate');
  for (const c of certs) {
    const pub = objs.find((o) => o.kind === 'Public Key' && o.id === c.id);
    const priv = objs.find((o) => o.kind === 'Private Key' && o.id === c.id);
    if (!pub || !priv) return { ok: false, why: `certificate ${c.id} has no key pair`, ids: [] };
    const cert = new crypto.X509Certificate(readObject(label, 'cert', c.id));
    const spki = crypto.createPublicKey({ key: readObject(label, 'pubkey', c.id), format: 'der', type: 'spki' });
    if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(spki.export({ type: 'spki', format: 'der' }))) {
      return { ok: false, why: `certificate ${c.id} is not for its key`, ids: [] };
    }
  }
  return { ok: true, ids: certs.map((c) => c.id).sort(), objs };
}

// A daemon that loads only the given PKCS#11 modules (not p11-kit's list).
export function p11Daemon(modules, extra = {}) {
  return new Daemon({ pkcs11Registered: false, pkcs11Modules: modules, ...extra });
}

export function write(file, text) { writeFileSync(file, text); return file; }
