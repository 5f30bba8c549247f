// SPDX-License-Identifier: MIT
//
// 证书更新: the hall's renewal wizard.
//
//   环境检测 → 选择证书 → 检验 PIN 码 → 确认信息 → 费用支付 → 安装证书 → 更新完成
//                                                           ↘ 更新失败 → 异常恢复 → 安装证书
//
// The key work goes through the SDK only (cert.list, pin.verify,
// renew.begin when the order is confirmed — the CA needs the request before
// payment —, renew.install after payment, renew.pending for recovery); the
// order, the payment and the issued certificate through the hall's server.
// The PIN stays in this page's memory from 检验 PIN 码 until renew.begin has
// used it, and is asked for again to install.
import {
  hallConfig, ukeyClient, pageFailed, api, HallApiError, UKeyError, h, fill, $, fmtTime, fmtDate, fmtPrice,
  KEY_TYPES, confirmDialog,
} from './hall.js';
import { EnvCheck } from './envcheck.js';

const ORDER = ['env', 'select', 'pin', 'confirm', 'pay', 'install', 'done'];
const BEGIN_STAGES = [['verifyingPin', '验证 PIN 码'], ['generatingKey', '在 USB-KEY 中生成新密钥'],
  ['storingPublicKey', '保存新公钥'], ['signingRequest', '签署证书请求'], ['submit', '提交证书请求']];
const SUPPORT = '400-000-0000';

const cfg = await hallConfig().catch(pageFailed);
const uk = await ukeyClient().catch(pageFailed);
const main = $('#renew');

/** The wizard's state. */
const S = {
  token: null, // token object (token.list)
  cert: null, // certificate being renewed (cert.list)
  certPem: null,
  pin: null, // from 检验 PIN 码 until renew.begin used it
  order: null, // the hall's order (server view)
  recovery: null, // renew.pending's record, when 异常恢复 found one
  result: null, // renew.install's result
  pendingRequest: null, // {orderId, begin}: a request the hall has not taken yet
};

// --- steps -----------------------------------------------------------------------

function show(step) {
  main.dataset.step = step;
  for (const sec of main.querySelectorAll('section[data-step]')) sec.hidden = sec.dataset.step !== step;
  const at = ORDER.indexOf(step === 'failed' ? 'install' : step);
  for (const li of $('#steps').children) {
    const i = ORDER.indexOf(li.dataset.for);
    let cls = '';
    if (i < at || step === 'done') cls = 'done';
    else if (i === at) cls = step === 'failed' ? 'current failed' : 'current';
    li.className = cls;
  }
  window.scrollTo(0, 0);
}

function note(el, text, tone) {
  if (!text) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.hidden = false;
  if (tone) el.className = `note ${tone}`;
  fill(el, text);
}

function errText(e) {
  if (e instanceof UKeyError || e instanceof HallApiError) return e.message;
  return `发生错误：${e && e.message ? e.message : e}`;
}

const busyEl = $('#busy');
function busy(title, stages) {
  if (!title) {
    busyEl.hidden = true;
    return;
  }
  $('#busy-title').textContent = title;
  fill($('#busy-progress'), (stages || []).map(([k, t]) => h('li', { 'data-stage': k }, t)));
  busyEl.hidden = false;
}

// Marks `stage` of a progress list active and those before it done.
function progress(list, stage) {
  let seen = false;
  const items = [...list.children];
  if (!items.some((li) => li.dataset.stage === stage)) return;
  for (const li of items) {
    if (li.dataset.stage === stage) {
      li.className = 'active';
      seen = true;
    } else {
      li.className = seen ? '' : 'done';
    }
  }
}

function progressDone(list) {
  for (const li of list.children) li.className = 'done';
}

function progressReset(list) {
  for (const li of list.children) li.className = '';
}

// --- 环境检测 ----------------------------------------------------------------------

const nextBtn = h('button.btn', { type: 'button', 'data-action': 'next', disabled: true,
  onclick: () => enterSelect() }, '下一步');
const env = new EnvCheck($('#env-check'), uk, cfg, {
  actions: [nextBtn],
  onChange: ({ ready }) => { nextBtn.disabled = !ready; },
});
env.start();

