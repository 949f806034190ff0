// dashboard.mjs - the dashboard at /ui in a real browser (Debian's chromium
// through playwright-core; no browser download), against the atlasd that
// tests/e2e/t_ui.sh started: ATLAS_URL, ATLAS_TOKEN (admin), VIEWER (a
// viewer token).  UI_SCREENSHOTS=DIR keeps a screenshot of each page.
// Prints "ok - ..." / "FAIL - ..." lines; exits 1 on any failure.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const URL = process.env.ATLAS_URL;
const ADMIN = process.env.ATLAS_TOKEN;
const VIEWER = process.env.VIEWER;
const SHOTS = process.env.UI_SCREENSHOTS || '';
if (SHOTS) mkdirSync(SHOTS, { recursive: true });

let failed = 0;
const START = Date.now();
const at = () => `[${((Date.now() - START) / 1000).toFixed(1)} s]`;
const ok = (m) => console.log(`ok   - ${m} ${at()}`);
const bad = (m) => { failed++; console.log(`FAIL - ${m} ${at()}`); };
const check = (c, m) => (c ? ok(m) : bad(m));

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const T = 15000;

async function newPage(viewport) {
  const ctx = await browser.newContext({ viewport: viewport || { width: 1280, height: 800 }, colorScheme: 'light' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  page.cspErrors = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) page.cspErrors.push(m.text()); });
  page.on('pageerror', (e) => bad(`page error: ${e.message}`));
  return page;
}

async function signIn(page, token) {
  await page.goto(`${URL}/ui/`);
  await page.fill('#token', token);
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');
}

