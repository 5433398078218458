// openai_client.mjs — the official `openai` npm client (6.49.0) against a
// running `ctgi serve` (stories260K, whose fallback chat template is plain
// "User: …\n\nAssistant:").  Prints TAP lines numbered from FIRST.
//   node openai_client.mjs http://127.0.0.1:PORT FIRST
import OpenAI from 'openai';

const base = process.argv[2];
let n = Number(process.argv[3] || 1) - 1, failed = 0;
function ok(cond, name, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - openai: ${name}`);
  if (!cond && detail !== undefined) console.log(`# ${JSON.stringify(detail)}`);
}
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
const messages = [
  { role: 'system', content: 'You tell short stories.' },
  { role: 'user', content: 'Tell me about a cat.' },
];
const greedy = { model: 'my-model', messages, max_tokens: 24, temperature: 0, top_p: 1.0 }; // top_p 1 is accepted (TGI refuses it)

async function metric(name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function chat() {
  const r = await client.chat.completions.create(greedy);
  const c = r.choices[0];
  ok(/^chatcmpl-[A-Za-z0-9]{20,}$/.test(r.id) && r.object === 'chat.completion' && r.model === 'my-model' &&
     Number.isInteger(r.created) && typeof r.system_fingerprint === 'string',
     'chat.completions.create: id, object, model echoed, created, system_fingerprint', r);
  ok(c.index === 0 && c.message.role === 'assistant' && typeof c.message.content === 'string' &&
     c.message.content.length > 0 && c.finish_reason === 'length',
     'non-stream: one assistant message, finish_reason length at max_tokens', c);
  const tok = await (await fetch(`${base}/chat_tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'x', messages }) })).json();
  ok(tok.templated_text === '<s>System: You tell short stories.\n\nUser: Tell me about a cat.\n\nAssistant:' &&
     r.usage.prompt_tokens === tok.tokenize_response.length && r.usage.completion_tokens === 24 &&
     r.usage.total_tokens === r.usage.prompt_tokens + 24,
     'usage counts the templated prompt (/chat_tokenize) and the generated tokens', [tok.templated_text, r.usage]);

  let text = '', first = null, last = null, chunks = 0, usage = null, roles = 0;
  const stream = await client.chat.completions.create({ ...greedy, stream: true, stream_options: { include_usage: true } });
  for await (const ch of stream) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    if (!ch.choices.length) continue;
    if (!first) first = ch;
    if (ch.choices[0].delta.role) roles++;
    text += ch.choices[0].delta.content ?? '';
    if (ch.choices[0].finish_reason) last = ch;
  }
  ok(first && first.choices[0].delta.role === 'assistant' && roles === 1 && first.object === 'chat.completion.chunk',
     'stream: the first delta carries the role, and only the first', first);
  ok(text === c.message.content, 'stream and non-stream give the same greedy text', [text, c.message.content]);
  ok(last && last.choices[0].finish_reason === 'length' && usage && usage.completion_tokens === 24 &&
     usage.prompt_tokens === r.usage.prompt_tokens,
     'stream: finish_reason on the last choice chunk, include_usage adds the usage chunk', [last, usage]);

  const helper = client.chat.completions.stream({ ...greedy });
  let deltas = '';
  helper.on('content', (d) => { deltas += d; });
  const fin = await helper.finalChatCompletion();
  ok(fin.choices[0].message.content === c.message.content && deltas === c.message.content &&
     fin.choices[0].finish_reason === 'length',
     '.stream() helper: finalChatCompletion() and content events', fin);
  return c.message.content;
}

async function stops() {
  const r = await client.chat.completions.create({ ...greedy, logprobs: true, top_logprobs: 3 });
  const c = r.choices[0], lp = c.logprobs && c.logprobs.content;
  ok(Array.isArray(lp) && lp.length === 24 && lp.every((t) => typeof t.token === 'string' && t.logprob <= 0 &&
     Array.isArray(t.bytes) && t.top_logprobs.length === 3 && t.top_logprobs[0].logprob >= t.top_logprobs[2].logprob),
     'logprobs: one entry per token with bytes and 3 top_logprobs, best first', lp && lp.slice(0, 2));
  ok(lp && lp.map((t) => t.token).join('') === c.message.content && lp.every((t) => t.logprob === t.top_logprobs[0].logprob),
     'greedy logprobs: tokens add up to the content, each the top alternative', c.message.content);
  // a stop string that begins inside one token and ends inside the next
  const full = c.message.content;
  let stop = null;
  for (let i = 2; i + 1 < lp.length && !stop; i++) {
    const a = lp[i].token, b = lp[i + 1].token;
    if (a.length >= 2 && b.length >= 2) stop = a.slice(-2) + b.slice(0, 2);
  }
  const want = full.slice(0, full.indexOf(stop));
  const s = await client.chat.completions.create({ ...greedy, stop });
  ok(stop && s.choices[0].message.content === want && s.choices[0].finish_reason === 'stop',
     `a stop string split across tokens (${JSON.stringify(stop)}) ends the text before it`, [stop, s.choices[0]]);
  let streamed = '', sawStop = false;
  for await (const ch of await client.chat.completions.create({ ...greedy, stop: [stop, 'zzzz'], stream: true })) {
    const d = ch.choices[0] && ch.choices[0].delta.content;
    if (d) streamed += d;
    if (streamed.includes(stop.slice(0, 2)) && streamed.length > want.length) sawStop = true;
    if (ch.choices[0] && ch.choices[0].finish_reason) ok(ch.choices[0].finish_reason === 'stop', 'streamed stop: finish_reason stop');
  }
  ok(streamed === want && !sawStop, 'streaming holds back the stop string and never sends it', [streamed, want]);
}

async function choices() {
  const r = await client.chat.completions.create({ ...greedy, temperature: 1.0, seed: 11, n: 3, max_tokens: 12 });
  const texts = r.choices.map((c) => c.message.content);
  ok(r.choices.length === 3 && r.choices.every((c, i) => c.index === i && c.finish_reason) &&
     new Set(texts).size > 1 && r.usage.completion_tokens === r.choices.length * 12,
     'n = 3: three choices with their indices, different samples', texts);
  const again = await client.chat.completions.create({ ...greedy, temperature: 1.0, seed: 11, n: 3, max_tokens: 12 });
  ok(JSON.stringify(again.choices.map((c) => c.message.content)) === JSON.stringify(texts), 'n = 3 with a seed replays');
  const byIndex = ['', '', ''];
  for await (const ch of await client.chat.completions.create({ ...greedy, temperature: 1.0, seed: 11, n: 3, max_tokens: 12, stream: true }))
    for (const c of ch.choices) byIndex[c.index] += c.delta.content ?? '';
  ok(JSON.stringify(byIndex) === JSON.stringify(texts), 'n = 3 streamed: the same three texts by index', byIndex);
}

async function completions(chatText) {
  const prompt = 'Once upon a time';
  const r = await client.completions.create({ model: 'm', prompt, max_tokens: 16, temperature: 0 });
  ok(/^cmpl-/.test(r.id) && r.object === 'text_completion' && r.choices.length === 1 &&
     r.choices[0].text.startsWith(', there was') && r.choices[0].finish_reason === 'length' && r.usage.completion_tokens === 16,
     'completions.create: text_completion with the greedy continuation', r);
  let s = '';
  for await (const ch of await client.completions.create({ model: 'm', prompt, max_tokens: 16, temperature: 0, stream: true }))
    s += ch.choices[0] ? ch.choices[0].text : '';
  ok(s === r.choices[0].text, 'completions stream equals non-stream', [s, r.choices[0].text]);
  const two = await client.completions.create({ model: 'm', prompt: [prompt, 'The dog'], max_tokens: 8, temperature: 0 });
  ok(two.choices.length === 2 && two.choices[0].index === 0 && two.choices[1].index === 1 &&
     r.choices[0].text.startsWith(two.choices[0].text), 'a prompt array gives one choice per prompt, in order', two.choices);
  const echo = await client.completions.create({ model: 'm', prompt, max_tokens: 4, temperature: 0, echo: true });
  ok(echo.choices[0].text.startsWith(prompt + ', there'), 'echo prepends the prompt', echo.choices[0]);
  void chatText;
}

async function models() {
  const list = await client.models.list();
  const ids = [];
  for await (const m of list) ids.push(m);
  ok(ids.length === 1 && ids[0].object === 'model' && /stories260K/.test(ids[0].id), 'models.list: the served model', ids);
}

async function errors() {
  try {
    await client.chat.completions.create({ ...greedy, temperature: 5 });
    ok(false, 'temperature 5 is refused');
  } catch (e) {
    ok(e instanceof OpenAI.BadRequestError && e.status === 400 && /temperature/.test(e.message) && e.param === 'temperature',
       'a 400 surfaces as BadRequestError with the message and param', [e.status, e.message, e.param]);
  }
  try {
    await client.chat.completions.create({ ...greedy, functions: [{ name: 'f', parameters: {} }] });
    ok(false, 'functions (the deprecated form of tools) are refused');
  } catch (e) {
    ok(e instanceof OpenAI.UnprocessableEntityError && /functions/.test(e.message),
       'functions: 422 UnprocessableEntityError saying it is not supported', [e.status, e.message]);
  }
  try {
    await client.chat.completions.create({ ...greedy, messages: [] });
    ok(false, 'empty messages refused');
  } catch (e) {
    ok(e instanceof OpenAI.BadRequestError && /messages/.test(e.message), 'empty messages: BadRequestError', e.message);
  }
}

async function abort() {
  const name = 'ctgi_request_cancelled{phase="running"}';
  const before = await metric(name);
  const stream = await client.chat.completions.create({ ...greedy, max_tokens: 400, stream: true });
  let got = 0;
  for await (const ch of stream) {
    if (ch.choices[0] && ch.choices[0].delta.content) got++;
    if (got === 3) { stream.controller.abort(); break; }
  }
  let after = before;
  for (let i = 0; i < 100 && after === before; i++) {
    await new Promise((res) => setTimeout(res, 50));
    after = await metric(name);
  }
  ok(got === 3 && after === before + 1, `aborting a stream cancels the request (${name} + 1)`, [before, after]);
  let used = -1;
  for (let i = 0; i < 100 && used !== 0; i++) {
    used = await metric('ctgi_kv_cache_blocks{state="used"}');
    if (used !== 0) await new Promise((res) => setTimeout(res, 50));
  }
  ok(used === 0, 'its KV blocks are back (ctgi_kv_cache_blocks used 0)', used);
}

async function main() {
  await models();
  const t = await chat();
  await stops();
  await choices();
  await completions(t);
  await errors();
  await abort();
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log(`not ok ${n + 1} - openai: unexpected exception`);
  console.log(`# ${String(e && e.stack || e)}`);
  process.exit(1);
});
