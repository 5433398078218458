/*
 * tok_charsmap.c — SentencePiece's precompiled normalization rules and the
 * two ways of applying them.
 *
 * The blob (SentencePiece normalizer_spec.precompiled_charsmap, as GGUF
 * stores it in tokenizer.ggml.precompiled_charsmap and tokenizer.json in
 * base64 in a Precompiled normalizer):
 *
 *     u32 LE   trie_size                 (bytes)
 *     u32 LE   unit[trie_size / 4]       darts-clone double array
 *     char     replacements[]            NUL-terminated UTF-8 strings
 *
 * A darts-clone unit packs: bits 0..7 the label of the edge into the node
 * (bit 31 set on value units, so a value never equals a label), bit 8
 * "has a leaf" (the node ends a key), bit 9 and bits 10..30 the offset
 * of the node's children (shifted left by 8 when bit 9 is set); a value
 * unit holds its value in bits 0..30.  From node p the child for byte c is
 * p ^ offset(unit[p]) ^ c, and it exists when its label is c; the value
 * of a key ending at node q sits at q ^ offset(unit[q]).  Every index is
 * bounds-checked: a corrupt trie ends a match, it never reads outside the
 * array.
 *
 * Applying the rules:
 *   - SentencePiece (GGUF, tok_spm_normalize): at each position the
 *     longest matching source string is replaced; else one UTF-8 character
 *     is kept (a malformed byte becomes U+FFFD).  Then the dummy prefix
 *     "▁", collapsing of whitespace runs and ' ' -> "▁", as
 *     normalizer.cc's Normalize does.
 *   - Hugging Face (tokenizer.json Precompiled): per extended grapheme
 *     cluster: one shorter than 6 bytes is replaced whole by the rule of
 *     its *shortest* matching prefix; otherwise (or without a match) each
 *     character on its own.  This is tokenizers' Precompiled normalizer
 *     (spm_precompiled), quirks included.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
static bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1u; }
static uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }

bool tok_charsmap_load(tok_charsmap *cm, const uint8_t *blob, size_t n, char *err) {
    memset(cm, 0, sizeof *cm);
    if (!blob || n < 4) return ct_err(err, "precompiled_charsmap: %zu bytes, too short for a header", n);
    uint32_t trie = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                    (uint32_t)blob[3] << 24;
    if (trie == 0 || trie % 4 != 0 || trie > n - 4)
        return ct_err(err, "precompiled_charsmap: trie size %u does not fit the %zu-byte blob", trie, n);
    cm->n_units = trie / 4;
    cm->n_repl = n - 4 - trie;
    cm->units = malloc(trie);
    cm->repl = malloc(cm->n_repl + 1);
    if (!cm->units || !cm->repl) {
        tok_charsmap_free(cm);
        return ct_err(err, "out of memory");
    }
    for (size_t i = 0; i < cm->n_units; i++) {
        const uint8_t *p = blob + 4 + 4 * i;
        cm->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(cm->repl, blob + 4 + trie, cm->n_repl);
    cm->repl[cm->n_repl] = '\0'; /* the last string may lack its NUL */
    /* The replacements are emitted into the text: each must be UTF-8. */
    for (size_t i = 0; i < cm->n_repl;) {
        size_t e = i;
        while (e < cm->n_repl && cm->repl[e]) e++;
        for (size_t k = i; k < e;) {
            uint32_t cp;
            size_t l = tok_utf8_decode(cm->repl + k, e - k, &cp);
            if (!l) {
                tok_charsmap_free(cm);
                return ct_err(err, "precompiled_charsmap: replacement string at offset %zu is not valid UTF-8", i);
            }
            k += l;
        }
        i = e + 1;
    }
    if (unit_offset(cm->units[0]) >= (1u << 29)) {
        tok_charsmap_free(cm);
        return ct_err(err, "precompiled_charsmap: corrupt trie root");
    }
    return true;
}

void tok_charsmap_free(tok_charsmap *cm) {
    if (!cm) return;
    free(cm->units);
    free(cm->repl);
    cm->units = NULL;
    cm->repl = NULL;
    cm->n_units = cm->n_repl = 0;
}

/* Walk s[0..n) from the root.  For each prefix that is a key, in order of
 * length, call back; stop when it returns false.  Malformed indices end
 * the walk (no match beyond them). */
typedef bool (*match_fn)(void *ctx, size_t len, uint32_t value);

static void walk(const tok_charsmap *cm, const char *s, size_t n, match_fn fn, void *ctx) {
    if (!cm->n_units) return;
    size_t pos = unit_offset(cm->units[0]);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == 0) return; /* keys never hold NUL */
        pos ^= c;
        if (pos >= cm->n_units) return;
        uint32_t u = cm->units[pos];
        if (unit_label(u) != c) return;
        pos ^= unit_offset(u);
        if (pos >= cm->n_units) return;
        if (unit_has_leaf(u) && !fn(ctx, i + 1, unit_value(cm->units[pos]))) return;
    }
}

typedef struct {
    size_t len;
    uint32_t value;
    bool shortest;
} match_ctx;

