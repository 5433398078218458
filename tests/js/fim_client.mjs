// fim_client.mjs — fill-in-the-middle through the official `openai` npm
// client (6.49.0, `suffix` on completions.create) and llama.cpp's /infill
// (fetch), against `ctgi serve` on a seeded random-weight model with the
// StarCoder vocabulary, plus refusals on stories260K (no FIM tokens).
//   node fim_client.mjs FIM_URL PLAIN_URL FIRST
// Prints TAP lines numbered from FIRST.
//
// The oracle for what the server evaluated is StarCoder's layout written
// out by hand, <fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>, sent
// as a plain completions prompt: ctgi parses special-token text in
// completions prompts (as vLLM does), so that request evaluates exactly
// those ids, and its echo + logprobs show them token by token.  The
// deterministic engine then gives bit-identical logprobs for identical
// inputs: the FIM request must match the hand-written one in prompt token
// count, in the echoed prefix tokens' logprobs and in every generated
// token and logprob.
import OpenAI from 'openai';

const [fimBase, plainBase] = process.argv.slice(2, 4);
let n = Number(process.argv[4] || 1) - 1, failed = 0;
function ok(cond, name, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - fim: ${name}`);
  if (!cond && detail !== undefined) console.log(`# ${JSON.stringify(detail)}`);
}
const client = new OpenAI({ baseURL: `${fimBase}/v1`, apiKey: 'unused', maxRetries: 0 });
const noFim = new OpenAI({ baseURL: `${plainBase}/v1`, apiKey: 'unused', maxRetries: 0 });

const prefix = 'def add(a, b):\n    ';
const suffix = '\n\nprint(add(1, 2))\n';
const layout = (p, s) => `<fim_prefix>${p}<fim_suffix>${s}<fim_middle>`; // StarCoder's PSM layout
const greedy = { model: 'sc', max_tokens: 12, temperature: 0 };
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// The generated part of a plain completion of `prompt` with echo + logprobs.
async function handWritten(prompt, extra = {}) {
  const r = await client.completions.create({ ...greedy, prompt, echo: true, logprobs: 3, ...extra });
  const c = r.choices[0], lp = c.logprobs, k = r.usage.prompt_tokens;
  return { r, c, promptTokens: lp.tokens.slice(0, k), promptLogprobs: lp.token_logprobs.slice(0, k),
           genTokens: lp.tokens.slice(k), genLogprobs: lp.token_logprobs.slice(k), genTop: lp.top_logprobs.slice(k),
           middle: c.text.slice(prompt.length) };
}

async function layoutMatches() {
  const o = await handWritten(layout(prefix, suffix));
  const pt = o.promptTokens, s = pt.indexOf('<fim_suffix>');
  ok(pt[0] === '<fim_prefix>' && s > 1 && pt[pt.length - 1] === '<fim_middle>' &&
     pt.slice(1, s).join('') === prefix && pt.slice(s + 1, -1).join('') === suffix,
     'the hand-written layout evaluates <fim_prefix> prefix <fim_suffix> suffix <fim_middle>', pt);
  const nPrefix = s - 1;
  const r = await client.completions.create({ ...greedy, prompt: prefix, suffix, echo: true, logprobs: 3 });
  const c = r.choices[0], lp = c.logprobs;
  ok(r.usage.prompt_tokens === o.r.usage.prompt_tokens,
     `usage.prompt_tokens counts the FIM prompt (${r.usage.prompt_tokens})`, [r.usage, o.r.usage]);
  ok(same(lp.tokens.slice(0, nPrefix), pt.slice(1, s)) && same(lp.token_logprobs.slice(0, nPrefix), o.promptLogprobs.slice(1, s)),
     'echo + logprobs list the prefix tokens with the logprobs they have after <fim_prefix>',
     [lp.tokens.slice(0, nPrefix), lp.token_logprobs.slice(0, nPrefix), o.promptLogprobs.slice(1, s)]);
  const gen = lp.tokens.slice(nPrefix), k = gen.length;
  ok(k === r.usage.completion_tokens && k > 0 && same(gen, o.genTokens.slice(0, k)) &&
     same(lp.token_logprobs.slice(nPrefix), o.genLogprobs.slice(0, k)) && same(lp.top_logprobs.slice(nPrefix), o.genTop.slice(0, k)),
     `the middle is the hand-written layout's continuation, token for token and logprob for logprob (${k} tokens)`,
     [gen, o.genTokens]);
  const middle = gen.join('');
  ok(c.text === prefix + middle && !c.text.includes(suffix) && middle === o.middle.slice(0, middle.length),
     'echo: the text is the prompt and the middle, never the suffix', [c.text, middle]);
  ok(lp.text_offset[0] === 0 && lp.text_offset[nPrefix] === prefix.length,
     'text_offset counts from the echoed prompt', lp.text_offset);
  ok(c.finish_reason === (k === 12 ? 'length' : 'stop'), 'finish_reason', [c.finish_reason, k]);
  return { middle, r, o };
}

