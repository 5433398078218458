/*
 * tok_unigram_test.c — Unigram and WordPiece beyond the real vocabularies
 * of the oracle test (tokenizer_oracle_test.sh):
 *
 *  - Viterbi against an exhaustive search written here (every segmentation
 *    of every random string over a small vocabulary, unknown characters at
 *    min score - 10, unknown runs fused, byte fallback), in double as
 *    Hugging Face computes;
 *  - a GGUF written with tests/support/gguf_write.c from a tokenizer.json's
 *    data, as llama.cpp's converter writes it (tokens, scores, token types,
 *    precompiled_charsmap, add_space_prefix, remove_extra_whitespaces),
 *    encodes as the tokenizer.json does; the charsmap is a darts-clone
 *    double array built here from a few rules;
 *  - WordPiece: max_input_chars_per_word, a word with an unmatched tail ->
 *    one [UNK], a custom continuing prefix, the WordPiece decoder (first
 *    token, "##" pieces, cleanup);
 *  - the stream decoder == tok_decode for both models;
 *  - bad input: corrupt charsmaps (GGUF and base64), empty vocabularies,
 *    missing unk pieces / ids, malformed vocab entries, no unk id with
 *    unknown text -> load or encode errors naming the problem; a garbage
 *    double array never reads out of bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "support/gguf_write.h"
#include "support/testutil.h"
#include "tokenizer/tok_load.h"
#include "tokenizer/tokenizer.h"

/* ---- helpers ---- */

static char *g_dir;

