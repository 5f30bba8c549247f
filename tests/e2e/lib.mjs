// SPDX-License-Identifier: MIT
//
// What the end-to-end tests share: the demo hall's server (its own state
// directory, a free port, pointed at the test daemon's ports), Debian's
// Chromium driven headless by playwright-core, certificates issued by the
// hall's own CA for the virtual keys, screenshots into the build tree, and
// small waits on the pages' data-* attributes. The daemon and the keys come
// from tests/daemon/harness.mjs; every wait is for an event with a bound.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { BUILD, until } from '../daemon/harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const SOURCE = join(HERE, '..', '..');
export const SERVER = join(SOURCE, 'web-sdk', 'demo', 'server.mjs');
export const SHOTS = join(BUILD, 'e2e-screenshots');
const shotPrefix = process.env.UK_E2E_SHOT_PREFIX || '';
export const CHROMIUM = process.env.UK_CHROMIUM || '/usr/bin/chromium';
export const PIN = '123456';
// the test daemon's ports (harness.mjs's Daemon takes 37485, else the next)
export const UKEYD_PORTS = [37485, 37486, 37487, 37488, 37489];
export const SUBJECT = '/CN=张三/O=山西测试单位/OU=信息部/serialNumber=91140100MA0DEMO01X';
export const WAIT = 30000;

// --- the hall's server ----------------------------------------------------------

export class Hall {
  /** @param {{args?: string[], state?: string}} [opts] */
  constructor(opts = {}) {
    this.dir = opts.state || mkdtempSync(join(tmpdir(), 'ukeyd-hall-'));
    this.args = opts.args || [];
    this.log = '';
  }

