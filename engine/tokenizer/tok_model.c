/*
 * tok_model.c — the merge algorithms, on a doubly linked list of symbols
 * with a binary heap of candidate pairs (O(n log n) per word):
 *
 *  tok_spm_text      llama.cpp's SPM tokenizer: any adjacent pair whose
 *                    concatenation is a token may merge, highest token score
 *                    first (ties: leftmost); leftover pieces that are not
 *                    tokens become <0xNN> byte tokens.
 *  tok_bpe_word_gguf llama.cpp's BPE session for one pre-tokenized word:
 *                    merges by rank from tokenizer.ggml.merges (ties:
 *                    leftmost); leftover strings that are not tokens are
 *                    emitted byte by byte (llama.cpp's fallback).
 *  tok_bpe_word_hf   Hugging Face BPE: initial symbols are the characters
 *                    (unknown ones -> <0xNN> with byte_fallback, else the
 *                    unk token, fused if fuse_unk), merges by rank.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

bool tok_ids_push(tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t nc = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, nc * sizeof *v);
        if (!v) return false;
        ids->v = v;
        ids->cap = nc;
    }
    ids->v[ids->n++] = id;
    return true;
}

typedef struct {
    int32_t id;         /* token / merge-string id, -1 unknown */
    int32_t prev, next; /* neighbours, -1 at the ends */
    uint32_t off, len;  /* bytes in the word; len 0 = merged away */
} sym;

typedef struct {
    double pri;          /* smaller first: rank, or -score for SPM */
    int32_t left, right; /* symbol indices */
    int32_t a, b;        /* BPE: ids expected at left/right; SPM: total byte size */
    int32_t res;         /* BPE: merged id */
} cand;

typedef struct {
    cand *v;
    size_t n, cap;
} heap;

static bool before(const cand *x, const cand *y) {
    return x->pri < y->pri || (x->pri == y->pri && x->left < y->left);
}

static bool heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        cand *v = realloc(h->v, nc * sizeof *v);
        if (!v) return false;
        h->v = v;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return true;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < h->n && before(&h->v[l], best)) { m = l; best = &h->v[l]; }
        if (r < h->n && before(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

typedef struct {
    sym *s;
    size_t n, cap;
    heap h;
} work;

static void work_free(work *w) {
    free(w->s);
    free(w->h.v);
}

static bool sym_push(work *w, int32_t id, size_t off, size_t len) {
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        sym *v = realloc(w->s, nc * sizeof *v);
        if (!v) return false;
        w->s = v;
        w->cap = nc;
    }
    int32_t i = (int32_t)w->n;
    w->s[w->n++] = (sym){id, i - 1, -1, (uint32_t)off, (uint32_t)len};
    if (i > 0) w->s[i - 1].next = i;
    return true;
}

/* ---- rank-ordered BPE ---- */

static bool bpe_try(const tokenizer *t, work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    int32_t rank, res;
    if (!tok_pairmap_get(&t->merges, w->s[l].id, w->s[r].id, &rank, &res)) return true;
    return heap_push(&w->h, (cand){rank, l, r, w->s[l].id, w->s[r].id, res});
}

static bool bpe_run(const tokenizer *t, work *w) {
    for (size_t i = 1; i < w->n; i++)
        if (!bpe_try(t, w, (int32_t)i - 1, (int32_t)i)) return false;
    while (w->h.n) {
        cand c = heap_pop(&w->h);
        sym *L = &w->s[c.left], *R = &w->s[c.right];
        if (L->len == 0 || R->len == 0 || L->next != c.right || L->id != c.a || R->id != c.b)
            continue; /* stale: one side changed since this pair was queued */
        L->id = c.res;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) w->s[R->next].prev = c.left;
        if (!bpe_try(t, w, L->prev, c.left) || !bpe_try(t, w, c.left, L->next)) return false;
    }
    return true;
}