static char *tmp_path(const char *name) {
    char *p = malloc(strlen(g_dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", g_dir, name);
    return p;
}

/* Load a tokenizer.json given as a jansson object (reference stolen). */
static tokenizer *load_json(json_t *j, char *err) {
    char *p = tmp_path("tokenizer.json");
    assert_int_equal(json_dump_file(j, p, JSON_COMPACT), 0);
    json_decref(j);
    tokenizer *t = tok_load_hf(p, err);
    free(p);
    return t;
}

static tokenizer *load_gguf_writer(gw_writer *w, char *err) {
    char *p = tmp_path("tok.gguf");
    assert_true(gw_write(w, p, err));
    gw_free(w);
    gguf_file *f = gguf_open(p, err);
    free(p);
    if (!f) return NULL;
    tokenizer *t = tok_load_gguf(f, err);
    gguf_close(f);
    return t;
}

static int encode(const tokenizer *t, const char *s, bool add, int32_t **ids) {
    char err[CT_ERRLEN] = "";
    int n = tok_encode(t, s, strlen(s), add, true, ids, err);
    if (n < 0) print_error("encode '%s': %s\n", s, err);
    return n;
}

static void assert_ids(const tokenizer *t, const char *s, bool add, const int32_t *want, int nw) {
    int32_t *ids = NULL;
    int n = encode(t, s, add, &ids);
    bool same = n == nw && (n == 0 || memcmp(ids, want, (size_t)n * sizeof *ids) == 0);
    if (!same) {
        print_error("'%s': want", s);
        for (int i = 0; i < nw; i++) print_error(" %d", want[i]);
        print_error(", got");
        for (int i = 0; i < n; i++) print_error(" %d", ids[i]);
        print_error("\n");
    }
    free(ids);
    assert_true(same);
}

/* The stream decoder's chunks + flush must equal tok_decode. */
static void assert_stream_equals_decode(const tokenizer *t, const int32_t *ids, size_t n) {
    for (int skip = 0; skip < 2; skip++) {
        char *whole = tok_decode(t, ids, n, skip);
        tok_stream st;
        tok_stream_init(&st, t, skip);
        char *out = NULL;
        size_t len = 0;
        for (size_t i = 0; i < n; i++) tok_stream_push(&st, ids[i], &out, &len);
        tok_stream_flush(&st, &out, &len);
        assert_non_null(whole);
        assert_string_equal(out ? out : "", whole);
        free(whole);
        free(out);
    }
}

/* ---- a darts-clone double array for a few normalization rules ----
 * (the layout SentencePiece's precompiled_charsmap uses; see
 * engine/tokenizer/tok_charsmap.c's header for the unit format) */

typedef struct {
    const char *from, *to;
} rule;

#define MAX_UNITS 4096

typedef struct {
    uint32_t units[MAX_UNITS];
    bool used[MAX_UNITS];
    char repl[1024];
    size_t n_repl;
    size_t n_units;
} charsmap_builder;

/* Place the children of the trie node "prefix" (length k) of the rules;
 * the node's own unit is at index p. */
static void place(charsmap_builder *b, const rule *r, size_t nr, const char *prefix, size_t k,
                  size_t p) {
    bool child[256] = {false};
    int value = -1;
    for (size_t i = 0; i < nr; i++) {
        size_t l = strlen(r[i].from);
        if (l < k || memcmp(r[i].from, prefix, k) != 0) continue;
        if (l == k) value = (int)i;
        else child[(uint8_t)r[i].from[k]] = true;
    }
    size_t base = 1;
    for (;; base++) { /* a base whose slots (and its value slot) are free */
        bool ok = base < MAX_UNITS && !b->used[base];
        for (int c = 1; ok && c < 256; c++)
            if (child[c]) ok = (base ^ (size_t)c) < MAX_UNITS && !b->used[base ^ (size_t)c];
        if (ok) break;
    }
    b->units[p] |= (uint32_t)((p ^ base) << 10) | (value >= 0 ? 1u << 8 : 0);
    b->used[base] = true; /* the value slot (label 0), even when unused */
    if (value >= 0) {
        b->units[base] = (uint32_t)b->n_repl | (1u << 31);
        size_t tl = strlen(r[value].to);
        memcpy(b->repl + b->n_repl, r[value].to, tl + 1);
        b->n_repl += tl + 1;
    }
    for (int c = 1; c < 256; c++)
        if (child[c]) {
            b->used[base ^ (size_t)c] = true;
            b->units[base ^ (size_t)c] = (uint32_t)c;
        }
    char next[64];
    memcpy(next, prefix, k);
    for (int c = 1; c < 256; c++)
        if (child[c]) {
            next[k] = (char)c;
            place(b, r, nr, next, k + 1, base ^ (size_t)c);
        }
    if (base + 256 > b->n_units) b->n_units = base + 256 < MAX_UNITS ? base + 256 : MAX_UNITS;
}

/* The blob: u32 trie bytes, units, replacement strings. malloc'd. */
static uint8_t *build_charsmap(const rule *r, size_t nr, size_t *len) {
    charsmap_builder *b = calloc(1, sizeof *b);
    b->used[0] = true;
    place(b, r, nr, "", 0, 0);
    size_t trie = b->n_units * 4;
    *len = 4 + trie + b->n_repl;
    uint8_t *out = malloc(*len);
    for (int i = 0; i < 4; i++) out[i] = (uint8_t)(trie >> (8 * i));
    for (size_t u = 0; u < b->n_units; u++)
        for (int i = 0; i < 4; i++) out[4 + 4 * u + i] = (uint8_t)(b->units[u] >> (8 * i));
    memcpy(out + 4 + trie, b->repl, b->n_repl);
    free(b);
    return out;
}

static char *base64(const uint8_t *p, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(4 * ((n + 2) / 3) + 1), *w = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *w++ = A[v >> 18 & 63];
        *w++ = A[v >> 12 & 63];
        *w++ = i + 1 < n ? A[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? A[v & 63] : '=';
    }
    *w = '\0';
    return o;
}

/* ---- a small Unigram vocabulary ---- */

typedef struct {
    const char *piece;
    double score;
} vpiece;

/* Scores with no simple relations, so that ties do not happen. */
static const vpiece VOCAB[] = {
    {"<pad>", 0.0},        {"</s>", 0.0},         {"<unk>", 0.0},       {"a", -2.1133},
    {"b", -2.7417},        {"c", -3.3291},        {"ab", -3.9012},      {"bc", -4.4377},
    {"abc", -5.6871},      {"ca", -4.0519},       {"bca", -6.1943},     {"aa", -3.7066},
    {"cab", -5.0588},      {"abca", -7.3021},     {"\xC3\xA9", -3.2219}, {"\xC3\xA9" "a", -4.8817},
    {"\xE2\x96\x81", -1.9031}, {"\xE2\x96\x81" "a", -2.6342}, {"\xE2\x96\x81" "ab", -3.5127},
    {"\xE2\x96\x81" "b", -3.0066}, {"x", -3.1115}, {"y", -3.6613},
};
#define N_VOCAB ((int)(sizeof VOCAB / sizeof *VOCAB))
#define UNK_ID 2
#define EOS_ID 1

/* Vocabulary + optional 256 byte pieces (ids N_VOCAB + b). */
static json_t *unigram_vocab(bool bytes) {
    json_t *v = json_array();
    for (int i = 0; i < N_VOCAB; i++) json_array_append_new(v, json_pack("[s,f]", VOCAB[i].piece, VOCAB[i].score));
    for (int b = 0; bytes && b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        json_array_append_new(v, json_pack("[s,f]", hex, -20.0));
    }
    return v;
}

static json_t *added_specials(void) {
    return json_pack("[{s:i,s:s,s:b,s:b},{s:i,s:s,s:b,s:b},{s:i,s:s,s:b,s:b}]", "id", 0, "content", "<pad>",
                     "special", 1, "normalized", 0, "id", 1, "content", "</s>", "special", 1, "normalized", 0,
                     "id", 2, "content", "<unk>", "special", 1, "normalized", 0);
}

/* The model alone: no normalizer or pre-tokenizer, the text goes whole. */
static tokenizer *bare_unigram(bool bytes) {
    char err[CT_ERRLEN] = "";
    json_t *j = json_pack("{s:o, s:{s:s, s:i, s:o, s:b}}", "added_tokens", added_specials(), "model", "type",
                          "Unigram", "unk_id", UNK_ID, "vocab", unigram_vocab(bytes), "byte_fallback", bytes);
    tokenizer *t = load_json(j, err);
    if (!t) print_error("%s\n", err);
    return t;
}

/* ---- exhaustive search (the oracle) ---- */

typedef struct {
    int id; /* VOCAB index, or -1 unknown */
    size_t start, end;
} seg;

typedef struct {
    const char *s;
    size_t n;
    double min;
    seg cur[64], best[64];
    size_t n_cur, n_best;
    double best_score, second;
} search;

static size_t char_len(const char *s) {
    uint8_t c = (uint8_t)*s;
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static void rec(search *x, size_t pos, double score) {
    if (pos == x->n) {
        if (score > x->best_score) {
            x->second = x->best_score;
            x->best_score = score;
            memcpy(x->best, x->cur, x->n_cur * sizeof *x->cur);
            x->n_best = x->n_cur;
        } else if (score > x->second) {
            x->second = score;
        }
        return;
    }
    size_t cl = char_len(x->s + pos);
    bool single = false;
    for (int i = 0; i < N_VOCAB; i++) { /* every piece the text continues with */
        size_t l = strlen(VOCAB[i].piece);
        if (pos + l > x->n || memcmp(x->s + pos, VOCAB[i].piece, l) != 0) continue;
        if (i == 0 || i == 1 || i == UNK_ID) continue; /* "<pad>" etc. never occur in the strings */
        single = single || l == cl;
        x->cur[x->n_cur++] = (seg){i, pos, pos + l};
        rec(x, pos + l, score + VOCAB[i].score);
        x->n_cur--;
    }
    if (!single) { /* an unknown character */
        x->cur[x->n_cur++] = (seg){-1, pos, pos + cl};
        rec(x, pos + cl, score + x->min - 10.0);
        x->n_cur--;
    }
}

/* The best path as ids (unknown runs fused; their text's piece if any,
 * else bytes with byte fallback, else <unk>); false if it is not unique. */
static bool oracle_ids(const char *s, bool bytes, int32_t *out, int *n_out) {
    search x = {.s = s, .n = strlen(s), .best_score = -INFINITY, .second = -INFINITY, .min = 0};
    for (int i = 0; i < N_VOCAB; i++) x.min = fmin(x.min, VOCAB[i].score);
    if (bytes) x.min = fmin(x.min, -20.0);
    rec(&x, 0, 0.0);
    if (x.n == 0) {
        *n_out = 0;
        return true;
    }
    if (x.best_score - x.second < 1e-9) return false;
    int n = 0;
    for (size_t i = 0; i < x.n_best;) {
        if (x.best[i].id >= 0) {
            out[n++] = x.best[i++].id;
            continue;
        }
        size_t a = x.best[i].start, b = x.best[i].end;
        while (++i < x.n_best && x.best[i].id < 0) b = x.best[i].end;
        int found = -1;
        for (int v = 0; v < N_VOCAB; v++)
            if (strlen(VOCAB[v].piece) == b - a && memcmp(VOCAB[v].piece, s + a, b - a) == 0) found = v;
        if (found >= 0) out[n++] = found;
        else if (bytes)
            for (size_t k = a; k < b; k++) out[n++] = N_VOCAB + (uint8_t)s[k];
        else out[n++] = UNK_ID;
    }
    *n_out = n;
    return true;
}

static void viterbi_vs_search(bool bytes) {
    tokenizer *t = bare_unigram(bytes);
    assert_non_null(t);
    static const char *const ALPHA[] = {"a", "b", "c", "x", "y", "d", "\xC3\xA9", "\xC3\xB1",
                                        "\xE2\x96\x81", "\xE2\x82\xAC"};
    uint64_t rng = bytes ? 77 : 42;
    int checked = 0;
    for (int k = 0; k < 400; k++) {
        char s[64] = "";
        int len = tu_rnd_in(&rng, 0, 9);
        for (int i = 0; i < len; i++) strcat(s, ALPHA[tu_rnd_in(&rng, 0, 9)]);
        int32_t want[64];
        int nw;
        if (!oracle_ids(s, bytes, want, &nw)) continue; /* two best paths: no single answer */
        assert_ids(t, s, false, want, nw);
        int32_t *ids = NULL;
        int n = encode(t, s, false, &ids);
        assert_stream_equals_decode(t, ids, (size_t)n);
        free(ids);
        checked++;
    }
    assert_true(checked > 350);
    tok_free(t);
}

static void viterbi_unk(void **state) {
    (void)state;
    viterbi_vs_search(false);
}

static void viterbi_byte_fallback(void **state) {
    (void)state;
    viterbi_vs_search(true);
}

/* ---- tokenizer.json pipeline and its GGUF ---- */

static const rule RULES[] = {
    {"\xEF\xBC\xA1", "a"},          /* Ａ -> a */
    {"\xEF\xAC\x81", "bc"},         /* ﬁ -> bc (any rule will do) */
    {"\xE2\x80\x83", " "},          /* em space -> space */
    {"\xE2\x91\xA0", "x"},          /* ① -> x */
    {"\xE2\x91\xA0\xE2\x91\xA0", "y"}, /* ①① -> y: the longer rule wins in SentencePiece */
};

/* tokenizer.json as the Hub's T5 files are laid out (with byte fallback:
 * a decoder that turns byte pieces into bytes, as Llama's). */
static json_t *t5_json(const char *charsmap_b64, bool bytes) {
    json_t *decoder =
        bytes ? json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}", "type", "Sequence",
                          "decoders", "type", "Replace", "pattern", "String", "\xE2\x96\x81", "content", " ", "type",
                          "ByteFallback", "type", "Fuse", "type", "Strip", "content", " ", "start", 1, "stop", 0)
              : json_pack("{s:s, s:s, s:b}", "type", "Metaspace", "replacement", "\xE2\x96\x81", "add_prefix_space", 1);
    return json_pack(
        "{s:o, s:{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]},"
        " s:{s:s, s:[{s:s}, {s:s, s:s, s:b}]},"
        " s:{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}}},"
        " s:o,"
        " s:{s:s, s:i, s:o, s:b}}",
        "added_tokens", added_specials(),
        "normalizer", "type", "Sequence", "normalizers", "type", "Precompiled", "precompiled_charsmap",
        charsmap_b64, "type", "Replace", "pattern", "Regex", " {2,}", "content", " ",
        "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "WhitespaceSplit", "type", "Metaspace",
        "replacement", "\xE2\x96\x81", "add_prefix_space", 1,
        "post_processor", "type", "TemplateProcessing", "single", "Sequence", "id", "A", "type_id", 0,
        "SpecialToken", "id", "</s>", "type_id", 0, "special_tokens", "</s>", "id", "</s>", "ids", EOS_ID,
        "tokens", "</s>",
        "decoder", decoder,
        "model", "type", "Unigram", "unk_id", UNK_ID, "vocab", unigram_vocab(bytes), "byte_fallback", bytes);
}

/* The GGUF llama.cpp's T5 converter writes for the same model. */
static gw_writer *t5_gguf(const uint8_t *charsmap, size_t n_charsmap, bool bytes) {
    int n = N_VOCAB + (bytes ? 256 : 0);
    const char **toks = malloc((size_t)n * sizeof *toks);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    char hex[256][8];
    for (int i = 0; i < n; i++) {
        if (i < N_VOCAB) {
            toks[i] = VOCAB[i].piece;
            scores[i] = (float)VOCAB[i].score;
            types[i] = i == UNK_ID ? 2 : i < 3 ? 3 : 1;
        } else {
            snprintf(hex[i - N_VOCAB], 8, "<0x%02X>", i - N_VOCAB);
            toks[i] = hex[i - N_VOCAB];
            scores[i] = -20.0f;
            types[i] = 6;
        }
    }
    gw_writer *w = gw_new();
    gw_add_str(w, "general.architecture", "t5");
    gw_add_str(w, "tokenizer.ggml.model", "t5");
    gw_add_str(w, "tokenizer.ggml.pre", "default");
    gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n);
    gw_add_arr(w, "tokenizer.ggml.scores", GGUF_T_FLOAT32, scores, (uint64_t)n);
    gw_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, types, (uint64_t)n);
    gw_add_bool(w, "tokenizer.ggml.add_space_prefix", true);
    gw_add_bool(w, "tokenizer.ggml.remove_extra_whitespaces", true);
    if (charsmap) gw_add_arr(w, "tokenizer.ggml.precompiled_charsmap", GGUF_T_UINT8, charsmap, n_charsmap);
    gw_add_u32(w, "tokenizer.ggml.eos_token_id", EOS_ID);
    gw_add_u32(w, "tokenizer.ggml.unknown_token_id", UNK_ID);
    gw_add_u32(w, "tokenizer.ggml.padding_token_id", 0);
    gw_add_bool(w, "tokenizer.ggml.add_bos_token", false);
    gw_add_bool(w, "tokenizer.ggml.add_eos_token", true);
    free(toks);
    free(scores);
    free(types);
    return w;
}

