// SPDX-License-Identifier: MIT
//
// 发票查询: the query form of the hall's invoice service. Invoices are made
// by the CA's billing system, which the demo does not have: the form checks
// its input and says so.
import { h, fill, $ } from './hall.js';

const CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
let code = '';

function drawCaptcha() {
  const NS = 'http://www.w3.org/2000/svg';
  const buf = new Uint8Array(4);
  crypto.getRandomValues(buf);
  code = [...buf].map((b) => CHARS[b % CHARS.length]).join('');
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', '96');
  svg.setAttribute('height', '36');
  svg.setAttribute('viewBox', '0 0 96 36');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', '验证码，点击更换');
  svg.style.cursor = 'pointer';
  const bg = document.createElementNS(NS, 'rect');
  bg.setAttribute('width', '96');
  bg.setAttribute('height', '36');
  bg.setAttribute('fill', '#eef3fb');
  svg.append(bg);
  [...code].forEach((c, i) => {
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', String(12 + i * 21));
    t.setAttribute('y', String(25 + (buf[i] % 5) - 2));
    t.setAttribute('font-size', '20');
    t.setAttribute('font-weight', '700');
    t.setAttribute('fill', ['#1d5fbf', '#0e9f9a', '#d9822b', '#6b4bbf'][i]);
    t.setAttribute('transform', `rotate(${(buf[i] % 30) - 15} ${18 + i * 21} 18)`);
    t.textContent = c;
    svg.append(t);
  });
  svg.addEventListener('click', drawCaptcha);
  fill($('#captcha'), svg);
}
drawCaptcha();

$('#invoice-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const out = $('#invoice-result');
  if (f.captcha.value.trim().toUpperCase() !== code) {
    fill(out, h('div.note.error', '验证码不正确，请重新输入。'));
    drawCaptcha();
    return;
  }
  fill(out, h('div.note.warn', { 'data-result': 'placeholder' },
    `未查询到“${f.org.value}”的电子发票。演示环境没有接入认证中心的开票系统；正式环境中，支付成功后 1 个工作日内可在此查询并下载电子发票。`));
  drawCaptcha();
});
$('#invoice-form').addEventListener('reset', () => fill($('#invoice-result')));
