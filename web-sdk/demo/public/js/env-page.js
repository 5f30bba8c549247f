// SPDX-License-Identifier: MIT
//
// 环境检测 as a page of its own: the check, and 下一步 into the renewal
// once it passes.
import { hallConfig, ukeyClient, pageFailed, h, $ } from './hall.js';
import { EnvCheck } from './envcheck.js';

const cfg = await hallConfig().catch(pageFailed);
const uk = await ukeyClient().catch(pageFailed);
const next = h('a.btn', { href: '/renew.html', 'data-action': 'next', 'aria-disabled': 'true' }, '下一步');
next.addEventListener('click', (ev) => {
  if (next.getAttribute('aria-disabled') === 'true') ev.preventDefault();
});
const check = new EnvCheck($('#env-check'), uk, cfg, {
  actions: [next],
  onChange: ({ ready }) => {
    next.setAttribute('aria-disabled', ready ? 'false' : 'true');
    next.classList.toggle('disabled', !ready);
  },
});
check.start().catch(pageFailed);
