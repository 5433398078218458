// hf_inference_v4_client.mjs — @huggingface/inference 4.13.30 (installed as
// the npm alias hf-inference-v4 beside the legacy 2.8.1) against a running
// `ctgi serve` given as an endpoint URL: chatCompletion and
// chatCompletionStream call /v1/chat/completions, textGeneration and
// textGenerationStream call /v1/completions.  Prints TAP lines from FIRST.
//   node hf_inference_v4_client.mjs http://127.0.0.1:PORT FIRST
import { InferenceClient } from 'hf-inference-v4';

const url = process.argv[2];
let n = Number(process.argv[3] || 1) - 1, failed = 0;
function ok(cond, name, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - @huggingface/inference v4: ${name}`);
  if (!cond && detail !== undefined) console.log(`# ${JSON.stringify(detail)}`);
}
const hf = new InferenceClient().endpoint(url);
const messages = [{ role: 'user', content: 'Tell me about a cat.' }];

async function main() {
  const r = await hf.chatCompletion({ messages, max_tokens: 16, temperature: 0 });
  const text = r.choices && r.choices[0].message.content;
  ok(typeof text === 'string' && text.length > 0 && r.choices[0].finish_reason === 'length' && r.usage.completion_tokens === 16,
     'chatCompletion', r);
  let s = '', chunks = 0;
  for await (const ch of hf.chatCompletionStream({ messages, max_tokens: 16, temperature: 0 })) {
    chunks++;
    if (ch.choices && ch.choices.length) s += ch.choices[0].delta.content ?? '';
  }
  ok(s === text && chunks >= 2, 'chatCompletionStream gives the same text', [s, text]);

  const prompt = 'Once upon a time';
  const g = await hf.textGeneration({ inputs: prompt, parameters: { max_new_tokens: 12, temperature: 0 } });
  ok(typeof g.generated_text === 'string' && g.generated_text.startsWith(', there was'), 'textGeneration (/v1/completions)', g);
  let t = '';
  for await (const ev of hf.textGenerationStream({ inputs: prompt, parameters: { max_new_tokens: 12, temperature: 0 } }))
    t += ev.choices ? (ev.choices[0] ? ev.choices[0].text : '') : (ev.token ? ev.token.text : '');
  ok(t === g.generated_text, 'textGenerationStream gives the same text', [t, g.generated_text]);
  // v4 reads a string `error` into its message; OpenAI's envelope (an object)
  // reaches the caller as the parsed body of the ProviderApiError
  try {
    await hf.chatCompletion({ messages, max_tokens: 0 });
    ok(false, 'max_tokens 0 is refused');
  } catch (e) {
    const body = e.httpResponse && e.httpResponse.body;
    ok(e.name === 'ProviderApiError' && e.httpResponse.status === 400 && body && /max_tokens/.test(body.error.message),
       'a 400 surfaces as ProviderApiError carrying the server message', [e.name, e.httpResponse]);
  }
  try {
    for await (const ch of hf.chatCompletionStream({ messages, max_tokens: 0 })) void ch;
    ok(false, 'max_tokens 0 is refused when streaming');
  } catch (e) {
    ok(/max_tokens/.test(String(e.message) + JSON.stringify(e.httpResponse && e.httpResponse.body)),
       'a streaming 400 throws with the server message', [String(e.message), e.httpResponse]);
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log(`not ok ${n + 1} - @huggingface/inference v4: unexpected exception`);
  console.log(`# ${String(e && e.stack || e)}`);
  process.exit(1);
});
