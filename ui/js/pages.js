// pages.js - one function per page: (main, path parts, query) -> cleanup?
// Each reads /api/v1 with the signed-in token; mutating controls are shown
// only when the token's role has the action (the server checks anyway).

import { h, clear, time, ms, usd, state, json, empty, alert, table, kv } from './dom.js';
import { api, get, sse, can, who } from './api.js';
import { runForm } from './form.js';
import { waterfall } from './waterfall.js';

const enc = encodeURIComponent;
const link = (href, text) => h('a', { href }, text);
const jobLink = (id) => link(`#/runs/${enc(id)}`, id);
const agentLink = (name) => link(`#/agents/${enc(name)}`, name);

function card(title, ...body) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), ...body);
}

// refresh every `every` ms (never faster than once a second) until cleanup
function every(msInterval, fn) {
  let stop = false;
  const t = setInterval(() => { if (!stop) fn().catch(() => {}); }, Math.max(1000, msInterval));
  return () => { stop = true; clearInterval(t); };
}

function midnight() { const d = new Date(); d.setHours(0, 0, 0, 0); return d.toISOString(); }

/* ---------------- Overview ---------------- */
async function overview(main) {
  main.appendChild(h('h1', {}, 'Overview'));
  const body = h('div', {});
  main.appendChild(body);
  let prev = null;
  async function load() {
    const window15 = new Date(Date.now() - 15 * 60e3).toISOString();
    const [health, queue, running, costs, recent, aps, nodeList] = await Promise.all([
      get('health').catch((e) => ({ status: 'unreachable', error: e.message })),
      get('queue').catch(() => null),
      get('jobs?state=running&limit=20').catch(() => ({ jobs: [] })),
      get(`costs?by=agent&since=${enc(midnight())}`).catch(() => null),
      get(`jobs?since=${enc(window15)}&limit=1000`).catch(() => ({ jobs: [] })),
      get('approvals?state=pending').catch(() => ({ approvals: [] })),
      get('nodes').catch(() => ({ nodes: [] })),
    ]);
    const pending = (aps.approvals || []).length;
    const fleet = nodeList.nodes || [];
    const eng = health.engine || {};
    const tot = eng.totals || {};
    const byPrio = {};
    for (const a of (queue && queue.agents) || []) for (const j of a.jobs || []) byPrio[j.priority] = (byPrio[j.priority] || 0) + 1;
    const done = (tot.completed || 0) + (tot.failed || 0) + (tot.cancelled || 0);
    // the last 15 minutes' runs (the jobs API), and the change in the
    // engine's totals since the previous refresh
    const fin = recent.jobs.filter((j) => j.state === 'completed' || j.state === 'failed');
    const failedN = fin.filter((j) => j.state === 'failed').length;
    let rate = `${(fin.length / 15).toFixed(1)} / min`;
    let errRate = fin.length ? `${Math.round((100 * failedN) / fin.length)}%` : '0%';
    const now = Date.now();
    if (prev && done > prev.done) {
      const dn = done - prev.done;
      rate = `${((dn * 60000) / (now - prev.t)).toFixed(1)} / min now`;
      errRate = `${Math.round((100 * ((tot.failed || 0) - prev.failed)) / dn)}%`;
    }
    prev = { t: now, done, failed: tot.failed || 0 };
    const m = health.machine || {};
    clear(body).appendChild(h('div', { class: 'grid' },
      card('Health', h('div', { class: `big ${health.status === 'ok' ? 'ok' : 'bad'}`, 'data-testid': 'health' }, health.status),
        h('div', { class: 'muted' }, `atlasd ${health.version || ''} · up ${ms((health.uptime_s || 0) * 1000)} · ${health.agents ?? 0} agents`)),
      card('Queue depth', h('div', { class: 'big', 'data-testid': 'queued' }, String(queue ? queue.queued : eng.queued ?? 0)),
        h('div', { class: 'muted' }, Object.keys(byPrio).length
          ? Object.entries(byPrio).sort((a, b) => b[0] - a[0]).map(([p, n]) => `priority ${p}: ${n}`).join(' · ')
          : queue && queue.held_all ? 'dispatch is held' : 'nothing waits')),
      card('Running jobs', h('div', { class: 'big', 'data-testid': 'running' }, String(eng.running ?? running.jobs.length)),
        h('div', { class: 'muted' }, `of ${eng.max_concurrent ?? '?'} at once`)),
      card('Throughput', h('div', { class: 'big', 'data-testid': 'throughput' }, rate),
        h('div', { class: 'muted' }, `errors ${errRate} · ${fin.length} finished in 15 min${recent.jobs.length >= 1000 ? '+' : ''} · ${done} since start`)),
      card('Spend today', h('div', { class: 'big', 'data-testid': 'spend' }, usd(costs && costs.total ? costs.total.cost_usd : 0)),
        h('div', { class: 'muted' }, `${costs && costs.total ? costs.total.tokens : 0} tokens · `, link('#/costs', 'costs'))),
      card('Nodes', h('div', { class: 'big' }, String(fleet.length || 1)),
        h('div', { class: 'muted' }, fleet.length > 1
          ? `${fleet.filter((n) => n.status === 'ready').length} ready · ${fleet.filter((n) => n.status !== 'ready').map((n) => `${n.name} ${n.status}`).join(', ') || 'all ready'} · `
          : `${m.node || 'local'} · ${m.cpu_cores ?? '?'} cores · ${m.memory_gb ?? '?'} GB · ${(m.gpus || []).length} GPUs · `, link('#/nodes', 'nodes'))),
      card('Approvals', h('div', { class: 'big', 'data-testid': 'pending' }, String(pending)), h('div', { class: 'muted' }, pending ? 'wait for a decision · ' : 'nothing waits · ', link('#/approvals', 'approvals')))));
    body.appendChild(h('h2', {}, 'Running now'));
    body.appendChild(running.jobs.length ? jobTable(running.jobs, 'Running jobs')
      : empty('No job is running. Start one from ', link('#/agents', 'Agents'), ' or with ', h('code', {}, 'atlas run AGENT'), '.'));
  }
  await load();
  return every(5000, load);
}

