#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// The demo service hall: serves the hall's pages and the SDK, and plays
// the certificate authority behind them (ca.mjs) through a small JSON API.
// Node only (node:http), no dependencies. Listens on loopback and prints
// its URL as `hall: http://127.0.0.1:PORT/`.
//
//   node web-sdk/demo/server.mjs [--port 8080] [--host 127.0.0.1]
//        [--state DIR] [--downloads DIR] [--ukeyd-ports 17485,...] [--init]
//
// --state DIR         the CA and the orders (default: ./hall-state)
// --downloads DIR     where the helper's .deb packages are (served under
//                     /downloads/; the environment check links the newest
//                     ukeyd_*.deb)
// --ukeyd-ports LIST  ports the pages try for ukeyd (default the SDK's:
//                     17485-17489); tests point pages at their own daemon
// --public-address    send `Content-Security-Policy: treat-as-public-address`
//                     so Chromium treats the pages as a public site (Local
//                     Network Access applies)
// --init              make the CA and the state directory, then exit
//
// API (JSON in and out; errors are {"error": {"code", "message", ...}}):
//   GET  /api/config                     hall settings for the pages
//   POST /api/orders                     {tokenId, certId, certificate}
//   GET  /api/orders?certId=… | ?renewalId=…
//   GET  /api/orders/ID
//   POST /api/orders/ID/request          {csr, proof: {algorithm, signature}, renewalId}
//   POST /api/orders/ID/pay              {method?: "mock"}
//   GET  /api/orders/ID/certificate      the issued certificate (again and again)
//   POST /api/orders/ID/installed        {certId}
//   POST /api/orders/ID/cancel           {}
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HallCA, HallError } from './ca.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PUBLIC = path.join(HERE, 'public');
const SDK_DIR = path.resolve(HERE, '..');
const SDK_FILES = new Set(['ukey.js', 'ukey.d.ts']);
const MAX_BODY = 64 * 1024;

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.pem': 'application/x-pem-file',
  '.deb': 'application/vnd.debian.binary-package',
};

function usage(out, code) {
  out.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
    .slice(3, 21).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(code);
}

function parseArgs(argv) {
  const o = { port: 8080, host: '127.0.0.1', state: 'hall-state', downloads: null,
    ukeydPorts: null, publicAddress: false, init: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) {
        process.stderr.write(`hall: ${a} needs a value\n`);
        process.exit(2);
      }
      return argv[++i];
    };
    if (a === '--port') {
      o.port = Number(val());
      if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
        process.stderr.write('hall: --port: 0-65535\n');
        process.exit(2);
      }
    } else if (a === '--host') {
      o.host = val();
      if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(o.host)) {
        // a test CA with a mock payment has no business on a network
        process.stderr.write('hall: --host must be a loopback address\n');
        process.exit(2);
      }
    } else if (a === '--state') {
      o.state = val();
    } else if (a === '--downloads') {
      o.downloads = path.resolve(val());
    } else if (a === '--ukeyd-ports') {
      o.ukeydPorts = val().split(',').map(Number);
      if (!o.ukeydPorts.length || o.ukeydPorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        process.stderr.write('hall: --ukeyd-ports: a comma-separated list of ports\n');
        process.exit(2);
      }
    } else if (a === '--public-address') {
      o.publicAddress = true;
    } else if (a === '--init') {
      o.init = true;
    } else if (a === '-h' || a === '--help') {
      usage(process.stdout, 0);
    } else {
      process.stderr.write(`hall: unknown option ${a}\n`);
      usage(process.stderr, 2);
    }
  }
  return o;
}

// --- responses ----------------------------------------------------------------