// The key of the renewal pulled or put back while the wizard runs.
const banner = $('#key-banner');
uk.on('tokenRemoved', (ev) => {
  if (S.token && ev.tokenId === S.token.tokenId && ['pin', 'confirm', 'pay', 'install', 'failed'].includes(main.dataset.step)) {
    note(banner, `USB-KEY（序列号 ${S.token.serial}）已拔出。请重新插入后继续办理。`, 'warn');
  }
  if (main.dataset.step === 'select') enterSelect();
});
uk.on('tokenInserted', (ev) => {
  if (S.token && ev.tokenId === S.token.tokenId) note(banner, '');
  if (main.dataset.step === 'select') enterSelect();
});

// --- 选择证书 ----------------------------------------------------------------------

function daysBetween(a, b) {
  return Math.floor((b.getTime() - a.getTime()) / 86400000);
}

function statusTag(c) {
  const end = new Date(c.notAfter);
  const left = daysBetween(new Date(), end);
  switch (c.status) {
  case 'valid': return h('span.tag.green', '有效');
  case 'expiring': return [h('span.tag.orange', '即将过期'), h('span.why', `${left} 天后到期`)];
  case 'expired': return [h('span.tag.red', '已过期'), h('span.why', `已过期 ${-left} 天`)];
  case 'not_yet_valid': return h('span.tag.grey', '未生效');
  default: return h('span.tag.grey', c.status || '未知');
  }
}

// Whether the certificate can be renewed online, and why not.
function renewability(c, pending) {
  const r = c.renewal || {};
  if (pending) return { ok: false, pending: true, tag: h('span.tag.blue', '更新未完成'), why: '已提交更新申请，点击“继续办理”完成' };
  if (r.eligible) {
    const why = c.status === 'expired' ? `${fmtDate(r.closesAt)} 前可在线更新` : '已进入更新期';
    return { ok: true, tag: h('span.tag.green', '可更新'), why };
  }
  if (r.reason === 'SUPERSEDED' || c.current === false) {
    return { ok: false, tag: h('span.tag.grey', '已更新'), why: '已由新证书取代' };
  }
  const now = new Date();
  if (r.opensAt && now < new Date(r.opensAt)) {
    return { ok: false, tag: h('span.tag.grey', '未到更新期'), why: `${fmtDate(r.opensAt)} 起可在线更新` };
  }
  if (r.closesAt && now > new Date(r.closesAt)) {
    return { ok: false, tag: h('span.tag.red', '不可在线更新'), why: '过期已超过一年，请到服务网点办理' };
  }
  return { ok: false, tag: h('span.tag.grey', '不可更新'), why: '证书尚未生效' };
}

let selectSeq = 0;
async function enterSelect() {
  show('select');
  const list = $('#cert-list');
  const seq = ++selectSeq;
  fill(list, h('p.muted', '正在读取 USB-KEY 中的证书……'));
  let blocks;
  try {
    const { tokens } = await uk.listTokens();
    blocks = await Promise.all(tokens.map(async (t) => {
      const [{ certs }, pend] = await Promise.all([uk.listCerts(t.tokenId),
        uk.renewPending(t.tokenId).catch(() => ({ renewals: [] }))]);
      return { token: t, certs, renewals: pend.renewals || [] };
    }));
  } catch (e) {
    if (seq !== selectSeq) return;
    fill(list, h('div.note.error', errText(e)));
    return;
  }
  if (seq !== selectSeq) return; // a newer listing (a key event) took over
  if (!blocks.length) {
    fill(list, h('div.note.warn', '未检测到 USB-KEY，请插入后稍候，列表会自动刷新。'));
    return;
  }
  fill(list, blocks.map(({ token, certs, renewals }) => [
    h('div.token-head', h('img', { src: '/img/ukey.svg', alt: '' }),
      h('b', token.label), `序列号 ${token.serial}`, h('span.muted', `读卡器：${token.reader}`)),
    certs.length ? h('table.data', { 'data-token': token.tokenId },
      h('thead', h('tr', ['证书持有人', '颁发者', '开始时间', '结束时间', '证书状态', '在线更新', '操作']
        .map((t) => h('th', t)))),
      h('tbody', certs.map((c) => {
        const pending = renewals.find((r) => r.oldCertId === c.certId);
        const rr = renewability(c, pending);
        let action = h('span.muted', '—');
        if (rr.ok) {
          action = h('button.btn.small', { type: 'button', 'data-action': 'renew',
            onclick: () => startRenewal(token, c) }, '更新');
        } else if (rr.pending) {
          action = h('button.btn.small', { type: 'button', 'data-action': 'resume',
            onclick: () => resume(token, c, pending) }, '继续办理');
        }
        return h('tr', { 'data-cert-id': c.certId, 'data-renewable': rr.ok ? 'true' : 'false',
          'data-status': c.status },
        h('td', h('b', c.commonName || c.subject), h('span.why', c.organization || '')),
        h('td', c.issuerCommonName || c.issuer),
        h('td.nowrap', fmtTime(c.notBefore)),
        h('td.nowrap', fmtTime(c.notAfter)),
        h('td', statusTag(c)),
        h('td', rr.tag, h('span.why', rr.why)),
        h('td', action));
      }))) : h('div.note.warn', '此 USB-KEY 中没有证书。'),
  ]));
}

