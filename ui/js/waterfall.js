// waterfall.js - a trace (GET /api/v1/traces/ID) as a waterfall: one row
// per span of the job tree (chains, steps and spawns nested, model and tool
// calls under their job), bars placed by offset and duration; zoom; a click
// (or Enter) on a span shows its details.  A trace of more than VIRTUAL_AT
// spans is windowed: only the rows in view (and a margin) are in the DOM,
// placed in a scroll box as tall as every row would be.

import { h, clear, ms, usd, kv, state } from './dom.js';

function flatten(spans, depth, out) {
  for (const s of spans || []) {
    out.push([s, depth]);
    flatten(s.children, depth + 1, out);
  }
  return out;
}

function spanLabel(s) {
  if (s.kind === 'model') return `model ${s.model || s.name || ''}`;
  if (s.kind === 'tool') return `tool ${s.name || ''}`;
  return s.name || s.agent || s.job_id || s.span_id;
}

function details(s) {
  return kv([
    ['span', h('code', {}, s.span_id || '—')],
    ['kind', s.kind || '—'],
    ['name', s.name || '—'],
    s.job_id && ['job', h('a', { href: `#/runs/${encodeURIComponent(s.job_id)}` }, s.job_id)],
    ['status', state(s.status)],
    ['started', s.started_at ? new Date(s.started_at).toLocaleString() : '—'],
    ['offset', ms(s.offset_ms)],
    s.queue_ms !== undefined && ['queued', ms(s.queue_ms)],
    s.run_ms !== undefined && ['ran', ms(s.run_ms)],
    ['duration', ms(s.duration_ms)],
    s.model && ['model', s.model],
    s.backend && ['backend', s.backend],
    s.tier && ['tier', s.tier],
    s.reason && ['why this model', typeof s.reason === 'string' ? s.reason : JSON.stringify(s.reason)],
    (s.tokens_in || s.tokens_out) ? ['tokens', `${s.tokens_in || 0} in, ${s.tokens_out || 0} out`] : null,
    s.cost_usd ? ['cost', usd(s.cost_usd)] : null,
    s.ttft_ms !== undefined && ['first token', ms(s.ttft_ms)],
    s.node && ['node', s.node],
    s.error && ['error', `${s.error.title || ''}: ${s.error.detail || ''}`],
  ]);
}

const VIRTUAL_AT = 500; // spans: above this the waterfall is windowed (a 1,000-span trace draws in one frame)
const ROW_PX = 30;        // a windowed row's height
const OVERSCAN = 15;      // rows drawn beyond the view, each side

