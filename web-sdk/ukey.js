// SPDX-License-Identifier: MIT
//
// The ukeyd web SDK: what a service hall page uses to reach ukeyd, the
// per-user helper that talks to the USB-KEY, over a loopback WebSocket
// (docs/protocol.md is the contract). An ES module with no dependencies:
// a page imports it as is; Node passes a WebSocket class (npm `ws`).
//
// It finds the daemon on ports 17485-17489, says system.hello and compares
// versions, keeps one promise per request (ids never reused; a late answer
// after a timeout is dropped), rejects everything in flight when the socket
// closes, reconnects with capped exponential backoff and jitter, turns the
// daemon's notifications into typed events, and gives every failure as a
// UKeyError with a stable `reason` and a zh-CN / en message. When no port
// answers it tells "helper not running" from "the browser blocked local
// access" from "the daemon refused this page's origin" as far as a page can
// know (see README.md, "Telling the failures apart").

/** The SDK's own version (semver). Sent as system.hello's `sdkVersion`. */
export const SDK_VERSION = '0.1.0';
/** The oldest ukeyd this SDK works with. */
export const MIN_DAEMON_VERSION = '0.1.0';
/** The protocol this SDK speaks (system.hello → `protocol`). */
export const PROTOCOL_VERSION = 1;
/** The ports ukeyd may listen on, in the order it takes them. */
export const DEFAULT_PORTS = Object.freeze([17485, 17486, 17487, 17488, 17489]);

/** Reasons the SDK itself produces (the daemon's are in docs/protocol.md). */
export const SDK_REASONS = Object.freeze([
  'HELPER_NOT_RUNNING', 'HELPER_OUTDATED', 'SDK_OUTDATED', 'BROWSER_BLOCKED',
  'ORIGIN_NOT_ALLOWED', 'TIMEOUT', 'CONNECTION_LOST', 'NO_WEBSOCKET',
]);

// Methods that may wait for a person-sized amount of card work (key
// generation takes seconds on real keys) get a longer default timeout.
const LONG_METHODS = new Set(['renew.begin', 'renew.install', 'renew.cancel', 'renew.pending']);
const LONG_TIMEOUT_MS = 180000;

// daemon notification → SDK event name
const EVENTS = {
  'token.inserted': 'tokenInserted',
  'token.removed': 'tokenRemoved',
  'reader.added': 'readerAdded',
  'reader.removed': 'readerRemoved',
  'renew.progress': 'renewProgress',
  'env.changed': 'envChanged',
};
/** The event names `on` accepts. */
export const EVENT_NAMES = Object.freeze([...Object.values(EVENTS), 'connectionChanged']);

// --- messages ----------------------------------------------------------------

