// SPDX-License-Identifier: MIT
//
// Test harness for ukeyd: starts a daemon in temporary XDG directories with
// its own configuration, plugs virtual keys into the rig, and gives tests a
// small JSON-RPC client over a real WebSocket (npm `ws`) or the raw socket.
// Every wait is for an event (a message, a close, a file) with a generous
// bound; nothing sleeps and hopes.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import WebSocket from 'ws';

const env = process.env;
export const BUILD = env.UK_BUILD_DIR;
export const UKEYD = join(BUILD, 'daemon', 'ukeyd');
export const UKEYCTL = join(BUILD, 'daemon', 'ukeyctl');
export const ORIGIN = 'https://hall.example.cn';
export const ORIGIN2 = 'http://localhost:8080';
const RIG = env.UK_RIG_LIB;
const RIG_DIR = env.UK_RIG_DIR;

export function until(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// --- virtual keys -----------------------------------------------------------

export function cardStart(name, ...args) {
  rmSync(join(RIG_DIR, `${name}.state`), { force: true });
  execFileSync('bash', [RIG, 'card-start', RIG_DIR, name, ...args], { stdio: 'inherit' });
}
export function cardRestart(name, ...args) {
  execFileSync('bash', [RIG, 'card-start', RIG_DIR, name, ...args], { stdio: 'inherit' });
}
export function cardStop(name) {
  execFileSync('bash', [RIG, 'card-stop', RIG_DIR, name], { stdio: 'inherit' });
}

// A certificate and key for seeding, Chinese subject, valid `days` from now.
export function makeCert(dir, name, days, subject = '/CN=张三/O=山西测试单位/OU=信息部') {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', key, '-out', crt, '-days', String(days), '-utf8', '-subj', subject],
  { stdio: 'ignore' });
  return { key, crt };
}

// --- the daemon ---------------------------------------------------------------

export class Daemon {
  constructor(config = {}, { logLevel = 'debug' } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'ukeyd-test-'));
    this.runtime = join(this.dir, 'run');
    this.cfgHome = join(this.dir, 'cfg');
    mkdirSync(this.runtime, { mode: 0o700 });
    mkdirSync(join(this.cfgHome, 'ukeyd'), { recursive: true });
    // p11-kit's registered modules stay out unless a test asks: OpenSC's
    // module would talk to the virtual keys and change what the PIV tests
    // count (tests/pkcs11/ loads modules explicitly)
    this.config = { port: 37485, allowedOrigins: [ORIGIN, ORIGIN2], pkcs11Registered: false, ...config };
    writeFileSync(join(this.cfgHome, 'ukeyd', 'config.json'), JSON.stringify(this.config));
    this.logLevel = logLevel;
    this.log = '';
    this.env = { ...process.env, XDG_RUNTIME_DIR: this.runtime, XDG_CONFIG_HOME: this.cfgHome,
      XDG_STATE_HOME: join(this.dir, 'state') };
  }

  async start() {
    this.proc = spawn(UKEYD, ['--log-level', this.logLevel], { env: this.env });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    // ready when the log says it listens (the port file is written just before)
    try {
      await until(new Promise((resolve, reject) => {
        const check = () => { if (/listening on/.test(this.log)) resolve(); };
        this.proc.stderr.on('data', check);
        this.proc.on('exit', () => reject(new Error(`ukeyd exited:\n${this.log}`)));
        check();
      }), 20000, 'ukeyd to listen (its log at info level or more)');
    } catch (e) {
      this.proc.kill('SIGKILL');
      throw e;
    }
    this.port = Number(readFileSync(join(this.runtime, 'ukeyd', 'port'), 'utf8'));
    return this;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
    }
    let r;
    try {
      r = await until(this.exited, 20000, 'ukeyd to exit');
    } catch (e) {
      this.proc.kill('SIGABRT');
      throw new Error(`${e.message}; its log:\n${this.log.slice(-4000)}`);
    }
    if (r.code !== 0 || /Sanitizer|runtime error/.test(this.log)) {
      throw new Error(`ukeyd exited with ${r.code ?? r.sig}; its log:\n${this.log.slice(-4000)}`);
    }
    rmSync(this.dir, { recursive: true, force: true });
    return r;
  }

  // resolves once the daemon's log, from offset on, matches re (bounded)
  waitLog(re, ms = 10000, offset = 0) {
    return until(new Promise((resolve) => {
      const check = () => {
        if (re.test(this.log.slice(offset))) { this.proc.stderr.off('data', check); resolve(); }
      };
      this.proc.stderr.on('data', check);
      check();
    }), ms, `the daemon to log ${re}`);
  }

  url(host = '127.0.0.1') { return `ws://${host}:${this.port}/`; }

  ukeyctl(...args) {
    try {
      const out = execFileSync(UKEYCTL, args, { env: this.env, encoding: 'utf8' });
      return { status: 0, out };
    } catch (e) {
      return { status: e.status, out: String(e.stdout || ''), err: String(e.stderr || '') };
    }
  }
}