export function waterfall() {
  let zoom = 1;
  let selected = null;
  let last = null;
  let view = null; // the windowed trace: {flat, total}
  const rows = h('div', { class: 'wf', role: 'list', 'aria-label': 'Trace waterfall' });
  const detail = h('section', { class: 'span-detail card', 'aria-live': 'polite', 'aria-label': 'Span details' },
    h('p', { class: 'muted' }, 'Select a span to see its details.'));
  const zoomIn = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Zoom in' }, '+');
  const zoomOut = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Zoom out' }, '−');
  const zl = h('span', { class: 'muted' }, '1×');
  const summary = h('span', { class: 'muted' });
  zoomIn.onclick = () => { zoom = Math.min(64, zoom * 2); render(last); };
  zoomOut.onclick = () => { zoom = Math.max(1, zoom / 2); render(last); };
  const el = h('div', {}, h('div', { class: 'wf-tools' }, zoomOut, zl, zoomIn, summary), rows, detail);

  function row(s, depth, total) {
    const off = s.offset_ms || 0;
    const dur = s.duration_ms ?? Math.max(0, total - off);
    const running = s.duration_ms === null || s.duration_ms === undefined;
    const bar = h('div', {
      class: `wf-bar k-${s.kind || 'job'} s-${running ? 'running' : s.status}`,
      style: undefined,
      title: `${spanLabel(s)}: ${ms(dur)}`,
    });
    // CSSOM, not a style attribute: the CSP forbids inline styles
    bar.style.left = `${(off / total) * 100}%`;
    bar.style.width = `${Math.max((dur / total) * 100, 0.2)}%`;
    if (s.queue_ms > 0 && dur > 0) {
      // the time it waited for a process, lighter: then the time it ran
      const q = h('span', { class: 'wf-queued' });
      q.style.width = `${Math.min(100, (100 * s.queue_ms) / dur)}%`;
      bar.appendChild(q);
      bar.title = `${spanLabel(s)}: queued ${ms(s.queue_ms)}, ran ${ms(s.run_ms ?? dur - s.queue_ms)}`;
    }
    const track = h('div', { class: 'wf-track' }, bar);
    track.style.width = `${zoom * 100}%`;
    const name = h('button', { type: 'button', class: 'wf-name', 'aria-pressed': s.span_id === selected ? 'true' : 'false', 'data-span': s.span_id || '' },
      `${'  '.repeat(depth)}${spanLabel(s)} `, h('span', { class: 'muted' }, running ? 'running' : ms(s.duration_ms)));
    name.style.paddingLeft = `${0.5 + depth * 1.1}em`;
    name.onclick = () => { selected = s.span_id; clear(detail).appendChild(details(s)); render(last); };
    if (s.span_id === selected) clear(detail).appendChild(details(s));
    return h('div', { class: 'wf-row', role: 'listitem' }, name, track);
  }

  // the rows in view of a windowed trace, at their place in the tall box
  function paint() {
    if (!view) return;
    const { flat, total } = view;
    const first = Math.max(0, Math.floor(rows.scrollTop / ROW_PX) - OVERSCAN);
    const n = Math.ceil((rows.clientHeight || 600) / ROW_PX) + 2 * OVERSCAN;
    const spacer = h('div', { class: 'wf-spacer' });
    spacer.style.height = `${flat.length * ROW_PX}px`;
    const frag = document.createDocumentFragment();
    frag.appendChild(spacer);
    for (let i = first; i < Math.min(flat.length, first + n); i++) {
      const r = row(flat[i][0], flat[i][1], total);
      r.style.top = `${i * ROW_PX}px`;
      r.setAttribute('aria-posinset', String(i + 1));
      r.setAttribute('aria-setsize', String(flat.length));
      frag.appendChild(r);
    }
    clear(rows).appendChild(frag);
  }
  rows.addEventListener('scroll', () => { if (view) requestAnimationFrame(paint); }, { passive: true });

  function render(trace) {
    last = trace;
    if (!trace) return;
    const flat = flatten(trace.spans, 0, []);
    const now = Date.now();
    const t0 = trace.started_at ? Date.parse(trace.started_at) : now;
    let total = trace.duration_ms || 0;
    for (const [s] of flat) {
      const end = (s.offset_ms || 0) + (s.duration_ms ?? Math.max(0, now - t0 - (s.offset_ms || 0)));
      if (end > total) total = end;
    }
    total = Math.max(total, 1);
    zl.textContent = `${zoom}×`;
    summary.textContent = `${flat.length} spans · ${ms(trace.duration_ms ?? total)} · ${trace.total_tokens || 0} tokens · ${usd(trace.total_cost_usd || 0)}`;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.span : null;
    if (flat.length > VIRTUAL_AT) {
      rows.classList.add('wf-virtual');
      view = { flat, total };
      paint();
    } else {
      rows.classList.remove('wf-virtual');
      view = null;
      const frag = document.createDocumentFragment();
      for (const [s, depth] of flat) frag.appendChild(row(s, depth, total));
      clear(rows).appendChild(frag);
    }
    if (focused) { const b = rows.querySelector(`[data-span="${CSS.escape(focused)}"]`); if (b) b.focus(); }
  }
  return { el, render };
}