  async start() {
    this.log = '';
    this.proc = spawn(process.execPath, [SERVER, '--port', String(this.port || 0), '--state', this.dir,
      '--downloads', BUILD, '--ukeyd-ports', UKEYD_PORTS.join(','), ...this.args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    await until(new Promise((resolve, reject) => {
      const check = () => {
        const m = /hall: (http:\/\/\S+\/)/.exec(this.log);
        if (m) resolve(m[1]);
      };
      this.proc.stdout.on('data', check);
      this.proc.on('exit', () => reject(new Error(`the hall's server exited:\n${this.log}`)));
      check();
    }), 20000, 'the hall to listen');
    this.url = /hall: (http:\/\/\S+\/)/.exec(this.log)[1];
    this.origin = this.url.replace(/\/$/, '');
    this.port = Number(new URL(this.url).port);
    return this;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGTERM');
    const r = await until(this.exited, 10000, 'the hall to exit');
    if (r.code !== 0) throw new Error(`the hall exited with ${r.code ?? r.sig}:\n${this.log}`);
  }

  /** The order book as the server keeps it on disk. */
  orders() {
    return JSON.parse(readFileSync(join(this.dir, 'orders.json'), 'utf8')).orders;
  }

  async api(method, path, body) {
    const r = await fetch(new URL(path, this.url), {
      method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  }

  /**
   * A certificate for a virtual key, issued by the hall's CA (the hall only
   * renews its own certificates): EC P-256 by default, valid from `start`
   * until `end` (Dates).
   */
  issueFor(name, { start, end, subject = SUBJECT, keyType = 'ec' }) {
    const dir = join(this.dir, 'keys');
    mkdirSync(dir, { recursive: true });
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const crt = join(dir, `${name}.pem`);
    const newkey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    execFileSync('openssl', ['req', ...newkey, '-nodes', '-keyout', key, '-out', csr, '-utf8', '-subj', subject],
      { stdio: 'ignore' });
    execFileSync('openssl', ['ca', '-batch', '-config', join(this.dir, 'ca', 'ca.cnf'), '-in', csr, '-out', crt,
      '-notext', '-preserveDN', '-utf8', '-startdate', asn1Time(start), '-enddate', asn1Time(end)],
    { stdio: 'pipe' });
    return { key, crt };
  }
}

function asn1Time(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
}

export const days = (n) => new Date(Date.now() + n * 86400000);

// --- the browser -------------------------------------------------------------------

/**
 * Debian's Chromium, headless. --no-sandbox: the tests run as root (in
 * scripts/isolate), where Chromium's sandbox refuses to start.
 */
export function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--lang=zh-CN', ...extraArgs],
  });
}

/** A page that fails the test on any script error; its console is kept. */
export async function newPage(browser, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  page.errors = [];
  page.consoleLines = [];
  page.on('pageerror', (e) => {
    page.errors.push(e);
    page.consoleLines.push(`pageerror at ${page.url()}: ${e.name}: ${e.message}`);
  });
  page.on('console', (m) => page.consoleLines.push(`${m.type()}: ${m.text()}`));
  page.setDefaultTimeout(WAIT);
  return { context, page };
}

/**
 * Runs fn(page) on a new page; when it throws, saves FAILED-name.png and
 * adds the page's console and script errors to the error. Checks that the
 * page had no script error.
 */
export async function withPage(browser, name, fn, opts) {
  rmSync(join(SHOTS, `${shotPrefix}FAILED-${name}.png`), { force: true });
  const { context, page } = await newPage(browser, opts);
  try {
    await fn(page, context);
    if (page.errors.length) {
      throw new Error(`script errors: ${page.errors.map((e) => e.stack || `${e.name}: ${e.message}` || String(e)).join('\n')}`);
    }
  } catch (e) {
    await shot(page, `FAILED-${name}`).catch(() => {});
    const extra = `\n--- page console (${page.url()}):\n${page.consoleLines.slice(-30).join('\n')}`;
    e.message += extra;
    if (typeof e.stack === 'string') e.stack += extra; // what the test runner prints
    throw e;
  } finally {
    await context.unrouteAll({ behavior: 'ignoreErrors' }).catch(() => {});
    await context.close().catch(() => {});
  }
}

/** Pulls every key in `names` that is still in (after hooks: never throws). */
export function pullAll(names, cardStop) {
  for (const k of names) {
    try {
      cardStop(k);
    } catch {
      // already gone (a key that dropped itself, or never started)
    }
  }
}


/** A full-page screenshot into BUILD/e2e-screenshots/, named by the test. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = join(SHOTS, `${shotPrefix}${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Waits for the renewal wizard to show `step` (main[data-step]). */
export function step(page, name, timeout = WAIT) {
  return page.waitForSelector(`main#renew[data-step="${name}"]`, { timeout });
}

/** Waits for an environment-check row to reach a state (ok, bad, warn, idle). */
export function envRow(page, row, state, timeout = WAIT) {
  return page.waitForSelector(`tr[data-row="${row}"][data-state="${state}"]`, { timeout });
}

// --- the key seen by others -----------------------------------------------------

/** ukeyctl --json certs TOKEN through the daemon's Unix socket. */
export function ukeyctlCerts(daemon, tokenId) {
  const r = daemon.ukeyctl('--json', 'certs', tokenId);
  if (r.status !== 0) throw new Error(`ukeyctl certs: ${r.status} ${r.out} ${r.err}`);
  return JSON.parse(r.out).certs;
}

/**
 * The certificates OpenSC's pkcs15-tool reads from the key in `reader`,
 * as PEM strings (it goes through pcscd itself, beside ukeyd).
 */
export function pkcs15Certs(reader) {
  const list = execFileSync('pkcs15-tool', ['--reader', reader, '--list-certificates'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ids = [...list.matchAll(/^\s*ID\s*:\s*([0-9a-fA-F]+)/gm)].map((m) => m[1]);
  return ids.map((id) => execFileSync('pkcs15-tool', ['--reader', reader, '--read-certificate', id],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

export function pemBody(pem) {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}

export { until, writeFileSync, readdirSync, rmSync };