async function choose(token, cert) {
  S.token = token;
  S.cert = cert;
  S.order = null;
  S.recovery = null;
  S.result = null;
  S.certPem = (await uk.getCert(token.tokenId, cert.certId)).pem;
}

async function startRenewal(token, cert) {
  try {
    await choose(token, cert);
  } catch (e) {
    fill($('#cert-list'), h('div.note.error', errText(e)));
    return;
  }
  enterPin();
}

// 继续办理: a renewal already begun on this key. The hall's server knows it
// by its renewal id (then carry on with payment or install); one the hall
// does not know is offered for cancelling when it comes up in renew.begin.
async function resume(token, cert, renewal) {
  try {
    await choose(token, cert);
    const found = await api('GET', `/api/orders?renewalId=${encodeURIComponent(renewal.renewalId)}`);
    if (found.orders.length) {
      await resumeOrder(found.orders[0]);
      return;
    }
  } catch (e) {
    fill($('#cert-list'), h('div.note.error', errText(e)));
    return;
  }
  enterPin();
}

// --- 检验 PIN 码 ----------------------------------------------------------------------

function retriesText(el, st) {
  if (!st || typeof st.retriesLeft !== 'number') {
    el.textContent = '';
    return;
  }
  el.className = `retries${st.retriesLeft <= 1 ? ' low' : ''}`;
  fill(el, 'PIN 码剩余尝试次数：', h('b', { 'data-retries': st.retriesLeft }, String(st.retriesLeft)), ' 次');
}

async function enterPin() {
  show('pin');
  S.pin = null;
  fill($('#pin-key'), h('div', h('b', S.token.label), `（序列号 ${S.token.serial}）`),
    h('div.muted', `证书：${S.cert.commonName}${S.cert.organization ? `（${S.cert.organization}）` : ''}`));
  $('#pin-form').hidden = false;
  $('#pin-blocked').hidden = true;
  note($('#pin-error'), '');
  $('#pin-input').value = '';
  try {
    const st = await uk.pinStatus(S.token.tokenId);
    if (st.blocked) {
      showBlocked();
      return;
    }
    retriesText($('#pin-retries'), st);
  } catch (e) {
    note($('#pin-error'), errText(e));
  }
  $('#pin-input').focus();
}

function showBlocked() {
  $('#pin-form').hidden = true;
  const box = $('#pin-blocked');
  box.hidden = false;
  fill(box, h('img', { src: '/img/lock.svg', alt: '' }),
    h('h2', { 'data-state': 'blocked' }, 'PIN 码已锁定'),
    h('p', 'USB-KEY 的 PIN 码已连续输错多次被锁定，暂时不能办理证书更新。证书和密钥没有受到影响。'),
    h('ol',
      h('li', '携带 USB-KEY 和经办人有效身份证件，到任一服务网点解锁；'),
      h('li', `或致电客服 ${SUPPORT}，核实身份后获取解锁码（PUK），按客服指引解锁；`),
      h('li', '解锁并设置新 PIN 码后，回到本页重新办理证书更新。')),
    h('div.actions', h('a.btn.secondary', { href: '/help.html#faq' }, '常见问题'),
      h('a.btn', { href: '/' }, '返回首页')));
}

