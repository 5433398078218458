// hf_inference_client.mjs — the legacy TGI client @huggingface/inference@2.8.1
// (HfInferenceEndpoint: POST to the endpoint URL itself, TGI's compat route)
// against a running `ctgi serve`.  Prints TAP lines.
//   node hf_inference_client.mjs http://127.0.0.1:PORT
import { HfInferenceEndpoint } from '@huggingface/inference';

const url = process.argv[2];
const hf = new HfInferenceEndpoint(url);
let n = 0, failed = 0;
function ok(cond, name, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && detail !== undefined) console.log(`# ${JSON.stringify(detail)}`);
}
const model = 'ctgi'; // any string: without it the client asks huggingface.co for the task
const inputs = 'Once upon a time';

async function main() {
  const r = await hf.textGeneration({ model, inputs, parameters: { max_new_tokens: 20 } });
  ok(typeof r.generated_text === 'string' && r.generated_text.startsWith('Once upon a time, there was a little girl'),
     'textGeneration: POST / non-streaming, one-element array, full text', r);

  let pieces = '', events = 0, last = null;
  for await (const ev of hf.textGenerationStream({ model, inputs, parameters: { max_new_tokens: 20, details: true } })) {
    events++;
    pieces += ev.token.text;
    last = ev;
  }
  ok(events === 20, 'textGenerationStream: one event per token', events);
  ok(last && last.generated_text === r.generated_text, 'stream and non-stream give the same text', last);
  ok(last && inputs + pieces === last.generated_text, 'token texts add up to the generated text', pieces);
  ok(last && last.details && last.details.finish_reason === 'length' && last.details.generated_tokens === 20,
     'the last event carries details', last && last.details);

  const seeded = { model, inputs, parameters: { max_new_tokens: 12, do_sample: true, temperature: 1.2, seed: 7 } };
  const a = await hf.textGeneration(seeded);
  let b = null;
  for await (const ev of hf.textGenerationStream(seeded)) b = ev;
  ok(b && a.generated_text === b.generated_text, 'sampling with a seed: stream equals non-stream', [a, b]);

  try {
    await hf.textGeneration({ model, inputs, parameters: { temperature: 0 } });
    ok(false, 'a validation error throws');
  } catch (e) {
    ok(/temperature/.test(String(e.message)), 'a validation error throws with the server message', String(e));
  }
  try {
    for await (const ev of hf.textGenerationStream({ model, inputs, parameters: { top_n_tokens: 99 } })) void ev;
    ok(false, 'a streaming validation error throws');
  } catch (e) {
    ok(/top_n_tokens/.test(String(e.message)), 'a streaming validation error throws with the server message', String(e));
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log(`not ok ${n + 1} - unexpected exception`);
  console.log(`# ${String(e && e.stack || e)}`);
  process.exit(1);
});
