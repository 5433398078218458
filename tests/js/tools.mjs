// tools.mjs — OpenAI tool calling end to end with the official `openai` npm
// client (6.49.0) against a running `ctgi serve` (a seeded random-weight
// model whose chat template is given with --chat-template: FORMAT names the
// family, hermes / llama3 / mistral).  tool_choice required and named force a
// call through the constraint built from the tools' parameter schemas, so
// every call must parse and validate (ajv); streaming must accumulate, in the
// SDK's own ChatCompletionStream, into the same message as non-stream; none
// gives plain content; a tool result turn renders; bad tools are refused.
// Prints TAP lines from FIRST.
//   node tools.mjs http://127.0.0.1:PORT FIRST FORMAT
import OpenAI from 'openai';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [base, firstArg, format] = process.argv.slice(2);
let n = Number(firstArg || 1) - 1, failed = 0;
function ok(cond, name, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - tools (${format}): ${name}`);
  if (!cond && detail !== undefined) console.log(`# ${JSON.stringify(detail).slice(0, 3000)}`);
}
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
const ajv = new Ajv2020({ strict: false });
addFormats(ajv);

const allTools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'], additionalProperties: false } } },
  { type: 'function', function: { name: 'add', description: 'Add two integers',
    parameters: { type: 'object', properties: { a: { type: 'integer', minimum: -100, maximum: 100 },
      b: { type: 'integer', minimum: -100, maximum: 100 } }, required: ['a', 'b'] } } },
  { type: 'function', function: { name: 'ping', description: 'No arguments' } },
  { type: 'function', function: { name: 'sq', parameters: { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['n'] } } },
];
// Llama 3.1's template prints every tool as indented JSON after a long
// preamble: with the test model's GPT-2 vocabulary (a token per space) one
// tool is all that fits in its 512 tokens
const tools = format === 'llama3' ? allTools.slice(2, 3) : allTools.slice(0, 3);
const validators = Object.fromEntries(allTools.map((t) => [t.function.name,
  ajv.compile(t.function.parameters || { type: 'object', properties: {}, additionalProperties: false })]));
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
// no max_tokens: the rest of the test model's 512-token context (the
// templates' tool prompts take 250-400 of it); one call unless a test asks
// for parallel calls, so a random walk does not run out of room
const base_req = { model: 'm', messages, tools, temperature: 1.0, parallel_tool_calls: false };
const idRe = format === 'mistral' ? /^[A-Za-z0-9]{9}$/ : /^call_[A-Za-z0-9]{24}$/;

// Every call of a message names a tool, has a well-formed id and arguments
// that parse and validate; returns the problems.
function checkCalls(msg, only) {
  const bad = [];
  if (!Array.isArray(msg.tool_calls) || msg.tool_calls.length === 0) return ['no tool_calls'];
  const ids = new Set();
  for (const tc of msg.tool_calls) {
    const v = validators[tc.function && tc.function.name];
    if (tc.type !== 'function' || !v || (only && tc.function.name !== only)) { bad.push({ wrongName: tc }); continue; }
    if (!idRe.test(tc.id) || ids.has(tc.id)) bad.push({ badId: tc.id });
    ids.add(tc.id);
    let args;
    try { args = JSON.parse(tc.function.arguments); } catch (e) { bad.push({ unparsable: tc.function.arguments }); continue; }
    if (!v(args)) bad.push({ invalid: tc.function.arguments, errors: v.errors });
  }
  return bad;
}

async function required() {
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({ ...base_req, tool_choice: 'required', seed });
    const c = r.choices[0];
    const bad = checkCalls(c.message);
    ok(bad.length === 0 && c.finish_reason === 'tool_calls' && c.message.role === 'assistant',
       `required, seed ${seed}: the calls parse and validate, finish_reason tool_calls`, { bad, c });
  }
}

async function streamMatches() {
  for (const seed of [4, 5]) {
    const req = { ...base_req, tool_choice: 'required', seed };
    const whole = (await client.chat.completions.create(req)).choices[0];
    const stream = client.chat.completions.stream({ ...req, stream: true });
    const frags = [];
    stream.on('chunk', (ch) => { for (const c of ch.choices) if (c.delta.tool_calls) frags.push(...c.delta.tool_calls); });
    const final = await stream.finalChatCompletion();
    const c = final.choices[0];
    const same = JSON.stringify(c.message.tool_calls) === JSON.stringify(whole.message.tool_calls);
    const opens = frags.filter((f) => f.id);
    const namesWhole = opens.every((f) => f.type === 'function' && validators[f.function.name] && f.function.arguments === '');
    const later = frags.filter((f) => !f.id).every((f) => !f.function.name && typeof f.function.arguments === 'string');
    ok(same && c.finish_reason === 'tool_calls' && namesWhole && later && opens.length === c.message.tool_calls.length,
       `stream, seed ${seed}: the SDK accumulates the deltas into the non-stream tool_calls (ids, names whole first, then arguments)`,
       { stream: c.message, whole: whole.message, frags });
  }
}