// The one question the daemon asks before the last PIN try.
function askLastTry() {
  return confirmDialog({
    id: 'last-try', tone: 'warn', title: '最后一次尝试机会',
    body: [h('p', 'PIN 码只剩最后 1 次尝试机会。如果这次仍然输错，USB-KEY 将被锁定，需要到服务网点解锁。'),
      h('p', '确定用刚才输入的 PIN 码继续验证吗？')],
    ok: '继续验证', cancel: '取消',
  });
}

$('#pin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('#pin-input');
  const pin = input.value;
  const err = $('#pin-error');
  note(err, '');
  if (pin.length < 6 || pin.length > 8) {
    note(err, UKeyError.message('PIN_INVALID_FORMAT'), 'error');
    return;
  }
  const btn = $('#pin-submit');
  btn.disabled = true;
  try {
    await verifyPin(pin, false);
  } finally {
    btn.disabled = false;
  }
});

async function verifyPin(pin, confirmLastTry) {
  const err = $('#pin-error');
  try {
    await uk.verifyPin(S.token.tokenId, pin, confirmLastTry ? { confirmLastTry: true } : {});
  } catch (e) {
    if (e.reason === 'PIN_LAST_TRY') {
      retriesText($('#pin-retries'), { retriesLeft: 1 });
      if (await askLastTry()) {
        await verifyPin(pin, true);
      } else {
        note(err, '已取消验证。PIN 码还剩 1 次尝试机会，请确认无误后再输入。', 'warn');
      }
      return;
    }
    if (e.reason === 'PIN_BLOCKED') {
      showBlocked();
      return;
    }
    if (e.reason === 'PIN_INCORRECT') retriesText($('#pin-retries'), e.data);
    note(err, errText(e), 'error');
    $('#pin-input').select();
    return;
  }
  S.pin = pin;
  $('#pin-input').value = '';
  await enterConfirm();
}

// --- 确认信息 ----------------------------------------------------------------------

async function enterConfirm() {
  show('confirm');
  note($('#confirm-error'), '');
  fill($('#confirm-info'), h('p.muted', '正在生成订单……'));
  let r;
  try {
    r = await api('POST', '/api/orders', { tokenId: S.token.tokenId, certId: S.cert.certId, certificate: S.certPem });
  } catch (e) {
    fill($('#confirm-info'));
    note($('#confirm-error'), errText(e), 'error');
    $('#confirm-pay').disabled = true;
    return;
  }
  if (r.existing && r.order.status !== 'created') {
    await resumeOrder(r.order);
    return;
  }
  S.order = r.order;
  renderConfirm();
}

function kv(pairs) {
  return h('dl.kv', pairs.filter(Boolean).map(([k, v]) => [h('dt', k), h('dd', v)]));
}

function renderConfirm() {
  const c = S.cert;
  const o = S.order;
  $('#confirm-pay').disabled = false;
  fill($('#confirm-info'), kv([
    ['业务类型', '数字证书更新（1 年）'],
    ['订单号', h('span.mono', { 'data-order': o.id }, o.id)],
    ['证书持有人', c.commonName],
    c.organization && ['单位名称', c.organization],
    c.orgUnit && ['部门', c.orgUnit],
    c.subjectSerialNumber && ['统一社会信用代码', c.subjectSerialNumber],
    ['颁发机构', c.issuerCommonName || c.issuer],
    ['原证书有效期', `${fmtTime(c.notBefore)} 至 ${fmtTime(c.notAfter)}`],
    ['新证书有效期', `签发之日起至 ${fmtDate(o.plannedNotAfter)}`],
    ['密钥类型', `${KEY_TYPES[c.keyType] || c.keyType || '—'}（在 USB-KEY 中新生成，私钥不出 USB-KEY）`],
    ['USB-KEY', `${S.token.label}（序列号 ${S.token.serial}）`],
    ['应付金额', h('span.price', fmtPrice(o.price))],
  ]));
}