/* Strings where SentencePiece's normalizer and the T5 tokenizer.json agree
 * (single spaces between words; no grapheme clusters of several
 * characters, where Hugging Face applies its rules per cluster). */
static const char *const SAME[] = {
    "ab", "abc abca", "\xEF\xBC\xA1" "bc", "\xEF\xAC\x81" "a cab", "a\xE2\x80\x83" "b",
    "d dd ddd", "\xC3\xA9" "a \xC3\xB1\xC3\xB1", "xy yx",
    "\xE2\x82\xAC" "ab", "</s>", "a</s>b", "<unk>", "",
};

static void gguf_from_tokenizer_json(void **state) {
    (void)state;
    size_t n_cm;
    uint8_t *cm = build_charsmap(RULES, sizeof RULES / sizeof *RULES, &n_cm);
    char *b64 = base64(cm, n_cm);
    for (int bytes = 0; bytes < 2; bytes++) {
        char err[CT_ERRLEN] = "";
        tokenizer *hf = load_json(t5_json(b64, bytes), err);
        if (!hf) print_error("%s\n", err);
        assert_non_null(hf);
        tokenizer *gg = load_gguf_writer(t5_gguf(cm, n_cm, bytes), err);
        if (!gg) print_error("%s\n", err);
        assert_non_null(gg);
        assert_int_equal(tok_n_vocab(gg), tok_n_vocab(hf));
        assert_int_equal(tok_eos(gg), EOS_ID);
        assert_true(tok_add_eos(gg));
        assert_false(tok_add_bos(gg));
        for (size_t i = 0; i < sizeof SAME / sizeof *SAME; i++)
            for (int add = 0; add < 2; add++) {
                int32_t *a = NULL, *b = NULL;
                int na = encode(hf, SAME[i], add, &a), nb = encode(gg, SAME[i], add, &b);
                if (na != nb || (na > 0 && memcmp(a, b, (size_t)na * sizeof *a) != 0)) {
                    print_error("'%s' add=%d bytes=%d: tokenizer.json %d ids, GGUF %d ids:", SAME[i], add,
                                bytes, na, nb);
                    for (int k = 0; k < na; k++) print_error(" %d", a[k]);
                    print_error(" |");
                    for (int k = 0; k < nb; k++) print_error(" %d", b[k]);
                    print_error("\n");
                    fail();
                }
                if (!add) { /* decoded the same way, also in pieces */
                    char *da = tok_decode(hf, a, (size_t)na, false), *db = tok_decode(gg, b, (size_t)nb, false);
                    assert_string_equal(da, db);
                    free(da);
                    free(db);
                    assert_stream_equals_decode(gg, b, (size_t)nb);
                    assert_stream_equals_decode(hf, a, (size_t)na);
                }
                free(a);
                free(b);
            }
        /* the charsmap at work: "①①①" is "yx" in SentencePiece (longest
         * rule first) but "xxx" in Hugging Face (one grapheme at a time) */
        int32_t yx[] = {16, 21, 20}, xxx[] = {16, 20, 20, 20};
        assert_ids(gg, "\xE2\x91\xA0\xE2\x91\xA0\xE2\x91\xA0", false, yx, 3);
        assert_ids(hf, "\xE2\x91\xA0\xE2\x91\xA0\xE2\x91\xA0", false, xxx, 4);
        /* a continuation (tok_encode_cont): GGUF drops SentencePiece's dummy
         * prefix at the start, not after a special token */
        int32_t *c = NULL;
        char e2[CT_ERRLEN] = "";
        int nc = tok_encode_cont(gg, "ab</s>ab", 8, true, &c, e2);
        int32_t cont[] = {6, EOS_ID, 18};
        assert_int_equal(nc, 3);
        assert_memory_equal(c, cont, sizeof cont);
        free(c);
        /* byte fallback: "ñ" (c3 b1) unknown -> its two bytes, else <unk> */
        int32_t with_bytes[] = {16, N_VOCAB + 0xC3, N_VOCAB + 0xB1}, with_unk[] = {16, UNK_ID};
        assert_ids(gg, "\xC3\xB1", false, bytes ? with_bytes : with_unk, bytes ? 3 : 2);
        assert_ids(hf, "\xC3\xB1", false, bytes ? with_bytes : with_unk, bytes ? 3 : 2);
        tok_free(hf);
        tok_free(gg);
    }
    free(b64);
    free(cm);
}

