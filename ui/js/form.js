// form.js - a Run form generated from an agent's input schema.  Each field
// carries the JSON Pointer of its value, so the server's schema-violation
// problem (its `pointer`) is shown at the field it names.

import { h } from './dom.js';

let seq = 0;

function typeOf(s) {
  if (!s) return 'json';
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null') || t[0];
  if (s.enum) return 'enum';
  if (t === 'object' && s.properties) return 'object';
  return ['string', 'integer', 'number', 'boolean'].includes(t) ? t : 'json';
}

function esc(k) { return k.replace(/~/g, '~0').replace(/\//g, '~1'); }

// A field for schema s at pointer ptr; returns {el, read(): [has, value]}.
function field(name, s, ptr, required, depth) {
  const id = `f${++seq}`;
  const t = depth < 4 ? typeOf(s) : 'json';
  const err = h('div', { class: 'field-error', id: `${id}-err`, 'data-error-for': ptr, hidden: true });
  const help = s && s.description ? h('span', { class: 'help' }, ` — ${s.description}`) : null;
  const label = h('label', { for: id }, name || 'input', required ? ' *' : '', help);
  let input;
  let read;
  const dflt = s ? s.default : undefined;
  if (t === 'object') {
    const kids = Object.entries(s.properties).map(([k, ks]) =>
      field(k, ks, `${ptr}/${esc(k)}`, (s.required || []).includes(k), depth + 1));
    const fs = h('fieldset', { 'data-pointer': ptr }, h('legend', {}, name || 'input'), kids.map((k) => k.el), err);
    return {
      el: fs,
      read() {
        const o = {};
        let any = false;
        for (const [i, k] of Object.keys(s.properties).entries()) {
          const [has, v] = kids[i].read();
          if (has) { o[k] = v; any = true; }
        }
        return [any || required || depth === 0, o];
      },
    };
  }
  const common = { id, name: ptr, 'data-pointer': ptr, 'aria-describedby': `${id}-err`, required: required || undefined };
  if (t === 'enum') {
    input = h('select', common, required ? null : h('option', { value: '' }, '(none)'),
      s.enum.map((v) => h('option', { value: JSON.stringify(v), selected: JSON.stringify(v) === JSON.stringify(dflt) }, String(v))));
    read = () => (input.value === '' ? [false] : [true, JSON.parse(input.value)]);
  } else if (t === 'boolean') {
    input = h('input', { ...common, type: 'checkbox', checked: dflt === true });
    read = () => [true, input.checked];
  } else if (t === 'integer' || t === 'number') {
    input = h('input', { ...common, type: 'number', step: t === 'integer' ? '1' : 'any', value: dflt ?? '', min: s.minimum, max: s.maximum, inputmode: 'decimal' });
    // no client-side refusal: the server's answer is the one shown
    input.addEventListener('invalid', (e) => e.preventDefault());
    read = () => (input.value === '' ? [false] : [true, Number(input.value)]);
  } else if (t === 'string') {
    const long = s && (s.maxLength === undefined || s.maxLength > 200) && /text|prompt|body|content|query|question/i.test(name || '');
    input = long ? h('textarea', common, dflt ?? '') : h('input', { ...common, type: 'text', value: dflt ?? '' });
    read = () => (input.value === '' && !required ? [false] : [true, input.value]);
  } else {
    input = h('textarea', { ...common, placeholder: 'JSON' }, dflt === undefined ? '' : JSON.stringify(dflt, null, 2));
    read = () => {
      if (input.value.trim() === '') return [false];
      try { return [true, JSON.parse(input.value)]; } catch (e) {
        throw Object.assign(new Error(`not valid JSON: ${e.message}`), { pointer: ptr });
      }
    };
  }
  input.addEventListener('invalid', (e) => e.preventDefault());
  return { el: h('div', { class: 'field' }, label, input, err), read };
}

// The form for schema; onSubmit(value) resolves or throws an ApiError.
export function runForm(schema, onSubmit) {
  const root = field('', schema && schema.properties ? schema : { ...(schema || {}), type: 'json' }, '', true, 0);
  const status = h('div', { role: 'status', 'aria-live': 'polite', class: 'form-status' });
  const submit = h('button', { type: 'submit' }, 'Run');
  const form = h('form', { novalidate: true, 'aria-label': 'Run input' }, root.el, h('div', { class: 'row' }, submit, status));
  form.showError = (pointer, text) => {
    for (const e of form.querySelectorAll('[data-error-for]')) { e.hidden = true; e.textContent = ''; }
    for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    if (text === undefined) return;
    let p = pointer || '';
    // the nearest field at or above the pointer
    for (;;) {
      const e = form.querySelector(`[data-error-for="${CSS.escape(p)}"]`);
      if (e) {
        e.hidden = false;
        e.textContent = text;
        const inp = form.querySelector(`[data-pointer="${CSS.escape(p)}"]`);
        if (inp) { inp.setAttribute('aria-invalid', 'true'); if (inp.focus) inp.focus(); }
        return;
      }
      if (p === '') break;
      p = p.slice(0, p.lastIndexOf('/'));
    }
    status.textContent = text;
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    form.showError();
    status.textContent = '';
    let value;
    try { value = root.read()[1]; } catch (e) { form.showError(e.pointer, e.message); return; }
    submit.disabled = true;
    status.textContent = 'Submitting…';
    try {
      await onSubmit(value);
      status.textContent = '';
    } catch (e) {
      const p = e.problem || {};
      status.textContent = '';
      form.showError(p.pointer || '', p.detail || e.message);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
