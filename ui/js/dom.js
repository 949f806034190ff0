// dom.js - building the page from data without innerHTML: every text the
// server sent goes in as a text node (the CSP forbids inline script anyway).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A time in the viewer's zone ("—" for none).
export function time(v) {
  if (v === undefined || v === null || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v) : new Date(v);
  if (isNaN(d)) return String(v);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function ms(v) {
  if (v === undefined || v === null) return '—';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
  return `${Math.floor(v / 60000)} min ${Math.round((v % 60000) / 1000)} s`;
}

export function usd(v) {
  if (typeof v !== 'number') return '—';
  return v < 0.01 && v > 0 ? `$${v.toFixed(5)}` : `$${v.toFixed(2)}`;
}

export function state(s) {
  return h('span', { class: `badge st-${s || 'unknown'}` }, s || 'unknown');
}

export function json(v) {
  return h('pre', { class: 'mono', tabindex: '0' }, v === undefined ? '—' : JSON.stringify(v, null, 2));
}

export function empty(text, ...more) {
  return h('div', { class: 'empty', role: 'status' }, text, ...more);
}

export function alert(text) {
  return h('div', { class: 'alert', role: 'alert' }, text);
}

export function table(headers, rows, label) {
  return h('div', { class: 'tablewrap' },
    h('table', { 'aria-label': label },
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows)));
}

export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter((p) => p).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}