/* ---- WordPiece ---- */

static tokenizer *wordpiece(const char *prefix, int max_chars) {
    char err[CT_ERRLEN] = "";
    json_t *j = json_pack(
        "{s:[{s:i,s:s,s:b},{s:i,s:s,s:b},{s:i,s:s,s:b}],"
        " s:{s:s, s:b, s:b, s:n, s:b}, s:{s:s},"
        " s:{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}, s:{s:s, s:[i], s:[s]}}},"
        " s:{s:s, s:s, s:b},"
        " s:{s:s, s:s, s:s, s:i, s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}}}",
        "added_tokens", "id", 0, "content", "[UNK]", "special", 1, "id", 1, "content", "[CLS]", "special", 1,
        "id", 2, "content", "[SEP]", "special", 1,
        "normalizer", "type", "BertNormalizer", "clean_text", 1, "handle_chinese_chars", 1, "strip_accents",
        "lowercase", 1,
        "pre_tokenizer", "type", "BertPreTokenizer",
        "post_processor", "type", "TemplateProcessing", "single", "SpecialToken", "id", "[CLS]", "type_id", 0,
        "Sequence", "id", "A", "type_id", 0, "SpecialToken", "id", "[SEP]", "type_id", 0, "special_tokens",
        "[CLS]", "id", "[CLS]", "ids", 1, "tokens", "[CLS]", "[SEP]", "id", "[SEP]", "ids", 2, "tokens", "[SEP]",
        "decoder", "type", "WordPiece", "prefix", prefix, "cleanup", 1,
        "model", "type", "WordPiece", "unk_token", "[UNK]", "continuing_subword_prefix", prefix,
        "max_input_chars_per_word", max_chars, "vocab", "[UNK]", 0, "[CLS]", 1, "[SEP]", 2, "un", 3, "aff", 4,
        "able", 5, ".", 6, "do", 7, "not", 8, "'", 9, "s", 10, "t", 11, "n", 12);
    /* the continuation pieces, spelled with the prefix */
    json_t *v = json_object_get(json_object_get(j, "model"), "vocab");
    static const char *const cont[] = {"aff", "able", "s", "t"};
    for (int i = 0; i < 4; i++) {
        char k[32];
        snprintf(k, sizeof k, "%s%s", prefix, cont[i]);
        json_object_set_new(v, k, json_integer(13 + i));
    }
    tokenizer *t = load_json(j, err);
    if (!t) print_error("%s\n", err);
    return t;
}

