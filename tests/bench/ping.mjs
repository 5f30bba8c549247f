// SPDX-License-Identifier: MIT
//
// Benchmark: ukeyd's system.ping against a Node.js `ws` echo server, both
// driven by the same C client (wsbench: C connections, one request in
// flight each, N requests). Prints requests/s, p50 and p99 of both and
// the ratio. The echo server runs in this Node process, which does nothing
// else meanwhile.
//
//   UK_BUILD_DIR=build node tests/bench/ping.mjs   (UK_BENCH_N, UK_BENCH_CONC)
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { Daemon, ORIGIN, BUILD } from '../daemon/harness.mjs';

const N = process.env.UK_BENCH_N || '100000';
const CONC = process.env.UK_BENCH_CONC || '8';
const WSBENCH = join(BUILD, 'tests', 'bench', 'wsbench');

function bench(port) {
  return new Promise((resolve, reject) => {
    const p = spawn(WSBENCH, ['127.0.0.1', String(port), ORIGIN, N, CONC]);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`port ${port}: ${out}`))));
  });
}

const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
echo.on('connection', (ws) => ws.on('message', (m) => ws.send(m, { binary: false })));
await new Promise((resolve) => echo.once('listening', resolve));
const d = await new Daemon({}, { logLevel: 'info' }).start();
try {
  await bench(echo.address().port); // warm-up
  await bench(d.port);
  const e = await bench(echo.address().port);
  const u = await bench(d.port);
  const rps = (s) => Number(s.split(' ')[0]);
  console.log(`${N} requests, ${CONC} connections, one in flight each (client: wsbench)`);
  console.log(`node ws echo : ${e}`);
  console.log(`ukeyd ping   : ${u}`);
  console.log(`ratio ukeyd/echo: ${(rps(u) / rps(e)).toFixed(2)}x`);
} finally {
  echo.close();
  await d.stop();
}
