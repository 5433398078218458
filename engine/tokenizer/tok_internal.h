/*
 * tok_internal.h — the private layout of a tokenizer and the helpers the
 * tok_*.c files share.  Nothing here is part of the public contract
 * (tokenizer.h); only the tokenizer implementation files include it.
 *
 * Ownership: a tokenizer owns everything reachable from it.  Strings live
 * in a chunked arena (tok_arena) so that pointers into it stay valid while
 * it grows; the hash maps store such pointers as keys.
 */
#ifndef CTGI_TOK_INTERNAL_H
#define CTGI_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* ---- token attributes (llama.cpp's llama_token_attr bits + HF flags) ---- */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,      /* special: BOS/EOS/<|im_start|>; HF special=true */
    TOK_ATTR_USER_DEFINED = 1 << 4, /* added token that is not special */
    TOK_ATTR_BYTE = 1 << 5,         /* <0xNN> */
    TOK_ATTR_NORMALIZED = 1 << 6,   /* HF: matched on normalized text */
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
    TOK_ATTR_SINGLE_WORD = 1 << 9,
    TOK_ATTR_ADDED = 1 << 10,       /* HF added_tokens entry */
};
#define TOK_ATTR_SPECIAL (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)

/* ---- chunked string arena: stable pointers, freed all at once ---- */
typedef struct tok_chunk tok_chunk;
typedef struct {
    tok_chunk *head;
} tok_arena;
/* NUL-terminated copy of s[0..len); NULL on OOM. */
char *tok_arena_dup(tok_arena *a, const char *s, size_t len);
void tok_arena_free(tok_arena *a);

/* ---- growable byte buffer ---- */
typedef struct {
    char *p;
    size_t len, cap;
} tok_buf;
bool tok_buf_put(tok_buf *b, const void *s, size_t n);
bool tok_buf_putc(tok_buf *b, char c);
void tok_buf_free(tok_buf *b);

/* ---- open-addressing hash maps (tok_map.c) ---- */
typedef struct {
    const char *key; /* not owned: points into an arena */
    uint32_t len, hash;
    int32_t val;
} tok_strmap_ent;
typedef struct {
    tok_strmap_ent *ents;
    uint32_t cap, n;
} tok_strmap;
bool tok_strmap_init(tok_strmap *m, size_t expected);
/* 1 inserted, 0 key existed (value kept), -1 out of memory. */
int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val);
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len); /* -1 absent */
void tok_strmap_free(tok_strmap *m);

typedef struct {
    uint64_t key;
    int32_t rank, res;
} tok_pairmap_ent;
typedef struct {
    tok_pairmap_ent *ents;
    uint32_t cap, n;
} tok_pairmap;
bool tok_pairmap_init(tok_pairmap *m, size_t expected);
/* First insertion of a pair wins (llama.cpp's emplace, HF's first merge). */
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t res);
/* Insert or overwrite (HF builds its merge map with the last rank winning). */
bool tok_pairmap_set(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t res);
bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *res);
void tok_pairmap_free(tok_pairmap *m);

/* ---- byte trie of added/special tokens (tok_special.c) ---- */
typedef struct {
    tok_pairmap edges; /* (node, byte) -> child node (in .res) */
    int32_t *token;    /* per node: token id ending here, -1 if none */
    int32_t n_nodes;
} tok_trie;
void tok_trie_free(tok_trie *tr);

/* ---- UTF-8 and Unicode helpers (tok_utf8.c) ---- */
/* Length of a UTF-8 sequence from its lead byte (llama.cpp's table). */
size_t tok_utf8_len(uint8_t lead);
/* Decode one valid UTF-8 character at s[0..n); returns its length or 0 if
 * the bytes there are not a valid (shortest-form, non-surrogate) sequence. */
size_t tok_utf8_decode(const char *s, size_t n, uint32_t *cp);
size_t tok_utf8_encode(uint32_t cp, char out[4]);
/* Codepoints the way llama.cpp's unicode_cpts_from_utf8 reads them: each
 * byte that does not start a well-formed sequence becomes U+FFFD. */