/* ---------------- Agents ---------------- */
async function agents(main, parts) {
  if (parts[0]) return agentPage(main, parts[0]);
  main.appendChild(h('h1', {}, 'Agents'));
  const q = h('input', { id: 'agent-q', type: 'search', placeholder: 'name, capability or words' });
  const list = h('div', {});
  main.appendChild(h('form', { class: 'filters', role: 'search', onsubmit: (e) => { e.preventDefault(); load(); } },
    h('div', {}, h('label', { for: 'agent-q' }, 'Search'), q), h('button', { type: 'submit' }, 'Search')));
  main.appendChild(list);
  async function load() {
    const text = q.value.trim();
    const data = text ? await get(`search?q=${enc(text)}`) : await get('agents');
    const rows = (data.agents || []).filter((a) => text || a.latest !== false);
    if (!rows.length) {
      clear(list).appendChild(text ? empty(`No agent matches "${text}".`)
        : empty('No agent is registered yet. Register one with ', h('code', {}, 'atlas register PATH'), '.'));
      return;
    }
    clear(list).appendChild(table(['Agent', 'Version', 'Description', 'Capabilities', 'Trust'], rows.map((a) => h('tr', {},
      h('td', {}, agentLink(a.name)), h('td', {}, a.version || ''), h('td', {}, a.description || ''),
      h('td', {}, (a.capabilities || []).map((c) => h('span', { class: 'badge' }, typeof c === 'string' ? c : c.name || JSON.stringify(c))), ' '),
      h('td', {}, trustBadge(a.trust)))), 'Agents'));
  }
  await load();
}

function trustBadge(t) {
  if (!t) return h('span', { class: 'badge muted' }, 'local');
  if (t.verified) return h('span', { class: 'badge ok' }, `verified ${t.publisher || ''}`);
  if (t.signed) return h('span', { class: 'badge warn' }, 'signed, not verified');
  return h('span', { class: 'badge muted' }, 'unsigned');
}

// An object schema's properties as a table (the JSON below it)
function schemaView(s, label) {
  const props = s && s.properties ? Object.entries(s.properties) : [];
  const raw = h('details', {}, h('summary', {}, 'JSON Schema'), json(s));
  if (!props.length) return h('div', {}, s ? h('p', { class: 'muted' }, `${s.type || 'any'} (no declared properties)`) : empty('No schema: any JSON.'), raw);
  const req = s.required || [];
  const cons = (p) => ['minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'format', 'enum', 'minItems', 'maxItems']
    .filter((k) => p[k] !== undefined).map((k) => `${k} ${JSON.stringify(p[k])}`).join(', ');
  return h('div', {}, table(['Property', 'Type', 'Required', 'Default', 'Constraints', 'Description'], props.map(([k, p]) => h('tr', {},
    h('td', {}, h('code', {}, k)), h('td', {}, Array.isArray(p.type) ? p.type.join(' | ') : p.type || (p.enum ? 'enum' : 'any')),
    h('td', {}, req.includes(k) ? 'yes' : ''), h('td', {}, p.default === undefined ? '' : JSON.stringify(p.default)),
    h('td', {}, cons(p)), h('td', {}, p.description || ''))), label),
  s.additionalProperties === false ? h('p', { class: 'muted' }, 'No other properties allowed.') : null, raw);
}

function schemaOf(c, which) {
  const x = c[which];
  if (x && x.schema) return x.schema;
  return c[`${which}_schema`] || (c.schema && c.schema[which]) || x || null;
}

async function agentPage(main, name) {
  const c = await get(`agents/${enc(name)}`);
  main.appendChild(h('h1', {}, `${c.name} `, h('span', { class: 'muted' }, c.version || '')));
  main.appendChild(h('p', {}, c.description || ''));
  const inSchema = schemaOf(c, 'input');
  main.appendChild(h('div', { class: 'cols' },
    h('section', { 'aria-label': 'Contract' },
      h('h2', {}, 'Contract'),
      kv([
        ['digest', h('code', {}, c.digest || '—')],
        ['versions', (c.versions || []).map((v) => (typeof v === 'string' ? v : v.version)).join(', ') || '—'],
        ['trust', trustBadge(c.trust)],
        ['capabilities', (c.capabilities || []).map((x) => (typeof x === 'string' ? x : x.name)).join(', ') || '—'],
        c.model && ['model', JSON.stringify(c.model)],
        c.hardware && ['hardware', JSON.stringify(c.hardware)],
        c.requires && ['requires', JSON.stringify(c.requires)],
      ]),
      h('h2', {}, 'Input'), schemaView(inSchema, 'Input schema'),
      h('h2', {}, 'Output'), schemaView(schemaOf(c, 'output'), 'Output schema')),
    h('section', { 'aria-label': 'Run' }, h('h2', {}, 'Run'),
      can('run') ? runForm(inSchema, async (input) => {
        const r = await api('POST', `agents/${enc(c.name)}:${enc(c.version)}/run`, input, { headers: { Prefer: 'respond-async' } });
        location.hash = `#/runs/${enc(r.data.job)}`;
      }) : empty(`Your role (${who.role}) may not run agents: a token with the run action (operator, developer, admin) may.`))));
  main.appendChild(h('h2', {}, 'Recent runs'));
  const jobs = await get(`jobs?agent=${enc(c.name)}&limit=10`);
  main.appendChild(jobs.jobs.length ? jobTable(jobs.jobs, 'Recent runs') : empty('No run yet.'));
}

/* ---------------- Runs ---------------- */
function jobTable(jobs, label) {
  return table(['Job', 'Agent or chain', 'State', 'Created', 'Duration', 'Source'], jobs.map((j) => h('tr', {},
    h('td', {}, jobLink(j.id)), h('td', {}, j.kind === 'chain' ? link(`#/chains/${enc(j.agent)}`, j.agent) : agentLink(j.agent)), h('td', {}, state(j.state)), h('td', {}, time(j.created_at)),
    h('td', {}, ms(j.duration_ms)), h('td', { class: 'muted' }, typeof j.source === 'object' && j.source ? j.source.kind || JSON.stringify(j.source) : j.source || '')))
  , label);
}

async function runs(main, parts, query) {
  if (parts[0]) return jobPage(main, parts[0]);
  main.appendChild(h('h1', {}, 'Runs'));
  const f = {
    agent: h('input', { id: 'f-agent', name: 'agent', value: query.get('agent') || '', placeholder: 'agent or chain' }),
    state: h('select', { id: 'f-state', name: 'state' }, ['', 'queued', 'running', 'completed', 'failed', 'cancelled']
      .map((s) => h('option', { value: s, selected: query.get('state') === s }, s || 'any'))),
    since: h('select', { id: 'f-since', name: 'since' }, [['', 'any time'], ['1h', 'last hour'], ['24h', 'last day'], ['7d', 'last week']]
      .map(([v, t]) => h('option', { value: v, selected: query.get('since') === v }, t))),
    source: h('input', { id: 'f-source', name: 'source', value: query.get('source') || '', placeholder: 'trigger, http, cli, mcp, spawn, …' }),
    trigger: h('input', { id: 'f-trigger', name: 'trigger', value: query.get('trigger') || '', placeholder: 'a trigger\'s name' }),
  };
  const form = h('form', { class: 'filters', 'aria-label': 'Filter runs' },
    h('div', {}, h('label', { for: 'f-agent' }, 'Agent or chain'), f.agent),
    h('div', {}, h('label', { for: 'f-state' }, 'State'), f.state),
    h('div', {}, h('label', { for: 'f-since' }, 'Time'), f.since),
    h('div', {}, h('label', { for: 'f-source' }, 'Source'), f.source),
    h('div', {}, h('label', { for: 'f-trigger' }, 'Trigger'), f.trigger),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, el] of Object.entries(f)) if (el.value) p.set(k, el.value);
    location.hash = `#/runs?${p}`;
  });
  main.appendChild(form);
  const p = new URLSearchParams();
  // every filter is the server's (jobs?agent=&state=&source=&trigger=&since=): pages stay full
  for (const k of ['agent', 'state', 'before', 'source', 'trigger']) if (query.get(k)) p.set(k, query.get(k));
  if (query.get('since')) {
    const n = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 }[query.get('since')];
    if (n) p.set('since', new Date(Date.now() - n).toISOString());
  }
  p.set('limit', String(Math.min(1000, Math.max(1, Number(query.get('limit')) || 50))));
  const data = await get(`jobs?${p}`);
  const jobs = data.jobs;
  main.appendChild(jobs.length ? jobTable(jobs, 'Runs')
    : empty('No run matches these filters. Clear them, or start a run from ', link('#/agents', 'Agents'), '.'));
  const nav = h('nav', { class: 'row', 'aria-label': 'Pages of runs' });
  if (query.get('before')) { const q2 = new URLSearchParams(query); q2.delete('before'); nav.appendChild(link(`#/runs?${q2}`, '« Newest')); }
  if (data.next_before) { const q2 = new URLSearchParams(query); q2.set('before', data.next_before); nav.appendChild(link(`#/runs?${q2}`, 'Older »')); }
  main.appendChild(nav);
}