bool tok_bpe_word_gguf(const tokenizer *t, const char *wd, size_t n, tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, wd, n);
        if (id >= 0) return tok_ids_push(out, id);
    }
    work w = {0};
    bool ok = true;
    for (size_t off = 0; ok && off < n;) {
        size_t k = tok_utf8_len((uint8_t)wd[off]);
        if (k > n - off) k = n - off;
        ok = sym_push(&w, tok_strmap_get(&t->vocab, wd + off, k), off, k);
        off += k;
    }
    ok = ok && bpe_run(t, &w);
    for (int32_t i = w.n ? 0 : -1; ok && i >= 0; i = w.s[i].next) {
        const sym *s = &w.s[i];
        if (s->id >= 0 && s->id < t->n_vocab) {
            ok = tok_ids_push(out, s->id);
            continue;
        }
        for (uint32_t j = 0; ok && j < s->len; j++) { /* llama.cpp: each byte as a string */
            int32_t id = tok_lookup(t, wd + s->off + j, 1);
            if (id >= 0) ok = tok_ids_push(out, id);
        }
    }
    work_free(&w);
    return ok;
}

/* HF: the initial symbols of one character. */
static bool hf_char(const tokenizer *t, work *w, const char *wd, size_t off, size_t k,
                    bool *unk_open) {
    int32_t id = tok_strmap_get(&t->vocab, wd + off, k);
    if (id >= 0) {
        *unk_open = false;
        return sym_push(w, id, off, k);
    }
    if (t->byte_fallback) {
        bool all = true;
        for (size_t j = 0; j < k; j++) all = all && t->byte_id[(uint8_t)wd[off + j]] >= 0;
        if (all) {
            *unk_open = false;
            for (size_t j = 0; j < k; j++)
                if (!sym_push(w, t->byte_id[(uint8_t)wd[off + j]], off + j, 1)) return false;
            return true;
        }
    }
    if (t->unk < 0) return true; /* no unk token: the character is dropped */
    if (*unk_open && t->fuse_unk) {
        w->s[w->n - 1].len += (uint32_t)k;
        return true;
    }
    *unk_open = true;
    return sym_push(w, t->unk, off, k);
}

bool tok_bpe_word_hf(const tokenizer *t, const char *wd, size_t n, tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->vocab, wd, n);
        if (id >= 0) return tok_ids_push(out, id);
    }
    work w = {0};
    bool ok = true, unk_open = false;
    for (size_t off = 0; ok && off < n;) {
        size_t k = 1;
        while (off + k < n && ((uint8_t)wd[off + k] & 0xC0) == 0x80) k++;
        ok = hf_char(t, &w, wd, off, k, &unk_open);
        off += k;
    }
    ok = ok && bpe_run(t, &w);
    for (int32_t i = w.n ? 0 : -1; ok && i >= 0; i = w.s[i].next) ok = tok_ids_push(out, w.s[i].id);
    work_free(&w);
    return ok;
}

/* ---- SentencePiece-style merges by score ---- */

static bool spm_try(const tokenizer *t, work *w, const char *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    size_t len = (size_t)w->s[l].len + w->s[r].len;
    if (len > t->max_token_len) return true;
    int32_t id = tok_lookup(t, s + w->s[l].off, len);
    if (id < 0) return true;
    return heap_push(&w->h, (cand){-(double)t->score[id], l, r, (int32_t)len, 0, id});
}

bool tok_spm_text(const tokenizer *t, const char *s, size_t n, tok_ids *out) {
    work w = {0};
    bool ok = true;
    for (size_t off = 0; ok && off < n;) {
        size_t k = tok_utf8_len((uint8_t)s[off]);
        if (k > n - off) k = n - off;
        ok = sym_push(&w, -1, off, k);
        off += k;
    }
    for (size_t i = 1; ok && i < w.n; i++) ok = spm_try(t, &w, s, (int32_t)i - 1, (int32_t)i);
    while (ok && w.h.n) {
        cand c = heap_pop(&w.h);
        sym *L = &w.s[c.left], *R = &w.s[c.right];
        if (L->len == 0 || R->len == 0 || (int32_t)(L->len + R->len) != c.a) continue;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) w.s[R->next].prev = c.left;
        ok = spm_try(t, &w, s, L->prev, c.left) && spm_try(t, &w, s, c.left, L->next);
    }
    for (int32_t i = w.n ? 0 : -1; ok && i >= 0; i = w.s[i].next) {
        const sym *y = &w.s[i];
        int32_t id = tok_lookup(t, s + y->off, y->len);
        if (id >= 0) {
            ok = tok_ids_push(out, id);
            continue;
        }
        for (uint32_t j = 0; ok && j < y->len; j++) { /* byte fallback */
            int32_t b = t->byte_id[(uint8_t)s[y->off + j]];
            if (b < 0) b = t->unk;
            if (b >= 0) ok = tok_ids_push(out, b);
        }
    }
    work_free(&w);
    return ok;
}