static bool on_match(void *ctx, size_t len, uint32_t value) {
    match_ctx *m = ctx;
    m->len = len;
    m->value = value;
    return !m->shortest;
}

/* The replacement string at a value, or NULL if the value is out of range. */
static const char *repl_at(const tok_charsmap *cm, uint32_t value, size_t *len) {
    if (value >= cm->n_repl) return NULL;
    *len = strlen(cm->repl + value);
    return cm->repl + value;
}

size_t tok_charsmap_longest(const tok_charsmap *cm, const char *s, size_t n, const char **rep,
                            size_t *rep_len) {
    match_ctx m = {0, 0, false};
    walk(cm, s, n, on_match, &m);
    if (m.len == 0 || !(*rep = repl_at(cm, m.value, rep_len))) return 0;
    return m.len;
}

/* spm_precompiled's transform: the rule of the shortest matching prefix of
 * the chunk (not necessarily all of it). */
static const char *transform(const tok_charsmap *cm, const char *s, size_t n, size_t *len) {
    match_ctx m = {0, 0, true};
    walk(cm, s, n, on_match, &m);
    return m.len ? repl_at(cm, m.value, len) : NULL;
}

/* One grapheme cluster s[0..n), the Hugging Face way. */
static bool grapheme_hf(const tok_charsmap *cm, const char *s, size_t n, tok_buf *out) {
    const char *r;
    size_t rl;
    if (n < 6 && (r = transform(cm, s, n, &rl))) return tok_buf_put(out, r, rl);
    for (size_t c = 0; c < n;) {
        uint32_t x;
        size_t cl = tok_utf8_decode(s + c, n - c, &x);
        if (!cl) cl = 1;
        r = transform(cm, s + c, cl, &rl);
        if (!(r ? tok_buf_put(out, r, rl) : tok_buf_put(out, s + c, cl))) return false;
        c += cl;
    }
    return true;
}

bool tok_charsmap_normalize_hf(const tok_charsmap *cm, const char *s, size_t n, tok_buf *out) {
    out->len = 0;
    utf8proc_int32_t state = 0;
    uint32_t prev = 0;
    size_t g = 0; /* start of the current grapheme cluster */
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0xFFFD;
        size_t k = tok_utf8_decode(s + i, n - i, &cp);
        if (!k) k = 1; /* the HF path made the text valid; be safe anyway */
        /* the break state must see every consecutive pair */
        if (i > 0 && utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)cp,
                                                      &state)) {
            if (!grapheme_hf(cm, s + g, i - g, out)) return false;
            g = i;
        }
        prev = cp;
        i += k;
    }
    if (n > g && !grapheme_hf(cm, s + g, n - g, out)) return false;
    return tok_buf_put(out, "", 0);
}

/* ---- SentencePiece's normalizer (GGUF Unigram vocabularies) ---- */

/* One normalization step at s[0..n): the replacement and what it consumes. */
static size_t norm_prefix(const tokenizer *t, const char *s, size_t n, const char **rep,
                          size_t *rep_len) {
    if (t->charsmap) {
        size_t m = tok_charsmap_longest(t->charsmap, s, n, rep, rep_len);
        if (m) return m;
    }
    uint32_t cp;
    size_t k = tok_utf8_decode(s, n, &cp);
    if (k == 0) { /* a malformed byte: U+FFFD, one byte consumed */
        *rep = "\xEF\xBF\xBD";
        *rep_len = 3;
        return 1;
    }
    *rep = s;
    *rep_len = k;
    return k;
}

bool tok_spm_normalize(const tokenizer *t, const char *s, size_t n, bool prefix, tok_buf *out) {
    static const char SPACE[] = "\xE2\x96\x81";
    out->len = 0;
    const char *r;
    size_t rl, i = 0;
    if (n == 0) return tok_buf_put(out, "", 0);
    if (t->remove_extra_ws) /* leading whitespace goes */
        while (i < n) {
            size_t k = norm_prefix(t, s + i, n - i, &r, &rl);
            if (rl != 1 || r[0] != ' ') break;
            i += k;
        }
    if (prefix && !tok_buf_put(out, SPACE, 3)) return false;
    bool prev_space = t->remove_extra_ws;
    while (i < n) {
        size_t k = norm_prefix(t, s + i, n - i, &r, &rl);
        /* a rule's output starts without the spaces a space before it
         * already gave */
        while (prev_space && rl > 0 && r[0] == ' ') {
            r++;
            rl--;
        }
        if (rl > 0) {
            for (size_t j = 0; j < rl; j++)
                if (!(r[j] == ' ' ? tok_buf_put(out, SPACE, 3) : tok_buf_putc(out, r[j]))) return false;
            prev_space = r[rl - 1] == ' ';
        }
        i += k;
        prev_space = prev_space && t->remove_extra_ws;
    }
    if (t->remove_extra_ws) /* and trailing whitespace */
        while (out->len >= 3 && memcmp(out->p + out->len - 3, SPACE, 3) == 0) out->len -= 3;
    return tok_buf_put(out, "", 0);
}
