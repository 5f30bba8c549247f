// SPDX-License-Identifier: MIT
//
// What the renewal tests share: a test CA made with `openssl ca` (it signs
// the CSRs renew.begin hands out, with any validity or subject a test
// needs), the proof check the hall's server does, and the token audit
// (token-shell: every certificate object against the key in its slot).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import crypto from 'node:crypto';
import { BUILD } from './harness.mjs';

export const PIN = '123456';
export const TOKEN_SHELL = join(BUILD, 'tests', 'integration', 'token-shell');

// openssl's date format for -startdate/-enddate (UTCTime)
function asn1Time(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
}

export class TestCA {
  constructor(dir) {
    this.dir = dir;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca = test', '[test]',
      `database = ${dir}/index.txt`, `new_certs_dir = ${dir}/newcerts`, `serial = ${dir}/serial`,
      `certificate = ${dir}/ca.pem`, `private_key = ${dir}/ca.key`,
      'default_md = sha256', 'policy = any', 'unique_subject = no', 'email_in_dn = no',
      'copy_extensions = none', 'x509_extensions = leaf', 'default_days = 365',
      'string_mask = utf8only', 'utf8 = yes',
      '[any]', 'countryName = optional', 'stateOrProvinceName = optional',
      'localityName = optional', 'organizationName = optional',
      'organizationalUnitName = optional', 'commonName = supplied', 'serialNumber = optional',
      '[leaf]', 'basicConstraints = CA:false',
      'keyUsage = critical, digitalSignature, nonRepudiation',
      'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid', '',
    ].join('\n'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
      join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-days', '3650', '-utf8',
      '-subj', '/CN=ukeyd Test CA/O=测试证书机构'], { stdio: 'ignore' });
    this.pem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    this.n = 0;
  }

  // Issues a certificate for a CSR (PEM). start/end: Dates (default now
  // minus a minute, plus `days`); subject: an openssl -subj to override.
  issue(csrPem, { start, end, days = 365, subject } = {}) {
    const n = ++this.n;
    const csr = join(this.dir, `req${n}.pem`);
    const out = join(this.dir, `cert${n}.pem`);
    const from = start ?? new Date(Date.now() - 60_000);
    const to = end ?? new Date(from.getTime() + days * 86400_000);
    writeFileSync(csr, csrPem);
    execFileSync('openssl', ['ca', '-batch', '-config', join(this.dir, 'ca.cnf'), '-in', csr,
      '-out', out, '-notext', '-preserveDN', '-utf8', '-startdate', asn1Time(from),
      '-enddate', asn1Time(to), ...(subject ? ['-subj', subject] : [])], { stdio: 'pipe' });
    return readFileSync(out, 'utf8');
  }
}

export function pemBody(pem) {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

// The hall's check: the OLD certificate's key signed SHA-256(challenge || CSR DER).
export function proofValid(oldCertPem, challenge, csrPem, proof) {
  const data = Buffer.concat([Buffer.from(challenge, 'ascii'), pemBody(csrPem)]);
  return crypto.verify('sha256', data, oldCertPem, Buffer.from(proof.signature, 'base64'));
}

export function x509(pem) {
  return new crypto.X509Certificate(pem);
}

// token-shell on a reader: every certificate object must match the key in
// its slot. Returns { ok, slots: ['9a', '95'], line }.
export function audit(reader, pin = PIN) {
  const out = execFileSync(TOKEN_SHELL, [reader], {
    input: `open\naudit ${pin}\nquit\n`, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
  });
  const line = out.split('\n').find((l) => l.startsWith('audit ')) ?? out;
  const m = /^audit rc=OK certs=(\d+) slots=(\S+)/.exec(line);
  return { ok: !!m, slots: m && m[2] !== '-' ? m[2].split(',') : [], line };
}

export function randomChallenge() {
  return crypto.randomBytes(24).toString('base64url');
}