// [zh-CN, en] per reason. A function gets error.data (never null).
const n = (v, zh) => (typeof v === 'number' ? v : zh);
const MESSAGES = {
  // the SDK's own
  HELPER_NOT_RUNNING: ['未检测到 USB-KEY 控件（ukeyd）。请下载并安装控件，安装后确认它正在运行，然后重新检测。',
    'The USB-KEY helper (ukeyd) was not found. Download and install it, make sure it is running, then check again.'],
  HELPER_OUTDATED: (d) => [`USB-KEY 控件版本过旧（${d.daemonVersion || '未知'}，至少需要 ${d.minDaemonVersion || MIN_DAEMON_VERSION}）。请下载安装新版控件。`,
    `The USB-KEY helper is too old (${d.daemonVersion || 'unknown'}; at least ${d.minDaemonVersion || MIN_DAEMON_VERSION} is needed). Download and install the new version.`],
  SDK_OUTDATED: (d) => [`本页面使用的控件接口（${d.sdkVersion || SDK_VERSION}）低于 USB-KEY 控件要求的版本（${d.minSdkVersion || '未知'}）。请联系网站客服。`,
    `This page's helper SDK (${d.sdkVersion || SDK_VERSION}) is older than the USB-KEY helper requires (${d.minSdkVersion || 'unknown'}). Please contact the site's support.`],
  BROWSER_BLOCKED: (d) => (d.permission === 'prompt'
    ? ['浏览器正在询问是否允许本网站访问本机的 USB-KEY 控件，请在地址栏下方的提示中点击“允许”。',
      'The browser is asking whether this site may reach the USB-KEY helper on this computer: choose "Allow" in its prompt.']
    : ['浏览器阻止了本网站访问本机的 USB-KEY 控件。请点击地址栏左侧的网站设置图标，将“本地网络访问”（访问此设备上的其他应用和服务）设为“允许”，然后刷新页面。',
      'The browser blocked this site from reaching the USB-KEY helper on this computer. Open the site settings (the icon left of the address bar), allow "Local network access" (apps and services on this device), then reload the page.']),
  ORIGIN_NOT_ALLOWED: ['USB-KEY 控件拒绝了本网站的连接（网站地址不在控件的允许列表中）。请使用官方网址访问，或联系客服。',
    'The USB-KEY helper refused this site (its address is not in the helper\'s allowed list). Use the official address or contact support.'],
  TIMEOUT: ['操作超时，请确认 USB-KEY 已插好后重试。', 'The operation timed out. Check that the USB-KEY is plugged in and try again.'],
  CONNECTION_LOST: ['与 USB-KEY 控件的连接已断开，请重试。', 'The connection to the USB-KEY helper was lost. Please try again.'],
  NO_WEBSOCKET: ['当前浏览器不支持 WebSocket，请使用新版 Chrome、Edge 或 Firefox。', 'This browser has no WebSocket support. Use a current Chrome, Edge or Firefox.'],
  // the daemon's application reasons (common/include/uk/rc.h)
  OK: ['成功。', 'Success.'],
  INTERNAL_ERROR: ['USB-KEY 控件内部错误，请重试或联系客服。', 'Internal error in the USB-KEY helper. Try again or contact support.'],
  OUT_OF_MEMORY: ['USB-KEY 控件内存不足，请重启电脑后重试。', 'The USB-KEY helper ran out of memory. Restart the computer and try again.'],
  INVALID_ARGUMENT: ['参数无效。', 'Invalid argument.'],
  BUFFER_TOO_SMALL: ['数据过长，无法处理。', 'The data is too long to handle.'],
  LIMIT_EXCEEDED: ['同时进行的操作过多，请稍后重试。', 'Too many operations at once. Try again shortly.'],
  MALFORMED_DATA: ['数据格式不正确。', 'The data is malformed.'],
  NOT_FOUND: ['未找到 USB-KEY 或证书，请确认 USB-KEY 已插好。', 'The USB-KEY or certificate was not found. Check that the USB-KEY is plugged in.'],
  NOT_SUPPORTED: ['此 USB-KEY 不支持该操作。', 'This USB-KEY does not support the operation.'],
  IO_ERROR: ['读写数据失败，请重试。', 'Reading or writing data failed. Try again.'],
  CANCELLED: ['操作已取消。', 'The operation was cancelled.'],
  CRYPTO_ERROR: ['密码运算失败，请重试或联系客服。', 'A cryptographic operation failed. Try again or contact support.'],
  PCSC_UNAVAILABLE: ['智能卡服务（PC/SC）未运行，请安装或启动 USB-KEY 驱动后重试。', 'The smart card service (PC/SC) is not running. Install or start the USB-KEY driver and try again.'],
  NO_READER: ['未检测到读卡器，请插入 USB-KEY。', 'No card reader found. Insert the USB-KEY.'],
  NO_CARD: ['请插入 USB-KEY。', 'Insert the USB-KEY.'],
  CARD_REMOVED: ['操作过程中 USB-KEY 被拔出，请重新插入后重试。', 'The USB-KEY was removed during the operation. Insert it again and retry.'],
  CARD_BUSY: ['USB-KEY 正被其他程序使用，请关闭其他使用 USB-KEY 的程序后重试。', 'Another program is using the USB-KEY. Close it and try again.'],
  CARD_ERROR: ['USB-KEY 返回了异常结果，请重新插拔后重试；如仍失败请联系客服。', 'The USB-KEY gave an unexpected answer. Re-insert it and retry; contact support if it persists.'],
  CARD_UNSUPPORTED: ['不支持此 USB-KEY，请确认插入的是本机构发放的 USB-KEY。', 'This USB-KEY is not supported. Make sure it is the one issued by the CA.'],
  SECURITY_STATUS: ['请先校验 PIN 码。', 'Verify the PIN first.'],
  PIN_INCORRECT: (d) => [`PIN 码错误，还可以尝试 ${n(d.retriesLeft, '若干')} 次。`,
    `Wrong PIN. ${n(d.retriesLeft, 'Some')} ${d.retriesLeft === 1 ? 'try' : 'tries'} left.`],
  PIN_BLOCKED: ['PIN 码已锁定，请联系客服解锁。', 'The PIN is blocked. Contact support to unblock it.'],
  PIN_INVALID_FORMAT: ['PIN 码应为 6 到 8 位。', 'The PIN must be 6 to 8 characters.'],
  PUK_INCORRECT: (d) => [`解锁码（PUK）错误，还可以尝试 ${n(d.retriesLeft, '若干')} 次。`,
    `Wrong PUK. ${n(d.retriesLeft, 'Some')} ${d.retriesLeft === 1 ? 'try' : 'tries'} left.`],
  PUK_BLOCKED: ['解锁码（PUK）已锁定，请联系客服。', 'The PUK is blocked. Contact support.'],
  MGMT_AUTH_FAILED: ['无法取得 USB-KEY 的写入权限（管理密钥不符），请联系客服。', 'Cannot get write access to the USB-KEY (management key mismatch). Contact support.'],
  PIN_LAST_TRY: ['PIN 码只剩最后 1 次机会，再错将被锁定。确认继续吗？', 'Only one PIN try is left; another wrong PIN blocks it. Continue?'],
  RENEWAL_NOT_ALLOWED: (d) => (d.supersededBy
    ? ['该证书已经更新过，请使用新证书。', 'This certificate has already been renewed; use the new one.']
    : ['该证书不在可更新期内（到期前一个月至到期后一年内可在线更新）。', 'This certificate is outside its renewal window (from one month before expiry to one year after).']),
  RENEWAL_PENDING: ['该证书有一笔未完成的更新，请点击“异常恢复”完成安装，或取消后重新办理。', 'This certificate has an unfinished renewal: use recovery to finish the install, or cancel it first.'],
  RENEWAL_NOT_FOUND: ['USB-KEY 中没有待安装的更新，请确认插入的是办理更新时使用的 USB-KEY。', 'No pending renewal on this USB-KEY. Make sure it is the key used for the renewal.'],
  CERT_KEY_MISMATCH: ['新证书与此 USB-KEY 中待安装的密钥不匹配，请确认插入的是办理更新时使用的 USB-KEY。', 'The new certificate does not match the key waiting on this USB-KEY. Make sure it is the key used for the renewal.'],
  CERT_NOT_VALID: ['新证书尚未生效或已过期，请联系客服。', 'The new certificate is not yet valid or has expired. Contact support.'],
  CERT_SUBJECT_MISMATCH: ['新证书的主题与原证书不一致，不能安装，请联系客服。', 'The new certificate\'s subject differs from the old one; it cannot be installed. Contact support.'],
  NO_FREE_SLOT: ['USB-KEY 存储空间已满，无法生成新密钥，请联系客服。', 'The USB-KEY has no free place for a new key. Contact support.'],
  MODULE_NOT_ALLOWED: ['该 USB-KEY 驱动模块不在控件允许加载的列表中，请联系管理员或客服。', 'The USB-KEY driver module is not on the helper\'s list of allowed modules. Contact your administrator or support.'],
  MODULE_LOAD_FAILED: ['USB-KEY 驱动模块无法加载，请重新安装厂商驱动。', 'The USB-KEY driver module cannot be loaded. Reinstall the maker\'s driver.'],
  MODULE_INIT_FAILED: ['USB-KEY 驱动模块初始化失败，请重新插入 USB-KEY 或重新安装厂商驱动。', 'The USB-KEY driver module failed to start. Re-insert the key or reinstall the maker\'s driver.'],
  // JSON-RPC level (a page bug, not the user's)
  INVALID_JSON: ['请求格式错误（不是合法的 JSON）。', 'The request is not valid JSON.'],
  NUL_IN_STRING: ['请求中含有非法字符。', 'The request contains a NUL character.'],
  BATCH_UNSUPPORTED: ['不支持批量请求。', 'Batch requests are not supported.'],
  NOT_AN_OBJECT: ['请求格式错误。', 'The request is not an object.'],
  DUPLICATE_KEY: ['请求中有重复的字段。', 'The request has a duplicate key.'],
  TOO_DEEP: ['请求嵌套过深。', 'The request is nested too deeply.'],
  INVALID_ID: ['请求编号无效。', 'The request id is invalid.'],
  UNKNOWN_MEMBER: ['请求中有未知的字段。', 'The request has an unknown member.'],
  INVALID_VERSION: ['请求的协议版本无效。', 'The request\'s jsonrpc version is invalid.'],
  INVALID_METHOD: ['请求的方法名无效。', 'The request\'s method is invalid.'],
  PARAMS_NOT_OBJECT: ['请求参数格式错误。', 'The request\'s params are not an object.'],
  METHOD_NOT_FOUND: ['USB-KEY 控件不支持此功能，请升级控件。', 'The USB-KEY helper does not support this function; update it.'],
  PARAM_UNKNOWN: (d) => [`未知参数${d.field ? `：${d.field}` : ''}。`, `Unknown parameter${d.field ? `: ${d.field}` : ''}.`],
  PARAM_TYPE: (d) => [`参数类型错误${d.field ? `：${d.field}` : ''}。`, `Wrong parameter type${d.field ? `: ${d.field}` : ''}.`],
  PARAM_LENGTH: (d) => [`参数长度不正确${d.field ? `：${d.field}` : ''}。`, `Wrong parameter length${d.field ? `: ${d.field}` : ''}.`],
  PARAM_FORMAT: (d) => [`参数格式不正确${d.field ? `：${d.field}` : ''}。`, `Wrong parameter format${d.field ? `: ${d.field}` : ''}.`],
  PARAM_MISSING: (d) => [`缺少参数${d.field ? `：${d.field}` : ''}。`, `Missing parameter${d.field ? `: ${d.field}` : ''}.`],
};