$('#confirm-pay').addEventListener('click', () => begin(false));

// renew.begin with the order's challenge, then the request to the CA.
async function begin(confirmLastTry) {
  const err = $('#confirm-error');
  note(err, '');
  if (S.pendingRequest && S.pendingRequest.orderId === S.order.id) {
    // renew.begin went through, handing the request to the hall did not:
    // send the same request again (a second renew.begin would only say
    // RENEWAL_PENDING)
    await submitRequest(S.pendingRequest.begin);
    return;
  }
  if (!S.pin) {
    enterPin();
    return;
  }
  const stages = $('#busy-progress');
  busy('正在生成证书请求', BEGIN_STAGES);
  const onProgress = (ev) => {
    if (ev.tokenId === S.token.tokenId) progress(stages, ev.stage);
  };
  uk.on('renewProgress', onProgress);
  let b;
  try {
    b = await uk.renewBegin({ tokenId: S.token.tokenId, certId: S.cert.certId, pin: S.pin,
      challenge: S.order.challenge, confirmLastTry: confirmLastTry || undefined });
  } catch (e) {
    uk.off('renewProgress', onProgress);
    busy(null);
    await beginFailed(e);
    return;
  }
  uk.off('renewProgress', onProgress);
  S.pin = null; // used: the install asks for it again
  progress(stages, 'submit');
  await submitRequest(b);
}

// Hands renew.begin's request and proof to the hall's CA.
async function submitRequest(b) {
  const err = $('#confirm-error');
  if (busyEl.hidden) busy('正在提交证书请求', [['submit', '提交证书请求']]);
  progress($('#busy-progress'), 'submit');
  try {
    const r = await api('POST', `/api/orders/${S.order.id}/request`,
      { csr: b.csr, proof: b.proof, renewalId: b.renewalId });
    S.order = r.order;
  } catch (e) {
    busy(null);
    note(err, `${errText(e)}（证书请求已保存在 USB-KEY 中，可点击“确认并支付”重试。）`, 'error');
    S.pendingRequest = { orderId: S.order.id, begin: b };
    return;
  }
  S.pendingRequest = null;
  busy(null);
  enterPay();
}

async function beginFailed(e) {
  const err = $('#confirm-error');
  switch (e.reason) {
  case 'PIN_LAST_TRY':
    if (await askLastTry()) await begin(true);
    return;
  case 'PIN_INCORRECT':
  case 'PIN_BLOCKED':
  case 'PIN_INVALID_FORMAT':
    await enterPin();
    if (e.reason === 'PIN_BLOCKED') showBlocked();
    else note($('#pin-error'), errText(e), 'error');
    return;
  case 'RENEWAL_PENDING': {
    // a renewal of this certificate is already staged on the key
    const renewalId = e.data.renewalId;
    let found = { orders: [] };
    try {
      found = await api('GET', `/api/orders?renewalId=${encodeURIComponent(renewalId)}`);
    } catch (e2) {
      note(err, errText(e2), 'error');
      return;
    }
    if (found.orders.length) {
      if (S.order && S.order.status === 'created' && S.order.id !== found.orders[0].id) {
        await api('POST', `/api/orders/${S.order.id}/cancel`, {}).catch(() => {});
      }
      S.pin = null;
      await resumeOrder(found.orders[0]);
      return;
    }
    const drop = await confirmDialog({
      id: 'foreign-pending', tone: 'warn', title: '有一笔未完成的更新',
      body: [h('p', '这个 USB-KEY 中有一笔本大厅没有记录的未完成证书更新（可能是在其他渠道办理的）。'),
        h('p', '放弃它并重新办理吗？放弃后，为它签发的证书将不能再安装到此 USB-KEY。')],
      ok: '放弃并重新办理', cancel: '暂不办理',
    });
    if (!drop) {
      note(err, `未继续办理。如有疑问请联系客服 ${SUPPORT}。`, 'warn');
      return;
    }
    try {
      await uk.renewCancel({ tokenId: S.token.tokenId, renewalId, pin: S.pin });
    } catch (e2) {
      note(err, errText(e2), 'error');
      return;
    }
    await begin(false);
    return;
  }
  default:
    note(err, errText(e), 'error');
  }
}