function securityHeaders(res, opts) {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('X-Frame-Options', 'DENY');
  // The pages reach ukeyd on loopback (the SDK also probes plain HTTP there
  // to tell "not running" from "refused"); nothing else leaves the hall.
  const csp = ["default-src 'self'", "img-src 'self' data:", "style-src 'self'", "script-src 'self'",
    "connect-src 'self' ws://127.0.0.1:* ws://localhost:* http://127.0.0.1:* http://localhost:*",
    "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"];
  res.setHeader('Content-Security-Policy', csp.join('; '));
  if (opts.publicAddress) {
    // a second header: Chromium applies both policies
    res.appendHeader('Content-Security-Policy', 'treat-as-public-address');
  }
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res, status, code, message, extra = {}) {
  sendJson(res, status, { error: { code, message, ...extra } });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const type = String(req.headers['content-type'] || '');
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      reject(new HallError(415, 'UNSUPPORTED_MEDIA_TYPE', '请求内容类型应为 application/json。'));
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_BODY) {
      reject(new HallError(413, 'BODY_TOO_LARGE', '请求内容过大。'));
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    let failed = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY && !failed) {
        failed = true;
        reject(new HallError(413, 'BODY_TOO_LARGE', '请求内容过大。'));
      }
      if (!failed) chunks.push(c);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve({});
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HallError(400, 'INVALID_JSON', '请求内容不是合法的 JSON。'));
      }
    });
    req.on('error', reject);
  });
}

// --- static files ----------------------------------------------------------------

function serveFile(req, res, file, extraHeaders = {}) {
  let st;
  try {
    st = fs.statSync(file);
  } catch {
    st = null;
  }
  if (!st || !st.isFile()) {
    sendNotFound(req, res);
    return;
  }
  const type = TYPES[path.extname(file)] || 'application/octet-stream';
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': st.size,
    'Cache-Control': 'no-cache', ...extraHeaders });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  fs.createReadStream(file).pipe(res);
}

function sendNotFound(req, res) {
  const page = path.join(PUBLIC, '404.html');
  res.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(req.method === 'HEAD' ? undefined : fs.readFileSync(page));
}

// The newest package of each name in the downloads directory.
function listDownloads(dir) {
  if (!dir) return [];
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /^[a-z0-9][a-z0-9.+~-]*_[0-9][A-Za-z0-9.+~-]*_[a-z0-9]+\.deb$/.test(n))
    .sort()
    .map((n) => {
      const [pkg, version, arch] = n.replace(/\.deb$/, '').split('_');
      return { name: n, package: pkg, version, arch, size: fs.statSync(path.join(dir, n)).size,
        url: `/downloads/${encodeURIComponent(n)}` };
    });
}

// --- the API -------------------------------------------------------------------

async function api(req, res, url, ca, opts) {
  const parts = url.pathname.split('/').slice(2); // after /api/
  const method = req.method;
  const allow = (...methods) => {
    if (!methods.includes(method)) {
      throw new HallError(405, 'METHOD_NOT_ALLOWED', `不支持的请求方法 ${method}。`);
    }
  };

  if (parts.length === 1 && parts[0] === 'config') {
    allow('GET', 'HEAD');
    const downloads = listDownloads(opts.downloads);
    const helper = downloads.filter((d) => d.package === 'ukeyd').pop();
    sendJson(res, 200, {
      hallName: '示范数字证书认证中心 · 网上服务大厅',
      caName: ca.caCert.subject.match(/^CN=(.*)$/m)?.[1] ?? '',
      price: ca.price,
      downloadUrl: helper ? helper.url : '/help.html#downloads',
      helperPackage: helper ?? null,
      downloads,
      caCertificateUrl: '/downloads/ca.pem',
      ukeydPorts: opts.ukeydPorts,
      supportPhone: '400-000-0000',
    });
    return;
  }
  if (parts[0] !== 'orders') throw new HallError(404, 'NOT_FOUND', '没有这个接口。');

  if (parts.length === 1) {
    if (method === 'POST') {
      const r = await ca.createOrder(await readBody(req));
      sendJson(res, r.existing ? 200 : 201, r);
      return;
    }
    allow('GET', 'HEAD', 'POST');
    const certId = url.searchParams.get('certId');
    const renewalId = url.searchParams.get('renewalId');
    if ((certId === null) === (renewalId === null)) {
      throw new HallError(400, 'MISSING_FIELD', '请给出 certId 或 renewalId 之一。');
    }
    const found = certId !== null ? ca.findByCert(certId) : ca.findByRenewal(renewalId);
    sendJson(res, 200, { orders: found.map((o) => ca.view(o)) });
    return;
  }

  const id = decodeURIComponent(parts[1]);
  if (parts.length === 2) {
    allow('GET', 'HEAD');
    sendJson(res, 200, { order: ca.view(ca.get(id)) });
    return;
  }
  if (parts.length !== 3) throw new HallError(404, 'NOT_FOUND', '没有这个接口。');
  switch (parts[2]) {
  case 'request':
    allow('POST');
    sendJson(res, 200, { order: await ca.submitRequest(id, await readBody(req)) });
    return;
  case 'pay':
    allow('POST');
    sendJson(res, 200, { order: await ca.pay(id, await readBody(req)) });
    return;
  case 'certificate':
    allow('GET', 'HEAD');
    sendJson(res, 200, await ca.certificate(id));
    return;
  case 'installed':
    allow('POST');
    sendJson(res, 200, { order: await ca.installed(id, await readBody(req)) });
    return;
  case 'cancel':
    allow('POST');
    sendJson(res, 200, { order: await ca.cancel(id, await readBody(req)) });
    return;
  default:
    throw new HallError(404, 'NOT_FOUND', '没有这个接口。');
  }
}