/** Every reason the SDK has a message for (the daemon's and its own). */
export const KNOWN_REASONS = Object.freeze(Object.keys(MESSAGES));

function normLang(lang) {
  return typeof lang === 'string' && lang.toLowerCase().startsWith('en') ? 'en' : 'zh-CN';
}

function messagesFor(reason, data) {
  const m = MESSAGES[reason];
  const pair = typeof m === 'function' ? m(data || {}) : m;
  if (pair) return { 'zh-CN': pair[0], en: pair[1] };
  return { 'zh-CN': `操作失败（${reason}）。`, en: `The operation failed (${reason}).` };
}

// --- the error class ----------------------------------------------------------

/**
 * Every failure of the SDK. `reason` is stable (the daemon's
 * error.data.reason or one of SDK_REASONS); `message` is for people, in
 * the client's language; `messages` has both.
 */
export class UKeyError extends Error {
  /**
   * @param {string} reason
   * @param {{code?: number|null, data?: object, lang?: string, downloadUrl?: string,
   *          method?: string, detail?: string, cause?: unknown}} [opts]
   */
  constructor(reason, opts = {}) {
    const data = opts.data && typeof opts.data === 'object' ? opts.data : {};
    const messages = messagesFor(reason, data);
    super(messages[normLang(opts.lang)], opts.cause !== undefined ? { cause: opts.cause } : undefined);
    /** @type {string} */
    this.name = 'UKeyError';
    /** @type {string} */
    this.reason = reason;
    /** @type {number|null} JSON-RPC code for the daemon's errors, else null */
    this.code = typeof opts.code === 'number' ? opts.code : null;
    /** @type {Record<string, any>} */
    this.data = data;
    /** @type {{'zh-CN': string, en: string}} */
    this.messages = messages;
    /** @type {string|undefined} the daemon's English text or the SDK's detail, for logs */
    this.detail = opts.detail;
    /** @type {string|undefined} */
    this.method = opts.method;
    if (reason === 'HELPER_NOT_RUNNING' || reason === 'HELPER_OUTDATED') {
      /** @type {string|undefined} */
      this.downloadUrl = opts.downloadUrl || '';
    }
  }

