// SPDX-License-Identifier: MIT
//
// 帮助中心: the four panels (业务流程, 相关下载, 问题解答, 在线客服) chosen by
// the address's #hash, the FAQ's four categories, and the downloads the
// hall's server offers.
import { hallConfig, h, fill, $ } from './hall.js';

const PANELS = ['flow', 'downloads', 'faq', 'support'];

function showPanel() {
  let tab = location.hash.slice(1) || 'flow';
  let faq = null;
  if (tab.startsWith('faq-')) {
    // a link to one answer: its category, opened
    faq = document.getElementById(tab);
    tab = 'faq';
  }
  if (!PANELS.includes(tab)) tab = 'flow';
  for (const p of document.querySelectorAll('[data-panel]')) p.hidden = p.dataset.panel !== tab;
  for (const a of document.querySelectorAll('#help-nav a')) {
    a.setAttribute('aria-selected', a.dataset.tab === tab ? 'true' : 'false');
  }
  if (faq) {
    showFaq(faq.closest('[data-faq-panel]').dataset.faqPanel);
    faq.open = true;
    faq.scrollIntoView({ block: 'center' });
  }
}

function showFaq(cat) {
  for (const b of document.querySelectorAll('[data-faq]')) {
    b.setAttribute('aria-selected', b.dataset.faq === cat ? 'true' : 'false');
  }
  for (const p of document.querySelectorAll('[data-faq-panel]')) p.hidden = p.dataset.faqPanel !== cat;
}

for (const b of document.querySelectorAll('[data-faq]')) b.addEventListener('click', () => showFaq(b.dataset.faq));
window.addEventListener('hashchange', showPanel);
showPanel();

function size(n) {
  return n > 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

const ABOUT = {
  ukeyd: ['USB-KEY 控件（ukeyd）', '网上服务大厅连接 USB-KEY 所需的浏览器控件，代替 IE 的 ActiveX 控件。安装后随登录自动启动。'],
  'ukey-tray': ['证书提醒托盘（ukey-tray）', '任务栏图标：显示 USB-KEY 和证书状态，证书进入更新期时提醒。可选安装。'],
};

hallConfig().then((cfg) => {
  const order = Object.keys(ABOUT);
  const list = (cfg.downloads || []).filter((d) => ABOUT[d.package])
    .sort((a, b) => order.indexOf(a.package) - order.indexOf(b.package));
  fill($('#dl-helper'), list.length ? list.map((d) => h('div.dl', h('img', { src: '/img/box.svg', alt: '' }),
    h('div', h('h3', ABOUT[d.package][0]), h('p', ABOUT[d.package][1]),
      h('p.meta', `版本 ${d.version} · Debian / Ubuntu（${d.arch}）· ${size(d.size)}`),
      h('p', h('code', `sudo apt install ./${d.name}`)),
      h('a.btn.small', { href: d.url, 'data-download': d.package }, '下载')))) : h('div.dl',
    h('img', { src: '/img/box.svg', alt: '' }),
    h('div', h('h3', ABOUT.ukeyd[0]), h('p', ABOUT.ukeyd[1]),
      h('p.meta', '安装包暂未上传到本演示环境：在源码目录运行 cmake --build build --target package 生成。'))));
}).catch(() => {});

$('#chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('#chat-input');
  const text = input.value.trim();
  if (!text) return;
  const msgs = $('#chat-msgs');
  msgs.append(h('div.msg.me', h('div.who', '我'), text));
  msgs.append(h('div.msg', h('div.who', '客服小示'),
    '演示环境暂未接入人工客服。您的问题可能在“问题解答”中已有答案；也可以拨打 400-000-0000。'));
  input.value = '';
  msgs.scrollTop = msgs.scrollHeight;
});