function handler(ca, opts) {
  return async (req, res) => {
    securityHeaders(res, opts);
    let url;
    try {
      url = new URL(req.url, 'http://hall.invalid');
    } catch {
      sendError(res, 400, 'BAD_URL', '请求地址无效。');
      return;
    }
    try {
      if (url.pathname.startsWith('/api/')) {
        await api(req, res, url, ca, opts);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendError(res, 405, 'METHOD_NOT_ALLOWED', `不支持的请求方法 ${req.method}。`);
        return;
      }
      let rel;
      try {
        rel = decodeURIComponent(url.pathname);
      } catch {
        sendNotFound(req, res);
        return;
      }
      if (rel.includes('\0') || rel.split('/').some((s) => s.startsWith('.'))) {
        sendNotFound(req, res);
        return;
      }
      if (rel.startsWith('/sdk/')) {
        const name = rel.slice(5);
        if (SDK_FILES.has(name)) {
          serveFile(req, res, path.join(SDK_DIR, name));
        } else {
          sendNotFound(req, res);
        }
        return;
      }
      if (rel === '/downloads/ca.pem') {
        serveFile(req, res, path.join(ca.caDir, 'ca.pem'), {
          'Content-Disposition': 'attachment; filename="hall-test-ca.pem"' });
        return;
      }
      if (rel.startsWith('/downloads/')) {
        const name = rel.slice(11);
        const d = listDownloads(opts.downloads).find((x) => x.name === name);
        if (!d) {
          sendNotFound(req, res);
          return;
        }
        serveFile(req, res, path.join(opts.downloads, d.name), {
          'Content-Disposition': `attachment; filename="${d.name}"` });
        return;
      }
      if (rel === '/') rel = '/index.html';
      const file = path.resolve(PUBLIC, `.${rel}`);
      if (!file.startsWith(`${PUBLIC}${path.sep}`)) {
        sendNotFound(req, res);
        return;
      }
      serveFile(req, res, file);
    } catch (e) {
      if (e instanceof HallError) {
        sendError(res, e.status, e.code, e.message, e.extra);
      } else {
        process.stderr.write(`hall: ${req.method} ${url.pathname}: ${e && e.stack}\n`);
        if (!res.headersSent) sendError(res, 500, 'INTERNAL_ERROR', '服务器内部错误，请稍后重试。');
        else res.destroy();
      }
    }
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const ca = await new HallCA(opts.state).open();
  if (opts.init) {
    process.stdout.write(`hall: state in ${ca.dir}, CA ${path.join(ca.caDir, 'ca.pem')}\n`);
    return;
  }
  const server = http.createServer(handler(ca, opts));
  server.headersTimeout = 20000;
  server.requestTimeout = 60000;
  server.on('error', (e) => {
    process.stderr.write(`hall: ${e.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    process.stdout.write(`hall: http://${host}:${port}/\n`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`hall: ${e && e.message}\n`);
  process.exit(1);
});