const FINAL = ['completed', 'failed', 'cancelled'];

async function jobPage(main, id) {
  const head = h('div', {});
  const info = h('div', {});
  const wf = waterfall();
  const logs = h('pre', { class: 'mono', role: 'log', 'aria-label': 'Logs', 'data-testid': 'logs', tabindex: '0' });
  const progress = h('div', { 'data-testid': 'progress', role: 'status', 'aria-live': 'polite' });
  main.append(head, progress, info, h('h2', {}, 'Trace'), wf.el, h('h2', {}, 'Logs'), logs);
  let job = null;
  let stopLive = null;
  let timer = null;
  let pending = false;
  let lastLoad = 0;

  function renderHead() {
    const actions = h('div', { class: 'row' });
    if (can('run') && !FINAL.includes(job.state)) {
      const b = h('button', { type: 'button', class: 'danger', 'data-testid': 'cancel' }, 'Cancel job');
      b.onclick = async () => {
        b.disabled = true;
        try { await api('POST', `jobs/${enc(id)}/cancel`, { reason: 'cancelled from the dashboard' }); load(); } catch (e) { actions.appendChild(alert(e.message)); b.disabled = false; }
      };
      actions.appendChild(b);
    }
    clear(head).append(h('h1', {}, 'Job ', h('code', {}, job.id), ' ', h('span', { 'data-testid': 'job-state' }, state(job.state))), actions);
    clear(info).append(h('div', { class: 'cols' },
      h('section', { 'aria-label': 'Summary' }, kv([
        job.kind === 'chain' ? ['chain', link(`#/chains/${enc(job.agent)}`, job.agent)] : ['agent', agentLink(job.agent)],
        ['version', job.version || '—'], ['priority', String(job.priority ?? 0)],
        ['created', time(job.created_at)], ['started', time(job.started_at)], ['finished', time(job.finished_at)],
        ['queued for', ms(job.queue_ms)], ['ran for', ms(job.duration_ms)], ['attempts', String(job.attempts ?? '—')],
        job.parent && ['parent', jobLink(job.parent)], job.root && job.root !== job.id && ['root', jobLink(job.root)],
        ['source', typeof job.source === 'object' ? JSON.stringify(job.source) : job.source || '—'],
      ])),
      h('section', { 'aria-label': 'Input and output' }, h('h2', {}, 'Input'), json(job.input),
        job.error ? [h('h2', {}, 'Error'), h('div', { class: 'alert', 'data-testid': 'job-error' }, `${job.error.title || ''}: ${job.error.detail || ''}`), json(job.error)]
          : [h('h2', {}, 'Output'), json(job.output)])));
  }

  async function load() {
    lastLoad = Date.now();
    job = await get(`jobs/${enc(id)}`);
    renderHead();
    const trace = await get(`traces/${enc(id)}`).catch(() => null);
    if (trace) wf.render(trace);
    if (FINAL.includes(job.state)) { if (timer) { clearInterval(timer); timer = null; } }
  }
  // at most one reload a second, however fast events come
  function soon() {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; load().catch(() => {}); }, Math.max(0, 1000 - (Date.now() - lastLoad)));
  }

  await load();
  const l = await get(`jobs/${enc(id)}/logs`).catch(() => null);
  const lines = l ? l.lines || l.logs || (Array.isArray(l) ? l : []) : [];
  logs.textContent = lines.map((x) => (typeof x === 'string' ? x : x.text || JSON.stringify(x))).join('\n');
  if (!FINAL.includes(job.state)) {
    stopLive = sse(`jobs/${enc(id)}/events`, (ev, d) => {
      if (ev === 'log') logs.textContent += `${logs.textContent ? '\n' : ''}${d.text ?? JSON.stringify(d)}`;
      else if (ev === 'progress') {
        const bar = h('span', {});
        const pct = d.total ? Math.min(100, (100 * d.progress) / d.total) : null;
        if (pct !== null) bar.style.width = `${pct}%`;
        clear(progress).append(h('div', {}, `Progress: ${d.message || ''} ${d.total ? `${d.progress} of ${d.total}` : d.progress ?? ''}`),
          pct !== null ? h('div', { class: 'meter', role: 'meter', 'aria-label': 'Progress', 'aria-valuenow': Math.round(pct), 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar) : null);
      } else soon();
    }, () => soon());
    // the steps of a chain change state without an event on the root: the
    // trace is read again every 1.5 s while the job runs
    timer = setInterval(soon, 1500);
  }
  if (!logs.textContent) logs.textContent = '(no log lines yet)';
  return () => { if (stopLive) stopLive(); if (timer) clearInterval(timer); };
}

