// SPDX-License-Identifier: MIT
//
// What the SDK tests share: a UKeyClient for a harness daemon (npm ws, the
// allowlisted Origin, the daemon's port), and an event recorder so a test
// can wait for an event that may already have arrived.
import WebSocket from 'ws';
import { UKeyClient } from '../../web-sdk/ukey.js';
import { ORIGIN, until } from '../daemon/harness.mjs';

export function client(d, opts = {}) {
  const { origin = ORIGIN, ...rest } = opts;
  const uk = new UKeyClient({
    WebSocket,
    wsOptions: { origin },
    ports: d ? [d.port] : undefined,
    client: 'ukeyd SDK tests',
    reconnectBaseMs: 100,
    reconnectMaxMs: 1000,
    ...rest,
  });
  record(uk);
  return uk;
}

// Records every event of uk in uk.seen: [{name, payload}].
export function record(uk) {
  uk.seen = [];
  uk.waiters = [];
  for (const name of ['tokenInserted', 'tokenRemoved', 'readerAdded', 'readerRemoved',
    'renewProgress', 'envChanged', 'connectionChanged']) {
    uk.on(name, (payload) => {
      const e = { name, payload };
      uk.seen.push(e);
      uk.waiters = uk.waiters.filter((w) => !w(e));
    });
  }
  return uk;
}

// Resolves with the first recorded event `name` matching pred (already
// seen or future; consumed), bounded by ms.
export function eventOf(uk, name, pred = () => true, ms = 20000) {
  const match = (e) => e.name === name && pred(e.payload);
  const i = uk.seen.findIndex(match);
  if (i >= 0) return Promise.resolve(uk.seen.splice(i, 1)[0].payload);
  return until(new Promise((resolve) => {
    uk.waiters.push((e) => {
      if (!match(e)) return false;
      uk.seen.splice(uk.seen.indexOf(e), 1);
      resolve(e.payload);
      return true;
    });
  }), ms, `the SDK event ${name}`);
}

// The rejection of promise p (fails the test if it resolves).
export async function rejection(p) {
  try {
    const r = await p;
    throw Object.assign(new Error(`expected a rejection, got ${JSON.stringify(r)}`), { resolved: true });
  } catch (e) {
    if (e.resolved) throw e;
    return e;
  }
}
