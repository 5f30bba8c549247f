// SPDX-License-Identifier: MIT
//
// 环境检测: the two rows of the hall's environment check — 浏览器控件状态
// (is ukeyd there, running, new enough, does it let this site in) and
// USB-KEY 驱动状态 (the PC/SC service, a reader, a key), each with what to
// do about it. Live: a key inserted or pulled, a reader coming or going,
// the helper stopping or coming back all redraw the rows without a reload.
// The state is also on the DOM (data-state on each row, data-ready on the
// component) for people and tests alike.
import { UKeyError, h, fill, mayConnectNow } from './hall.js';

const SUPPORT = '400-000-0000';
// env.check problems that concern a later step (the PIN, a certificate):
// the environment itself is fine
const LATER_STEP = new Set(['PIN_BLOCKED', 'CERT_EXPIRED', 'CERT_RENEWABLE', 'CERT_NOT_YET_RENEWABLE']);
// problems whose fix is a driver or the smart card service
const DRIVER_FAULT = new Set(['PCSC_UNAVAILABLE', 'NO_READER', 'CCID_NOT_LISTED', 'VENDOR_DRIVER_MISSING']);

export class EnvCheck {
  /**
   * @param {HTMLElement} root where to draw
   * @param {import('/sdk/ukey.js').UKeyClient} uk
   * @param {object} cfg the hall's settings (/api/config)
   * @param {{onChange?: (s: {ready: boolean, tokens: object[]}) => void, actions?: Node[]}} [opts]
   */
  constructor(root, uk, cfg, opts = {}) {
    this.root = root;
    this.uk = uk;
    this.cfg = cfg;
    this.onChange = opts.onChange || (() => {});
    this.ready = false;
    this.tokens = [];
    this.running = null;
    this.again = false;
    this.refreshTimer = null;
    this.draw(opts.actions || []);
  }

  draw(actions) {
    this.helperRow = h('tr', { 'data-row': 'helper', 'data-state': 'wait' });
    this.driverRow = h('tr', { 'data-row': 'driver', 'data-state': 'wait' });
    this.summary = h('span.summary', '正在检测……');
    this.recheck = h('button.btn.secondary', { type: 'button', 'data-action': 'recheck',
      onclick: () => this.check({ gesture: true }) }, '重新检测');
    fill(this.root,
      h('table.env-table',
        h('thead', h('tr', h('th', '检测项目'), h('th', '检测结果'), h('th', '说明'), h('th', '处理方法'))),
        h('tbody', this.helperRow, this.driverRow)),
      h('div.env-foot', this.summary, this.recheck, ...actions));
    this.row(this.helperRow, 'browser.svg', '浏览器控件状态', 'wait', '检测中', '正在查找 USB-KEY 控件……');
    this.row(this.driverRow, 'driver.svg', 'USB-KEY 驱动状态', 'wait', '检测中', '');
  }

  row(tr, icon, name, tone, status, detail, checks = [], fix = []) {
    tr.dataset.state = tone;
    fill(tr,
      h('td.item', h('div.env-item', h('img', { src: `/img/${icon}`, alt: '' }), name)),
      h('td.state', h(`span.status.${tone}`, { 'data-status': '' }, status)),
      h('td', h('div.detail', detail),
        checks.length ? h('ul.checks', checks.map(([ok, text]) => h(`li.${ok ? 'ok' : 'bad'}`, text))) : null),
      h('td.fix', fix.length ? fix : h('span.muted', '—')));
  }

  /** Starts watching and runs the first check (at once, or after a click where the browser must ask). */
  async start() {
    const uk = this.uk;
    const refresh = () => this.scheduleRefresh();
    uk.on('tokenInserted', refresh);
    uk.on('tokenRemoved', refresh);
    uk.on('readerAdded', refresh);
    uk.on('readerRemoved', refresh);
    // a USB key plugged or pulled that PC/SC does not see, or a token's
    // PIN and certificate facts read after the first answer
    uk.on('envChanged', refresh);
    uk.on('connectionChanged', (ev) => {
      if (ev.connected) {
        this.check();
      } else {
        this.helperFailed(ev.reason, { data: ev.data || {} });
      }
    });
    if (await mayConnectNow()) {
      await this.check();
    } else {
      this.askFirst();
    }
  }

