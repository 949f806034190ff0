// app.js - the Atlas dashboard: sign-in, the page router (#/page/...: every
// object has a deep link), the theme.  Pages live in pages/*.js.

import { h, clear, alert } from './dom.js';
import { api, token, setToken, who, ApiError } from './api.js';
import { pages } from './pages.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let cleanup = null;

// theme: the viewer's choice, else the system's
const root = document.documentElement;
const saved = localStorage.getItem('atlas.theme');
root.dataset.theme = saved || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
document.getElementById('theme').addEventListener('click', () => {
  root.dataset.theme = root.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem('atlas.theme', root.dataset.theme);
});
document.getElementById('signout').addEventListener('click', () => {
  setToken(null);
  Object.assign(who, { name: '', role: '', actions: [] });
  location.hash = '#/signin';
});

function signin(reason) {
  nav.hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('who').textContent = '';
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', 'aria-describedby': 'token-help' });
  const err = h('div', { role: 'alert', class: 'field-error', id: 'signin-error' }, reason || '');
  const form = h('form', { class: 'signin card', 'aria-label': 'Sign in' },
    h('h1', {}, 'Sign in to Atlas'),
    h('label', { for: 'token' }, 'Token'), input,
    h('p', { id: 'token-help', class: 'muted' },
      'A token of this daemon (atl_…): ', h('code', {}, 'atlas token create --name NAME --role viewer'),
      ', or the administrator\'s in the data directory\'s admin.token. It is kept for this tab only.'),
    err, h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    try {
      await whoami();
      const target = sessionStorage.getItem('atlas.after') || '#/';
      sessionStorage.removeItem('atlas.after');
      if (location.hash !== target) location.hash = target; // hashchange routes
      else route();
    } catch (e) {
      setToken(null);
      err.textContent = e instanceof ApiError && e.status === 401 ? `Not signed in: ${e.message}` : `Cannot sign in: ${e.message}`;
    }
  });
  clear(main).appendChild(form);
  input.focus();
}

async function whoami() {
  const { data } = await api('GET', 'whoami');
  Object.assign(who, data);
  nav.hidden = false;
  document.getElementById('signout').hidden = false;
  document.getElementById('who').textContent = `${data.name} (${data.role})`;
}

let generation = 0;

async function route() {
  const gen = ++generation;
  if (cleanup) { cleanup(); cleanup = null; }
  const hash = location.hash.replace(/^#/, '') || '/';
  const dec = (x) => { try { return decodeURIComponent(x); } catch { return x; } };
  const parts = hash.split('?')[0].split('/').filter(Boolean).map(dec);
  const query = new URLSearchParams(hash.split('?')[1] || '');
  if (parts[0] === 'signin' || !token()) {
    if (parts[0] !== 'signin') sessionStorage.setItem('atlas.after', location.hash || '#/');
    signin();
    return;
  }
  if (!who.name) {
    try { await whoami(); } catch (e) {
      if (e.status === 401) { setToken(null); signin('Your token is no longer valid; sign in again.'); return; }
      clear(main).appendChild(alert(`The daemon does not answer: ${e.message}. Is atlasd running?`));
      return;
    }
  }
  const name = parts[0] || 'overview';
  for (const a of nav.querySelectorAll('a')) {
    const target = a.getAttribute('href').replace(/^#\/?/, '') || 'overview';
    if (target === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (gen !== generation) return; // another navigation came first
  const page = pages[name];
  // each page renders into its own element: what a page that was left
  // still adds lands in a detached element, never on the next page
  const view = h('div', { class: 'view' });
  clear(main).appendChild(view);
  if (!page) {
    view.appendChild(h('h1', {}, 'Not found'));
    view.appendChild(alert(`No page "${name}". Use the menu above.`));
    return;
  }
  try {
    const done = (await page(view, parts.slice(1), query)) || null;
    if (gen === generation) cleanup = done;
    else if (done) done();
  } catch (e) {
    if (gen !== generation) return;
    if (e.status === 401) { setToken(null); signin('Your token is no longer valid; sign in again.'); return; }
    view.appendChild(alert(`${e.message}`));
  }
  if (gen === generation) document.title = `${view.querySelector('h1') ? view.querySelector('h1').textContent : 'Atlas'} · Atlas`;
}

addEventListener('hashchange', () => { route(); main.focus({ preventScroll: true }); });
route();