  /**
   * The text for a reason (as UKeyError#message would have it).
   * @param {string} reason
   * @param {string} [lang] 'zh-CN' (default) or 'en'
   * @param {object} [data] error.data, for the numbers some messages carry
   * @returns {string}
   */
  static message(reason, lang = 'zh-CN', data = {}) {
    return messagesFor(reason, data)[normLang(lang)];
  }
}

// --- versions -------------------------------------------------------------------

/**
 * Compares two semver strings (major.minor.patch[-pre][+build]); a
 * pre-release sorts before its release. Unparsable → NaN.
 * @param {string} a
 * @param {string} b
 * @returns {number} <0, 0, >0 or NaN
 */
export function compareVersions(a, b) {
  const re = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;
  const x = re.exec(String(a).trim());
  const y = re.exec(String(b).trim());
  if (!x || !y) return NaN;
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return d;
  }
  if (!x[4] || !y[4]) return (x[4] ? -1 : 0) - (y[4] ? -1 : 0);
  const p = x[4].split('.');
  const q = y[4].split('.');
  for (let i = 0; i < Math.max(p.length, q.length); i++) {
    if (p[i] === undefined) return -1;
    if (q[i] === undefined) return 1;
    const pn = /^\d+$/.test(p[i]);
    const qn = /^\d+$/.test(q[i]);
    if (pn && qn) {
      const d = Number(p[i]) - Number(q[i]);
      if (d !== 0) return d;
    } else if (pn !== qn) {
      return pn ? -1 : 1;
    } else if (p[i] !== q[i]) {
      return p[i] < q[i] ? -1 : 1;
    }
  }
  return 0;
}

// --- the browser's side ---------------------------------------------------------

// Permission names Chromium knows for Local Network Access; only
// `loopback-network` unblocks a loopback target, so it is asked first.
const LNA_PERMISSIONS = ['loopback-network', 'local-network-access', 'local-network'];

async function queryLocalNetworkAccess() {
  const perms = globalThis.navigator && globalThis.navigator.permissions;
  if (!perms || typeof perms.query !== 'function') return 'unsupported';
  for (const name of LNA_PERMISSIONS) {
    try {
      // eslint-disable-next-line no-await-in-loop
      const st = await perms.query(/** @type {any} */ ({ name }));
      if (st && typeof st.state === 'string') return st.state;
    } catch {
      // this browser does not know the name: try the next
    }
  }
  return 'unsupported';
}

// A page served from loopback is never gated by Local Network Access.
function pageIsLoopback() {
  const loc = globalThis.location;
  if (!loc || typeof loc.hostname !== 'string') return true; // not a page (Node)
  const h = loc.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\./.test(h);
}

function noop() {}

// --- the client -----------------------------------------------------------------

/**
 * @typedef {Object} UKeyClientOptions
 * @property {number[]} [ports]
 * @property {string} [host]
 * @property {any} [WebSocket]
 * @property {object} [wsOptions]
 * @property {'zh-CN'|'en'|string} [lang]
 * @property {number} [requestTimeoutMs]
 * @property {number} [longRequestTimeoutMs]
 * @property {number} [connectTimeoutMs]
 * @property {boolean} [reconnect]
 * @property {number} [reconnectBaseMs]
 * @property {number} [reconnectMaxMs]
 * @property {string} [downloadUrl]
 * @property {string} [minDaemonVersion]
 * @property {string} [client]
 * @property {boolean} [probe]
 * @property {number} [keepAliveMs]
 */

/**
 * A connection to ukeyd. One instance per page is enough; it reconnects
 * by itself.
 */
export class UKeyClient {
  /** @param {UKeyClientOptions} [options] */
  constructor(options = {}) {
    const o = options || {};
    this.ports = Array.isArray(o.ports) && o.ports.length ? o.ports.slice() : DEFAULT_PORTS.slice();
    this.host = o.host || '127.0.0.1';
    this.WebSocketImpl = o.WebSocket || globalThis.WebSocket;
    this.wsOptions = o.wsOptions;
    this.lang = normLang(o.lang || 'zh-CN');
    this.requestTimeoutMs = o.requestTimeoutMs ?? 30000;
    this.longRequestTimeoutMs = o.longRequestTimeoutMs ?? Math.max(LONG_TIMEOUT_MS, this.requestTimeoutMs);
    this.connectTimeoutMs = o.connectTimeoutMs ?? 3000;
    this.reconnect = o.reconnect ?? true;
    this.reconnectBaseMs = o.reconnectBaseMs ?? 500;
    this.reconnectMaxMs = o.reconnectMaxMs ?? 30000;
    this.downloadUrl = o.downloadUrl || '';
    this.minDaemonVersion = o.minDaemonVersion || MIN_DAEMON_VERSION;
    this.client = o.client;
    this.probe = o.probe ?? true;
    this.keepAliveMs = o.keepAliveMs ?? 240000;
    this._keepAlive = null;
    /** @type {boolean} */
    this.connected = false;
    /** @type {object|null} the last system.hello result */
    this.daemon = null;
    /** @type {number|null} the port of the open connection */
    this.port = null;
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map();
    this._listeners = new Map();
    this._connecting = null;
    this._closedByUser = false;
    this._retryTimer = null;
    this._attempt = 0;
    this._lastReason = undefined;
  }

