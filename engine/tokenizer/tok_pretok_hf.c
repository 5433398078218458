/*
 * tok_pretok_hf.c — tokenizer.json pre-tokenizer pipelines, following
 * Hugging Face tokenizers' PreTokenizedString semantics: every step splits
 * every current piece further (or rewrites it).
 *
 *  Split      regex or literal matches + a SplitDelimiterBehavior
 *             (Removed, Isolated, MergedWithPrevious, MergedWithNext,
 *             Contiguous) and `invert`.  Digits, Whitespace,
 *             WhitespaceSplit, Punctuation and BertPreTokenizer are loaded
 *             as Split steps (tok_hf_pipe.c).
 *  ByteLevel  optional prefix space, optional GPT-2 regex split (Isolated),
 *             then bytes -> the byte-level alphabet.
 *  Metaspace  ' ' -> replacement, prepend per prepend_scheme (First: only
 *             the piece that starts the input), optional split on the
 *             replacement (MergedWithNext).
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t s, e;
    bool m;
} seg;

typedef struct {
    seg *v;
    size_t n, cap;
    size_t *sp; /* regex match spans (scratch) */
    size_t n_sp, cap_sp;
} seg_list;

static bool seg_push(seg_list *l, size_t s, size_t e, bool m) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        seg *v = realloc(l->v, nc * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = (seg){s, e, m};
    return true;
}

/* Matches of a literal, left to right, non-overlapping. */
static bool literal_spans(seg_list *l, const char *lit, size_t k, const char *s, size_t n) {
    l->n_sp = 0;
    for (size_t i = 0; k > 0 && i + k <= n;) {
        const char *hit = memmem(s + i, n - i, lit, k);
        if (!hit) break;
        size_t p = (size_t)(hit - s);
        if (l->n_sp == l->cap_sp) {
            size_t nc = l->cap_sp ? l->cap_sp * 2 : 32;
            size_t *v = realloc(l->sp, nc * 2 * sizeof *v);
            if (!v) return false;
            l->sp = v;
            l->cap_sp = nc;
        }
        l->sp[2 * l->n_sp] = p;
        l->sp[2 * l->n_sp + 1] = p + k;
        l->n_sp++;
        i = p + k;
    }
    return true;
}

/* Cover s[0..n) with gaps and matches (matches from l->sp), then invert. */
static bool cover(seg_list *l, size_t n, bool invert) {
    l->n = 0;
    size_t prev = 0;
    bool ok = true;
    for (size_t m = 0; ok && m < l->n_sp; m++) {
        size_t s = l->sp[2 * m], e = l->sp[2 * m + 1];
        if (s > prev) ok = seg_push(l, prev, s, invert);
        ok = ok && seg_push(l, s, e, !invert);
        prev = e;
    }
    if (ok && prev < n) ok = seg_push(l, prev, n, invert);
    return ok;
}

/* Rewrite l->v in place into the kept ranges of behavior b. */
static void apply_behavior(seg_list *l, tok_split_behavior b) {
    size_t k = 0;
    bool prev = false;
    if (b == TOK_SPLIT_MERGED_NEXT) { /* walk backwards, merging a match into its successor */
        size_t w = l->n;
        for (size_t i = l->n; i-- > 0;) {
            seg x = l->v[i];
            if (x.m && !prev && w < l->n) l->v[w].s = x.s;
            else l->v[--w] = (seg){x.s, x.e, false};
            prev = x.m;
        }
        memmove(l->v, l->v + w, (l->n - w) * sizeof *l->v);
        l->n -= w;
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        seg x = l->v[i];
        bool merge = false;
        switch (b) {
        case TOK_SPLIT_REMOVED:
            if (x.m) continue;
            break;
        case TOK_SPLIT_MERGED_PREV: merge = x.m && !prev && k > 0; break;
        case TOK_SPLIT_CONTIGUOUS: merge = x.m == prev && k > 0; break;
        default: break;
        }
        prev = x.m;
        if (merge) l->v[k - 1].e = x.e;
        else l->v[k++] = (seg){x.s, x.e, false};
    }
    l->n = k;
}

static bool emit_segments(const seg_list *l, const char *s, bool first, bool bytelevel,
                          tok_pieces *dst, tok_buf *scratch) {
    for (size_t i = 0; i < l->n; i++) {
        const char *p = s + l->v[i].s;
        size_t n = l->v[i].e - l->v[i].s;
        bool f = first && l->v[i].s == 0;
        if (bytelevel) {
            scratch->len = 0;
            if (!tok_bytelevel_encode(scratch, p, n)) return false;
            p = scratch->p;
            n = scratch->len;
        }
        if (!tok_pieces_add(dst, p, n, f)) return false;
    }
    return true;
}