async function named() {
  for (const name of tools.slice(-2).map((t) => t.function.name)) {
    const r = await client.chat.completions.create({ ...base_req, seed: 7, tool_choice: { type: 'function', function: { name } } });
    const c = r.choices[0];
    const bad = checkCalls(c.message, name);
    ok(bad.length === 0 && c.message.tool_calls.length >= 1, `tool_choice names ${name}: only that function is called`, { bad, c });
  }
  const r = await client.chat.completions.create({ ...base_req, seed: 8, tool_choice: 'required' });
  ok(checkCalls(r.choices[0].message).length === 0 && r.choices[0].message.tool_calls.length === 1,
     'parallel_tool_calls false: exactly one call', r.choices[0]);
  // parallel calls allowed: one or more, every one valid, ids distinct
  const p = await client.chat.completions.create({ ...base_req, seed: 13, tool_choice: { type: 'function', function: { name: 'ping' } }, parallel_tool_calls: true });
  const pc = p.choices[0];
  ok(pc.finish_reason !== 'tool_calls' || checkCalls(pc.message, 'ping').length === 0,
     `parallel_tool_calls true: ${pc.message.tool_calls ? pc.message.tool_calls.length : 0} call(s), each valid`, pc);
}

async function none() {
  const r = await client.chat.completions.create({ ...base_req, seed: 9, tool_choice: 'none', max_tokens: 20 });
  const c = r.choices[0];
  ok(!c.message.tool_calls && typeof c.message.content === 'string' && c.finish_reason !== 'tool_calls',
     'tool_choice none: plain content', c);
}

async function toolResultTurn() {
  const first = await client.chat.completions.create({ ...base_req, seed: 10, tool_choice: 'required', parallel_tool_calls: false });
  const call = first.choices[0].message;
  const msgs = [...messages, call, { role: 'tool', tool_call_id: call.tool_calls[0].id, content: '{"temperature": 21}' }];
  const r = await client.chat.completions.create({ ...base_req, messages: msgs, seed: 11, tool_choice: 'none', max_tokens: 10 });
  ok(r.choices[0].message.role === 'assistant' && typeof r.choices[0].message.content === 'string',
     'the assistant tool_calls turn and the tool result go back through the template', r.choices[0]);
  // the same history with a string-content tool message as text parts
  const parts = [...messages, call, { role: 'tool', tool_call_id: call.tool_calls[0].id, content: [{ type: 'text', text: '21' }] }];
  const r2 = await client.chat.completions.create({ ...base_req, messages: parts, seed: 11, tool_choice: 'auto', max_tokens: 10 });
  ok(r2.choices.length === 1, 'a tool message with text parts, tool_choice auto', r2.choices[0]);
}

async function runTools() {
  const calls = [];
  const runner = client.chat.completions.runTools({
    model: 'm', messages, temperature: 1.0, seed: 12, tool_choice: 'required', parallel_tool_calls: false,
    tools: tools.slice(0, 2).map((t) => ({ type: 'function', function: { parameters: { type: 'object', properties: {}, additionalProperties: false }, ...t.function,
      function: (args) => { calls.push([t.function.name, args]); return 'done'; }, parse: JSON.parse } })),
  }, { maxChatCompletions: 2 });
  let err = null;
  try { await runner.finalChatCompletion(); } catch (e) { err = e; }
  const msgs = runner.messages;
  const toolMsg = msgs.find((m) => m.role === 'tool');
  ok(calls.length >= 1 && toolMsg && toolMsg.tool_call_id && (!err || /maxChatCompletions|max/i.test(String(err))),
     'runTools: the SDK runs the call and sends the result back with the server\'s id', { calls, err: String(err), msgs });
}

async function refusals() {
  const bad = async (extra, status, re, name) => {
    try {
      await client.chat.completions.create({ ...base_req, max_tokens: 5, ...extra });
      ok(false, name);
    } catch (e) {
      ok(e.status === status && re.test(e.message), name, { status: e.status, message: e.message });
    }
  };
  await bad({ tool_choice: { type: 'function', function: { name: 'nope' } } }, 400, /nope/, 'an unknown tool_choice name is 400 naming it');
  await bad({ tool_choice: 'sometimes' }, 400, /tool_choice/, 'an unknown tool_choice string is 400');
  await bad({ tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 400, /name/, 'an invalid function name is 400');
  await bad({ tool_choice: 'required', tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', not: {} } } }] },
    422, /not/, 'a parameter schema ctgi cannot enforce is 422 naming the keyword');
  await bad({ tool_choice: 'required', response_format: { type: 'json_object' } }, 400, /response_format|tools/,
    'response_format together with a forced tool call is 400');
}

async function main() {
  await required();
  await streamMatches();
  await named();
  await none();
  await toolResultTurn();
  await runTools();
  await refusals();
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log(`not ok ${n + 1} - tools (${format}): unexpected exception`);
  console.log(`# ${String(e && e.stack || e)}`);
  process.exit(1);
});
