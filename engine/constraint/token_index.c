/*
 * token_index.c — a vocabulary seen as bytes: every token's text
 * (tok_token_bytes, skip_special false) and a byte trie over the tokens
 * the language may allow.
 *
 * Owns: which tokens a constraint can ever allow (not special, not an eos
 * id, non-empty text: so "</s>" can never be spelled by a control token)
 * and the trie's layout.  The trie is flat, in preorder: node i's subtree
 * is [i, end), so the mask walk (mask.c) is one forward scan that jumps
 * over a dead subtree in one step.  It is built by sorting the token texts
 * and adding them in order: each text opens nodes only past its common
 * prefix with the previous one, which is exactly preorder; tokens with the
 * same text share a node.  Immutable once built; shared by every grammar
 * compiled for the same tokenizer and eos ids (refcounted).
 */
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return a < b ? -1 : a > b;
}

/* eos[0, n) restricted to [0, n_vocab), sorted, distinct, into a new array. */
static int norm_eos(const int32_t *eos, int n, int32_t n_vocab, int32_t **out) {
    *out = malloc((size_t)(n > 0 ? n : 1) * sizeof **out);
    if (!*out) return -1;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (eos[i] >= 0 && eos[i] < n_vocab) (*out)[k++] = eos[i];
    qsort(*out, (size_t)k, sizeof **out, cmp_i32);
    int m = 0;
    for (int i = 0; i < k; i++)
        if (m == 0 || (*out)[m - 1] != (*out)[i]) (*out)[m++] = (*out)[i];
    return m;
}

bool ti_is_eos(const ti_index *ti, int32_t id) {
    return bsearch(&id, ti->eos, (size_t)ti->n_eos, sizeof id, cmp_i32) != NULL;
}

bool ti_matches(const ti_index *ti, const tokenizer *t, const int32_t *eos, int n_eos) {
    if (ti->t != t) return false;
    int32_t *e;
    int n = norm_eos(eos, n_eos, ti->n_vocab, &e);
    bool same = n == ti->n_eos && !memcmp(e, ti->eos, (size_t)n * sizeof *e);
    free(e);
    return same;
}

/* ---- texts ------------------------------------------------------------------------------------ */

static bool load_texts(ti_index *ti) {
    int32_t V = ti->n_vocab;
    if (!(ti->off = malloc(((size_t)V + 1) * sizeof *ti->off)) || !(ti->in_trie = calloc((size_t)V, 1))) return false;
    size_t total = 0;
    for (int32_t id = 0; id < V; id++) {
        ti->off[id] = (uint32_t)total;
        total += tok_token_bytes(ti->t, id, false, NULL, 0);
        if (total > UINT32_MAX) return false;
    }
    ti->off[V] = (uint32_t)total;
    if (!(ti->text = malloc(total ? total : 1))) return false;
    for (int32_t id = 0; id < V; id++) {
        size_t n = ti->off[id + 1] - ti->off[id];
        tok_token_bytes(ti->t, id, false, (char *)ti->text + ti->off[id], n);
        ti->in_trie[id] = n > 0 && n <= UINT16_MAX && !tok_is_special(ti->t, id) && !ti_is_eos(ti, id);
    }
    return true;
}

static int cmp_text(const void *x, const void *y, void *ud) {
    const ti_index *ti = ud;
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    size_t la = ti->off[a + 1] - ti->off[a], lb = ti->off[b + 1] - ti->off[b];
    int c = memcmp(ti->text + ti->off[a], ti->text + ti->off[b], la < lb ? la : lb);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* ---- the trie ---------------------------------------------------------------------------------- */

static bool build_trie(ti_index *ti) {
    int32_t V = ti->n_vocab, n = 0;
    size_t bytes = 0;
    if (!(ti->ids = malloc((size_t)(V > 0 ? V : 1) * sizeof *ti->ids))) return false;
    for (int32_t id = 0; id < V; id++)
        if (ti->in_trie[id]) {
            ti->ids[n++] = id;
            bytes += ti->off[id + 1] - ti->off[id];
            if (ti->off[id + 1] - ti->off[id] > (uint32_t)ti->max_len) ti->max_len = (int)(ti->off[id + 1] - ti->off[id]);
        }
    ti->n_ids = n;
    qsort_r(ti->ids, (size_t)n, sizeof *ti->ids, cmp_text, ti);
    ti->nodes = malloc((bytes ? bytes : 1) * sizeof *ti->nodes); /* at most one node per byte */
    uint32_t *path = malloc(((size_t)ti->max_len + 1) * sizeof *path); /* node at each depth */
    if (!ti->nodes || !path) {
        free(path);
        return false;
    }
    uint32_t nn = 0;
    int depth = 0;
    const uint8_t *prev = NULL;
    for (int32_t k = 0; k < n; k++) {
        int32_t id = ti->ids[k];
        const uint8_t *s = ti->text + ti->off[id];
        int len = (int)(ti->off[id + 1] - ti->off[id]), lcp = 0;
        while (lcp < depth && lcp < len && prev[lcp] == s[lcp]) lcp++;
        for (; depth > lcp; depth--) ti->nodes[path[depth]].end = nn; /* close what no longer matches */
        for (; depth < len; depth++) {
            ti->nodes[nn] = (ti_node){.byte = s[depth], .depth = (uint16_t)(depth + 1), .tok = -1};
            path[depth + 1] = nn++;
        }
        ti_node *nd = &ti->nodes[path[len]];
        if (nd->tok < 0) nd->tok = k;
        nd->n_tok++;
        prev = s;
    }
    for (; depth > 0; depth--) ti->nodes[path[depth]].end = nn;
    free(path);
    ti->n_nodes = nn;
    ti_node *shrunk = realloc(ti->nodes, (nn ? nn : 1) * sizeof *ti->nodes);
    if (shrunk) ti->nodes = shrunk;
    return true;
}

/* ---- life ----------------------------------------------------------------------------------------- */

ti_index *ti_build(const tokenizer *t, const int32_t *eos, int n_eos, char *err) {
    ti_index *ti = calloc(1, sizeof *ti);
    if (!ti) {
        ct_err(err, "out of memory (token index)");
        return NULL;
    }
    atomic_init(&ti->refs, 1);
    ti->t = t;
    ti->n_vocab = tok_n_vocab(t);
    ti->n_eos = norm_eos(eos, n_eos, ti->n_vocab, &ti->eos);
    if (ti->n_eos < 0 || !load_texts(ti) || !build_trie(ti)) {
        ti_unref(ti);
        ct_err(err, "out of memory (token index of %d tokens)", tok_n_vocab(t));
        return NULL;
    }
    return ti;
}

ti_index *ti_ref(ti_index *ti) {
    atomic_fetch_add_explicit(&ti->refs, 1, memory_order_relaxed);
    return ti;
}

void ti_unref(ti_index *ti) {
    if (!ti || atomic_fetch_sub_explicit(&ti->refs, 1, memory_order_acq_rel) != 1) return;
    free(ti->eos);
    free(ti->text);
    free(ti->off);
    free(ti->in_trie);
    free(ti->nodes);
    free(ti->ids);
    free(ti);
}