static void wordpiece_rules(void **state) {
    (void)state;
    tokenizer *t = wordpiece("##", 9);
    assert_non_null(t);
    /* un ##aff ##able; "unaffablx" has no piece for its tail: [UNK] (the
     * whole word); "unaffables": 10 characters > max 9: [UNK] */
    int32_t a[] = {1, 3, 13, 14, 2};
    assert_ids(t, "UnAffable", true, a, 5);
    int32_t b[] = {3, 13, 0, 6};
    assert_ids(t, "unaff unaffablx.", false, b, 4);
    int32_t c[] = {3, 13, 14, 0};
    assert_ids(t, "unaffable\tUNAFFABLES", false, c, 4);
    /* decoder: first token as is, "##" glued, cleanup of " ." and " 's" */
    int32_t d[] = {3, 13, 6, 7, 8, 9, 10};
    char *s = tok_decode(t, d, 7, false);
    assert_string_equal(s, "unaff. do not ' s");
    free(s);
    int32_t e[] = {13, 3, 9, 16};
    s = tok_decode(t, e, 4, false);
    assert_string_equal(s, "##aff un 't"); /* a text starting with a continuation keeps "##" */
    free(s);
    int32_t f[] = {1, 3, 13, 2, 0};
    s = tok_decode(t, f, 5, false);
    assert_string_equal(s, "[CLS] unaff [SEP] [UNK]");
    free(s);
    s = tok_decode(t, f, 5, true);
    assert_string_equal(s, "unaff");
    free(s);
    assert_stream_equals_decode(t, f, 5);
    assert_stream_equals_decode(t, e, 4);
    tok_free(t);
    /* another prefix */
    t = wordpiece("@@", 100);
    assert_non_null(t);
    int32_t g[] = {3, 13, 14};
    assert_ids(t, "unaffable", false, g, 3);
    s = tok_decode(t, g, 3, false);
    assert_string_equal(s, "unaffable");
    free(s);
    tok_free(t);
}

