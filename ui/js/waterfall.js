// waterfall.js - a trace (GET /api/v1/traces/ID) as a waterfall: one row
// per span of the job tree (chains, steps and spawns nested, model and tool
// calls under their job), bars placed by offset and duration; zoom; a click
// (or Enter) on a span shows its details.

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

export function waterfall() {
  let zoom = 1;
  let selected = null;
  let last = null;
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
    const frag = document.createDocumentFragment();
    for (const [s, depth] of flat) {
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
      frag.appendChild(h('div', { class: 'wf-row', role: 'listitem' }, name, track));
      if (s.span_id === selected) clear(detail).appendChild(details(s));
    }
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.span : null;
    clear(rows).appendChild(frag);
    if (focused) { const b = rows.querySelector(`[data-span="${CSS.escape(focused)}"]`); if (b) b.focus(); }
  }
  return { el, render };
}