  /**
   * The state of the browser's Local Network Access permission for this
   * page: 'granted', 'denied', 'prompt', or 'unsupported' where the
   * browser does not know it. Never prompts.
   * @returns {Promise<'granted'|'denied'|'prompt'|'unsupported'>}
   */
  static localNetworkAccess() {
    return queryLocalNetworkAccess();
  }

  // --- events ---

  /**
   * @param {string} name one of EVENT_NAMES
   * @param {(payload: any) => void} fn
   * @returns {this}
   */
  on(name, fn) {
    if (!EVENT_NAMES.includes(name)) throw new TypeError(`unknown event ${name}`);
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return this;
  }

  /**
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {this}
   */
  off(name, fn) {
    const set = this._listeners.get(name);
    if (set) set.delete(fn);
    return this;
  }

  _emit(name, payload) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (e) {
        // a listener's bug must not break the connection
        setTimeout(() => { throw e; }, 0);
      }
    }
  }

  _error(reason, opts = {}) {
    const extra = reason.startsWith('HELPER_') ? { downloadUrl: this.downloadUrl } : {};
    return new UKeyError(reason, { lang: this.lang, ...extra, ...opts });
  }

  // --- connecting ---

  /**
   * Finds the daemon, says hello and checks versions. Resolves with the
   * system.hello result; rejects with a UKeyError (HELPER_NOT_RUNNING,
   * BROWSER_BLOCKED, ORIGIN_NOT_ALLOWED, HELPER_OUTDATED, SDK_OUTDATED, …).
   * On a public page call it from a user gesture (a click).
   * @returns {Promise<object>}
   */
  connect() {
    this._closedByUser = false;
    if (this.connected) return Promise.resolve(this.daemon);
    if (this._connecting) return this._connecting;
    if (this._retryTimer) {
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
    this._connecting = this._open().finally(() => { this._connecting = null; });
    return this._connecting;
  }

  async _open() {
    let err;
    try {
      const hello = await this._findDaemon();
      if (this._closedByUser || !this._ws) {
        // close() was called while this attempt ran, or the socket closed
        // right after the hello
        this.connected = false;
        if (this._ws) this._drop(this._ws);
        throw this._error('CONNECTION_LOST');
      }
      this._attempt = 0;
      this._lastReason = undefined;
      this.connected = true;
      this._emit('connectionChanged', { connected: true, port: this.port });
      return hello;
    } catch (e) {
      if (this._closedByUser) throw e instanceof UKeyError ? e : this._error('CONNECTION_LOST', { cause: e });
      err = e instanceof UKeyError ? e : this._error('CONNECTION_LOST', { cause: e });
    }
    if (err.reason !== this._lastReason) {
      this._lastReason = err.reason;
      this._emit('connectionChanged', { connected: false, reason: err.reason, data: err.data });
    }
    this._scheduleRetry(err);
    throw err;
  }

  // Retries in the background after a failure, except when only the user
  // can act (the browser's permission denied: a reload or a click calls
  // connect() again) or the page closed the client.
  _scheduleRetry(err) {
    if (!this.reconnect || this._closedByUser || this._retryTimer) return;
    if (err.reason === 'BROWSER_BLOCKED' && err.data.permission !== 'prompt') return;
    if (err.reason === 'NO_WEBSOCKET' || err.reason === 'SDK_OUTDATED') return;
    const exp = Math.min(this.reconnectMaxMs, this.reconnectBaseMs * 2 ** Math.min(this._attempt, 20));
    const delay = Math.round(exp / 2 + Math.random() * (exp / 2)); // "equal jitter"
    this._attempt++;
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (this._closedByUser || this.connected || this._connecting) return;
      this._connecting = this._open().finally(() => { this._connecting = null; });
      this._connecting.catch(() => {}); // reported through connectionChanged
    }, delay);
  }

  async _findDaemon() {
    if (typeof this.WebSocketImpl !== 'function') throw this._error('NO_WEBSOCKET');
    const failures = [];
    for (const port of this.ports) {
      if (this._closedByUser) break;
      // eslint-disable-next-line no-await-in-loop
      const r = await this._tryPort(port);
      if (r.ws) {
        this._adopt(r.ws, port);
        try {
          // eslint-disable-next-line no-await-in-loop
          return await this._hello();
        } catch (e) {
          this._drop(r.ws);
          throw e;
        }
      }
      failures.push({ port, ...r });
      // A socket that gets no answer at all while the browser's permission
      // is still to be given is the Local Network Access prompt: every
      // other port would wait the same.
      if (r.kind === 'timeout' && !pageIsLoopback()) {
        // eslint-disable-next-line no-await-in-loop
        if (await queryLocalNetworkAccess() === 'prompt') break;
      }
    }
    throw await this._diagnose(failures);
  }

  // One WebSocket attempt. Resolves {ws} when open, else {kind, status?}:
  // kind 'refused' (error/close before open), 'timeout' (no event in
  // connectTimeoutMs), 'http' (the server answered the upgrade with an
  // HTTP status: only a WebSocket implementation like npm ws tells it).
  _tryPort(port) {
    return new Promise((resolve) => {
      let ws;
      const url = `ws://${this.host.includes(':') ? `[${this.host}]` : this.host}:${port}/`;
      try {
        ws = this.wsOptions ? new this.WebSocketImpl(url, [], this.wsOptions)
          : new this.WebSocketImpl(url);
      } catch (e) {
        resolve({ kind: 'refused', detail: String(e instanceof Error ? e.message : e) });
        return;
      }
      let status;
      const done = (r) => {
        clearTimeout(timer);
        ws.onopen = null;
        ws.onerror = noop; // npm ws throws an 'error' nobody listens to
        ws.onclose = null;
        resolve(r);
      };
      const timer = setTimeout(() => {
        this._drop(ws);
        done({ kind: 'timeout' });
      }, this.connectTimeoutMs);
      ws.onopen = () => done({ ws });
      ws.onerror = (ev) => {
        // npm ws puts "Unexpected server response: 403" in the event;
        // browsers give nothing (on purpose)
        const m = /server response: (\d{3})/.exec(String(ev && ev.message));
        if (m) status = Number(m[1]);
      };
      ws.onclose = () => done(status ? { kind: 'http', status } : { kind: 'refused' });
    });
  }

  // Why no port worked, as honestly as a page can tell (README.md,
  // "Telling the failures apart"):
  // 1. a port answered the upgrade with 403: the daemon refused this origin;
  // 2. the browser's permission for loopback access is denied, or still to
  //    be given, on a page the gate applies to: BROWSER_BLOCKED;
  // 3. a plain HTTP probe reaches something on a port whose upgrade failed:
  //    something listens and refused the WebSocket — ukeyd refusing this
  //    origin is what that means with ukeyd (it answers plain HTTP 404);
  // 4. otherwise nothing listens: HELPER_NOT_RUNNING.
  async _diagnose(failures) {
    const ports = failures.map((f) => f.port);
    const attempts = failures.map((f) => (f.status ? { port: f.port, kind: f.kind, status: f.status }
      : { port: f.port, kind: f.kind }));
    const refusedBy = failures.find((f) => f.kind === 'http' && f.status === 403);
    if (refusedBy) {
      return this._error('ORIGIN_NOT_ALLOWED', { data: { port: refusedBy.port, status: 403, attempts } });
    }
    const gated = !pageIsLoopback();
    const permission = gated ? await queryLocalNetworkAccess() : 'unsupported';
    if (gated && permission === 'denied') {
      return this._error('BROWSER_BLOCKED', { data: { permission, ports, attempts } });
    }
    if (gated && permission === 'prompt' && failures.some((f) => f.kind === 'timeout')) {
      return this._error('BROWSER_BLOCKED', { data: { permission, waiting: true, ports, attempts } });
    }
    if (this.probe && typeof globalThis.fetch === 'function') {
      for (const f of failures) {
        if (f.kind === 'http') continue; // status known, not 403: not ukeyd
        // eslint-disable-next-line no-await-in-loop
        if (await this._probe(f.port)) {
          return this._error('ORIGIN_NOT_ALLOWED', { data: { port: f.port, probe: true, attempts } });
        }
      }
    }
    const data = { ports, attempts };
    if (gated) data.permission = permission;
    const other = failures.find((f) => f.kind === 'http');
    if (other) data.otherServer = { port: other.port, status: other.status };
    return this._error('HELPER_NOT_RUNNING', { data });
  }

  // Does anything answer plain HTTP on this port? An opaque (no-cors)
  // answer says yes without reading it; a network error says nothing
  // listens (or the browser blocked the probe too).
  async _probe(port) {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => ctl && ctl.abort(), this.connectTimeoutMs);
    try {
      await globalThis.fetch(`http://${host}:${port}/`, {
        mode: 'no-cors', cache: 'no-store', credentials: 'omit', signal: ctl ? ctl.signal : undefined,
      });
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  _adopt(ws, port) {
    this._ws = ws;
    this.port = port;
    ws.onmessage = (ev) => this._onMessage(ws, ev.data);
    ws.onerror = noop;
    ws.onclose = () => this._onClose(ws);
    this._keepAlive = this.keepAliveMs > 0 ? setInterval(() => {
      if (ws === this._ws && this.connected) this._send('system.ping', undefined, this.requestTimeoutMs).catch(noop);
    }, this.keepAliveMs) : null;
  }

  _drop(ws) {
    try {
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = noop;
      ws.close();
    } catch {
      // already closed
    }
    if (ws === this._ws) {
      this._stopKeepAlive();
      this._ws = null;
      this.port = null;
      this._rejectAll('CONNECTION_LOST');
    }
  }

  async _hello() {
    const params = { sdkVersion: SDK_VERSION };
    if (typeof this.client === 'string' && this.client) params.client = this.client.slice(0, 128);
    const hello = await this._send('system.hello', params, this.requestTimeoutMs);
    this.daemon = hello;
    const have = hello && hello.version;
    const minSdk = hello && hello.minSdkVersion;
    const data = { daemonVersion: have, minDaemonVersion: this.minDaemonVersion, sdkVersion: SDK_VERSION,
      minSdkVersion: minSdk, protocol: hello && hello.protocol };
    const old = compareVersions(have, this.minDaemonVersion);
    if (!(old >= 0) || (typeof hello.protocol === 'number' && hello.protocol < PROTOCOL_VERSION)) {
      throw this._error('HELPER_OUTDATED', { data });
    }
    if ((minSdk && compareVersions(minSdk, SDK_VERSION) > 0) ||
        (typeof hello.protocol === 'number' && hello.protocol > PROTOCOL_VERSION)) {
      throw this._error('SDK_OUTDATED', { data });
    }
    return hello;
  }

  _stopKeepAlive() {
    if (this._keepAlive) clearInterval(this._keepAlive);
    this._keepAlive = null;
  }

  _onClose(ws) {
    if (ws !== this._ws) return;
    this._stopKeepAlive();
    this._ws = null;
    this.port = null;
    const was = this.connected;
    this.connected = false;
    this._rejectAll('CONNECTION_LOST');
    if (was) {
      this._lastReason = 'CONNECTION_LOST';
      this._emit('connectionChanged', { connected: false, reason: 'CONNECTION_LOST' });
      this._scheduleRetry(this._error('CONNECTION_LOST'));
    }
  }

  _rejectAll(reason) {
    const all = [...this._pending.values()];
    this._pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(this._error(reason, { method: p.method }));
    }
  }

  _onMessage(ws, raw) {
    let msg;
    try {
      msg = JSON.parse(typeof raw === 'string' ? raw : String(raw));
    } catch {
      return; // the daemon sends JSON; anything else is ignored
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.id === undefined || msg.id === null) {
      if (typeof msg.method === 'string' && EVENTS[msg.method]) {
        this._emit(EVENTS[msg.method], msg.params || {});
      }
      return;
    }
    const p = this._pending.get(msg.id);
    if (!p) return; // timed out earlier: the late answer is dropped
    this._pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) {
      const e = msg.error;
      const data = e.data && typeof e.data === 'object' ? e.data : {};
      p.reject(this._error(typeof data.reason === 'string' ? data.reason : 'INTERNAL_ERROR',
        { code: e.code, data, method: p.method, detail: e.message }));
    } else {
      p.resolve(msg.result);
    }
  }

  _send(method, params, timeoutMs) {
    const ws = this._ws;
    if (!ws) return Promise.reject(this._error('CONNECTION_LOST', { method }));
    const id = this._nextId++;
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this._pending.delete(id)) {
          reject(this._error('TIMEOUT', { method, data: { timeoutMs } }));
        }
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer, method });
      try {
        ws.send(JSON.stringify(msg));
      } catch (e) {
        this._pending.delete(id);
        clearTimeout(timer);
        reject(this._error('CONNECTION_LOST', { method, cause: e }));
      }
    });
  }

  /**
   * Calls any protocol method. Connects first when not connected.
   * @param {string} method
   * @param {object} [params]
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<any>} the daemon's `result`
   */
  async call(method, params, opts = {}) {
    if (typeof method !== 'string' || !method) {
      throw this._error('PARAM_TYPE', { code: -32602, data: { field: 'method' } });
    }
    if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
      throw this._error('PARAMS_NOT_OBJECT', { code: -32602, method });
    }
    const timeoutMs = (opts && opts.timeoutMs) ||
      (LONG_METHODS.has(method) ? this.longRequestTimeoutMs : this.requestTimeoutMs);
    if (!this.connected) await this.connect();
    return this._send(method, params, timeoutMs);
  }

  /**
   * Closes the connection for good (no reconnect until connect() is
   * called again); pending requests reject with CONNECTION_LOST.
   */
  close() {
    this._closedByUser = true;
    if (this._retryTimer) {
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
    const ws = this._ws;
    const was = this.connected;
    this.connected = false;
    if (ws) this._drop(ws);
    this._rejectAll('CONNECTION_LOST');
    if (was) this._emit('connectionChanged', { connected: false, reason: 'CLOSED' });
  }

  // --- typed helpers: one per protocol method ---

  _arg(method, field, value, type) {
    const ok = type === 'string' ? typeof value === 'string' && value.length > 0 : typeof value === type;
    if (!ok) return this._error('PARAM_TYPE', { code: -32602, data: { field }, method });
    return null;
  }

  _check(method, checks) {
    for (const [field, value, type, optional] of checks) {
      if (optional && value === undefined) continue;
      const e = this._arg(method, field, value, type);
      if (e) return Promise.reject(e);
    }
    return null;
  }

  // drops undefined members (the daemon refuses unknown or null ones)
  static _params(obj) {
    const out = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
    return out;
  }

  /** system.hello again (updates `daemon`). @returns {Promise<object>} */
  async hello() {
    const params = { sdkVersion: SDK_VERSION };
    if (typeof this.client === 'string' && this.client) params.client = this.client.slice(0, 128);
    const r = await this.call('system.hello', params);
    this.daemon = r;
    return r;
  }

  /** @returns {Promise<{pong: true}>} */
  ping() { return this.call('system.ping'); }

  /** @returns {Promise<object>} env.check's result */
  envCheck() { return this.call('env.check'); }

  /** @returns {Promise<{tokens: object[]}>} */
  listTokens() { return this.call('token.list'); }

  /** @param {string} tokenId @returns {Promise<object>} */
  tokenInfo(tokenId) {
    return this._check('token.info', [['tokenId', tokenId, 'string']]) ||
      this.call('token.info', { tokenId });
  }

  /** @param {string} tokenId @returns {Promise<{certs: object[]}>} */
  listCerts(tokenId) {
    return this._check('cert.list', [['tokenId', tokenId, 'string']]) ||
      this.call('cert.list', { tokenId });
  }

  /** @param {string} tokenId @param {string} certId @returns {Promise<{certId: string, pem: string}>} */
  getCert(tokenId, certId) {
    return this._check('cert.get', [['tokenId', tokenId, 'string'], ['certId', certId, 'string']]) ||
      this.call('cert.get', { tokenId, certId });
  }

  /** @param {string} tokenId @returns {Promise<object>} */
  pinStatus(tokenId) {
    return this._check('pin.status', [['tokenId', tokenId, 'string']]) ||
      this.call('pin.status', { tokenId });
  }

  /**
   * @param {string} tokenId @param {string} pin
   * @param {{confirmLastTry?: boolean}} [opts]
   * @returns {Promise<{verified: true}>}
   */
  verifyPin(tokenId, pin, opts = {}) {
    const confirmLastTry = opts ? opts.confirmLastTry : undefined;
    return this._check('pin.verify', [['tokenId', tokenId, 'string'], ['pin', pin, 'string'],
      ['confirmLastTry', confirmLastTry, 'boolean', true]]) ||
      this.call('pin.verify', UKeyClient._params({ tokenId, pin, confirmLastTry }));
  }

  /** @returns {Promise<{changed: true}>} */
  changePin(tokenId, oldPin, newPin) {
    return this._check('pin.change', [['tokenId', tokenId, 'string'], ['oldPin', oldPin, 'string'],
      ['newPin', newPin, 'string']]) || this.call('pin.change', { tokenId, oldPin, newPin });
  }

  /** @returns {Promise<{unblocked: true}>} */
  unblockPin(tokenId, puk, newPin) {
    return this._check('pin.unblock', [['tokenId', tokenId, 'string'], ['puk', puk, 'string'],
      ['newPin', newPin, 'string']]) || this.call('pin.unblock', { tokenId, puk, newPin });
  }

  /**
   * @param {{tokenId: string, certId: string, pin: string, challenge: string,
   *          keyType?: string, confirmLastTry?: boolean}} p
   * @param {{timeoutMs?: number}} [opts]
   */
  renewBegin(p, opts) {
    const q = p || /** @type {any} */ ({});
    return this._check('renew.begin', [['tokenId', q.tokenId, 'string'], ['certId', q.certId, 'string'],
      ['pin', q.pin, 'string'], ['challenge', q.challenge, 'string'], ['keyType', q.keyType, 'string', true],
      ['confirmLastTry', q.confirmLastTry, 'boolean', true]]) ||
      this.call('renew.begin', UKeyClient._params({ tokenId: q.tokenId, certId: q.certId, pin: q.pin,
        challenge: q.challenge, keyType: q.keyType, confirmLastTry: q.confirmLastTry }), opts);
  }

  /**
   * @param {{tokenId: string, pin: string, certificate: string, renewalId?: string,
   *          confirmLastTry?: boolean}} p
   * @param {{timeoutMs?: number}} [opts]
   */
  renewInstall(p, opts) {
    const q = p || /** @type {any} */ ({});
    return this._check('renew.install', [['tokenId', q.tokenId, 'string'], ['pin', q.pin, 'string'],
      ['certificate', q.certificate, 'string'], ['renewalId', q.renewalId, 'string', true],
      ['confirmLastTry', q.confirmLastTry, 'boolean', true]]) ||
      this.call('renew.install', UKeyClient._params({ tokenId: q.tokenId, pin: q.pin,
        certificate: q.certificate, renewalId: q.renewalId, confirmLastTry: q.confirmLastTry }), opts);
  }

  /** @param {string} tokenId @param {{timeoutMs?: number}} [opts] */
  renewPending(tokenId, opts) {
    return this._check('renew.pending', [['tokenId', tokenId, 'string']]) ||
      this.call('renew.pending', { tokenId }, opts);
  }

  /**
   * @param {{tokenId: string, renewalId: string, pin: string, confirmLastTry?: boolean}} p
   * @param {{timeoutMs?: number}} [opts]
   */
  renewCancel(p, opts) {
    const q = p || /** @type {any} */ ({});
    return this._check('renew.cancel', [['tokenId', q.tokenId, 'string'], ['renewalId', q.renewalId, 'string'],
      ['pin', q.pin, 'string'], ['confirmLastTry', q.confirmLastTry, 'boolean', true]]) ||
      this.call('renew.cancel', UKeyClient._params({ tokenId: q.tokenId, renewalId: q.renewalId,
        pin: q.pin, confirmLastTry: q.confirmLastTry }), opts);
  }
}

export default UKeyClient;
