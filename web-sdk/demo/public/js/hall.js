// SPDX-License-Identifier: MIT
//
// What every page of the demo hall shares: the hall's settings from its
// server, the server's JSON API, one UKeyClient per page (the SDK is the
// only way the pages reach ukeyd), the helper indicator in the header,
// and small formatting and DOM helpers.
import { UKeyClient, UKeyError } from '/sdk/ukey.js';

export { UKeyClient, UKeyError };

let configPromise = null;

/** The hall's settings (GET /api/config), fetched once per page. */
export function hallConfig() {
  if (!configPromise) {
    configPromise = fetch('/api/config', { cache: 'no-store' }).then((r) => {
      if (!r.ok) throw new Error(`/api/config: HTTP ${r.status}`);
      return r.json();
    });
  }
  return configPromise;
}

/** A refusal or failure of the hall's server, with its code and zh-CN text. */
export class HallApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

/**
 * Calls the hall's server. Resolves with the JSON answer; rejects with a
 * HallApiError (the server's code and message, or NETWORK when it cannot
 * be reached).
 */
export async function api(method, url, body) {
  let r;
  try {
    r = await fetch(url, {
      method,
      cache: 'no-store',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new HallApiError(0, 'NETWORK', '无法连接服务大厅服务器，请检查网络后重试。');
  }
  let doc = null;
  try {
    doc = await r.json();
  } catch {
    doc = null;
  }
  if (!r.ok) {
    const e = doc && doc.error ? doc.error : {};
    throw new HallApiError(r.status, e.code || `HTTP_${r.status}`,
      e.message || `服务器错误（HTTP ${r.status}），请稍后重试。`, e);
  }
  return doc;
}

// A page being left (a link followed mid-load) sees its requests cut off:
// that is no failure to show.
let leaving = false;
addEventListener('pagehide', () => { leaving = true; });

/**
 * The page could not start (the hall's server did not answer): say so on
 * the page instead of failing silently, unless the page is being left.
 * Returns a promise that never settles, so a module's top-level
 * `await x.catch(pageFailed)` stops there without an uncaught error.
 */
export function pageFailed(e) {
  if (!leaving) {
    console.warn('page start failed:', e);
    const main = document.querySelector('main') || document.body;
    main.prepend(h('div.note.error', { 'data-page-error': '' },
      '无法连接服务大厅服务器，请检查网络后刷新页面重试。'));
  }
  return new Promise(() => {});
}

let clientPromise = null;

/**
 * The page's UKeyClient (made once). It reconnects by itself; the header's
 * helper indicator follows its connectionChanged events.
 */
export function ukeyClient() {
  if (!clientPromise) {
    clientPromise = hallConfig().then((cfg) => {
      const uk = new UKeyClient({
        ports: cfg.ukeydPorts || undefined,
        downloadUrl: cfg.downloadUrl,
        client: '示范 CA 网上服务大厅',
        lang: 'zh-CN',
        // a hall page wants to notice a helper that came back soon
        reconnectMaxMs: 4000,
      });
      uk.on('connectionChanged', (ev) => setHelperPill(ev.connected ? 'ok' : 'bad', ev));
      return uk;
    });
  }
  return clientPromise;
}

// A page on the public web meets the browser's Local Network Access gate:
// connect there only after a click while the permission is still to be
// asked (the browser shows its prompt then, with the page's explanation
// beside it). A page on loopback, or one already allowed, connects at once.
export async function mayConnectNow() {
  const h = location.hostname.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || /^127\./.test(h)) return true;
  const state = await UKeyClient.localNetworkAccess();
  return state !== 'prompt';
}

function setHelperPill(state, ev) {
  const pill = document.querySelector('.helper-pill');
  if (!pill) return;
  pill.dataset.state = state;
  pill.textContent = state === 'ok' ? '控件已连接' : '控件未连接';
  pill.title = state === 'ok' && ev && ev.port ? `ukeyd，端口 ${ev.port}` : '';
}

// --- formatting ---------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');

/** 2026-12-14 16:19 (the viewer's local time). */
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** 2026-12-14 */
export function fmtDate(iso) {
  return fmtTime(iso).slice(0, 10);
}

/** ¥200.00 from fen. */
export function fmtPrice(fen) {
  return `¥${(fen / 100).toFixed(2)}`;
}

export const KEY_TYPES = {
  rsa1024: 'RSA 1024', rsa2048: 'RSA 2048', p256: 'ECC P-256', p384: 'ECC P-384',
};

// --- DOM ----------------------------------------------------------------------

/**
 * h('div.card#id', {attrs}, ...children): a small element builder. Text
 * children are text nodes, never HTML.
 */
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement(m ? m[1] : 'div');
  if (m) {
    for (const part of m[2].match(/[.#][\w-]+/g) || []) {
      if (part[0] === '.') el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
  } else if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/**
 * A modal question. Resolves true (confirm) or false (cancel, Esc).
 * `body` is text or nodes.
 */
export function confirmDialog({ title, body, ok = '确定', cancel = '取消', tone = '', id }) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { id, 'data-dialog': id || 'confirm' },
      h(`div.dlg-head${tone ? `.${tone}` : ''}`, title),
      h('div.dlg-body', body),
      h('div.dlg-foot',
        h('button.btn.secondary', { type: 'button', 'data-answer': 'no', onclick: () => dlg.close('no') }, cancel),
        h(`button.btn${tone === 'warn' ? '.danger' : ''}`, { type: 'button', 'data-answer': 'yes',
          onclick: () => dlg.close('yes') }, ok)));
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(dlg.returnValue === 'yes');
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}