// Carries on with an order from where it stands.
async function resumeOrder(order) {
  S.order = order;
  if (order.status === 'created') {
    show('confirm');
    renderConfirm();
    return;
  }
  if (order.status === 'cancelled') {
    await enterConfirm();
    return;
  }
  if (order.status === 'requested') {
    // unpaid: only worth paying while its key is still staged on the USB-KEY
    const pend = await uk.renewPending(S.token.tokenId);
    if ((pend.renewals || []).some((r) => r.renewalId === order.renewalId)) {
      enterPay();
      return;
    }
    await api('POST', `/api/orders/${order.id}/cancel`, {});
    await enterConfirm();
    return;
  }
  await enterInstall();
}

// --- 费用支付 ----------------------------------------------------------------------

// A QR-code-like placeholder drawn from the order number (not a real code:
// the demo has no payment platform).
function qrPlaceholder(seed) {
  const NS = 'http://www.w3.org/2000/svg';
  const n = 25;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', '支付二维码（演示）');
  let x = 2166136261;
  for (const ch of seed) x = Math.imul(x ^ ch.charCodeAt(0), 16777619) >>> 0;
  const rand = () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
  const rect = (px, py, w, hh, fillc) => {
    const r = document.createElementNS(NS, 'rect');
    r.setAttribute('x', px); r.setAttribute('y', py); r.setAttribute('width', w); r.setAttribute('height', hh);
    r.setAttribute('fill', fillc);
    svg.append(r);
  };
  rect(0, 0, n, n, '#fff');
  const finder = (fx, fy) => (fx <= 7 && fy <= 7) || (fx >= n - 8 && fy <= 7) || (fx <= 7 && fy >= n - 8);
  for (let py = 0; py < n; py++) {
    for (let px = 0; px < n; px++) {
      if (!finder(px, py) && !(px > 9 && px < 15 && py > 9 && py < 15) && rand() < 0.5) rect(px, py, 1, 1, '#111');
    }
  }
  for (const [fx, fy] of [[0, 0], [n - 7, 0], [0, n - 7]]) {
    rect(fx, fy, 7, 7, '#111'); rect(fx + 1, fy + 1, 5, 5, '#fff'); rect(fx + 2, fy + 2, 3, 3, '#111');
  }
  rect(10, 10, 5, 5, '#fff');
  const t = document.createElementNS(NS, 'text');
  t.setAttribute('x', 12.5); t.setAttribute('y', 13.4); t.setAttribute('font-size', 2.6);
  t.setAttribute('text-anchor', 'middle'); t.setAttribute('fill', '#1d5fbf'); t.setAttribute('font-weight', 700);
  t.textContent = '演示';
  svg.append(t);
  return svg;
}

function enterPay() {
  show('pay');
  note($('#pay-error'), '');
  const o = S.order;
  fill($('#pay-info'), kv([
    ['订单号', h('span.mono', { 'data-order': o.id }, o.id)],
    ['业务类型', '数字证书更新（1 年）'],
    ['证书持有人', `${o.commonName}${o.organization ? `（${o.organization}）` : ''}`],
    ['应付金额', h('span.price', fmtPrice(o.price))],
  ]));
  fill($('#pay-qr'), qrPlaceholder(o.id), h('div', h('b', fmtPrice(o.price))),
    h('div.apps', '微信 · 支付宝 · 云闪付 扫码支付'));
}

$('#pay-mock').addEventListener('click', async () => {
  const btn = $('#pay-mock');
  btn.disabled = true;
  note($('#pay-error'), '');
  try {
    const r = await api('POST', `/api/orders/${S.order.id}/pay`, { method: 'mock' });
    S.order = r.order;
  } catch (e) {
    note($('#pay-error'), errText(e), 'error');
    return;
  } finally {
    btn.disabled = false;
  }
  await enterInstall();
});

// --- 安装证书 ----------------------------------------------------------------------

