/*
 * tok_special.c — finding added/special tokens in raw text before the model
 * runs, in the two dialects:
 *
 *  tok_partition_llama  llama.cpp's tokenizer_st_partition: special tokens
 *      (CONTROL, USER_DEFINED, UNKNOWN; CONTROL/UNKNOWN only when
 *      parse_special) are taken longest first, each one splitting every
 *      remaining text fragment at all its occurrences, left to right;
 *      LSTRIP/RSTRIP drop the (ASCII) whitespace next to a match.  Emulated
 *      in one pass: a trie lists every occurrence, occurrences are taken in
 *      (token priority, position) order when all their bytes are still free.
 *  tok_partition_hf     Hugging Face AddedVocabulary: leftmost-longest
 *      matches; single_word, lstrip/rstrip (Unicode whitespace) per token;
 *      with parse_special false special tokens are found but skipped
 *      (tokenizers' encode_special_tokens), other added tokens still split.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- trie ---- */

bool tok_trie_insert(tok_trie *tr, const char *s, size_t n, int32_t id) {
    if (!tr->edges.ents && !tok_pairmap_init(&tr->edges, 256)) return false;
    if (!tr->token) {
        if (!(tr->token = malloc(sizeof *tr->token))) return false;
        tr->token[0] = -1;
        tr->n_nodes = 1;
    }
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t rank, child;
        if (!tok_pairmap_get(&tr->edges, node, (uint8_t)s[i], &rank, &child)) {
            int32_t *tk = realloc(tr->token, ((size_t)tr->n_nodes + 1) * sizeof *tk);
            if (!tk) return false;
            tr->token = tk;
            child = tr->n_nodes++;
            tk[child] = -1;
            if (tok_pairmap_put(&tr->edges, node, (uint8_t)s[i], 0, child) < 0) return false;
        }
        node = child;
    }
    if (n > 0 && tr->token[node] < 0) tr->token[node] = id; /* the first of equal texts wins */
    return true;
}

void tok_trie_free(tok_trie *tr) {
    tok_pairmap_free(&tr->edges);
    free(tr->token);
    tr->token = NULL;
    tr->n_nodes = 0;
}

/* The longest token starting at s[0]: its id (and *len), or -1. */
static int32_t trie_longest(const tok_trie *tr, const char *s, size_t n, size_t *len) {
    int32_t node = 0, best = -1;
    if (!tr->token) return -1;
    for (size_t i = 0; i < n; i++) {
        int32_t rank, child;
        if (!tok_pairmap_get(&tr->edges, node, (uint8_t)s[i], &rank, &child)) break;
        node = child;
        if (tr->token[node] >= 0) {
            best = tr->token[node];
            *len = i + 1;
        }
    }
    return best;
}

/* ---- fragments ---- */

static bool frag_push(tok_frags *f, size_t off, size_t len, int32_t token) {
    if (token < 0 && len == 0) return true;
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        tok_frag *v = realloc(f->v, nc * sizeof *v);
        if (!v) return false;
        f->v = v;
        f->cap = nc;
    }
    f->v[f->n++] = (tok_frag){off, len, token};
    return true;
}