static void bert_gguf_stream(void **state) {
    (void)state;
    char *p = tu_model_path("vocab/ggml-vocab-bert-bge.gguf"), err[CT_ERRLEN];
    gguf_file *f = gguf_open(p, err);
    free(p);
    assert_non_null(f);
    tokenizer *t = tok_load_gguf(f, err);
    gguf_close(f);
    assert_non_null(t);
    assert_int_equal(tok_bos(t), 101);
    assert_true(tok_add_bos(t));
    int32_t *ids = NULL;
    int n = encode(t, "Hello, world! It's the \xE5\x8C\x97\xE4\xBA\xAC caf\xC3\xA9 of Unaffable things.", true, &ids);
    /* ids from the Rust tokenizers library on the same vocabulary's tokenizer.json */
    int32_t want[] = {101, 7592, 1010, 2088, 999, 2009, 1005, 1055, 1996, 1781, 1755, 7668, 1997, 14477, 20961,
                      3468, 2477, 1012, 102};
    assert_int_equal(n, (int)(sizeof want / sizeof *want));
    assert_memory_equal(ids, want, sizeof want);
    char *s = tok_decode(t, ids, (size_t)n, true);
    /* the Rust library's decode of the same ids (skip_special_tokens) */
    assert_string_equal(s, "hello, world! it ' s the \xE5\x8C\x97 \xE4\xBA\xAC cafe of unaffable things.");
    free(s);
    assert_stream_equals_decode(t, ids, (size_t)n);
    free(ids);
    tok_free(t);
}

