// gen_ajv_cases.mjs - the ajv differential oracle for src/json/schema.c.
//
// Generates random JSON Schemas (draft 2020-12, only the keywords Atlas
// supports) and random instances with a fixed seed, asks ajv (pinned in
// package.json) for each verdict, and writes ajv_cases.json, the golden
// file that tests/unit/test_json_schema_ajv.c replays against our
// validator.  Regenerate after changing the generator:
//
//   cd tests/oracle && npm ci && node gen_ajv_cases.mjs > ajv_cases.json
//
// Known ajv divergence avoided by the generator: see "prefixItems" below.
//
// ajv options, chosen to match documented Atlas behaviour:
//   strict: false          unknown keywords are ignored, as the spec says
//   validateFormats: false "format" is an annotation only
//   multipleOfPrecision: 12  decimal multipleOf (0.3 is a multiple of 0.1);
//                          plain ajv divides in binary floating point and
//                          says it is not.
import Ajv2020 from 'ajv/dist/2020.js';

let seed = Number(process.env.ORACLE_SEED || 0x0a11a5) >>> 0 || 1;
function rnd(n) {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
const pick = (a) => a[rnd(a.length)];
const chance = (k) => rnd(k) === 0;

const KEYS = ['a', 'b', 'c', 'x-1', 'x-ab', 'foo', 'é'];
const STRINGS = ['', 'a', 'ab', 'abc', 'foo', 'x-1', 'é', 'éé', '😀', 'a b', '123', 'ABC', 'hello world'];
const NUMBERS = [0, 1, 2, 3, -1, 5, 10, 0.5, 1.5, 2.5, 0.1, 0.3, 7, 12, -3.5, 100];
const PATTERNS = ['^a', 'b$', '^[a-c]+$', '\\d', '^\\w+$', '\\s', '^.{2}$', 'é|😀', '^(?:ab)+$', '^x-\\d+$', '[^a-z]', '^$'];
const TYPES = ['null', 'boolean', 'object', 'array', 'number', 'string', 'integer'];

function value(depth) {
  const r = rnd(depth > 2 ? 6 : 9);
  switch (r) {
    case 0: return null;
    case 1: return chance(2);
    case 2: case 3: return pick(NUMBERS);
    case 4: case 5: return pick(STRINGS);
    case 6: case 7: {
      const n = rnd(5);
      const a = [];
      for (let i = 0; i < n; i++) a.push(value(depth + 1));
      return a;
    }
    default: {
      const n = rnd(4);
      const o = {};
      for (let i = 0; i < n; i++) o[pick(KEYS)] = value(depth + 1);
      return o;
    }
  }
}

function subschema(depth, defs) {
  if (chance(12)) return chance(3) ? false : true;
  if (defs.length && chance(6)) return { $ref: '#/$defs/' + pick(defs) };
  return schema(depth + 1, defs);
}

function schema(depth, defs) {
  const s = {};
  const n = 1 + rnd(depth > 1 ? 2 : 4);
  for (let i = 0; i < n; i++) {
    switch (rnd(depth > 2 ? 8 : 13)) {
      case 0:
        s.type = chance(3) ? [pick(TYPES), pick(TYPES)].filter((t, k, a) => a.indexOf(t) === k) : pick(TYPES);
        break;
      case 1: {
        const k = pick(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf']);
        s[k] = k === 'multipleOf' ? pick([0.5, 2, 3, 0.1, 1.5, 0.25]) : pick(NUMBERS);
        break;
      }
      case 2: {
        const k = pick(['minLength', 'maxLength', 'pattern']);
        s[k] = k === 'pattern' ? pick(PATTERNS) : rnd(4);
        break;
      }
      case 3:
        if (chance(2)) s.enum = [value(2), value(2), pick(STRINGS)];
        else s.const = value(2);
        break;
      case 4: {
        const k = pick(['minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties']);
        s[k] = k === 'uniqueItems' ? !chance(3) : rnd(4);
        break;
      }
      case 5:
        if (chance(2)) s.items = subschema(depth, defs);
        else s.prefixItems = [subschema(depth, defs), subschema(depth, defs)];
        break;
      case 6:
        s.contains = subschema(depth, defs);
        if (chance(2)) s.minContains = rnd(3);
        if (chance(3)) s.maxContains = 1 + rnd(2);
        break;
      case 7: {
        s.properties = {};
        const m = 1 + rnd(3);
        for (let k = 0; k < m; k++) s.properties[pick(KEYS)] = subschema(depth, defs);
        if (chance(2)) s.required = [...new Set([pick(KEYS), pick(KEYS)])];
        if (chance(2)) s.additionalProperties = chance(2) ? false : subschema(depth, defs);
        break;
      }
      case 8:
        if (chance(2)) s.patternProperties = { [pick(PATTERNS)]: subschema(depth, defs) };
        else s.propertyNames = pick([{ maxLength: 2 }, { pattern: '^[a-z]+$' }, { enum: ['a', 'b'] }, false]);
        break;
      case 9:
        if (chance(2)) s.dependentRequired = { [pick(KEYS)]: [pick(KEYS)] };
        else s.dependentSchemas = { [pick(KEYS)]: subschema(depth, defs) };
        break;
      case 10: {
        const k = pick(['allOf', 'anyOf', 'oneOf']);
        s[k] = [subschema(depth, defs), subschema(depth, defs)];
        if (chance(2)) s[k].push(subschema(depth, defs));
        break;
      }
      case 11:
        s.not = subschema(depth, defs);
        break;
      default:
        s.if = subschema(depth, defs);
        if (!chance(4)) s.then = subschema(depth, defs);
        if (chance(2)) s.else = subschema(depth, defs);
        break;
    }
  }
  // ajv 8.20.0 skips "contains" on an empty array when a non-trivial
  // "prefixItems" sits beside it ({"prefixItems":[{"enum":["a"]}],
  // "contains":{"const":1}} accepts []), against the spec; Atlas follows
  // the spec (test_json_schema.c checks it), so that pairing is not
  // generated.
  if (s.prefixItems && s.contains) {
    delete s.contains;
    delete s.minContains;
    delete s.maxContains;
  }
  return s;
}

function topSchema() {
  const defs = [];
  const s = {};
  if (chance(3)) {
    s.$defs = {};
    const m = 1 + rnd(2);
    for (let i = 0; i < m; i++) {
      const name = 'd' + i;
      // Only earlier definitions may be referred to: no in-place cycles,
      // which Atlas refuses at compile time.
      s.$defs[name] = schema(2, defs.slice());
      defs.push(name);
    }
  }
  Object.assign(s, schema(0, defs));
  return s;
}

// Schemas that must be refused by both.
const BAD = [
  { type: 'int' },
  { pattern: '(' },
  { minLength: -1 },
  { required: 'a' },
  { $ref: '#/$defs/missing' },
  { properties: { a: 3 } },
  { multipleOf: 0 },
  { allOf: [] },
];

const ajv = new Ajv2020({ strict: false, validateFormats: false, multipleOfPrecision: 12 });
const cases = [];
for (const bad of BAD) {
  let ok = true;
  try { ajv.compile(bad); } catch (e) { ok = false; }
  cases.push({ schema: bad, compiles: ok, tests: [] });
}
let total = 0;
let ajvCrashes = 0;
const want = Number(process.env.ORACLE_CASES || 1200);
while (total < want) {
  const s = topSchema();
  let validate;
  try {
    validate = ajv.compile(s);
  } catch (e) {
    cases.push({ schema: s, compiles: false, tests: [] });
    continue;
  }
  const tests = [];
  try {
    for (let i = 0; i < 6; i++) {
      const inst = value(0);
      tests.push([inst, validate(inst)]);
    }
  } catch (e) {
    // ajv 8.20.0's generated code sometimes throws ("props0 is not
    // defined") for $ref + evaluated-property tracking; it gives no
    // verdict then, so the schema is left out.
    ajvCrashes++;
    continue;
  }
  total += tests.length;
  cases.push({ schema: s, compiles: true, tests });
}
if (ajvCrashes) process.stderr.write(`ajv threw on ${ajvCrashes} schemas (left out)\n`);
process.stdout.write('[\n' + cases.map((c) => JSON.stringify(c)).join(',\n') + '\n]\n');