  // A public page whose Local Network Access permission is still to be
  // given: explain, and connect on the user's click (the browser asks then).
  askFirst() {
    const go = h('button.btn', { type: 'button', 'data-action': 'start', onclick: () => this.check({ gesture: true }) },
      '开始检测');
    this.row(this.helperRow, 'browser.svg', '浏览器控件状态', 'warn', '待授权',
      '检测需要访问本机的 USB-KEY 控件。点击“开始检测”后，浏览器会询问是否允许本网站“访问此设备上的其他应用和服务”，请选择“允许”。',
      [], [go]);
    this.driverUnknown();
    this.setReady(false, '请点击“开始检测”。');
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    // a card event comes in pairs (reader state, token): one check for both
    this.refreshTimer = setTimeout(() => this.check({ quiet: true }), 150);
  }

  /** Runs the whole check; a check asked for while one runs runs after it. */
  async check(opts = {}) {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.runCheck(opts).finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.check({ quiet: true });
      }
    });
    return this.running;
  }

  async runCheck({ quiet = false } = {}) {
    const uk = this.uk;
    if (!quiet) {
      this.row(this.helperRow, 'browser.svg', '浏览器控件状态', 'wait', '检测中', '正在查找 USB-KEY 控件……');
      this.row(this.driverRow, 'driver.svg', 'USB-KEY 驱动状态', 'wait', '检测中', '');
      this.summary.className = 'summary';
      this.summary.textContent = '正在检测……';
      this.root.dataset.ready = 'checking';
    }
    try {
      await uk.connect();
    } catch (e) {
      this.helperFailed(e instanceof UKeyError ? e.reason : 'CONNECTION_LOST', e);
      return;
    }
    const d = uk.daemon || {};
    this.row(this.helperRow, 'browser.svg', '浏览器控件状态', 'ok', '正常',
      `USB-KEY 控件 ukeyd ${d.version || ''} 已安装并正在运行。`,
      [[true, '已安装'], [true, `正在运行（本机端口 ${uk.port}）`], [true, `版本 ${d.version}，协议 ${d.protocol}`]]);
    let env;
    try {
      env = await uk.envCheck();
    } catch (e) {
      if (!uk.connected) return; // connectionChanged redraws
      this.driverRow.dataset.state = 'bad';
      this.row(this.driverRow, 'driver.svg', 'USB-KEY 驱动状态', 'bad', '检测失败',
        e.message || '检测失败。', [], [this.recheckHint()]);
      this.setReady(false);
      return;
    }
    this.driver(env);
  }

  recheckHint() {
    return h('p', '请点击【重新检测】。');
  }

  download(label = '下载控件') {
    return h('a.btn.small', { href: this.cfg.downloadUrl, 'data-action': 'download' }, label);
  }

  helperFailed(reason, e) {
    const msg = (e && e.message) || UKeyError.message(reason || 'HELPER_NOT_RUNNING', 'zh-CN', (e && e.data) || {});
    const tone = reason === 'BROWSER_BLOCKED' && e && e.data && e.data.permission === 'prompt' ? 'warn' : 'bad';
    let status;
    let checks = [];
    let fix;
    switch (reason) {
    case 'HELPER_NOT_RUNNING':
      status = '未安装或未运行';
      checks = [[false, '未找到正在运行的控件']];
      fix = [this.download(),
        h('p', '已经安装过？控件随登录自动启动；也可以在终端运行 ', h('code', 'systemctl --user start ukeyd'),
          '，然后点击【重新检测】。')];
      break;
    case 'HELPER_OUTDATED':
      status = '版本过低';
      checks = [[true, '已安装'], [false, `版本 ${(e && e.data && e.data.daemonVersion) || '未知'}`]];
      fix = [this.download('下载新版控件'), h('p', '安装新版后点击【重新检测】。')];
      break;
    case 'BROWSER_BLOCKED':
      status = tone === 'warn' ? '等待浏览器授权' : '被浏览器阻止';
      fix = [h('p', '在地址栏左侧的“网站设置”中，将“本地网络访问”设为“允许”，然后点击【重新检测】。'),
        h('a', { href: '/help.html#faq-control' }, '查看图文说明')];
      break;
    case 'ORIGIN_NOT_ALLOWED':
      status = '拒绝连接';
      checks = [[true, '控件正在运行'], [false, '本网站不在控件的允许列表中']];
      fix = [h('p', `请确认使用的是本大厅的官方网址；仍有问题请联系客服 ${SUPPORT}。`)];
      break;
    case 'SDK_OUTDATED':
      status = '页面版本过低';
      fix = [h('p', `请刷新页面；仍有问题请联系客服 ${SUPPORT}。`)];
      break;
    case 'CONNECTION_LOST':
      status = '连接已断开';
      fix = [h('p', '正在自动重新连接，也可以点击【重新检测】。')];
      break;
    default:
      status = '连接失败';
      fix = [this.recheckHint()];
    }
    this.row(this.helperRow, 'browser.svg', '浏览器控件状态', tone, status, msg, checks, fix);
    this.helperRow.dataset.reason = reason || '';
    this.driverUnknown();
    this.setReady(false);
  }

  driverUnknown() {
    this.row(this.driverRow, 'driver.svg', 'USB-KEY 驱动状态', 'idle', '无法检测',
      '浏览器控件连通后才能检测 USB-KEY。');
  }

  driver(env) {
    const problems = env.problems || [];
    const readers = env.readers || [];
    const tokens = env.tokens || [];
    this.tokens = tokens;
    const pcscOk = !!(env.pcsc && env.pcsc.running);
    const checks = [
      [pcscOk, pcscOk ? '智能卡服务（PC/SC）运行中' : '智能卡服务（PC/SC）未运行'],
      [readers.length > 0, readers.length ? `读卡器 ${readers.length} 个` : '未发现读卡器'],
      [tokens.length > 0, tokens.length
        ? `USB-KEY：${tokens.map((t) => `${t.label}（序列号 ${t.serial}）`).join('、')}`
        : '未插入 USB-KEY'],
    ];
    // Errors about the service, reader or key block the row; PIN and
    // certificate states are for the wizard's later steps, and warnings or
    // notices (no USB view in a container, a renewable certificate) are
    // shown without failing the check.
    const zh = (o) => (o && o['zh-CN']) || '';
    const blocking = problems.filter((p) => p.severity === 'error' && !LATER_STEP.has(p.code));
    const notes = problems.filter((p) => !blocking.includes(p)).map((p) => zh(p.message) || p.code);
    const codes = blocking.map((p) => p.code);
    if (!blocking.length && tokens.length) {
      this.driverRow.dataset.reason = '';
      const ok = tokens.length === 1 ? `已识别 USB-KEY，位于读卡器“${tokens[0].reader}”。`
        : `已识别 ${tokens.length} 个 USB-KEY。`;
      this.row(this.driverRow, 'driver.svg', 'USB-KEY 驱动状态', 'ok', '正常',
        [ok, ...notes].join(' '), checks);
      this.setReady(true);
      return;
    }
    const text = blocking.map((p) => zh(p.message) || p.code).join(' ') || '请插入 USB-KEY。';
    const own = blocking.map((p) => zh(p.fix)).filter(Boolean).map((f) => h('p', f));
    let status;
    let fix;
    if (codes.some((c) => DRIVER_FAULT.has(c))) {
      status = '驱动异常';
      fix = [h('a.btn.small', { href: '/help.html#downloads', 'data-action': 'driver' }, '下载驱动'),
        ...own];
      if (codes.includes('PCSC_UNAVAILABLE')) {
        fix.push(h('p', 'Linux 上启动智能卡服务：', h('code', 'sudo systemctl start pcscd')));
      }
    } else if (codes.includes('CARD_UNSUPPORTED')) {
      status = '不支持的 USB-KEY';
      fix = [h('p', `请插入本中心发放的 USB-KEY；仍有问题请联系客服 ${SUPPORT}。`)];
    } else {
      status = '未插入 USB-KEY';
      fix = [h('p', h('b', '请插入 USB-KEY'), '，插入后自动检测。'),
        h('p.muted', `插入后仍显示异常，请联系客服 ${SUPPORT}。`)];
    }
    this.driverRow.dataset.reason = codes.join(',') || 'NO_CARD';
    this.row(this.driverRow, 'driver.svg', 'USB-KEY 驱动状态', 'bad', status,
      [text, ...notes].join(' '), checks, fix);
    this.setReady(false);
  }

  setReady(ready, text) {
    this.ready = ready;
    this.root.dataset.ready = ready ? 'true' : 'false';
    this.summary.className = `summary ${ready ? 'ok' : 'bad'}`;
    this.summary.textContent = text || (ready ? '环境检测通过，可以办理证书更新业务。'
      : '环境检测未通过，请按提示处理后点击【重新检测】。');
    this.onChange({ ready, tokens: this.tokens });
  }
}