async function fimRequests(base) {
  const plainMiddle = base.middle;
  const r = await client.completions.create({ ...greedy, prompt: prefix, suffix });
  ok(r.choices[0].text === plainMiddle && r.object === 'text_completion',
     'without echo the text is the middle alone', [r.choices[0].text, plainMiddle]);
  const m = await client.completions.create({ ...greedy, prompt: prefix, suffix, max_tokens: 3 });
  ok(m.usage.completion_tokens === 3 && m.choices[0].finish_reason === 'length' && plainMiddle.startsWith(m.choices[0].text),
     'max_tokens: 3 tokens of the same middle, finish_reason length', m.choices[0]);
  const one = await client.completions.create({ ...greedy, prompt: prefix, suffix, logprobs: 3, max_tokens: 1 });
  const other = await client.completions.create({ ...greedy, prompt: prefix, suffix: '\n\nprint(add(3, 4))\n', logprobs: 3, max_tokens: 1 });
  ok(!same(one.choices[0].logprobs.top_logprobs[0], other.choices[0].logprobs.top_logprobs[0]),
     'another suffix, another distribution for the middle\'s first token (the suffix is in the context)',
     [one.choices[0].logprobs.top_logprobs[0], other.choices[0].logprobs.top_logprobs[0]]);

  let text = '', finish = null, usage = null, chunks = 0;
  const stream = await client.completions.create({ ...greedy, prompt: prefix, suffix, echo: true, stream: true,
                                                    stream_options: { include_usage: true } });
  for await (const ch of stream) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    if (!ch.choices.length) continue;
    text += ch.choices[0].text;
    if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
  }
  ok(text === prefix + plainMiddle && finish === base.r.choices[0].finish_reason && chunks > 3 &&
     usage && usage.prompt_tokens === base.r.usage.prompt_tokens,
     'streaming with suffix and echo: the same text, finish_reason and usage', [text, finish, usage]);

  // a stop string inside the middle
  let stop = null;
  for (let i = 2; i + 2 <= plainMiddle.length && !stop; i++) if (/\S\S/.test(plainMiddle.slice(i, i + 2))) stop = plainMiddle.slice(i, i + 2);
  const cut = plainMiddle.slice(0, plainMiddle.indexOf(stop));
  const st = await client.completions.create({ ...greedy, prompt: prefix, suffix, stop });
  ok(stop && st.choices[0].text === cut && st.choices[0].finish_reason === 'stop',
     `a stop string (${JSON.stringify(stop)}) cuts the middle before it`, [st.choices[0], cut]);

  // the markers end the middle (bias forces one): nothing of them in the text
  for (const [id, name] of [[2, '<fim_middle>'], [6, '<file_sep>'], [1, '<fim_prefix>']]) {
    const b = await client.completions.create({ ...greedy, prompt: prefix, suffix, logit_bias: { [id]: 100 }, logprobs: 0 });
    ok(b.choices[0].text === '' && b.choices[0].finish_reason === 'stop' && b.usage.completion_tokens === 1 &&
       b.choices[0].logprobs.tokens[0] === name, `a generated ${name} ends the middle (finish_reason stop, no text)`, b.choices[0]);
  }
  const ig = await client.completions.create({ ...greedy, prompt: prefix, suffix, logit_bias: { 2: 100 }, max_tokens: 3, ignore_eos: true });
  ok(ig.usage.completion_tokens === 3 && ig.choices[0].finish_reason === 'length', 'ignore_eos: the markers do not end it', ig.choices[0]);
  const eos = await client.completions.create({ ...greedy, prompt: prefix, suffix, logit_bias: { 0: 100 } });
  ok(eos.choices[0].text === '' && eos.choices[0].finish_reason === 'stop' && eos.usage.completion_tokens === 1,
     'EOS (<|endoftext|>) ends it too', eos.choices[0]);

  // the prompt as token ids (from TGI's /tokenize of the prefix), and several prompts
  const ids = (await (await fetch(`${fimBase}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: prefix, add_special_tokens: false }) })).json()).map((t) => t.id);
  const byIds = await client.completions.create({ ...greedy, prompt: ids, suffix, echo: true });
  ok(byIds.choices[0].text === prefix + plainMiddle && byIds.usage.prompt_tokens === base.r.usage.prompt_tokens,
     'a token-id prompt is the prefix: the same FIM prompt, the same middle, echo decodes the ids', [byIds.choices[0].text, ids]);
  const two = await client.completions.create({ ...greedy, prompt: [prefix, 'x = '], suffix });
  const other2 = await handWritten(layout('x = ', suffix));
  ok(two.choices.length === 2 && two.choices[0].text === plainMiddle && other2.middle.startsWith(two.choices[1].text) &&
     two.usage.prompt_tokens === base.r.usage.prompt_tokens + other2.r.usage.prompt_tokens,
     'a prompt array: one FIM prompt per prompt, the same suffix', [two.choices, other2.middle]);
  // an empty suffix is still FIM on a FIM model
  const empty = await client.completions.create({ ...greedy, prompt: prefix, suffix: '' });
  const e2 = await handWritten(layout(prefix, ''));
  ok(empty.usage.prompt_tokens === e2.r.usage.prompt_tokens && e2.middle.startsWith(empty.choices[0].text),
     'suffix "": <fim_prefix> prefix <fim_suffix><fim_middle>', [empty.usage, e2.r.usage]);
}

async function refusals() {
  const expectError = async (name, f, check) => {
    try {
      await f();
      ok(false, name);
    } catch (e) {
      ok(check(e), name, [e.status, e.message, e.param, e.code]);
    }
  };
  await expectError('suffix on chat completions: 400 BadRequestError, param suffix',
    () => client.chat.completions.create({ model: 'sc', messages: [{ role: 'user', content: 'hi' }], suffix: 'x' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'suffix' && /completions parameter/.test(e.message));
  await expectError('suffix of the wrong type: 400, param suffix',
    () => client.completions.create({ ...greedy, prompt: prefix, suffix: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'suffix' && /expected a string/.test(e.message));
  const long = 'x = 1\n'.repeat(300);
  await expectError('a FIM prompt beyond the context: 400 context_length_exceeded',
    () => client.completions.create({ ...greedy, prompt: prefix, suffix: long }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
  await expectError('a model without FIM tokens: 422 UnprocessableEntityError naming it',
    () => noFim.completions.create({ ...greedy, prompt: 'Once upon a time', suffix: ' The end.' }),
    (e) => e instanceof OpenAI.UnprocessableEntityError && e.param === 'suffix' &&
           /this model has no fill-in-the-middle tokens/.test(e.message));
  const a = await noFim.completions.create({ ...greedy, prompt: 'Once upon a time', suffix: '' });
  const b = await noFim.completions.create({ ...greedy, prompt: 'Once upon a time' });
  ok(a.choices[0].text === b.choices[0].text && a.usage.prompt_tokens === b.usage.prompt_tokens,
     'an empty suffix on a model without FIM tokens: the plain completion', [a.choices[0].text, b.choices[0].text]);
}

// ---- llama.cpp's /infill --------------------------------------------------------------

async function infill(base, body) {
  const r = await fetch(`${base}/infill`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

async function infillRoute() {
  // llama.cpp's repository-level layout: StarCoder 2's vocabulary has <repo_name> and <file_sep>
  const head = '<repo_name>myproject\n<file_sep>filename\n';
  const o = await handWritten(head + layout(prefix, suffix));
  const r = await infill(fimBase, { input_prefix: prefix, input_suffix: suffix, n_predict: 12, temperature: 0 });
  const j = JSON.parse(r.text);
  ok(r.status === 200 && j.content === o.middle.slice(0, j.content.length) && j.content.length > 0 &&
     j.tokens_evaluated === o.r.usage.prompt_tokens && j.prompt === head + layout(prefix, suffix) && j.stop === true,
     '/infill: content is the continuation of llama.cpp\'s layout, prompt and tokens_evaluated show it', [j, o.middle]);
  ok(j.tokens_predicted === 12 ? j.stop_type === 'limit' : j.stop_type === 'eos',
     '/infill: stop_type', [j.stop_type, j.tokens_predicted]);
  ok(typeof j.timings === 'object' && j.timings.predicted_n === j.tokens_predicted && j.timings.prompt_n + j.timings.cache_n === j.tokens_evaluated &&
     j.generation_settings.n_predict === 12 && j.generation_settings.temperature === 0 && j.truncated === false &&
     j.tokens_cached === j.tokens_evaluated + j.tokens_predicted,
     '/infill: timings, generation_settings, truncated, tokens_cached', j);
  const p = JSON.parse((await infill(fimBase, { input_prefix: 'def add(a, b):\n', prompt: '    ', input_suffix: suffix,
                                                n_predict: 12, temperature: 0 })).text);
  ok(p.content === j.content && p.prompt === j.prompt, '/infill: `prompt` continues input_prefix (the line being typed)', p);

  const extra = [{ filename: 'util.py', text: 'def sub(a, b):\n    return a - b\n' }, { text: 'PI = 3.14\n' }];
  const layoutX = '<repo_name>myproject\n<file_sep>util.py\ndef sub(a, b):\n    return a - b\n<file_sep>tmp\nPI = 3.14\n' +
                  '<file_sep>filename\n' + layout(prefix, suffix);
  const ox = await handWritten(layoutX);
  const x = JSON.parse((await infill(fimBase, { input_prefix: prefix, input_suffix: suffix, input_extra: extra, n_predict: 12,
                                                temperature: 0 })).text);
  ok(x.prompt === layoutX && x.tokens_evaluated === ox.r.usage.prompt_tokens && x.content === ox.middle.slice(0, x.content.length),
     '/infill: input_extra files come first, each after <file_sep> and its name', [x.prompt, x.content, ox.middle]);

  const s = await infill(fimBase, { input_prefix: prefix, input_suffix: suffix, n_predict: 12, temperature: 0, stream: true, return_tokens: true });
  const events = s.text.split('\n\n').filter((e) => e).map((e) => (e.startsWith('data: ') ? JSON.parse(e.slice(6)) : { bad: e }));
  const last = events[events.length - 1], parts = events.slice(0, -1);
  ok(s.status === 200 && /text\/event-stream/.test(s.type) && parts.every((e) => e.stop === false && e.tokens.length === 1) &&
     parts.map((e) => e.content).join('') === j.content && last.stop === true && last.content === '' && last.timings &&
     !s.text.includes('[DONE]'),
     '/infill stream: llama.cpp\'s partial events, then the final object; no [DONE]', events.slice(-2));

  let stop = null;
  for (let i = 1; i + 2 <= j.content.length && !stop; i++) if (/\S\S/.test(j.content.slice(i, i + 2))) stop = j.content.slice(i, i + 2);
  const w = JSON.parse((await infill(fimBase, { input_prefix: prefix, input_suffix: suffix, n_predict: 12, temperature: 0,
                                                stop: ['zzzz', stop] })).text);
  ok(stop && w.content === j.content.slice(0, j.content.indexOf(stop)) && w.stop_type === 'word' && w.stopping_word === stop,
     '/infill: a stop word cuts the content, stop_type word, stopping_word', [w.content, w.stop_type, w.stopping_word, stop]);
  const l = JSON.parse((await infill(fimBase, { input_prefix: prefix, input_suffix: suffix, n_predict: 3, temperature: 0 })).text);
  ok(l.tokens_predicted === 3 && l.stop_type === 'limit', '/infill: n_predict 3, stop_type limit', l);

  // a prefix larger than the context: cut to fit, its end kept
  const big = Array.from({ length: 400 }, (_, i) => `v${i} = ${i}\n`).join('') + prefix;
  const t = JSON.parse((await infill(fimBase, { input_prefix: big, input_suffix: suffix, n_predict: 16, temperature: 0 })).text);
  ok(t.truncated === true && t.tokens_evaluated <= 512 - 16 && t.tokens_evaluated > 400 && t.prompt.endsWith(prefix + '<fim_suffix>' + suffix + '<fim_middle>') &&
     !t.prompt.includes('v0 = 0') && t.tokens_predicted > 0,
     `/infill: a prefix beyond the context is cut from its start (truncated, ${t.tokens_evaluated} tokens)`, [t.truncated, t.tokens_evaluated]);

  const bad = await infill(fimBase, { input_prefix: prefix });
  ok(bad.status === 400 && same(JSON.parse(bad.text), { error: { code: 400, message: '"input_suffix" is required', type: 'invalid_request_error' } }),
     '/infill: a missing input_suffix is 400 in llama.cpp\'s error envelope', bad);
  const nf = await infill(plainBase, { input_prefix: 'a', input_suffix: 'b' });
  const nj = JSON.parse(nf.text);
  ok(nf.status === 501 && nj.error.type === 'not_supported_error' && /Infill is not supported by this model/.test(nj.error.message),
     '/infill on a model without FIM tokens: 501 not_supported_error, as llama.cpp answers', nf);
}

async function main() {
  const base = await layoutMatches();
  await fimRequests(base);
  await refusals();
  await infillRoute();
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log(`not ok ${n + 1} - fim: unexpected exception`);
  console.log(`# ${String(e && e.stack || e)}`);
  process.exit(1);
});