async function enterInstall() {
  show('install');
  const o = S.order;
  note($('#install-error'), '');
  progressReset($('#install-progress'));
  $('#install-pin').value = '';
  $('#install-submit').disabled = false;
  const lines = [];
  if (S.recovery !== null && S.recovery !== undefined) {
    lines.push(h('div.note.warn', { 'data-recovery': S.recovery ? 'found' : 'none' },
      S.recovery
        ? `异常恢复：USB-KEY 中找到了待安装的新密钥（密钥位置 ${S.recovery.slot}）。请输入 PIN 码，点击【安装证书】重新安装。`
        : '异常恢复：USB-KEY 中没有待完成的记录，可能证书已经装好。请输入 PIN 码，点击【安装证书】进行确认。'));
  }
  lines.push(h('div.note.ok', `支付成功${o.payment ? `（交易号 ${o.payment.transactionId}）` : ''}，新证书已签发，有效期 ${
    fmtDate(o.newNotBefore)} 至 ${fmtDate(o.newNotAfter)}。请输入 USB-KEY 的 PIN 码安装证书。`));
  fill($('#install-info'), lines);
  try {
    retriesText($('#install-retries'), await uk.pinStatus(S.token.tokenId));
  } catch {
    $('#install-retries').textContent = '';
  }
  $('#install-pin').focus();
}

$('#install-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const pin = $('#install-pin').value;
  note($('#install-error'), '');
  if (pin.length < 6 || pin.length > 8) {
    note($('#install-error'), UKeyError.message('PIN_INVALID_FORMAT'), 'error');
    return;
  }
  $('#install-submit').disabled = true;
  try {
    await install(pin, false);
  } finally {
    $('#install-submit').disabled = false;
  }
});

async function install(pin, confirmLastTry) {
  const list = $('#install-progress');
  const err = $('#install-error');
  progressReset(list);
  progress(list, 'download');
  let cert;
  try {
    // fetched every time: 异常恢复 gets the same certificate again
    cert = await api('GET', `/api/orders/${S.order.id}/certificate`);
  } catch (e) {
    progressReset(list);
    note(err, errText(e), 'error');
    return;
  }
  progress(list, 'verifyingPin');
  const onProgress = (e) => {
    if (e.tokenId === S.token.tokenId) progress(list, e.stage);
  };
  uk.on('renewProgress', onProgress);
  let r;
  try {
    r = await uk.renewInstall({ tokenId: S.token.tokenId, pin, certificate: cert.certificate + cert.chain.join(''),
      renewalId: S.order.renewalId || undefined, confirmLastTry: confirmLastTry || undefined });
  } catch (e) {
    uk.off('renewProgress', onProgress);
    progressReset(list);
    switch (e.reason) {
    case 'PIN_LAST_TRY':
      retriesText($('#install-retries'), { retriesLeft: 1 });
      if (await askLastTry()) await install(pin, true);
      else note(err, '已取消安装。PIN 码还剩 1 次尝试机会。', 'warn');
      return;
    case 'PIN_INCORRECT':
      retriesText($('#install-retries'), e.data);
      note(err, errText(e), 'error');
      return;
    case 'PIN_INVALID_FORMAT':
      note(err, errText(e), 'error');
      return;
    default:
      enterFailed(e);
      return;
    }
  }
  uk.off('renewProgress', onProgress);
  progressDone(list);
  S.result = r;
  $('#install-pin').value = '';
  let reported = true;
  try {
    S.order = (await api('POST', `/api/orders/${S.order.id}/installed`, { certId: r.certId })).order;
  } catch {
    reported = false; // the key has it; the hall's record catches up on a later visit
  }
  enterDone(reported);
}

// --- 结果 ----------------------------------------------------------------------