static bool step_split(const tok_pt_step *st, const char *s, size_t n, bool first,
                       tok_pieces *dst, seg_list *l, tok_buf *scratch, char *err) {
    bool ok;
    if (st->has_rx) {
        l->n_sp = 0;
        ok = tok_rx_find_all(&st->rx, s, n, &l->sp, &l->n_sp, &l->cap_sp, err);
    } else {
        ok = literal_spans(l, st->literal, st->literal_len, s, n) || ct_err(err, "out of memory");
    }
    if (!ok) return false;
    if (!cover(l, n, st->invert)) return ct_err(err, "out of memory");
    apply_behavior(l, st->behavior);
    return emit_segments(l, s, first, false, dst, scratch) || ct_err(err, "out of memory");
}

static bool step_bytelevel(const tok_pt_step *st, const char *s, size_t n, bool first,
                           tok_pieces *dst, seg_list *l, tok_buf *scratch, char *err) {
    tok_buf pre = {0};
    if (st->add_prefix_space && (n == 0 || s[0] != ' ')) {
        if (!tok_buf_putc(&pre, ' ') || !tok_buf_put(&pre, s, n)) {
            tok_buf_free(&pre);
            return ct_err(err, "out of memory");
        }
        s = pre.p;
        n = pre.len;
    }
    bool ok = true;
    l->n_sp = 0;
    if (st->has_rx) ok = tok_rx_find_all(&st->rx, s, n, &l->sp, &l->n_sp, &l->cap_sp, err);
    else if (n > 0) { /* one span: the whole piece */
        ok = literal_spans(l, s, n, s, n) || ct_err(err, "out of memory");
    }
    if (ok && !cover(l, n, false)) ok = ct_err(err, "out of memory");
    if (ok && !emit_segments(l, s, first, true, dst, scratch)) ok = ct_err(err, "out of memory");
    tok_buf_free(&pre);
    return ok;
}

static bool step_metaspace(const tok_pt_step *st, const char *s, size_t n, bool first,
                           tok_pieces *dst, seg_list *l, tok_buf *scratch, char *err) {
    size_t rl = strlen(st->repl);
    tok_buf r = {0};
    bool ok = true;
    bool prepend = st->prepend == 2 || (st->prepend == 1 && first);
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] == ' ' ? tok_buf_put(&r, st->repl, rl) : tok_buf_putc(&r, s[i]);
    if (ok && prepend && !(r.len >= rl && memcmp(r.p, st->repl, rl) == 0)) {
        tok_buf t = {0};
        ok = tok_buf_put(&t, st->repl, rl) && tok_buf_put(&t, r.p ? r.p : "", r.len);
        tok_buf_free(&r);
        r = t;
    }
    if (ok && st->split) {
        ok = literal_spans(l, st->repl, rl, r.p, r.len) && cover(l, r.len, false);
        if (ok) {
            apply_behavior(l, TOK_SPLIT_MERGED_NEXT);
            ok = emit_segments(l, r.p, first, false, dst, scratch);
        }
    } else if (ok) {
        ok = tok_pieces_add(dst, r.p, r.len, first);
    }
    tok_buf_free(&r);
    return ok || ct_err(err, "out of memory");
}

bool tok_pretok_hf(const tokenizer *t, const char *text, size_t len, bool first,
                   tok_pieces *out, char *err) {
    if (t->n_pt == 0) return tok_pieces_add(out, text, len, first) || ct_err(err, "out of memory");
    tok_pieces a = {0}, b = {0};
    seg_list l = {0};
    tok_buf scratch = {0};
    bool ok = tok_pieces_add(&a, text, len, first) || ct_err(err, "out of memory");
    for (size_t k = 0; ok && k < t->n_pt; k++) {
        const tok_pt_step *st = &t->pt[k];
        tok_pieces *dst = k + 1 == t->n_pt ? out : &b;
        if (dst == &b) tok_pieces_clear(&b);
        for (size_t i = 0; ok && i < a.n; i++) {
            const char *s = a.buf.p + a.v[i].off;
            size_t n = a.v[i].len;
            bool f = a.v[i].first;
            switch (st->kind) {
            case TOK_PT_SPLIT: ok = step_split(st, s, n, f, dst, &l, &scratch, err); break;
            case TOK_PT_BYTELEVEL: ok = step_bytelevel(st, s, n, f, dst, &l, &scratch, err); break;
            case TOK_PT_METASPACE: ok = step_metaspace(st, s, n, f, dst, &l, &scratch, err); break;
            }
        }
        tok_pieces tmp = a;
        a = b;
        b = tmp;
    }
    tok_pieces_free(&a);
    tok_pieces_free(&b);
    free(l.v);
    free(l.sp);
    tok_buf_free(&scratch);
    return ok;
}

void tok_pt_step_free(tok_pt_step *s) {
    if (s->has_rx) tok_rx_free(&s->rx);
    free(s->literal);
    s->has_rx = false;
    s->literal = NULL;
}