void tok_frags_free(tok_frags *f) {
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

/* ---- llama.cpp ---- */

typedef struct {
    int32_t rank; /* position in t->spec_order */
    uint32_t pos;
} occ;

static int occ_cmp(const void *a, const void *b) {
    const occ *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static bool c_isspace(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Every occurrence of every eligible special token. */
static bool find_occurrences(const tokenizer *t, const char *s, size_t n, bool parse_special,
                             occ **out, size_t *n_out) {
    size_t cap = 0;
    *out = NULL;
    *n_out = 0;
    for (size_t p = 0; p < n; p++) {
        int32_t node = 0, rank, child;
        for (size_t i = p; i < n; i++) {
            if (!tok_pairmap_get(&t->trie_raw.edges, node, (uint8_t)s[i], &rank, &child)) break;
            node = child;
            int32_t id = t->trie_raw.token[node];
            if (id < 0 || (!parse_special && (t->attr[id] & TOK_ATTR_SPECIAL))) continue;
            if (*n_out == cap) {
                cap = cap ? cap * 2 : 16;
                occ *v = realloc(*out, cap * sizeof *v);
                if (!v) return false;
                *out = v;
            }
            (*out)[(*n_out)++] = (occ){t->spec_rank[id], (uint32_t)p};
        }
    }
    if (*n_out > 1) qsort(*out, *n_out, sizeof **out, occ_cmp);
    return true;
}

/* Take occurrence o if all its bytes are free; strip around it. */
static void take(const tokenizer *t, const char *s, size_t n, uint8_t *state, int32_t *at,
                 const occ *o) {
    int32_t id = t->spec_order[o->rank];
    size_t p = o->pos, len = t->len[id];
    for (size_t i = p; i < p + len; i++)
        if (state[i]) return;
    memset(state + p, 1, len);
    at[p] = id;
    if (t->attr[id] & TOK_ATTR_LSTRIP)
        for (size_t q = p; q > 0 && !state[q - 1] && c_isspace(s[q - 1]); q--) state[q - 1] = 2;
    if (t->attr[id] & TOK_ATTR_RSTRIP)
        for (size_t q = p + len; q < n && !state[q] && c_isspace(s[q]); q++) state[q] = 2;
}

bool tok_partition_llama(const tokenizer *t, const char *s, size_t n, bool parse_special,
                         tok_frags *out) {
    occ *oc = NULL;
    size_t n_oc = 0;
    if (!t->trie_raw.token || n == 0) return frag_push(out, 0, n, -1);
    if (!find_occurrences(t, s, n, parse_special, &oc, &n_oc)) return false;
    if (n_oc == 0) {
        free(oc);
        return frag_push(out, 0, n, -1);
    }
    uint8_t *state = calloc(n, 1); /* 0 text, 1 token, 2 stripped */
    int32_t *at = malloc(n * sizeof *at);
    bool ok = state && at;
    for (size_t i = 0; ok && i < n_oc; i++) take(t, s, n, state, at, &oc[i]);
    for (size_t i = 0; ok && i < n;) {
        if (state[i] == 1) {
            ok = frag_push(out, i, 0, at[i]);
            i += t->len[at[i]];
        } else if (state[i] == 2) {
            i++;
        } else {
            size_t j = i;
            while (j < n && state[j] == 0) j++;
            ok = frag_push(out, i, j - i, -1);
            i = j;
        }
    }
    free(state);
    free(at);
    free(oc);
    return ok;
}

/* ---- Hugging Face ---- */

static bool is_word_char(uint32_t cp) {
    if (cp == '_') return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* The codepoint ending at s[end) (or starting at s[start]). */
static bool cp_before(const char *s, size_t end, uint32_t *cp, size_t *len) {
    size_t p = end;
    if (p == 0) return false;
    do p--; while (p > 0 && ((uint8_t)s[p] & 0xC0) == 0x80);
    *len = tok_utf8_decode(s + p, end - p, cp);
    return *len > 0;
}

static bool single_word_ok(const char *s, size_t n, size_t a, size_t b) {
    uint32_t cp;
    size_t k;
    if (cp_before(s, a, &cp, &k) && is_word_char(cp)) return false;
    if (b < n && tok_utf8_decode(s + b, n - b, &cp) && is_word_char(cp)) return false;
    return true;
}

bool tok_partition_hf(const tokenizer *t, const tok_trie *tr, const char *s, size_t n,
                      bool parse_special, tok_frags *out) {
    size_t pos = 0, start_off = 0;
    while (pos < n) {
        size_t len = 0;
        int32_t id = trie_longest(tr, s + pos, n - pos, &len);
        if (id < 0) {
            pos++;
            continue;
        }
        size_t a = pos, b = pos + len;
        uint16_t at = t->attr[id];
        pos = b;
        if (!parse_special && (at & TOK_ATTR_CONTROL)) continue;
        if ((at & TOK_ATTR_SINGLE_WORD) && !single_word_ok(s, n, a, b)) continue;
        uint32_t cp;
        size_t k;
        if (at & TOK_ATTR_LSTRIP)
            while (a > start_off && cp_before(s, a, &cp, &k) && tok_is_white_space(cp)) a -= k;
        if (at & TOK_ATTR_RSTRIP)
            while (b < n && (k = tok_utf8_decode(s + b, n - b, &cp)) && tok_is_white_space(cp)) b += k;
        if (!frag_push(out, start_off, a - start_off, -1) || !frag_push(out, a, 0, id)) return false;
        start_off = pos = b;
    }
    return frag_push(out, start_off, n - start_off, -1);
}