/* ---------------- Chains ---------------- */
async function chains(main, parts) {
  if (parts[0]) return chainPage(main, parts[0]);
  main.appendChild(h('h1', {}, 'Chains'));
  const data = await get('chains');
  const list = data.chains || [];
  main.appendChild(list.length ? table(['Chain', 'Steps', 'Description'], list.map((c) => h('tr', {},
    h('td', {}, link(`#/chains/${enc(c.name)}`, c.name)), h('td', {}, String((c.steps || []).length || c.nsteps || '')), h('td', {}, c.description || ''))), 'Chains')
    : empty('No chain is registered. Register one with ', h('code', {}, 'atlas chain register FILE.yaml'), '.'));
}

async function chainPage(main, name) {
  const c = await get(`chains/${enc(name)}`);
  main.appendChild(h('h1', {}, `Chain ${c.name}`));
  const last = await get(`jobs?agent=${enc(c.name)}&limit=1`).catch(() => ({ jobs: [] }));
  let outcomes = [];
  if (last.jobs[0]) {
    const tr = await get(`traces/${enc(last.jobs[0].id)}`).catch(() => null);
    outcomes = (tr && tr.steps) || [];
  }
  const steps = c.steps || [];
  const g = h('ol', { class: 'graph', 'aria-label': 'Steps of the chain' });
  steps.forEach((s, i) => {
    const o = outcomes[i] || {};
    const st = o.status || o.state;
    if (i) g.appendChild(h('li', { class: 'arrow', 'aria-hidden': 'true' }, '→'));
    g.appendChild(h('li', { class: 'node' }, h('div', {}, h('strong', {}, `${i + 1}. `), s.name || s.id || '', ' ', s.agent ? agentLink(s.agent) : s.chain || ''),
      h('div', {}, st ? state(st) : h('span', { class: 'muted' }, 'not run yet'), o.duration_ms !== undefined ? ` ${ms(o.duration_ms)}` : '')));
  });
  main.appendChild(g);
  if (last.jobs[0]) main.appendChild(h('p', {}, 'Last run: ', jobLink(last.jobs[0].id), ' ', state(last.jobs[0].state)));
  if (can('run')) {
    const ta = h('textarea', { id: 'chain-input', 'aria-describedby': 'chain-err' }, '{}');
    const err = h('div', { class: 'field-error', id: 'chain-err', role: 'alert' });
    const form = h('form', { 'aria-label': 'Run the chain' }, h('label', { for: 'chain-input' }, 'Input (JSON)'), ta, err, h('button', { type: 'submit' }, 'Run chain'));
    form.onsubmit = async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const r = await api('POST', `chains/${enc(c.name)}/run`, JSON.parse(ta.value || '{}'), { headers: { Prefer: 'respond-async' } });
        location.hash = `#/runs/${enc(r.data.job)}`;
      } catch (x) { err.textContent = (x.problem && x.problem.pointer ? `${x.problem.pointer}: ` : '') + x.message; }
    };
    main.append(h('h2', {}, 'Run'), form);
  }
  main.append(h('h2', {}, 'Definition'), json(c));
}

