// structured.mjs — structured outputs end to end against a running
// `ctgi serve` (a seeded random-weight model, sampling at temperature 1):
// every JSON schema of the corpus (tests/data/schemas/*.json) through TGI's
// `grammar` (/generate and the legacy @huggingface/inference client) and
// OpenAI's `response_format` (/v1/chat/completions) over several seeds, each
// finished output validated by ajv (draft 2020-12 + ajv-formats), the
// independent oracle; regexes (JavaScript's RegExp as the oracle), choices,
// json_object; and the errors for schemas and regexes ctgi refuses.
// Each schema is run with seeds 1, 2, … until SEEDS outputs finished (a
// random model's walk may hit max_new_tokens first; those are counted).
// Prints TAP lines from FIRST.
//   node structured.mjs http://127.0.0.1:PORT FIRST SCHEMA_DIR SEEDS
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { HfInferenceEndpoint } from '@huggingface/inference';

const [url, firstArg, schemaDir, seedsArg] = process.argv.slice(2);
const SEEDS = Number(seedsArg || 3);
const MAX_NEW = 480; // the test model's context is 512
const MAX_TRIES = 4 * SEEDS; // a random walk through a big schema may not finish in MAX_NEW tokens
let n = Number(firstArg || 1) - 1, failed = 0;
function ok(cond, name, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - structured: ${name}`);
  if (!cond && detail !== undefined) console.log(`# ${JSON.stringify(detail).slice(0, 2000)}`);
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

async function post(route, body) {
  const r = await fetch(url + route, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  let json = null;
  try { json = await r.json(); } catch { /* not JSON */ }
  return { status: r.status, json };
}

// One constrained generation: { text, finished } or { error }.
async function generate(api, constraint, seed) {
  if (api === 'tgi') {
    const r = await post('/generate', {
      inputs: 'Reply with JSON:', parameters: { grammar: constraint.tgi, do_sample: true, temperature: 1.0, seed, max_new_tokens: MAX_NEW, details: true },
    });
    if (r.status !== 200) return { error: r };
    return { text: r.json.generated_text, finished: r.json.details.finish_reason !== 'length' };
  }
  const r = await post('/v1/chat/completions', {
    messages: [{ role: 'user', content: 'Reply with JSON.' }], temperature: 1.0, seed, max_tokens: MAX_NEW,
    logit_bias: closers, ...constraint.openai,
  });
  if (r.status !== 200) return { error: r };
  const c = r.json.choices[0];
  return { text: c.message.content, finished: c.finish_reason !== 'length' };
}

// A random-weight model rarely picks a token that closes a JSON string
// (a few hundred of 151k), so a string under a loose pattern can run past
// max_new_tokens.  The OpenAI requests raise those tokens' logits (a
// logit_bias the constraint still masks where they do not fit); the TGI
// requests, which have no logit_bias, show the unbiased walk.
let closers = {};
async function findClosers() {
  for (const s of ['"', '",', '"}', '"]', '":', '"},', '"],', '"}}', '"}]']) {
    const r = await post('/tokenize', { inputs: s, add_special_tokens: false });
    if (r.status === 200 && r.json.length === 1) closers[String(r.json[0].id)] = 30;
  }
  ok(Object.keys(closers).length >= 3, `the vocabulary has single tokens that close strings (${Object.keys(closers).length})`, closers);
}

// The corpus: each file {schema, valid: [...], invalid: [...]}.
async function schemaCorpus() {
  const files = fs.readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort();
  ok(files.length >= 30, `the corpus has at least 30 schemas (${files.length})`);
  let total = 0, truncated = 0;
  for (const f of files) {
    const c = JSON.parse(fs.readFileSync(path.join(schemaDir, f), 'utf8'));
    const validate = ajv.compile(c.schema);
    const wrongValid = (c.valid || []).filter((x) => !validate(x));
    const wrongInvalid = (c.invalid || []).filter((x) => validate(x));
    ok(!wrongValid.length && !wrongInvalid.length, `${f}: ajv agrees with the corpus' valid/invalid instances`,
       { wrongValid, wrongInvalid });
    const bad = [];
    let done = 0;
    for (let s = 1; s <= MAX_TRIES && done < SEEDS; s++) {
      const api = s % 2 ? 'tgi' : 'openai';
      const constraint = {
        tgi: { type: 'json', value: c.schema },
        openai: { response_format: { type: 'json_schema', json_schema: { name: 'out', schema: c.schema, strict: true } } },
      };
      const g = await generate(api, constraint, s);
      total++;
      if (g.error) { bad.push({ api, seed: s, error: g.error }); continue; }
      if (!g.finished) { truncated++; continue; }
      done++;
      let v;
      try { v = JSON.parse(g.text); } catch (e) { bad.push({ api, seed: s, text: g.text, parse: String(e) }); continue; }
      if (!validate(v)) bad.push({ api, seed: s, text: g.text, errors: validate.errors });
    }
    ok(bad.length === 0 && done > 0, `${f}: ${done} finished outputs parse and validate`, bad);
  }
  console.log(`# ${total} generations, ${truncated} stopped at max_new_tokens (${MAX_NEW}) before the JSON was complete`);
  ok(truncated * 3 <= total, `at most a third of the outputs hit max_new_tokens (${truncated}/${total})`);
}

async function regexes() {
  const cases = ['\\d{3}-\\d{4}', '(cat|dog|bird)s? (run|sleep)', '[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8}){0,2}',
    '(0|[1-9]\\d{0,3})\\.\\d\\d', '[äöü€日本]{3,6}', '\\{"ok": (true|false)\\}'];
  for (const re of cases) {
    const oracle = new RegExp(`^(?:${re})$`, 'u');
    const bad = [];
    for (let s = 1; s <= SEEDS; s++) {
      const api = s % 2 ? 'tgi' : 'openai';
      const g = await generate(api, { tgi: { type: 'regex', value: re }, openai: { guided_regex: re } }, s);
      if (g.error || (g.finished && !oracle.test(g.text))) bad.push({ api, seed: s, g });
    }
    ok(bad.length === 0, `regex ${re}: every finished output matches`, bad);
  }
}

async function choices() {
  const opts = ['red', 'green', 'light blue', 'ünïcode ✓'];
  const bad = [];
  for (let s = 1; s <= 2 * SEEDS; s++) {
    const body = s % 2 ? { guided_choice: opts } : { structured_outputs: { choice: opts } };
    const g = await generate('openai', { openai: body }, s);
    if (g.error || !opts.includes(g.text)) bad.push({ seed: s, g });
  }
  ok(bad.length === 0, 'guided_choice / structured_outputs.choice: always one of the strings', bad);
  const obj = [];
  for (let s = 1; s <= SEEDS; s++) {
    const g = await generate('openai', { openai: { response_format: { type: 'json_object' } } }, s);
    let v = null;
    try { v = g.finished ? JSON.parse(g.text) : {}; } catch { /* below */ }
    if (g.error || !v || typeof v !== 'object' || Array.isArray(v)) obj.push({ seed: s, g });
  }
  ok(obj.length === 0, 'response_format json_object: a JSON object', obj);
}

async function errors() {
  const tgi = async (grammar) => post('/generate', { inputs: 'x', parameters: { grammar, max_new_tokens: 4 } });
  let r = await tgi({ type: 'json', value: { type: 'object', not: { required: ['a'] } } });
  ok(r.status === 422 && /not/.test(r.json.error) && r.json.error_type === 'validation', 'TGI: an unsupported keyword is 422 naming it', r);
  r = await tgi({ type: 'json', value: { type: 'strange' } });
  ok(r.status === 422 && /strange/.test(r.json.error), 'TGI: an unknown type is 422', r);
  r = await tgi({ type: 'regex', value: 'a(b' });
  ok(r.status === 422 && /regex/i.test(r.json.error), 'TGI: a bad regex is 422', r);
  r = await tgi({ type: 'regex', value: '(a)\\1' });
  ok(r.status === 422, 'TGI: a backreference is refused (422)', r);
  r = await tgi({ type: 'yaml', value: 'x' });
  ok(r.status === 422 && /yaml/.test(r.json.error), 'TGI: an unknown grammar type is 422', r);
  const chat = async (extra) => post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 4, ...extra });
  r = await chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: { a: {} } } } } });
  ok(r.status === 422 && /patternProperties/.test(r.json.error.message) && r.json.error.param === 'response_format',
     'OpenAI: an unsupported keyword is 422 naming it', r);
  r = await chat({ guided_regex: '(?<=a)b' });
  ok(r.status === 400 && r.json.error.param === 'guided_regex', 'OpenAI: a lookbehind is 400 on guided_regex', r);
  r = await chat({ guided_regex: 'a', guided_choice: ['a'] });
  ok(r.status === 400 && /only use one kind/.test(r.json.error.message), 'OpenAI: two constraints at once are 400', r);
  r = await chat({ response_format: { type: 'xml' } });
  ok(r.status === 400 && r.json.error.param === 'response_format', 'OpenAI: an unknown response_format type is 400', r);
  r = await chat({ guided_grammar: 'root ::= "a"' });
  ok(r.status === 422 && /guided_grammar/.test(r.json.error.message), 'OpenAI: GBNF is refused, not ignored', r);
  const plain = await chat({ response_format: { type: 'text' } });
  ok(plain.status === 200, 'OpenAI: response_format text is free generation', plain);
}

async function hfClient() {
  const hf = new HfInferenceEndpoint(url);
  const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 } }, required: ['name', 'age'] };
  const validate = ajv.compile(schema);
  const bad = [];
  for (let s = 1; s <= SEEDS; s++) {
    const r = await hf.textGeneration({ model: 'ctgi', inputs: 'JSON:', parameters: { grammar: { type: 'json', value: schema }, do_sample: true, temperature: 1.0, seed: s, max_new_tokens: MAX_NEW, return_full_text: false } });
    let v = null;
    try { v = JSON.parse(r.generated_text); } catch { /* below */ }
    if (!v || !validate(v)) bad.push({ seed: s, r });
  }
  ok(bad.length === 0, '@huggingface/inference 2.8.1 textGeneration with grammar json: outputs validate', bad);
}

async function main() {
  await findClosers();
  await schemaCorpus();
  await regexes();
  await choices();
  await errors();
  await hfClient();
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log(`not ok ${n + 1} - structured: unexpected exception`);
  console.log(`# ${String(e && e.stack || e)}`);
  process.exit(1);
});
