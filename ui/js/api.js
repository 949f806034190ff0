// api.js - the dashboard is a client of /api/v1: the token it signs in with
// (kept in sessionStorage, sent as a bearer token) decides what it may do.

const KEY = 'atlas.token';

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(t) { if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// method, path (under /api/v1 unless it starts with /), body (an object);
// resolves to {status, data, headers}, rejects with an ApiError.
export async function api(method, path, body, extra) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  Object.assign(headers, (extra && extra.headers) || {});
  const url = path.startsWith('/') ? path : `/api/v1/${path}`;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!res.ok) throw new ApiError(res.status, typeof data === 'object' ? data : { detail: String(data) });
  return { status: res.status, data, headers: res.headers };
}

export const get = (p) => api('GET', p).then((r) => r.data);

// Server-Sent Events over fetch (EventSource cannot send a bearer token):
// onEvent(name, data) per event until the stream ends or stop() is called.
export function sse(path, onEvent, onEnd) {
  const ctl = new AbortController();
  (async () => {
    try {
      const res = await fetch(`/api/v1/${path}`, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` }, signal: ctl.signal });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (!data.length) continue;
          let d = data.join('\n');
          try { d = JSON.parse(d); } catch { /* text */ }
          onEvent(name, d);
        }
      }
      if (onEnd) onEnd(null);
    } catch (e) {
      if (e.name !== 'AbortError' && onEnd) onEnd(e);
    }
  })();
  return () => ctl.abort();
}

// What the signed-in token may do (GET /api/v1/whoami).
export const who = { name: '', role: '', actions: [] };
export const can = (action) => who.actions.includes(action);