// axe-core on the page as it is: no serious or critical violation
async function axe(page, name) {
  // DevTools evaluation: not an inline script, so the CSP stays on; once
  // per document (hash navigations keep it)
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(AXE);
  const r = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`));
  check(r.length === 0, `axe: no serious violation on ${name}${r.length ? ` (${r.join('; ')})` : ''}`);
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: false });
}

async function visit(page, hash, wait, name) {
  await page.goto(`${URL}/ui/${hash}`);
  await page.waitForSelector(wait);
  await axe(page, name);
  await shot(page, name);
}

try {
  // ---- first load: size and time, the sign-in
  const page = await newPage();
  const t0 = Date.now();
  await page.goto(`${URL}/ui/`);
  await page.waitForSelector('#token');
  const loadMs = Date.now() - t0;
  const bytes = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return performance.getEntriesByType('resource').reduce((s, e) => s + e.transferSize, n ? n.transferSize : 0);
  });
  console.log(`# first load: ${bytes} bytes transferred, sign-in form after ${loadMs} ms`);
  check(bytes > 0 && bytes <= 300 * 1024, `first load transfers ${bytes} bytes (<= 300 KB)`);
  await axe(page, 'sign-in');
  await shot(page, 'signin');
  await page.fill('#token', 'atl_not_a_token');
  await page.click('form.signin button[type=submit]');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
  ok('a wrong token is refused on the sign-in form');
  await page.fill('#token', ADMIN);
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('[data-testid=health]');
  check((await page.textContent('[data-testid=health]')) === 'ok', 'signed in: the overview shows health ok');
  await axe(page, 'overview');

  // ---- agents: search, contract, the generated form and a field error
  await visit(page, '#/agents', 'table[aria-label=Agents]', 'agents');
  await page.fill('#agent-q', 'sleeps');
  await page.click('form[role=search] button');
  await page.waitForSelector('table[aria-label=Agents] a[href="#/agents/slow"]');
  ok('search finds the agent by its description');
  await page.click('a[href="#/agents/slow"]');
  await page.waitForSelector('form[aria-label="Run input"] [data-pointer="/ms"]');
  ok('the run form has a field for /ms, from the input schema');
  await page.fill('[data-pointer="/ms"]', '-5');
  await page.click('form[aria-label="Run input"] button[type=submit]');
  await page.waitForSelector('[data-error-for="/ms"]:not([hidden])');
  const ferr = await page.textContent('[data-error-for="/ms"]');
  check(/minimum|less|>=|0/.test(ferr), `the server's schema error shows at the field /ms: "${ferr}"`);
  check((await page.getAttribute('[data-pointer="/ms"]', 'aria-invalid')) === 'true', 'the field is marked invalid');
  await axe(page, 'agent (with a field error)');
  await shot(page, 'agent');
  await page.fill('[data-pointer="/ms"]', '2000');
  await page.click('form[aria-label="Run input"] button[type=submit]');
  await page.waitForURL(/#\/runs\/job_/);
  await page.waitForSelector('[data-testid=job-state] .st-completed');
  ok('a run from the form completes, shown on its job page');
  // the agent reports progress as it ends: the page heard it on the job's stream
  check((await page.textContent('[data-testid=progress]')).includes('done 2000 of 2000'), `the job's progress came live over SSE (${(await page.textContent('[data-testid=progress]')).trim()})`);

  // ---- a chain: its waterfall fills in live, a span opens
  await page.goto(`${URL}/ui/#/chains/two-slow`);
  await page.waitForSelector('ol.graph');
  await page.click('form[aria-label="Run the chain"] button');
  await page.waitForURL(/#\/runs\/job_/);
  await page.waitForSelector('[data-testid=job-state] .st-running');
  // live: while the chain runs, a step's span is drawn running, then the
  // same page (no reload) shows it finished and the next step's span added
  const rows0 = await page.locator('.wf-row').count();
  await page.waitForSelector('.wf-bar.s-running');
  await page.waitForFunction((n) => document.querySelectorAll('.wf-row').length > n || document.querySelector('[data-testid=job-state] .st-completed'), rows0, { timeout: 20000 });
  const rows1 = await page.locator('.wf-row').count();
  check(rows1 > rows0, `the waterfall fills in while the chain runs (${rows0} → ${rows1} spans)`);
  await page.waitForSelector('[data-testid=job-state] .st-completed', { timeout: 20000 });
  const chainJob = decodeURIComponent(page.url().split('#/runs/')[1]);
  await page.waitForFunction(() => document.querySelectorAll('.wf-row').length >= 3);
  ok(`the chain completes: ${await page.locator('.wf-row').count()} spans`);
  await page.locator('.wf-name').nth(1).click();
  await page.waitForSelector('.span-detail dl.kv');
  check((await page.textContent('.span-detail')).includes('span'), 'a click on a span shows its details');
  await page.locator('.wf-name').nth(2).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('.wf-name')[2].getAttribute('aria-pressed') === 'true');
  ok('a span opens from the keyboard too');
  await page.click('button[aria-label="Zoom in"]');
  check((await page.textContent('.wf-tools')).includes('2×'), 'the waterfall zooms');
  await page.click('button[aria-label="Zoom out"]');
  await axe(page, 'job (chain trace)');
  await shot(page, 'job');
  await page.goto(`${URL}/ui/#/chains/two-slow`);
  await page.waitForSelector('ol.graph');
  const outcomes = await page.$$eval('ol.graph .node .badge', (b) => b.map((x) => x.textContent));
  check(outcomes.length === 2 && outcomes.every((x) => x === 'completed'), `the chain's graph shows each step's last outcome (${outcomes})`);
  await axe(page, 'chain');
  await shot(page, 'chain');

  // ---- cancel a running job
  await page.goto(`${URL}/ui/#/agents/slow`);
  await page.fill('[data-pointer="/ms"]', '30000');
  await page.click('form[aria-label="Run input"] button[type=submit]');
  await page.waitForURL(/#\/runs\/job_/);
  await page.waitForSelector('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=job-state] .st-running');
  const slowJob = decodeURIComponent(page.url().split('#/runs/')[1]);

  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=job-state] .st-cancelled');
  ok(`the cancel button cancels the running job ${slowJob}`);

  // ---- every other page
  await visit(page, '#/runs', 'table[aria-label=Runs]', 'runs');
  await page.selectOption('#f-state', 'cancelled');
  await page.click('form[aria-label="Filter runs"] button');
  // the filtered page is drawn once its table has rows (a slow machine may still show the old one)
  await page.waitForFunction(() => location.hash.includes('state=cancelled') &&
    document.querySelectorAll('table[aria-label=Runs] tbody .badge').length > 0 &&
    [...document.querySelectorAll('table[aria-label=Runs] tbody .badge')].every((b) => b.textContent === 'cancelled'), null, { timeout: 20000 }).catch(() => {});
  const states = await page.$$eval('table[aria-label=Runs] tbody .badge', (b) => b.map((x) => x.textContent));
  check(states.length >= 1 && states.every((s) => s === 'cancelled'), `the state filter shows only cancelled runs (${states.length})`);
  await page.goto(`${URL}/ui/#/runs?limit=2`);
  await page.waitForSelector('table[aria-label=Runs]');
  const page1 = await page.$$eval('table[aria-label=Runs] tbody tr td:first-child', (t) => t.map((x) => x.textContent));
  await page.click('text=Older »');
  await page.waitForFunction(() => location.hash.includes('before='));
  await page.waitForSelector('table[aria-label=Runs]');
  const page2 = await page.$$eval('table[aria-label=Runs] tbody tr td:first-child', (t) => t.map((x) => x.textContent));
  check(page1.length === 2 && page2.length === 2 && !page2.some((x) => page1.includes(x)), `runs page on: ${page1} then ${page2}`);
  await visit(page, '#/chains', 'table[aria-label=Chains]', 'chains');
  await visit(page, '#/nodes', '[data-testid=drain]', 'nodes');
  const temp = await page.textContent('[data-testid=temp-gpu-box]');
  const mem = await page.textContent('[data-testid=mem-gpu-box]');
  const hot = await page.locator('[data-testid=temp-gpu-box] .meter span.hot').count();
  check(temp.includes('92 °C') && mem.includes('12%') && hot === 1, `the fleet shows each node's memory and temperature, a hot one in red (${mem}; ${temp})`);
  const resv = await page.textContent('[data-testid=resv-gpu-box]');
  check(resv.includes('0%'), `and the capacity its running jobs reserve (${resv})`);
  await page.click('form[aria-label="Explain a placement"] button');
  await page.waitForFunction(() => document.querySelector('form[aria-label="Explain a placement"] + div').textContent.length > 0);
  ok(`the placement explain view answers: ${(await page.textContent('form[aria-label="Explain a placement"] + div')).slice(0, 80).replace(/\s+/g, ' ')}`);
  await page.click('[data-testid=drain]');
  await page.waitForFunction(() => document.querySelector('[data-testid=drain]').textContent.startsWith('Undrain'));
  ok('drain holds dispatch on the node');
  const queued = await page.evaluate(async (tok) => {
    const r = await fetch('/api/v1/agents/slow/run?priority=7', { method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json', Prefer: 'respond-async' }, body: '{"ms":1}' });
    return (await r.json()).job;
  }, ADMIN);
  await page.goto(`${URL}/ui/#/`);
  await page.waitForSelector('[data-testid=queued]');
  const qcard = await page.textContent('section[aria-label="Queue depth"]');
  check((await page.textContent('[data-testid=queued]')) === '1' && qcard.includes('priority 7: 1'), `the overview shows the queue by priority while drained (${qcard})`);
  await page.goto(`${URL}/ui/#/nodes`);
  await page.waitForSelector('[data-testid=drain]');
  await page.click('[data-testid=drain]');
  await page.waitForFunction(() => document.querySelector('[data-testid=drain]').textContent.startsWith('Drain'));
  ok('undrain dispatches again');
  await page.goto(`${URL}/ui/#/runs/${queued}`);
  await page.waitForSelector('[data-testid=job-state] .st-completed');
  ok('the held job runs once undrained');
  await visit(page, '#/costs', 'table[aria-label=Costs]', 'costs');
  const crow = await page.textContent('table[aria-label=Costs] tbody');
  check(crow.includes('spender') && crow.includes('500'), `the costs page shows usage by agent (${crow.trim()})`);
  const series = await page.getAttribute('[data-testid=costs-over-time]', 'aria-label');
  const segs = await page.locator('[data-testid=costs-over-time] .stack span').count();
  check(/\d{4}-\d{2}-\d{2} spender 500/.test(series) && segs >= 1, `and over time, each day split by agent (${series})`);
  await visit(page, '#/evals', 'table[aria-label=Verdicts]', 'evals');
  const rateCell = await page.textContent('table[aria-label=Evals] tbody tr td:last-child');
  const verdicts = await page.$$eval('table[aria-label=Verdicts] tbody .badge', (b) => b.map((x) => x.textContent));
  check(/\d+% of \d+/.test(rateCell) && verdicts.includes('pass') && verdicts.includes('fail'), `evals show a pass rate (${rateCell}) and the latest verdicts (${verdicts})`);
  await visit(page, '#/triggers', 'table[aria-label=Triggers]', 'triggers');
  const trow = await page.textContent('table[aria-label=Triggers] tbody tr:has-text("nightly")');
  check(trow.includes('nightly') && trow.includes('cron') && /\d/.test(trow), `the cron trigger shows with its next firing (${trow.trim()})`);
  await page.waitForSelector('table[aria-label="Conversations of desk-chat"]');
  const crowc = await page.textContent('table[aria-label="Conversations of desk-chat"] tbody');
  const cturns = await page.textContent('table[aria-label="Conversations of desk-chat"] tbody tr td:nth-child(2)');
  check(cturns === '2' && crowc.includes('assistant'), `a conversational trigger shows its conversations (${crowc.trim().slice(0, 120)})`);
  // ---- the approval desk: pending proposals, a package, approve and reject
  await visit(page, '#/approvals', 'table[aria-label=Proposals]', 'approvals');
  const aprows = await page.textContent('table[aria-label=Proposals] tbody');
  check(aprows.includes(process.env.P_APPROVE) && aprows.includes(process.env.P_REJECT), 'the desk lists the pending proposals');
  await page.goto(`${URL}/ui/#/approvals/${process.env.P_REJECT}`);
  await page.waitForSelector('[data-testid=reject]');
  check((await page.textContent('main')).includes('content hash'), 'a proposal shows its content hash and package');
  await page.fill('#ap-why', 'not now');
  await page.click('[data-testid=reject]');
  await page.waitForFunction(() => document.querySelector('main h1 .badge') && document.querySelector('main h1 .badge').textContent === 'rejected');
  check(true, 'rejecting in the desk rejects it');
  await visit(page, `#/approvals/${process.env.P_APPROVE}`, '[data-testid=approve]', 'proposal');
  await page.click('[data-testid=approve]');
  await page.waitForFunction(() => { const b = document.querySelector('main h1 .badge'); return b && b.textContent !== 'pending'; });
  const after = await page.textContent('main h1 .badge');
  check(['done', 'failed', 'approved', 'executing'].includes(after), `approving in the desk decides it (${after})`);
  check((await page.textContent('main')).includes('Decision'), 'and the decision is shown');
  const hist = await page.$$eval('table[aria-label=History] tbody tr td:first-child', (c) => c.map((x) => x.textContent));
  check(hist[0] === 'pending' && hist.includes('approved'), `and its history, state by state (${hist})`);
  // batch: two proposals picked in the list, rejected with one click, each on its listed hash
  await visit(page, '#/approvals', `[data-testid=pick-${process.env.P_B1}]`, 'approvals');
  // the list follows approvals/events: a proposal filed now shows without a reload
  const live = await page.evaluate(async (tok) => {
    const r = await fetch('/api/v1/approvals', { method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ kind: 'config', title: 'filed while watching', payload: { key: 'execution.max_spawn_depth', value: 5 } }) });
    return (await r.json()).id;
  }, ADMIN);
  const t0live = Date.now();
  await page.waitForSelector(`[data-testid=pick-${live}]`, { timeout: 10000 });
  check(Date.now() - t0live < 10000, `the desk shows a new proposal live, from approvals/events (${Date.now() - t0live} ms)`);
  await page.check(`[data-testid=pick-${process.env.P_B1}]`);
  await page.check(`[data-testid=pick-${process.env.P_B2}]`);
  await page.fill('#ap-batch-why', 'batch');
  await page.click('[data-testid=batch-reject]');
  await page.waitForFunction(() => document.querySelector('[data-testid=batch-result]').textContent.includes('decided'));
  const bres = await page.textContent('[data-testid=batch-result]');
  const bstates = await page.evaluate(async ([tok, ids]) => Promise.all(ids.map(async (id) => (await (await fetch(`/api/v1/approvals/${id}`, { headers: { Authorization: `Bearer ${tok}` } })).json()).state)), [ADMIN, [process.env.P_B1, process.env.P_B2]]);
  check(bres.includes('2 of 2 decided') && bstates.join() === 'rejected,rejected', `a batch decision in the desk decides each picked proposal (${bres.trim()}; ${bstates})`);
  await page.goto(`${URL}/ui/#/runs/job_nope`);
  await page.waitForSelector('main .alert');
  check((await page.textContent('main .alert')).includes('no job "job_nope"'), 'an unknown job says so');
  await page.goto(`${URL}/ui/#/nowhere`);
  await page.waitForSelector('main .alert');
  check((await page.textContent('main h1')) === 'Not found', 'an unknown page says so');
  check(page.cspErrors.length === 0, `no CSP violation (${page.cspErrors.slice(0, 2).join(' | ')})`);

  // ---- a 1,000-span trace: how long the waterfall takes to draw it
  const perf = await page.evaluate(async () => {
    const { waterfall } = await import('/ui/js/waterfall.js');
    const kids = [];
    for (let i = 0; i < 999; i++) kids.push({ span_id: `s${i}`, kind: i % 3 ? 'model' : 'tool', name: `call ${i}`, model: 'm', offset_ms: i * 10, duration_ms: 50, status: 'completed', children: [] });
    const trace = { started_at: new Date().toISOString(), duration_ms: 10100, spans: [{ span_id: 'root', name: 'root', offset_ms: 0, duration_ms: 10100, status: 'completed', children: kids }] };
    const w = waterfall();
    document.getElementById('main').appendChild(w.el);
    const t0 = performance.now();
    w.render(trace);
    const first = performance.now() - t0;
    await new Promise((r) => requestAnimationFrame(() => r()));
    const t1 = performance.now();
    w.render(trace);
    const again = performance.now() - t1;
    return { rows: w.el.querySelectorAll('.wf-row').length, first, again, size: w.el.querySelector('.wf-row').getAttribute('aria-setsize') };
  });
  console.log(`# 1,000-span waterfall: ${perf.rows} rows, drawn in ${perf.first.toFixed(1)} ms, redrawn in ${perf.again.toFixed(1)} ms`);
  check(perf.rows > 0 && perf.rows < 200 && perf.first < 500, `a 1,000-span trace is windowed and draws in ${perf.first.toFixed(1)} ms (one frame is 16.7 ms)`);
  // ---- a 20,000-span trace: windowed, so only the rows in view are drawn, and scrolling shows the rest
  const big = await page.evaluate(async () => {
    const { waterfall } = await import('/ui/js/waterfall.js');
    const kids = [];
    for (let i = 0; i < 19999; i++) kids.push({ span_id: `b${i}`, kind: 'tool', name: `step ${i}`, offset_ms: i, duration_ms: 5, status: 'completed', children: [] });
    const trace = { started_at: new Date().toISOString(), duration_ms: 20010, spans: [{ span_id: 'broot', name: 'root', offset_ms: 0, duration_ms: 20010, status: 'completed', children: kids }] };
    const w = waterfall();
    document.getElementById('main').appendChild(w.el);
    const t0 = performance.now();
    w.render(trace);
    const first = performance.now() - t0;
    const box = w.el.querySelector('.wf');
    const inDom = box.querySelectorAll('.wf-row').length;
    box.scrollTop = box.scrollHeight;
    box.dispatchEvent(new Event('scroll'));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));
    const names = [...box.querySelectorAll('.wf-name')].map((b) => b.textContent);
    return { first, inDom, last: names.some((t) => t.includes('step 19998')), size: box.querySelector('.wf-row').getAttribute('aria-setsize') };
  });
  console.log(`# 20,000-span waterfall: ${big.inDom} rows in the DOM, drawn in ${big.first.toFixed(1)} ms`);
  check(big.inDom < 200 && big.size === '20000' && big.last && big.first < 500, `a 20,000-span trace is windowed (${big.inDom} rows drawn in ${big.first.toFixed(0)} ms; the last span after scrolling: ${big.last})`);

  // ---- dark theme and phone width
  await page.goto(`${URL}/ui/#/`);
  await page.waitForSelector('[data-testid=health]');
  await shot(page, 'overview');
  await page.click('#theme');
  check((await page.getAttribute('html', 'data-theme')) === 'dark', 'the theme switches to dark');
  await axe(page, 'overview (dark)');
  await shot(page, 'overview-dark');
  await page.goto(`${URL}/ui/#/runs/${slowJob}`);
  await page.waitForSelector('[data-testid=job-state]');
  await axe(page, 'job (dark)');
  await page.click('#theme');
  const phone = await newPage({ width: 390, height: 844 });
  await signIn(phone, ADMIN);
  await phone.waitForSelector('[data-testid=health]');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no sideways scrolling at phone width (${overflow} px)`);
  await axe(phone, 'overview (phone)');
  await shot(phone, 'overview-phone');
  for (const [hash, sel] of [[`#/runs/${chainJob}`, '.wf-row'], ['#/agents/slow', 'form[aria-label="Run input"]'], ['#/runs', 'table[aria-label=Runs]']]) {
    await phone.goto(`${URL}/ui/${hash}`);
    await phone.waitForSelector(sel);
    const o = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(o <= 1, `no sideways scrolling at phone width on ${hash} (${o} px)`);
  }
  await shot(phone, 'runs-phone');

  // ---- a viewer: no mutating controls, and the server refuses anyway
  const v = await newPage();
  await signIn(v, VIEWER);
  check((await v.textContent('#who')).includes('viewer'), 'signed in as a viewer');
  await v.goto(`${URL}/ui/#/agents/slow`);
  await v.waitForSelector('section[aria-label=Run] .empty');
  check((await v.locator('form[aria-label="Run input"]').count()) === 0, 'a viewer gets no run form');
  await v.goto(`${URL}/ui/#/runs/${slowJob}`);
  await v.waitForSelector('[data-testid=job-state]');
  check((await v.locator('[data-testid=cancel]').count()) === 0, 'a viewer gets no cancel button');
  await v.goto(`${URL}/ui/#/chains/two-slow`);
  await v.waitForSelector('ol.graph');
  check((await v.locator('form[aria-label="Run the chain"]').count()) === 0, 'a viewer gets no chain run form');
  await v.goto(`${URL}/ui/#/nodes`);
  await v.waitForSelector('section.card');
  check((await v.locator('[data-testid=drain]').count()) === 0, 'a viewer gets no drain button');
  await v.goto(`${URL}/ui/#/approvals/${process.env.P_VIEW}`);
  await v.waitForSelector('main h1 .badge');
  check((await v.locator('[data-testid=approve]').count()) === 0, 'a viewer gets no approve button');
  const refused = await v.evaluate(async (tok) => {
    const r = await fetch('/api/v1/agents/slow/run', { method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' }, body: '{"ms":1}' });
    const c = await fetch('/api/v1/queue/drain', { method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' }, body: '{}' });
    return [r.status, c.status];
  }, VIEWER);
  check(refused[0] === 403 && refused[1] === 403, `the server refuses a viewer's run and drain anyway (${refused})`);
} catch (e) {
  bad(`unexpected: ${e.stack || e}`);
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    console.log(`# page ${p.url()}:`);
    console.log((await p.evaluate(() => document.getElementById('main').innerText).catch(() => '?')).slice(0, 1500));
  }
} finally {
  await browser.close();
}
console.log(failed ? `${failed} failed` : 'all passed');
process.exit(failed ? 1 : 0);