/* ---- bad input ---- */

static void expect_json_error(json_t *j, const char *needle) {
    char err[CT_ERRLEN] = "";
    tokenizer *t = load_json(j, err);
    if (t || !strstr(err, needle)) print_error("want an error with '%s', got '%s'\n", needle, err);
    assert_null(t);
    assert_non_null(strstr(err, needle));
}

static void bad_tokenizer_json(void **state) {
    (void)state;
    expect_json_error(json_pack("{s:{s:s, s:[], s:i}}", "model", "type", "Unigram", "vocab", "unk_id", 0),
                      "model.vocab is empty");
    expect_json_error(json_pack("{s:{s:s, s:{}, s:s}}", "model", "type", "WordPiece", "vocab", "unk_token", "[UNK]"),
                      "model.vocab is empty");
    expect_json_error(json_pack("{s:{s:s, s:{s:i}, s:s}}", "model", "type", "WordPiece", "vocab", "a", 0,
                                "unk_token", "[UNK]"),
                      "unk_token '[UNK]' is not in model.vocab");
    expect_json_error(json_pack("{s:{s:s, s:[[s,f]], s:i}}", "model", "type", "Unigram", "vocab", "a", -1.0,
                                "unk_id", 5),
                      "unk_id 5");
    expect_json_error(json_pack("{s:{s:s, s:[[s,f],[i,i]], s:i}}", "model", "type", "Unigram", "vocab", "a", -1.0,
                                1, 2, "unk_id", 0),
                      "model.vocab[1]: expected [piece, score]");
    json_t *m = json_pack("{s:s, s:[[s,f]], s:i}", "type", "Unigram", "vocab", "a", -1.0, "unk_id", 0);
    expect_json_error(json_pack("{s:{s:s, s:[{s:s, s:s}]}, s:O}", "normalizer", "type", "Sequence", "normalizers",
                                "type", "Precompiled", "precompiled_charsmap", "not base64!", "model", m),
                      "not base64");
    expect_json_error(json_pack("{s:{s:s, s:s}, s:O}", "normalizer", "type", "Precompiled", "precompiled_charsmap",
                                "AAAA", "model", m),
                      "precompiled_charsmap");
    /* a header promising more trie than the blob holds: "/////w==" */
    expect_json_error(json_pack("{s:{s:s, s:s}, s:O}", "normalizer", "type", "Precompiled", "precompiled_charsmap",
                                "/////w==", "model", m),
                      "does not fit");
    /* a null charsmap (some converted files) keeps the text */
    char err0[CT_ERRLEN] = "";
    tokenizer *t0 = load_json(json_pack("{s:{s:s, s:n}, s:O}", "normalizer", "type", "Precompiled",
                                        "precompiled_charsmap", "model", m),
                              err0);
    assert_non_null(t0);
    int32_t aa[] = {0}; /* "a" is the unk piece here: "aa" fuses into one */
    assert_ids(t0, "aa", false, aa, 1);
    tok_free(t0);
    json_decref(m);

    /* no unk_id: known text encodes, an unknown character is an error */
    char err[CT_ERRLEN] = "";
    tokenizer *t = load_json(json_pack("{s:{s:s, s:[[s,f]], s:n}}", "model", "type", "Unigram", "vocab", "a", -1.0,
                                       "unk_id"),
                             err);
    assert_non_null(t);
    int32_t *ids = NULL;
    assert_int_equal(tok_encode(t, "aa", 2, false, false, &ids, err), 2);
    free(ids);
    assert_int_equal(tok_encode(t, "ab", 2, false, false, &ids, err), -1);
    assert_non_null(strstr(err, "no unk token"));
    tok_free(t);
}