/* ---------------- Nodes ---------------- */
async function nodes(main) {
  main.appendChild(h('h1', {}, 'Nodes'));
  const body = h('div', {});
  main.appendChild(body);
  async function load() {
    const [health, queue] = await Promise.all([get('health'), get('queue').catch(() => null)]);
    const m = health.machine || {};
    const eng = health.engine || {};
    const used = eng.running || 0;
    const cap = eng.max_concurrent || 1;
    const meter = (label, v, max) => h('div', {}, h('div', {}, `${label}: ${v} of ${max}`),
      (() => { const s = h('span', {}); s.style.width = `${Math.min(100, (100 * v) / Math.max(1, max))}%`; return h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuenow': v, 'aria-valuemin': 0, 'aria-valuemax': max }, s); })());
    const actions = h('div', { class: 'row' });
    if (can('admin') && queue) {
      const b = h('button', { type: 'button', 'data-testid': 'drain' }, queue.held_all ? 'Undrain (dispatch again)' : 'Drain (hold dispatch)');
      b.onclick = async () => { await api('POST', queue.held_all ? 'queue/resume' : 'queue/drain', {}); load(); };
      actions.appendChild(b);
    }
    const fleet = ((await get('nodes').catch(() => ({ nodes: [] }))).nodes) || [];
    const res = (n) => n.resources || {};
    // each node's last health report (a heartbeat's; the control plane's now)
    const nodeHealth = Object.fromEntries(await Promise.all(fleet.map(async (n) =>
      [n.name, await get(`nodes/${enc(n.name)}/health`).catch(() => ({}))])));
    const healthOf = Object.fromEntries(Object.entries(nodeHealth).map(([k, v]) => [k, (v && v.health) || {}]));
    const bar = (label, v, max, unit, warnAt) => {
      if (v === null || v === undefined) return h('span', { class: 'muted' }, 'not reported');
      const s = h('span', { class: v >= warnAt ? 'hot' : '' });
      s.style.width = `${Math.min(100, (100 * v) / max)}%`;
      return h('div', { class: 'cell-meter' }, h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuenow': v, 'aria-valuemin': 0, 'aria-valuemax': max }, s),
        h('span', { class: 'muted' }, `${Math.round(v)}${unit}`));
    };
    const fleetTable = fleet.length > 1 ? table(['Node', 'Status', 'Cores', 'Memory', 'GPUs', 'Labels', 'Reserved', 'Memory used', 'Temperature', 'Running', 'Heartbeat', ''], fleet.map((n) => {
      const acts = h('td', {});
      if (can('admin') && !n.local) {
        const b = h('button', { type: 'button', 'data-testid': `drain-${n.name}` }, n.status === 'ready' ? 'Drain' : 'Undrain');
        b.onclick = async () => { await api('POST', `nodes/${enc(n.name)}/${n.status === 'ready' ? 'drain' : 'undrain'}`, {}); load(); };
        acts.appendChild(b);
      }
      const c = n.connection || {};
      return h('tr', {}, h('td', {}, n.name + (n.local ? ' (control plane)' : '')),
        h('td', {}, h('span', { class: `badge ${n.status === 'ready' ? 'ok' : n.status === 'unhealthy' ? 'bad' : 'warn'}` }, n.status)),
        h('td', {}, String(res(n).cpu_cores ?? '?')), h('td', {}, `${res(n).memory_gb ?? '?'} GB`),
        h('td', {}, (res(n).gpus || []).map((g) => `${g.device || 'gpu'} ${g.vram_gb ?? '?'} GB`).join(', ') || 'none'),
        h('td', {}, Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ')),
        h('td', { 'data-testid': `resv-${n.name}` }, res(n).memory_gb ? bar(`memory reserved on ${n.name}`, Math.round((100 * ((nodeHealth[n.name] || {}).allocated_memory_gb || 0)) / res(n).memory_gb), 100, '%', 101) : h('span', { class: 'muted' }, '—')),
        h('td', { 'data-testid': `mem-${n.name}` }, bar(`memory used on ${n.name}`, (healthOf[n.name] || {}).memory_used_pct, 100, '%', 90)),
        h('td', { 'data-testid': `temp-${n.name}` }, bar(`temperature of ${n.name}`, (healthOf[n.name] || {}).temperature_c, 110, ' °C', 85)),
        h('td', {}, String((n.reservations || []).length)),
        h('td', {}, n.local ? '—' : c.last_heartbeat_ms_ago !== undefined ? `${ms(c.last_heartbeat_ms_ago)} ago` : '—'), acts);
    }), 'Nodes') : null;
    clear(body).append(
      fleetTable ? h('div', {}, h('h2', {}, 'The fleet'), fleetTable) : h('p', { class: 'muted' }, 'No other node has joined: this daemon is the only node (see docs/scheduling.md: atlasd node --join).'),
      h('div', {}, h('section', { class: 'card', 'aria-label': `Node ${m.node || 'local'}` },
        h('h2', {}, m.node || 'local'),
        h('div', {}, h('span', { class: `badge ${health.status === 'ok' ? 'ok' : 'bad'}` }, health.status === 'ok' ? 'healthy' : health.status),
          queue && queue.held_all ? h('span', { class: 'badge warn' }, 'drained') : null),
        meter('jobs running', used, cap),
        kv([['cores', String(m.cpu_cores ?? '?')], ['memory', `${m.memory_gb ?? '?'} GB`], ['architecture', m.architecture || '?'],
          ['GPUs', (m.gpus || []).map((g) => `${g.vendor || ''} ${g.model || ''} ${g.vram_gb ? `${g.vram_gb} GB` : ''}`).join(', ') || 'none'],
          ['labels', JSON.stringify(m.labels || {})],
          ['memory used', bar('memory used here', (healthOf[m.node] || healthOf.local || {}).memory_used_pct, 100, '%', 90)],
          ['temperature', bar('temperature here', (healthOf[m.node] || healthOf.local || {}).temperature_c, 110, ' °C', 85)],
          ['facts from', m.source || '—']]),
        actions)),
      h('h2', {}, 'What runs where'),
      (eng.pools || []).length ? table(['Agent', 'Workers', 'Busy', 'Idle', 'Starting', 'Queued', 'Max'], eng.pools.map((p) => h('tr', {},
        h('td', {}, p.agent || ''), h('td', {}, String(p.workers ?? '')), h('td', {}, String(p.busy ?? '')), h('td', {}, String(p.idle ?? '')),
        h('td', {}, String(p.starting ?? '')), h('td', {}, String(p.queued ?? '')), h('td', {}, String(p.max ?? '')))), 'Agent pools') : empty('No agent has a process pool yet: pools start with the first run.'));
  }
  await load();
  // placement explained (POST /api/v1/schedule/explain): a dry run
  const names = ((await get('agents').catch(() => ({ agents: [] }))).agents || []).filter((a) => a.latest !== false).map((a) => a.name);
  const pick = h('select', { id: 'explain-agent' }, names.map((n) => h('option', { value: n }, n)));
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', 'aria-label': 'Explain a placement' },
    h('div', {}, h('label', { for: 'explain-agent' }, 'Agent'), pick), h('button', { type: 'submit' }, 'Explain'));
  form.onsubmit = async (e) => {
    e.preventDefault();
    clear(out);
    try { out.appendChild(json((await api('POST', 'schedule/explain', { agent: pick.value })).data)); } catch (x) { out.appendChild(alert(x.message)); }
  };
  main.append(h('h2', {}, 'Where would a run go?'), names.length ? form : empty('No agent is registered.'), out);
  return every(5000, load);
}

/* ---------------- Costs ---------------- */
async function costs(main, parts, query) {
  main.appendChild(h('h1', {}, 'Costs'));
  const by = query.get('by') || 'agent';
  const since = query.get('since') || '7d';
  const sel = h('select', { id: 'c-by' }, ['agent', 'model', 'trigger', 'day', 'chain', 'backend'].map((b) => h('option', { value: b, selected: b === by }, b)));
  const ss = h('select', { id: 'c-since' }, [['24h', 'last day'], ['7d', 'last week'], ['30d', 'last month']].map(([v, t]) => h('option', { value: v, selected: v === since }, t)));
  const go = () => { location.hash = `#/costs?by=${sel.value}&since=${ss.value}`; };
  sel.onchange = go; ss.onchange = go;
  main.appendChild(h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'c-by' }, 'Group by'), sel), h('div', {}, h('label', { for: 'c-since' }, 'Since'), ss)));
  const d = await get(`costs?by=${enc(by)}&since=${enc(since)}`);
  const rows = d.rows || [];
  main.appendChild(h('p', {}, `Total: ${usd(d.total ? d.total.cost_usd : 0)} · ${d.total ? d.total.tokens : 0} tokens in ${d.total ? d.total.calls : 0} calls`));
  if (!rows.length) { main.appendChild(empty('No model usage recorded in this period. Runs of agents that call models show here.')); return; }
  // the chart shows money when any was spent, else tokens (self-reported
  // usage and local models have no price)
  const money = rows.some((r) => r.cost_usd > 0);
  const val = (r) => (money ? r.cost_usd || 0 : r.tokens || 0);
  const max = Math.max(...rows.map(val), 1e-9);
  main.appendChild(h('h2', {}, money ? `Spend by ${by}` : `Tokens by ${by} (no priced usage)`));
  main.appendChild(h('div', { class: 'chart card', role: 'img', 'aria-label': `${money ? 'Spend' : 'Tokens'} by ${by}: ${rows.map((r) => `${r.key ?? '—'} ${money ? usd(val(r)) : val(r)}`).join(', ')}` }, rows.map((r) => {
    const s = h('span', {}); s.style.width = `${(100 * val(r)) / max}%`;
    return h('div', { class: 'bar-row' }, h('span', {}, String(r.key || (by === 'trigger' ? '(no trigger)' : '—'))), h('div', { class: 'meter' }, s), h('span', {}, money ? usd(val(r)) : `${val(r)} tokens`));
  })));
  if (by !== 'day') {
    // over time: each day's total, split by the grouping (the six largest, then the rest)
    const sd = await get(`costs?by=${enc(by)}&since=${enc(since)}&series=day`).catch(() => ({ rows: [] }));
    const top = rows.slice(0, 6).map((r) => String(r.key ?? ''));
    const name = (k) => String(k || (by === 'trigger' ? '(no trigger)' : '—'));
    const days = {};
    for (const r of sd.rows || []) {
      const i = top.indexOf(String(r.key ?? ''));
      const slot = i >= 0 ? i : 6;
      (days[r.day] = days[r.day] || [0, 0, 0, 0, 0, 0, 0])[slot] += val(r);
    }
    const order = Object.keys(days).sort();
    const dmax = Math.max(...order.map((d) => days[d].reduce((a, b) => a + b, 0)), 1e-9);
    const legend = h('div', { class: 'row legend' }, ...top.map((k, i) => h('span', {}, h('span', { class: `swatch seg-${i}` }), name(k))),
      rows.length > 6 ? h('span', {}, h('span', { class: 'swatch seg-6' }), 'the rest') : null);
    main.appendChild(h('h2', {}, `${money ? 'Spend' : 'Tokens'} over time by ${by}`));
    main.appendChild(h('div', { class: 'chart card', role: 'img', 'data-testid': 'costs-over-time',
      'aria-label': `${money ? 'Spend' : 'Tokens'} per day by ${by}: ${order.map((d) => `${d} ${days[d].map((v, i) => (v ? `${i < 6 ? name(top[i]) : 'the rest'} ${money ? usd(v) : v}` : '')).filter(Boolean).join(', ')}`).join('; ')}` },
      legend, ...order.map((d) => {
        const total = days[d].reduce((a, b) => a + b, 0);
        const bar = h('div', { class: 'stack' }, ...days[d].map((v, i) => {
          if (!v) return null;
          const seg = h('span', { class: `seg-${i}`, title: `${i < 6 ? name(top[i]) : 'the rest'}: ${money ? usd(v) : v}` });
          seg.style.width = `${(100 * v) / dmax}%`;
          return seg;
        }));
        return h('div', { class: 'bar-row' }, h('span', {}, d), bar, h('span', {}, money ? usd(total) : `${total} tokens`));
      })));
  }
  main.appendChild(table([by, 'Calls', 'Tokens in', 'Tokens out', 'Cost'], rows.map((r) => h('tr', {},
    h('td', {}, String(r.key || (by === 'trigger' ? '(no trigger)' : '—'))), h('td', {}, String(r.calls)), h('td', {}, String(r.tokens_in)), h('td', {}, String(r.tokens_out)), h('td', {}, usd(r.cost_usd || 0)))), 'Costs'));
}