// --- a JSON-RPC client ------------------------------------------------------------

export class Client {
  static async open(daemon, { origin = ORIGIN, host = '127.0.0.1' } = {}) {
    const c = new Client();
    c.ws = new WebSocket(daemon.url(host), { origin });
    c.events = [];
    c.waiters = [];
    c.pending = new Map();
    c.nextId = 1;
    c.closed = new Promise((resolve) => c.ws.on('close', (code, reason) => {
      // calls still waiting will never be answered: settle them now
      for (const settle of c.pending.values()) settle({ closed: code });
      c.pending.clear();
      resolve({ code, reason: String(reason) });
    }));
    c.ws.on('message', (data) => c.onMessage(JSON.parse(String(data))));
    await until(new Promise((resolve, reject) => {
      c.ws.once('open', resolve);
      c.ws.once('error', reject);
    }), 10000, 'the WebSocket to open');
    return c;
  }

  onMessage(msg) {
    if (msg.id !== undefined && this.pending.has(msg.id)) {
      this.pending.get(msg.id)(msg);
      this.pending.delete(msg.id);
      return;
    }
    this.events.push(msg);
    this.waiters = this.waiters.filter((w) => !w(msg));
  }

  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }

  // the raw response message
  call(method, params, ms = 30000) {
    const id = this.nextId++;
    const p = new Promise((resolve) => this.pending.set(id, resolve));
    this.send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    return until(p, ms, `the answer to ${method}`);
  }

  // resolves with the first event (already received or future) matching pred
  event(pred, ms = 20000, what = 'an event') {
    const seen = this.events.find(pred);
    if (seen) {
      this.events.splice(this.events.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return until(new Promise((resolve) => {
      this.waiters.push((m) => {
        if (!pred(m)) return false;
        this.events.splice(this.events.indexOf(m), 1);
        resolve(m);
        return true;
      });
    }), ms, what);
  }

  close() { this.ws.close(); return this.closed; }
}

// --- raw handshakes -----------------------------------------------------------------

// Sends a hand-written upgrade request; resolves with the status line (or
// 'closed' when the daemon hangs up without an answer).
export function rawUpgrade(port, lines, { family = 4 } = {}) {
  return until(new Promise((resolve) => {
    const s = net.connect({ host: family === 6 ? '::1' : '127.0.0.1', port });
    let buf = '';
    s.on('connect', () => s.write(lines.join('\r\n') + '\r\n\r\n'));
    s.on('data', (d) => {
      buf += d;
      const eol = buf.indexOf('\r\n');
      if (eol >= 0) {
        resolve(buf.slice(0, eol));
        s.destroy();
      }
    });
    s.on('error', () => resolve('closed'));
    s.on('close', () => resolve(buf ? buf.split('\r\n')[0] : 'closed'));
  }), 15000, 'the handshake answer');
}

export function upgradeLines(port, { origin = ORIGIN, host = `127.0.0.1:${port}`, extra = [], omit = [] } = {}) {
  const h = [
    'GET / HTTP/1.1',
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    `Origin: ${origin}`,
  ];
  return [...h.filter((l) => !omit.some((o) => l.startsWith(o))), ...extra];
}

export { existsSync };