static void expect_gguf_error(gw_writer *w, const char *needle) {
    char err[CT_ERRLEN] = "";
    tokenizer *t = load_gguf_writer(w, err);
    if (t || !strstr(err, needle)) print_error("want an error with '%s', got '%s'\n", needle, err);
    assert_null(t);
    assert_non_null(strstr(err, needle));
}

static void bad_gguf(void **state) {
    (void)state;
    size_t n_cm;
    uint8_t *cm = build_charsmap(RULES, sizeof RULES / sizeof *RULES, &n_cm);
    uint8_t bad[16] = {0xFF, 0xFF, 0, 0, 1, 2, 3, 4}; /* trie size 65535 in an 8-byte blob */
    expect_gguf_error(t5_gguf(bad, 8, false), "does not fit");
    uint8_t odd[] = {6, 0, 0, 0, 1, 2, 3, 4, 5, 6, 'x', 0}; /* trie of 6 bytes */
    expect_gguf_error(t5_gguf(odd, sizeof odd, false), "precompiled_charsmap");
    uint8_t *badutf = malloc(n_cm + 2);
    memcpy(badutf, cm, n_cm);
    badutf[n_cm] = (char)0xC3; /* a replacement string that is not UTF-8 */
    badutf[n_cm + 1] = 0;
    expect_gguf_error(t5_gguf(badutf, n_cm + 2, false), "not valid UTF-8");
    free(badutf);
    gw_writer *w = t5_gguf(NULL, 0, false);
    gw_add_arr(w, "tokenizer.ggml.precompiled_charsmap", GGUF_T_FLOAT32, (float[]){1, 2}, 2);
    expect_gguf_error(w, "expected a byte array");
    /* empty vocabulary */
    w = gw_new();
    gw_add_str(w, "tokenizer.ggml.model", "t5");
    gw_add_arr_str(w, "tokenizer.ggml.tokens", NULL, 0);
    expect_gguf_error(w, "tokenizer.ggml.tokens is empty");
    /* t5 without an unknown piece (and no byte pieces) */
    w = gw_new();
    gw_add_str(w, "tokenizer.ggml.model", "t5");
    gw_add_arr_str(w, "tokenizer.ggml.tokens", (const char *[]){"a", "b"}, 2);
    expect_gguf_error(w, "no unknown token id");
    /* bert without [SEP] */
    w = gw_new();
    gw_add_str(w, "tokenizer.ggml.model", "bert");
    gw_add_arr_str(w, "tokenizer.ggml.tokens", (const char *[]){"[PAD]", "[UNK]", "\xE2\x96\x81" "a"}, 3);
    gw_add_u32(w, "tokenizer.ggml.unknown_token_id", 1);
    gw_add_u32(w, "tokenizer.ggml.cls_token_id", 0);
    expect_gguf_error(w, "no separator ([SEP]) token id");

    /* garbage double arrays: loads, encodes without reading out of bounds */
    uint64_t rng = 7;
    for (int k = 0; k < 50; k++) {
        size_t units = (size_t)tu_rnd_in(&rng, 1, 64), n = 4 + 4 * units + 8;
        uint8_t *g = malloc(n);
        for (size_t i = 0; i < n; i++) g[i] = (uint8_t)tu_rnd(&rng);
        g[0] = (uint8_t)(4 * units), g[1] = (uint8_t)((4 * units) >> 8), g[2] = g[3] = 0;
        for (size_t i = 4 + 4 * units; i < n; i++) g[i] = (uint8_t)('a' + i % 3) * (i % 4 != 0);
        char err[CT_ERRLEN] = "";
        tokenizer *t = load_gguf_writer(t5_gguf(g, n, true), err);
        free(g);
        if (!t) continue; /* refused with a message: fine too */
        for (int s = 0; s < 20; s++) {
            char text[32];
            for (int i = 0; i < 31; i++) text[i] = (char)tu_rnd_in(&rng, 1, 255);
            text[31] = '\0';
            int32_t *ids = NULL;
            int m = tok_encode(t, text, 31, true, true, &ids, err);
            assert_true(m >= 0);
            for (int i = 0; i < m; i++) assert_true(ids[i] >= 0 && ids[i] < tok_n_vocab(t));
            free(ids);
        }
        tok_free(t);
    }
    free(cm);
}

static int setup(void **state) {
    (void)state;
    g_dir = tu_mkdtemp();
    return g_dir ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tu_rmrf(g_dir);
    free(g_dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(viterbi_unk),
        cmocka_unit_test(viterbi_byte_fallback),
        cmocka_unit_test(gguf_from_tokenizer_json),
        cmocka_unit_test(wordpiece_rules),
        cmocka_unit_test(bert_gguf_stream),
        cmocka_unit_test(bad_tokenizer_json),
        cmocka_unit_test(bad_gguf),
    };
    return cmocka_run_group_tests_name("tok_unigram", tests, setup, teardown);
}