/* ---------------- Evals ---------------- */
async function evals(main) {
  main.appendChild(h('h1', {}, 'Evals'));
  const [list, res] = await Promise.all([get('evals'), get('evals/results').catch(() => ({ results: [] }))]);
  const ev = list.evals || [];
  const results = res.results || res.verdicts || [];
  const rate = {};
  for (const r of results) { const k = r.eval || r.name || '?'; rate[k] = rate[k] || [0, 0]; rate[k][1]++; if (r.passed) rate[k][0]++; }
  main.appendChild(ev.length ? table(['Eval', 'Agent', 'When', 'Checks', 'Pass rate'], ev.map((e) => h('tr', {},
    h('td', {}, e.name), h('td', {}, e.target_agent || e.agent ? agentLink(e.target_agent || e.agent) : ''), h('td', {}, e.trigger || ''),
    h('td', {}, (e.checks || []).map((c) => `${c.name} (${c.type})`).join(', ')), h('td', {}, rate[e.name] ? `${Math.round((100 * rate[e.name][0]) / rate[e.name][1])}% of ${rate[e.name][1]}` : '—'))), 'Evals')
    : empty('No eval is registered. See docs/evals.md: ', h('code', {}, 'atlas eval register FILE.yaml'), '.'));
  main.appendChild(h('h2', {}, 'Latest verdicts'));
  main.appendChild(results.length ? table(['Eval', 'Check', 'Job', 'Verdict', 'Detail', 'When'], results.slice(0, 50).map((r) => h('tr', {},
    h('td', {}, r.eval || r.name || ''), h('td', {}, r.check || ''), h('td', {}, r.job_id ? jobLink(r.job_id) : ''),
    h('td', {}, h('span', { class: r.passed ? 'badge ok' : 'badge bad' }, r.passed ? 'pass' : 'fail')), h('td', {}, r.score !== null && r.score !== undefined ? `${r.score} · ${r.detail || ''}` : r.detail || ''),
    h('td', {}, time(r.created_at || r.created_ms)))), 'Verdicts') : empty('No verdict yet.'));
}

