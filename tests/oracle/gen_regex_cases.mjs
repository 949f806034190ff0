// gen_regex_cases.mjs - records V8's answers for random ECMA-262 patterns
// (with the "u" flag, as ajv compiles JSON Schema "pattern") into
// regex_cases.json, the golden file tests/unit/test_json_regex.c replays
// against src/json/regex.c.  Deterministic: a fixed seed.
//
//   node tests/oracle/gen_regex_cases.mjs > tests/oracle/regex_cases.json
//
// Patterns avoid the spots where we are deliberately more lenient than V8's
// u-mode (identity escapes of non-syntax characters such as \- outside a
// class, lone { } ]), since those are documented differences, not bugs.

let seed = 0x5eed1234;
function rnd(n) {
  // xorshift32
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
const pick = (a) => a[rnd(a.length)];

const LITS = ['a', 'b', 'c', '1', '-', '_', ' ', 'é', '😀', 'x'];
const CLASSES = ['[ab]', '[^a]', '[a-c]', '[\\d]', '[\\w-]', '[^\\s]', '[é😀]', '[.]', '[\\-a]', '[]', '[^]'];
const ESCAPES = ['\\d', '\\w', '\\s', '\\D', '\\W', '\\S', '\\.', '\\*', '\\u00e9', '\\x61', '\\u{1F600}', '\\t', '\\n'];
const ASSERTIONS = ['\\b', '\\B', '^', '$'];
const REFUSED = ['(a)\\1', 'a(?=b)', '(?<!a)b', '\\p{L}', '(?!x)y'];

function atom(depth) {
  const r = rnd(20);
  if (r < 8) return pick(LITS);
  if (r < 10) return '.';
  if (r < 12) return pick(CLASSES);
  if (r < 14) return pick(ESCAPES);
  if (r < 16 && depth < 3) return (rnd(2) ? '(' : '(?:') + alt(depth + 1) + ')';
  if (r < 17 && depth < 3) return '(?<g' + rnd(100) + '>' + alt(depth + 1) + ')';
  return pick(LITS);
}

function quant() {
  const r = rnd(14);
  const lazy = rnd(4) === 0 ? '?' : '';
  if (r < 6) return '';
  if (r < 8) return '*' + lazy;
  if (r < 9) return '+' + lazy;
  if (r < 10) return '?' + lazy;
  if (r < 11) return '{' + rnd(3) + '}' + lazy;
  if (r < 12) return '{' + rnd(3) + ',}' + lazy;
  const a = rnd(3);
  return '{' + a + ',' + (a + rnd(3)) + '}' + lazy;
}

function seq(depth) {
  let s = '';
  const n = 1 + rnd(4);
  for (let i = 0; i < n; i++) {
    if (rnd(10) === 0) s += pick(ASSERTIONS);
    else s += atom(depth) + quant();
  }
  return s;
}

function alt(depth) {
  let s = seq(depth);
  while (rnd(5) === 0) s += '|' + seq(depth);
  return s;
}

function pattern() {
  if (rnd(40) === 0) return pick(REFUSED);
  let p = alt(0);
  if (rnd(3) === 0) p = '^' + p;
  if (rnd(3) === 0) p = p + '$';
  return p;
}

const SUBJECT_CHARS = ['a', 'b', 'c', '1', '2', '-', '_', ' ', '\n', 'é', '😀', 'x', '.', '*', '\t'];
function subject() {
  let s = '';
  const n = rnd(7);
  for (let i = 0; i < n; i++) s += pick(SUBJECT_CHARS);
  return s;
}

const cases = [];
const seen = new Set();
while (cases.length < 600) {
  const p = pattern();
  if (seen.has(p)) continue;
  seen.add(p);
  let re = null;
  try {
    re = new RegExp(p, 'u');
  } catch (e) {
    cases.push({ pattern: p, compiles: false, tests: [] });
    continue;
  }
  const tests = [];
  for (let i = 0; i < 12; i++) {
    const s = subject();
    tests.push([s, re.test(s)]);
  }
  cases.push({ pattern: p, compiles: true, tests });
}
process.stdout.write(JSON.stringify(cases, null, 0).replace(/\},\{/g, '},\n{') + '\n');