uint32_t *tok_cpts_llama(const char *s, size_t n, size_t *n_out);
/* from_utf8_lossy: one U+FFFD per maximal invalid subpart. */
bool tok_utf8_lossy(tok_buf *out, const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that is an incomplete but so far
 * valid UTF-8 sequence at the very end of the buffer (0..3). */
size_t tok_utf8_incomplete_tail(const char *s, size_t n);
bool tok_is_white_space(uint32_t cp); /* Unicode White_Space */
/* llama.cpp's "collapsed" byte for a codepoint (see tok_pretok.c). */
uint8_t tok_cpt_collapse(uint32_t cp);
/* GPT-2 byte-level alphabet: byte -> codepoint and back (-1 if none). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);
/* Append the byte-level encoding of s[0..n) to out. */
bool tok_bytelevel_encode(tok_buf *out, const char *s, size_t n);

/* ---- regular expressions (tok_regex.c) ---- */
typedef enum {
    TOK_RX_BYTES, /* 8-bit, no UTF: llama.cpp's collapsed text */
    TOK_RX_WIDE,  /* UTF, ASCII classes: llama.cpp's std::wregex path */
    TOK_RX_HF,    /* UTF + Unicode classes, Oniguruma-like: tokenizer.json */
} tok_rx_mode;
typedef struct {
    void *code; /* pcre2_code_8 */
    tok_rx_mode mode;
} tok_rx;
bool tok_rx_compile(tok_rx *rx, const char *pattern, tok_rx_mode mode, char *err);
void tok_rx_free(tok_rx *rx);
/* Non-empty matches of rx in subj[0..len), left to right; each (start, end)
 * is appended to *spans (pairs of size_t), *n_spans counts pairs. */
bool tok_rx_find_all(const tok_rx *rx, const char *subj, size_t len, size_t **spans,
                     size_t *n_spans, size_t *cap, char *err);

/* ---- pre-tokenizers (tok_pretok.c) ---- */
typedef enum {
    TOK_PT_SPLIT,       /* Split: regex or literal, with a behavior */
    TOK_PT_BYTELEVEL,   /* ByteLevel: [prefix space], [GPT-2 regex], map bytes */
    TOK_PT_METASPACE,   /* Metaspace: ' ' -> replacement, prepend, [split] */
} tok_pt_kind;
typedef enum {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS,
} tok_split_behavior;
typedef struct {
    tok_pt_kind kind;
    tok_rx rx; /* SPLIT regex, BYTELEVEL with use_regex */
    bool has_rx;
    char *literal; /* SPLIT with a String pattern (owned) */
    size_t literal_len;
    tok_split_behavior behavior;
    bool invert;
    bool add_prefix_space; /* BYTELEVEL */
    char repl[8];          /* METASPACE replacement (UTF-8) */
    int prepend;           /* METASPACE: 0 never, 1 first, 2 always */
    bool split;            /* METASPACE */
} tok_pt_step;

/* One piece of text on its way to the model. */
typedef struct {
    size_t off, len; /* into the owning tok_pieces' buffer */
    bool first;      /* starts at offset 0 of the original input */
} tok_piece_span;
typedef struct {
    tok_buf buf;
    tok_piece_span *v;
    size_t n, cap;
} tok_pieces;
bool tok_pieces_add(tok_pieces *p, const char *s, size_t len, bool first);
void tok_pieces_clear(tok_pieces *p);
void tok_pieces_free(tok_pieces *p);

/* llama.cpp pre-tokenizer regexes for a GGUF tokenizer.ggml.pre value;
 * NULL (and *n = 0) if unknown. */
const char *const *tok_pre_regexes(const char *pre, size_t *n, bool *ignore_merges,
                                   bool *add_bos_default);
/* Compile such a list into t->pre_rx (collapsed or wide dialect each). */
bool tok_pre_compile_llama(tokenizer *t, const char *const *rx, size_t n, char *err);
/* GGUF byte-level BPE: split text the llama.cpp way and byte-level encode
 * each word into out (pieces). */
bool tok_pretok_llama(const tokenizer *t, const char *text, size_t len, tok_pieces *out,
                      char *err);
/* HF: run the pre-tokenizer steps on one normalized segment. */
bool tok_pretok_hf(const tokenizer *t, const char *text, size_t len, bool first,
                   tok_pieces *out, char *err);
void tok_pt_step_free(tok_pt_step *s);

/* ---- SentencePiece precompiled charsmap (tok_charsmap.c) ---- */
/* The normalization rules SentencePiece compiles into a model
 * (normalizer_spec.precompiled_charsmap; GGUF
 * tokenizer.ggml.precompiled_charsmap; tokenizer.json's Precompiled
 * normalizer, base64): a darts-clone double-array trie over the source
 * byte strings whose leaf values are offsets of NUL-terminated replacement
 * strings. */
typedef struct {
    uint32_t *units;  /* the double array (owned copy, host order) */
    size_t n_units;
    char *repl;       /* replacement strings (owned), NUL-separated */
    size_t n_repl;
} tok_charsmap;
/* Parse a blob (u32 LE trie size, trie units, replacement strings);
 * false + err naming what is wrong with it. */
bool tok_charsmap_load(tok_charsmap *cm, const uint8_t *blob, size_t n, char *err);
void tok_charsmap_free(tok_charsmap *cm);
/* SentencePiece's rule: the longest source string that s[0..n) starts
 * with; returns its length (0: none) and the replacement in *rep. */
size_t tok_charsmap_longest(const tok_charsmap *cm, const char *s, size_t n, const char **rep,
                            size_t *rep_len);
/* Hugging Face's Precompiled normalizer (grapheme clusters, shortest
 * match), on valid UTF-8. */
bool tok_charsmap_normalize_hf(const tok_charsmap *cm, const char *s, size_t n, tok_buf *out);
/* SentencePiece's Normalizer::Normalize for a GGUF Unigram vocabulary:
 * charsmap rules, dummy prefix (when prefix), extra-whitespace removal,
 * ' ' -> "▁". */
bool tok_spm_normalize(const tokenizer *t, const char *s, size_t n, bool prefix, tok_buf *out);

/* ---- HF normalizers (tok_norm.c) ---- */
typedef enum {
    TOK_NORM_NFC, TOK_NORM_NFD, TOK_NORM_NFKC, TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE, TOK_NORM_STRIP, TOK_NORM_STRIP_ACCENTS,
    TOK_NORM_PREPEND, TOK_NORM_REPLACE,
    TOK_NORM_PRECOMPILED, /* SentencePiece charsmap, HF's grapheme rule */
    TOK_NORM_BERT,        /* BertNormalizer */
} tok_norm_kind;
typedef struct {
    tok_norm_kind kind;
    char *a, *b; /* PREPEND: a; REPLACE: literal a -> b (or regex rx -> b) */
    size_t a_len, b_len;
    tok_rx rx;
    bool has_rx;
    bool left, right; /* STRIP */
    tok_charsmap *cm; /* PRECOMPILED (owned) */
    /* BERT: clean_text, handle_chinese_chars, strip_accents, lowercase */
    bool clean_text, chinese, strip_accents, lowercase;
} tok_norm_step;
/* Apply all steps to s[0..n); result in out (replaced). */
bool tok_normalize(const tokenizer *t, const char *s, size_t n, tok_buf *out, char *err);
void tok_norm_step_free(tok_norm_step *s);

/* ---- models (tok_model.c); each appends ids to *out, false on OOM ---- */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids;
bool tok_ids_push(tok_ids *ids, int32_t id);
/* One byte-level word, llama.cpp's BPE session (rank merges). */
bool tok_bpe_word_gguf(const tokenizer *t, const char *w, size_t n, tok_ids *out);
/* One pre-tokenized piece, Hugging Face BPE. */
bool tok_bpe_word_hf(const tokenizer *t, const char *w, size_t n, tok_ids *out);
/* A whole ▁-escaped text fragment, llama.cpp's SPM session (score merges). */
bool tok_spm_text(const tokenizer *t, const char *s, size_t n, tok_ids *out);
/* Unigram (tok_unigram.c): the best segmentation of one normalized,
 * pre-tokenized piece by the sum of the pieces' scores (Viterbi), unknown
 * characters as the unk token (runs fused) or their bytes (byte
 * fallback).  false + err: out of memory, or an unknown character with no
 * unk token. */
bool tok_ugm_text(const tokenizer *t, const char *s, size_t n, tok_ids *out, char *err);
/* Build the piece trie and the unknown score once the vocabulary is in. */
bool tok_ugm_prepare(tokenizer *t, char *err);
/* WordPiece (tok_wordpiece.c): one pre-tokenized word, greedy longest
 * match from the left, the whole word as unk if any part has no piece. */
bool tok_wpm_word(const tokenizer *t, const char *w, size_t n, tok_ids *out);
/* BertNormalizer (tok_wordpiece.c): clean text, isolate CJK ideographs,
 * strip accents (NFD, drop Mn), lowercase, as Hugging Face does. */
bool tok_bert_normalize(const tok_norm_step *st, const char *s, size_t n, tok_buf *out);

/* ---- special tokens (tok_special.c) ---- */
typedef struct {
    size_t off, len; /* raw text span; len == 0 for a token fragment */
    int32_t token;   /* -1 for text */
} tok_frag;
typedef struct {
    tok_frag *v;
    size_t n, cap;
} tok_frags;
bool tok_trie_insert(tok_trie *tr, const char *s, size_t n, int32_t id);
/* llama.cpp's tokenizer_st_partition. */
bool tok_partition_llama(const tokenizer *t, const char *s, size_t n, bool parse_special,
                         tok_frags *out);
/* HF AddedVocabulary split (leftmost-longest) with trie tr. */
bool tok_partition_hf(const tokenizer *t, const tok_trie *tr, const char *s, size_t n,
                      bool parse_special, tok_frags *out);
void tok_frags_free(tok_frags *f);

/* ---- decoding (tok_decode.c) ---- */
/* Fill t->dec_* (the bytes each token decodes to). */
bool tok_decoder_build(tokenizer *t, char *err);

/* ---- the tokenizer ---- */
typedef enum {
    TOK_TYPE_SPM, /* SentencePiece BPE: merges by token score (GGUF "llama") */
    TOK_TYPE_BPE, /* rank-ordered merges (GGUF "gpt2", tokenizer.json BPE) */
    TOK_TYPE_UGM, /* Unigram: Viterbi over piece scores (GGUF "t5", tokenizer.json Unigram) */
    TOK_TYPE_WPM, /* WordPiece: greedy longest match (GGUF "bert", tokenizer.json WordPiece) */
} tok_type;

typedef struct {
    bool bytelevel;   /* map byte-level characters back to bytes */
    bool byte_tokens; /* <0xNN> tokens -> that byte */
    char space_from[8]; /* e.g. "▁" -> " " (empty: none) */
    int strip_leading;  /* drop up to this many leading spaces of the text */
    /* WordPiece decoder: a token is " " + its text, or its text minus the
     * prefix when it starts with it (the first token: its text as is) */
    bool wordpiece;
    char wp_prefix[8];
    bool wp_cleanup; /* " ." -> "." etc. on each token (HF's cleanup) */
} tok_dec_rules;

struct tokenizer {
    tok_type type;
    bool hf;
    int32_t n_vocab;
    const char **text; /* [n_vocab], arena strings */
    uint32_t *len;
    float *score;
    uint16_t *attr;
    tok_arena arena;
    tok_strmap vocab;      /* text -> id; GGUF BPE also maps merge-only strings to ids >= n_vocab */
    const char **xtext;    /* merge-only strings, id - n_vocab */
    uint32_t *xlen;
    int32_t n_x, cap_x;
    tok_pairmap merges;    /* (left, right) -> (rank, result) */
    uint32_t max_token_len;
    int32_t bos, eos, unk;
    bool add_bos, add_eos, add_space_prefix, ignore_merges, byte_fallback, fuse_unk;
    int32_t byte_id[256];  /* token standing for each raw byte (SPM / byte fallback) */

    /* added/special tokens */
    tok_trie trie_raw;     /* GGUF: all special-cache tokens; HF: non-normalized added */
    tok_trie trie_norm;    /* HF: normalized added tokens */
    int32_t *spec_order;   /* GGUF: special-cache ids, longest first */
    int32_t *spec_rank;    /* GGUF: id -> position in spec_order (-1) */
    int32_t n_spec;

    /* GGUF pre-tokenizer */
    tok_rx *pre_rx;
    size_t n_pre_rx;
    /* HF pipeline */
    tok_norm_step *norm;
    size_t n_norm;
    tok_pt_step *pt;
    size_t n_pt;
    int32_t *post_prefix, *post_suffix;
    size_t n_post_prefix, n_post_suffix;

    /* Unigram (tok_unigram.c) */
    double *ugm_score;     /* [n_vocab] score of each piece in the Viterbi */
    tok_trie ugm_trie;     /* the pieces the Viterbi may use */
    double ugm_unk_score;  /* score of an unknown character: min score - 10 */
    bool ugm_f32;          /* GGUF: SentencePiece's float arithmetic (HF: double) */
    bool remove_extra_ws;  /* GGUF: SentencePiece normalizer flag */
    tok_charsmap *charsmap; /* GGUF: SentencePiece normalizer rules (owned) */
    /* WordPiece (tok_wordpiece.c) */
    char wp_word_prefix[8]; /* before a word's first piece: "▁" (GGUF) or "" */
    char wp_cont_prefix[8]; /* before the others: "" (GGUF) or "##" */
    uint32_t wp_max_chars;  /* longer words are unk (0: no limit) */
    int32_t sep;            /* GGUF WordPiece: [SEP], appended with add_special */
    /* fill-in-the-middle markers (tok_fim.c) */
    tok_fim_ids fim;

    /* decoding */
    tok_dec_rules dec;
    char *dec_bytes;      /* concatenated decoded bytes of every token */
    size_t *dec_off;      /* [n_vocab + 1] */
    char *dec_first_bytes; /* WordPiece: the bytes of each token that starts the text */
    size_t *dec_first_off;
};

/* Fill t->fim (tok_fim.c): given[role] where >= 0 (GGUF ids, in the order
 * pre, suf, mid, pad, rep, sep; NULL for none), else by text.  Run once the
 * tokens are loaded. */
void tok_fim_detect(tokenizer *t, const int32_t given[6]);

/* Shared construction helpers (tokenizer.c). */
tokenizer *tok_alloc(int32_t n_vocab);
bool tok_set_token(tokenizer *t, int32_t id, const char *s, size_t len, float score,
                   uint16_t attr);
int32_t tok_lookup(const tokenizer *t, const char *s, size_t len); /* vocab id or -1 */

#endif