/* ---------------- Triggers ---------------- */
function targetLink(t) {
  if (t && t.agent) return ['agent ', agentLink(t.agent)];
  if (t && t.chain) return ['chain ', link(`#/chains/${enc(t.chain)}`, t.chain)];
  return typeof t === 'object' ? JSON.stringify(t) : String(t || '');
}

async function triggers(main) {
  main.appendChild(h('h1', {}, 'Triggers'));
  const d = await get('triggers');
  const list = d.triggers || [];
  if (!list.length) { main.appendChild(empty('No trigger is registered. See docs/triggers.md: ', h('code', {}, 'atlas trigger register FILE.yaml'), '.')); return; }
  main.appendChild(table(['Trigger', 'Type', 'Target', 'Next / path', 'State', 'Firings'], list.map((t) => h('tr', {},
    h('td', {}, t.name), h('td', {}, t.type), h('td', {}, targetLink(t.target)),
    h('td', {}, t.next_at ? time(t.next_at) : t.path || ''), h('td', {}, t.paused ? 'paused' : 'active'), h('td', {}, String(t.firings ?? ''))))
  , 'Triggers'));
  main.appendChild(h('h2', {}, 'Recent deliveries'));
  for (const t of list.slice(0, 10)) {
    const hist = await get(`triggers/${enc(t.name)}/history?limit=5`).catch(() => ({ firings: [] }));
    if (!hist.firings.length) continue;
    main.appendChild(h('h3', {}, t.name));
    main.appendChild(table(['When', 'Source', 'Job', 'State'], hist.firings.map((f) => h('tr', {},
      h('td', {}, time(f.fired_at || f.created_at || f.at)), h('td', {}, f.source || ''), h('td', {}, f.job_id ? jobLink(f.job_id) : f.reason || ''), h('td', {}, f.job_state ? state(f.job_state) : f.status || ''))), `Firings of ${t.name}`));
  }
  // conversational triggers: their sessions (the conversations the daemon holds)
  const chats = list.filter((t) => t.type === 'conversational');
  if (chats.length) main.appendChild(h('h2', {}, 'Conversations'));
  for (const t of chats) {
    const c = await get(`triggers/${enc(t.name)}/conversations`).catch(() => ({ conversations: [] }));
    const convs = (c.conversations || []).slice().sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at)));
    main.appendChild(h('h3', {}, t.name));
    const said = (turn) => { if (!turn) return ''; const v = turn.content; const s = typeof v === 'string' ? v : JSON.stringify(v); return `${turn.role}: ${s.length > 80 ? `${s.slice(0, 80)}…` : s}`; };
    main.appendChild(convs.length ? table(['Conversation', 'Turns', 'Started', 'Last', 'Last turn'], convs.map((x) => h('tr', {},
      h('td', {}, h('code', {}, x.conversation_id)), h('td', {}, String(x.turns)), h('td', {}, time(x.started_at)), h('td', {}, time(x.updated_at)),
      h('td', { class: 'muted' }, said(x.last)))), `Conversations of ${t.name}`)
      : empty('No conversation yet: messages to this trigger start one.'));
  }
}

/* ---------------- Approvals ---------------- */
const apState = (st) => h('span', { class: `badge ${st === 'done' || st === 'approved' || st === 'modified' ? 'ok' : st === 'pending' ? 'warn' : st === 'failed' || st === 'rejected' ? 'bad' : ''}` }, st);