function enterDone(reported) {
  show('done');
  const r = S.result;
  const o = S.order;
  fill($('#done-info'), h('div', { 'data-installed': r.certId, 'data-already': r.alreadyInstalled ? 'true' : 'false' },
    kv([
      ['订单号', h('span.mono', o.id)],
      ['证书持有人', `${o.commonName}${o.organization ? `（${o.organization}）` : ''}`],
      ['新证书有效期', `${fmtTime(r.notBefore || o.newNotBefore)} 至 ${fmtTime(r.notAfter || o.newNotAfter)}`],
      ['存放位置', `USB-KEY（序列号 ${S.token.serial}），密钥位置 ${r.slot}`],
      ['证书指纹（SHA-256）', h('span.mono', `${r.certId.slice(0, 32)}…`)],
      r.alreadyInstalled && ['说明', '证书此前已经写入 USB-KEY，本次确认安装完成。'],
      !reported && ['说明', '安装结果未能回报服务大厅，不影响证书使用。'],
    ])));
}

function enterFailed(e) {
  show('failed');
  $('#failed-reason').textContent = `原因：${errText(e)}`;
  $('#failed-reason').dataset.reason = e.reason || e.code || '';
  note($('#recover-error'), '');
  note($('#recover-wait'), '');
  const o = S.order;
  fill($('#failed-info'), kv([
    ['订单号', h('span.mono', o.id)],
    ['支付状态', '已支付'],
    ['USB-KEY', `序列号 ${S.token.serial}`],
  ]));
  if (e.reason === 'PIN_BLOCKED') {
    note($('#recover-error'), 'PIN 码已锁定：请先到服务网点或按客服指引解锁，再点击【异常恢复】安装证书。', 'warn');
  }
}

main.querySelector('[data-action="show-certs"]').addEventListener('click', () => enterSelect());
for (const b of main.querySelectorAll('[data-action="back-select"]')) {
  b.addEventListener('click', () => {
    S.pin = null;
    enterSelect();
  });
}
main.querySelector('[data-action="back-env"]').addEventListener('click', () => {
  show('env');
  env.check();
});

// Resolves when the token is (or becomes) present, or after `ms` (a key
// the daemon still lists for a moment after it left answers CARD_REMOVED:
// the caller asks again).
function waitForToken(tokenId, ms) {
  return new Promise((resolve) => {
    let timer = null;
    const done = () => {
      uk.off('tokenInserted', on);
      clearTimeout(timer);
      resolve();
    };
    const on = (t) => {
      if (t.tokenId === tokenId) done();
    };
    uk.on('tokenInserted', on);
    if (ms) timer = setTimeout(done, ms);
  });
}

// What a key that has just left answers while the helper still lists it
// (IO_ERROR included: renew.pending reads the key). Asked again a bounded
// number of times; past that the error is real and shown.
const GONE = new Set(['CARD_REMOVED', 'NOT_FOUND', 'CARD_ERROR', 'IO_ERROR', 'TIMEOUT']);
const GONE_TRIES = 15;

// 异常恢复: the key back, what it has staged (renew.pending), the order
// again from the hall, then the install step once more.
$('#recover').addEventListener('click', async () => {
  const btn = $('#recover');
  const wait = $('#recover-wait');
  const err = $('#recover-error');
  const askForKey = () => note(wait, `请插入办理更新时使用的 USB-KEY（序列号 ${S.token.serial}），插入后自动继续……`, 'warn');
  note(err, '');
  btn.disabled = true;
  try {
    if (!uk.connected) await uk.connect();
    let pend = null;
    let tries = 0;
    while (!pend) {
      const { tokens } = await uk.listTokens();
      if (!tokens.some((t) => t.tokenId === S.token.tokenId)) {
        askForKey();
        tries = 0;
        await waitForToken(S.token.tokenId, 0);
        continue;
      }
      try {
        pend = await uk.renewPending(S.token.tokenId);
      } catch (e) {
        if (!(e instanceof UKeyError) || !GONE.has(e.reason) || ++tries > GONE_TRIES) throw e;
        askForKey(); // pulled, and the helper is only now hearing of it
        await waitForToken(S.token.tokenId, 1000);
      }
    }
    note(wait, '');
    S.recovery = (pend.renewals || []).find((r) => r.renewalId === S.order.renewalId) || false;
    S.order = (await api('GET', `/api/orders/${S.order.id}`)).order;
  } catch (e) {
    note(wait, '');
    note(err, errText(e), 'error');
    return;
  } finally {
    btn.disabled = false;
  }
  await enterInstall();
});