async function approvals(main, parts, query) {
  if (parts[0]) return proposal(main, parts[0]);
  main.appendChild(h('h1', {}, 'Approvals'));
  const st = query.get('state') || 'pending';
  const sel = h('select', { id: 'ap-state' }, ['pending', 'done', 'failed', 'rejected', 'expired', 'all'].map((v) => h('option', { value: v, selected: v === st }, v)));
  sel.onchange = () => { location.hash = `#/approvals?state=${sel.value}`; };
  main.appendChild(h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'ap-state' }, 'State'), sel)));
  const body = h('div', {});
  main.appendChild(body);
  // batch decisions (admins, pending proposals): each is decided on the hash listed
  const picked = new Map();
  const batch = st === 'pending' && can('admin');
  const bwhy = h('input', { id: 'ap-batch-why', type: 'text', placeholder: 'why (recorded with each decision)' });
  const bout = h('div', { 'aria-live': 'polite', 'data-testid': 'batch-result' });
  const decideAll = (action) => async () => {
    clear(bout);
    if (!picked.size) { bout.appendChild(alert('select the proposals to decide first')); return; }
    const decisions = [...picked.entries()].map(([id, hash]) => ({ id, action, hash, why: bwhy.value || undefined }));
    try {
      const r = await api('POST', 'approvals/batch', { decisions });
      const bad = (r.results || []).filter((x) => x.error);
      bout.appendChild(h('p', { class: bad.length ? 'alert' : 'muted' }, `${decisions.length - bad.length} of ${decisions.length} decided`,
        ...bad.map((x) => h('div', {}, `${x.id}: ${x.message || x.error}`))));
      picked.clear();
      await load();
    } catch (x) { bout.appendChild(alert(x.message)); }
  };
  const bbtn = (label, action) => { const e = h('button', { type: 'button', 'data-testid': `batch-${action}` }, label); e.onclick = decideAll(action); return e; };
  if (batch) {
    main.appendChild(h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'ap-batch-why' }, 'Why'), bwhy),
      h('div', { class: 'row' }, bbtn('Approve selected', 'approve'), bbtn('Reject selected', 'reject'))));
    main.appendChild(bout);
  }
  const pick = (a) => {
    const c = h('input', { type: 'checkbox', 'data-testid': `pick-${a.id}`, 'aria-label': `select ${a.id}` });
    c.checked = picked.has(a.id);
    c.onchange = () => { if (c.checked) picked.set(a.id, a.hash); else picked.delete(a.id); };
    return c;
  };
  async function load() {
    const d = await get(st === 'all' ? 'approvals' : `approvals?state=${enc(st)}`);
    const list = d.approvals || [];
    const cols = ['Proposal', 'Kind', 'Title', 'Proposer', 'State', 'Filed'];
    clear(body).appendChild(list.length ? table(batch ? ['', ...cols] : cols, list.map((a) => h('tr', {},
      ...(batch ? [h('td', {}, pick(a))] : []),
      h('td', {}, link(`#/approvals/${enc(a.id)}`, a.id)), h('td', {}, a.kind), h('td', {}, a.title || ''), h('td', {}, a.proposer || ''),
      h('td', {}, apState(a.state)), h('td', {}, time(a.created_at || a.created_ms)))), 'Proposals')
      : empty(st === 'pending' ? 'Nothing waits for a decision. Proposals come from the supervisor (' : `No proposal is ${st}. Proposals come from the supervisor (`,
        h('code', {}, 'atlas supervise'), ') and from actions that ', h('code', {}, 'approvals.require'), ' puts behind an approval.'));
  }
  await load();
  // live: every change on approvals/events reloads the list (at most once a
  // second); a slow poll covers a stream the network dropped
  let pending = false;
  let last = 0;
  const soon = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; last = Date.now(); load().catch(() => {}); }, Math.max(0, 1000 - (Date.now() - last)));
  };
  const stopLive = sse('approvals/events', () => soon(), () => {});
  const stopPoll = every(30000, load);
  return () => { stopLive(); stopPoll(); };
}

async function proposal(main, id) {
  const body = h('div', {});
  main.appendChild(body);
  async function load() {
    const p = await get(`approvals/${enc(id)}`);
    clear(body);
    body.appendChild(h('h1', {}, `${p.title || p.kind} `, apState(p.state)));
    body.appendChild(kv([['proposal', p.id], ['kind', p.kind], ['proposer', p.proposer || ''], ['content hash', h('code', {}, p.hash || '')],
      ['package', p.package_verified === false ? h('span', { class: 'badge bad' }, 'signature does not verify') : p.package ? h('span', { class: 'badge ok' }, 'signed, verified') : '—'],
      ['reason', p.reason || '']]));
    const pkg = p.package || {};
    const ev = pkg.evidence || pkg.predicate || p.evidence || {};
    const diff = ev.diff || (pkg.predicate && pkg.predicate.diff);
    if (diff) body.append(h('h2', {}, 'Diff'), h('pre', { class: 'diff', 'aria-label': 'Diff' }, String(diff)));
    body.append(h('h2', {}, 'Payload'), json(p.payload));
    if (Object.keys(ev).length) body.append(h('h2', {}, 'Certification package'), json(ev));
    if (p.decision) body.append(h('h2', {}, 'Decision'), json(p.decision));
    if ((p.history || []).length) body.append(h('h2', {}, 'History'), table(['State', 'When', 'By', 'Why'], p.history.map((x) => h('tr', {},
      h('td', {}, apState(x.state)), h('td', {}, time(x.at)), h('td', {}, x.by || ''), h('td', {}, x.why || ''))), 'History'));
    if (p.result) body.append(h('h2', {}, 'Result'), json(p.result));
    if (p.error) body.append(alert(typeof p.error === 'string' ? p.error : JSON.stringify(p.error)));
    if (p.state !== 'pending' || !can('admin')) return;
    const why = h('input', { id: 'ap-why', type: 'text', placeholder: 'why (recorded with the decision)' });
    const edit = h('textarea', { id: 'ap-payload', rows: 8, 'aria-label': 'Edited payload (JSON)' }, JSON.stringify(p.payload, null, 2));
    const out = h('div', { 'aria-live': 'polite' });
    const decide = (action) => async () => {
      clear(out);
      const b = { hash: p.hash, why: why.value || undefined };
      if (action === 'modify') {
        try { b.payload = JSON.parse(edit.value); } catch (x) { out.appendChild(alert(`the payload is not JSON: ${x.message}`)); return; }
      }
      try { await api('POST', `approvals/${enc(p.id)}/${action}`, b); await load(); } catch (x) { out.appendChild(alert(x.message)); }
    };
    const btn = (label, action, testid) => { const e = h('button', { type: 'button', 'data-testid': testid }, label); e.onclick = decide(action); return e; };
    body.append(h('h2', {}, 'Decide'),
      h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'ap-why' }, 'Why'), why)),
      h('div', { class: 'row' }, btn('Approve', 'approve', 'approve'), btn('Reject', 'reject', 'reject')),
      h('details', {}, h('summary', {}, 'Modify the payload, then approve it'), edit, btn('Approve as edited', 'modify', 'modify')),
      out);
  }
  await load();
}

export const pages = { overview, agents, runs, chains, nodes, costs, evals, triggers, approvals };
