/*
 * mask_test.c — token masks of engine/constraint on real vocabularies
 * (GPT-2 byte-level BPE 50257, Llama SentencePiece 32000 with byte
 * fallback, stories260K's 512), against brute force:
 *   - along random token paths of several regexes, at every step
 *     cons_mask_logits must allow exactly the tokens whose text, appended
 *     to the text so far, is still a prefix of the language — decided per
 *     token by this file's own NFA simulation (all states, its own
 *     co-reachability, no DFA, no trie) and, where the text is whole
 *     UTF-8, by PCRE2's partial matching; special tokens and empty texts
 *     never; eos ids exactly when the text is in the language; allowed
 *     logits keep their values; the count is the number of finite logits;
 *   - cons_accept refuses a token the mask refused and leaves the matcher
 *     where it was; cons_is_accepting / cons_is_complete agree with brute
 *     force;
 *   - the same masks when the DFA cache holds 2 states or the mask budget
 *     is 0 (masks computed into the matcher's scratch every time);
 *   - eos: allowed only in accepting states, never with allow_eos false;
 *     rows longer / shorter than the vocabulary;
 *   - several threads masking and accepting with one grammar give the
 *     masks a lone thread gives;
 *   - cons_cache: a hit is the same grammar, LRU eviction, another eos set
 *     is another key, errors pass through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include "support/pcre_oracle.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"
#include "model/model_info.h"
#include "support/testutil.h"

typedef struct {
    const char *file;
    tokenizer *t;
} vocab;

static vocab vocabs[] = {
    {"vocab/ggml-vocab-gpt-2.gguf", NULL},
    {"vocab/ggml-vocab-llama-spm.gguf", NULL},
    {"stories260K.gguf", NULL},
};
enum { N_VOCABS = sizeof vocabs / sizeof vocabs[0] };

static int setup(void **st) {
    for (int i = 0; i < N_VOCABS; i++) {
        char err[CT_ERRLEN], *path = tu_model_path(vocabs[i].file);
        vocabs[i].t = model_load_tokenizer(path, err);
        if (!vocabs[i].t) fprintf(stderr, "%s: %s\n", path, err);
        free(path);
        if (!vocabs[i].t) return -1;
    }
    return 0;
}

static int teardown(void **st) {
    for (int i = 0; i < N_VOCABS; i++) tok_free(vocabs[i].t);
    return 0;
}

/* ---- brute force: this file's own NFA simulation -------------------------------------------- */

typedef struct {
    const nfa *a;
    uint8_t *coreach; /* MATCH reachable, by a reverse search of every edge */
    uint32_t *mark, gen;
    int32_t *stack;
} sim;

static void sim_init(sim *s, const nfa *a) {
    s->a = a;
    s->coreach = calloc((size_t)a->n, 1);
    s->mark = calloc((size_t)a->n, sizeof *s->mark);
    s->stack = malloc((size_t)a->n * sizeof *s->stack);
    s->gen = 0;
    s->coreach[NFA_MATCH_STATE] = 1;
    for (bool changed = true; changed;) { /* plain fixed point over all edges */
        changed = false;
        for (int32_t i = 0; i < a->n; i++) {
            const nfa_state *x = &a->st[i];
            if (s->coreach[i]) continue;
            bool c = (x->out >= 0 && x->kind != NFA_MATCH && x->kind != NFA_FAIL && s->coreach[x->out]) ||
                     (x->kind == NFA_SPLIT && s->coreach[x->out1]);
            if (c) s->coreach[i] = 1, changed = true;
        }
    }
}

static void sim_free(sim *s) {
    free(s->coreach);
    free(s->mark);
    free(s->stack);
}

/* Every state (not only byte/match ones) reachable by epsilon moves from
 * the n states of in, into out; returns the count. */
static int sim_close(sim *s, const int32_t *in, int n, int32_t *out) {
    s->gen++;
    int k = 0, sp = 0;
    for (int i = 0; i < n; i++)
        if (s->mark[in[i]] != s->gen) s->mark[in[i]] = s->gen, s->stack[sp++] = in[i];
    while (sp > 0) {
        int32_t id = s->stack[--sp];
        out[k++] = id;
        const nfa_state *x = &s->a->st[id];
        int32_t nx[2] = {x->kind == NFA_SPLIT || x->kind == NFA_EPS ? x->out : -1, x->kind == NFA_SPLIT ? x->out1 : -1};
        for (int j = 0; j < 2; j++)
            if (nx[j] >= 0 && s->mark[nx[j]] != s->gen) s->mark[nx[j]] = s->gen, s->stack[sp++] = nx[j];
    }
    return k;
}

static int sim_step(sim *s, const int32_t *set, int n, uint8_t b, int32_t *out) {
    int32_t *tmp = malloc((size_t)s->a->n * sizeof *tmp);
    int m = 0;
    for (int i = 0; i < n; i++) {
        const nfa_state *x = &s->a->st[set[i]];
        if (x->kind == NFA_BYTE && b >= x->lo && b <= x->hi) tmp[m++] = x->out;
    }
    int k = sim_close(s, tmp, m, out);
    free(tmp);
    return k;
}

static bool sim_viable(const sim *s, const int32_t *set, int n) {
    for (int i = 0; i < n; i++)
        if (s->coreach[set[i]]) return true;
    return false;
}

static bool sim_accepting(const sim *s, const int32_t *set, int n) {
    for (int i = 0; i < n; i++)
        if (set[i] == NFA_MATCH_STATE) return true;
    return false;
}

/* ---- PCRE2 ------------------------------------------------------------------------------------- */

static pcre2_code *oracle(const char *re) {
    pcre2_code *c = pcre_whole(re);
    assert_non_null(c);
    return c;
}

/* Whole UTF-8 text only: is it a prefix of (or) a match? -1: not whole UTF-8. */
static int oracle_viable(pcre2_code *c, pcre2_match_data *md, const uint8_t *s, size_t n) {
    int r = pcre2_match(c, s, n, 0, PCRE2_PARTIAL_HARD, md, NULL);
    if (r <= PCRE2_ERROR_UTF8_ERR1 && r >= PCRE2_ERROR_UTF8_ERR21) return -1;
    return r >= 0 || r == PCRE2_ERROR_PARTIAL;
}

/* ---- the walk ------------------------------------------------------------------------------------ */

typedef struct {
    cons_matcher *m;
    sim *s;
    int32_t *set; /* the text so far, as this file's NFA set */
    int n;
    uint8_t text[4096];
    size_t len;
} path;

static bool token_allowed_brute(const path *p, const tokenizer *t, int32_t id, pcre2_code *pc, pcre2_match_data *md,
                                int32_t *b1, int32_t *b2) {
    char buf[512];
    size_t n = tok_token_bytes(t, id, false, buf, sizeof buf);
    if (n == 0 || n > sizeof buf || tok_is_special(t, id)) return false;
    int k = p->n;
    memcpy(b1, p->set, (size_t)k * sizeof *b1);
    for (size_t i = 0; i < n && k > 0; i++) {
        k = sim_step(p->s, b1, k, (uint8_t)buf[i], b2);
        memcpy(b1, b2, (size_t)k * sizeof *b1);
    }
    bool viable = sim_viable(p->s, b1, k);
    uint8_t whole[4096 + 512];
    memcpy(whole, p->text, p->len);
    memcpy(whole + p->len, buf, n);
    int o = oracle_viable(pc, md, whole, p->len + n);
    if (o >= 0 && o != viable) fail_msg("token %d \"%.*s\" after \"%.*s\": PCRE2 %d, NFA %d", id, (int)n, buf, (int)p->len, p->text, o, viable);
    return viable;
}

/* The mask of p's state against brute force; returns the allowed ids. */
static int check_mask(path *p, const tokenizer *t, const int32_t *eos, int n_eos, pcre2_code *pc, int32_t *allowed) {
    int V = tok_n_vocab(t);
    float *row = malloc((size_t)(V + 7) * sizeof *row);
    for (int i = 0; i < V + 7; i++) row[i] = (float)(i % 97) * 0.25f - 3.0f;
    int count = cons_mask_logits(p->m, row, V + 7); /* 7 ids past the tokenizer: never allowed */
    int32_t *b1 = malloc((size_t)p->s->a->n * sizeof *b1), *b2 = malloc((size_t)p->s->a->n * sizeof *b2);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(pc, NULL);
    bool acc = sim_accepting(p->s, p->set, p->n);
    assert_int_equal(cons_is_accepting(p->m), acc);
    int finite = 0, n_allowed = 0;
    for (int id = 0; id < V + 7; id++) {
        bool is_eos = false;
        for (int e = 0; e < n_eos; e++) is_eos |= eos[e] == id;
        bool want = id >= V ? false : is_eos ? acc : token_allowed_brute(p, t, id, pc, md, b1, b2);
        bool got = row[id] != -INFINITY;
        if (want != got) fail_msg("id %d after \"%.*s\": mask %d, brute force %d", id, (int)p->len, p->text, got, want);
        if (got) {
            assert_true(row[id] == (float)(id % 97) * 0.25f - 3.0f); /* value untouched */
            finite++;
            if (!is_eos) allowed[n_allowed++] = id;
        }
    }
    assert_int_equal(count, finite);
    pcre2_match_data_free(md);
    free(b1);
    free(b2);
    free(row);
    return n_allowed;
}

/* complete: accepting and no byte continues (brute force over all bytes) */
static bool brute_complete(path *p) {
    if (!sim_accepting(p->s, p->set, p->n)) return false;
    int32_t *b = malloc((size_t)p->s->a->n * sizeof *b);
    bool more = false;
    for (int v = 0; v < 256 && !more; v++) more = sim_viable(p->s, b, sim_step(p->s, p->set, p->n, (uint8_t)v, b));
    free(b);
    return !more;
}

static void path_advance(path *p, const tokenizer *t, int32_t id) {
    char buf[512];
    size_t n = tok_token_bytes(t, id, false, buf, sizeof buf);
    int32_t *b = malloc((size_t)p->s->a->n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        p->n = sim_step(p->s, p->set, p->n, (uint8_t)buf[i], b);
        memcpy(p->set, b, (size_t)p->n * sizeof *b);
    }
    free(b);
    assert_true(p->len + n < sizeof p->text);
    memcpy(p->text + p->len, buf, n);
    p->len += n;
}

static const char *const mask_res[] = {
    "[a-z]+ (cat|dog)",
    "\\d{3}-\\d{4}",
    "\\{\"a\": (true|false), \"b\": \\d{1,3}\\}",
    "\"([^\"\\\\\\x00-\\x1f]|\\\\[\"\\\\/bfnrt])*\"",
    "(é|ü|😀)+[^a-z]{2}",
    " ?[A-Z][a-z]+",
    ".{0,5}",
    "\\n\\n(yes|no)",
};

/* Random paths through re on tokenizer t; each step checked in full.  The
 * masks seen are compared with those of `twins` (the same regex with a
 * 2-state cache and with no mask budget). */
static void walk_regex(const tokenizer *t, const char *re, uint64_t seed, int steps) {
    char err[CT_ERRLEN];
    int32_t eos[2] = {tok_eos(t), 0}; /* and id 0 (<unk> / "!"), to have two */
    cons_grammar *g = cons_compile(re, strlen(re), t, eos, 2, err);
    if (!g) fail_msg("%s: %s", re, err);
    cons_grammar *capped = cons_compile_index(re, strlen(re), g->ti, 2, err);
    cons_grammar *nobudget = cons_compile_index(re, strlen(re), g->ti, CONS_MAX_DFA_STATES, err);
    assert_non_null(capped);
    assert_non_null(nobudget);
    nobudget->mask_budget = 0;
    sim s;
    sim_init(&s, &g->d.a);
    pcre2_code *pc = oracle(re);
    int V = tok_n_vocab(t);
    int32_t *allowed = malloc((size_t)V * sizeof *allowed);
    uint64_t rnd = seed;
    path p = {.m = cons_matcher_new(g), .s = &s, .set = malloc((size_t)g->d.a.n * sizeof *p.set)};
    cons_matcher *twin[2] = {cons_matcher_new(capped), cons_matcher_new(nobudget)};
    int32_t start = g->d.a.start;
    p.n = sim_close(&s, &start, 1, p.set);
    float *r1 = malloc((size_t)V * sizeof *r1), *r2 = malloc((size_t)V * sizeof *r2);
    for (int step = 0; step < steps; step++) {
        int n = check_mask(&p, t, eos, 2, pc, allowed);
        assert_int_equal(cons_is_complete(p.m), brute_complete(&p));
        for (int k = 0; k < 2; k++) { /* the twins agree, count included */
            for (int i = 0; i < V; i++) r1[i] = r2[i] = 1.0f;
            int c1 = cons_mask_logits(p.m, r1, V), c2 = cons_mask_logits(twin[k], r2, V);
            assert_int_equal(c1, c2);
            assert_memory_equal(r1, r2, (size_t)V * sizeof *r1);
            assert_int_equal(cons_is_complete(p.m), cons_is_complete(twin[k]));
        }
        if (n == 0) break;
        int32_t bad = -1; /* a refused token changes nothing */
        for (int tries = 0; tries < 50 && bad < 0; tries++) {
            int32_t id = (int32_t)(tu_rnd(&rnd) % (uint64_t)V);
            if (r1[id] == -INFINITY && id != eos[0] && id != eos[1]) bad = id;
        }
        if (bad >= 0) assert_false(cons_accept(p.m, bad));
        int32_t id = allowed[tu_rnd(&rnd) % (uint64_t)n];
        assert_true(cons_accept(p.m, id));
        for (int k = 0; k < 2; k++) assert_true(cons_accept(twin[k], id));
        path_advance(&p, t, id);
    }
    free(r1);
    free(r2);
    free(allowed);
    free(p.set);
    cons_matcher_free(p.m);
    cons_matcher_free(twin[0]);
    cons_matcher_free(twin[1]);
    cons_stats st;
    cons_grammar_stats(nobudget, &st);
    assert_int_equal(st.masks_made, 0);
    assert_true(st.masks_uncached > 0);
    cons_grammar_stats(capped, &st);
    assert_true(st.dfa_states <= 2);
    cons_grammar_unref(g);
    cons_grammar_unref(capped);
    cons_grammar_unref(nobudget);
    sim_free(&s);
    pcre2_code_free(pc);
}

static void test_masks_brute_force(void **st) {
    for (int v = 0; v < N_VOCABS; v++) {
        int paths = tok_n_vocab(vocabs[v].t) > 1000 ? 1 : 3; /* brute force costs a pass over the vocabulary per step */
        for (size_t r = 0; r < sizeof mask_res / sizeof mask_res[0]; r++)
            for (int seed = 1; seed <= paths; seed++) walk_regex(vocabs[v].t, mask_res[r], (uint64_t)seed * 7919 + r, 7);
    }
}

/* ---- eos and completion --------------------------------------------------------------------------- */

static int32_t token_of(const tokenizer *t, const char *text) {
    char buf[64];
    for (int32_t id = 0; id < tok_n_vocab(t); id++) {
        size_t n = tok_token_bytes(t, id, false, buf, sizeof buf);
        if (n == strlen(text) && !memcmp(buf, text, n) && !tok_is_special(t, id)) return id;
    }
    fail_msg("no token \"%s\"", text);
    return -1;
}

static void test_eos_and_complete(void **st) {
    const tokenizer *t = vocabs[0].t; /* GPT-2: "a", "b", "c", "ab" are tokens */
    int32_t eos = tok_eos(t);
    int V = tok_n_vocab(t);
    char err[CT_ERRLEN];
    cons_grammar *g = cons_compile("ab|abc", 6, t, &eos, 1, err);
    assert_non_null(g);
    float *row = malloc((size_t)V * sizeof *row);
    cons_matcher *m = cons_matcher_new(g), *no_eos = cons_matcher_new(g);
    cons_matcher_allow_eos(no_eos, false);
    for (int i = 0; i < V; i++) row[i] = 0;
    cons_mask_logits(m, row, V);
    assert_true(row[eos] == -INFINITY); /* "" is not in the language */
    assert_false(cons_accept(m, eos));
    assert_true(row[token_of(t, "ab")] == 0);
    assert_true(row[token_of(t, "abc")] == 0);
    assert_true(row[token_of(t, "b")] == -INFINITY);
    assert_true(cons_accept(m, token_of(t, "ab")));
    assert_true(cons_accept(no_eos, token_of(t, "ab")));
    assert_true(cons_is_accepting(m));
    assert_false(cons_is_complete(m)); /* "c" may follow */
    for (int i = 0; i < V; i++) row[i] = 0;
    assert_int_equal(cons_mask_logits(m, row, V), 2); /* "c" and eos */
    assert_true(row[eos] == 0 && row[token_of(t, "c")] == 0);
    for (int i = 0; i < V; i++) row[i] = 0;
    assert_int_equal(cons_mask_logits(no_eos, row, V), 1); /* "c" only */
    assert_true(row[eos] == -INFINITY);
    assert_false(cons_accept(no_eos, eos));
    assert_true(cons_accept(m, eos)); /* eos in an accepting state: the matcher stays */
    assert_true(cons_is_accepting(m));
    assert_true(cons_accept(m, token_of(t, "c")));
    assert_true(cons_is_complete(m));
    for (int i = 0; i < V; i++) row[i] = 0;
    assert_int_equal(cons_mask_logits(m, row, V), 1); /* complete: eos alone */
    assert_true(row[eos] == 0);
    for (int i = 0; i < 100; i++) row[i] = 0; /* a row shorter than the vocabulary */
    cons_matcher *m2 = cons_matcher_new(g);
    int32_t a = token_of(t, "a");
    assert_true(a < 100);
    assert_int_equal(cons_mask_logits(m2, row, 100), 1);
    assert_true(row[a] == 0);
    assert_false(cons_accept(m2, -1));
    assert_false(cons_accept(m2, V));
    cons_matcher_free(m);
    cons_matcher_free(m2);
    cons_matcher_free(no_eos);
    cons_grammar_unref(g);
    free(row);
}

/* The three forms a cached mask takes (a bitset, the allowed ids, the
 * refused ids) give the same rows, also for rows shorter than the
 * vocabulary (the count is then of the ids in the row). */
static void test_mask_forms(void **st) {
    const tokenizer *t = vocabs[1].t;
    int V = tok_n_vocab(t);
    struct {
        const char *re;
        mk_kind kind;
    } cases[] = {{"[a-z]+ (cat|dog)", MK_BITS}, {"\\d{3}", MK_ALLOW}, {"[^\\n]*", MK_DENY}};
    float *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    for (int k = 0; k < 3; k++) {
        char err[CT_ERRLEN];
        int32_t eos = tok_eos(t);
        cons_grammar *g = cons_compile(cases[k].re, strlen(cases[k].re), t, &eos, 1, err);
        cons_grammar *bits = cons_compile_index(cases[k].re, strlen(cases[k].re), g->ti, CONS_MAX_DFA_STATES, err);
        bits->mask_budget = 0; /* always the scratch bitset */
        cons_matcher *m = cons_matcher_new(g), *mb = cons_matcher_new(bits);
        for (int nv = V; nv >= V / 3; nv -= V / 3 - 1) {
            for (int i = 0; i < V; i++) a[i] = b[i] = (float)(i % 13);
            int ca = cons_mask_logits(m, a, nv), cb = cons_mask_logits(mb, b, nv);
            assert_int_equal(atomic_load(&dfa_get(&g->d, 0)->mask)->kind, cases[k].kind);
            assert_int_equal(ca, cb);
            assert_memory_equal(a, b, (size_t)V * sizeof *a);
            int finite = 0;
            for (int i = 0; i < nv; i++) finite += a[i] != -INFINITY;
            assert_int_equal(ca, finite);
            for (int i = nv; i < V; i++) assert_true(a[i] == (float)(i % 13)); /* past the row: untouched */
        }
        cons_matcher_free(m);
        cons_matcher_free(mb);
        cons_grammar_unref(g);
        cons_grammar_unref(bits);
    }
    free(a);
    free(b);
}

/* Special tokens are never text: "<|endoftext|>" cannot be spelled by the
 * control token, only by ordinary ones. */
static void test_special_never_text(void **st) {
    const tokenizer *t = vocabs[1].t; /* Llama: <s> </s> are control tokens */
    char err[CT_ERRLEN];
    const char *re = "(<s>|</s>|<unk>)+";
    cons_grammar *g = cons_compile(re, strlen(re), t, NULL, 0, err);
    assert_non_null(g);
    cons_matcher *m = cons_matcher_new(g);
    int V = tok_n_vocab(t);
    float *row = calloc((size_t)V, sizeof *row);
    assert_true(cons_mask_logits(m, row, V) > 0); /* "<" can be spelled */
    for (int32_t id = 0; id < V; id++)
        if (tok_is_special(t, id)) assert_true(row[id] == -INFINITY);
    assert_false(cons_accept(m, 1));
    assert_false(cons_accept(m, 2));
    free(row);
    cons_matcher_free(m);
    cons_grammar_unref(g);
}

/* ---- threads ------------------------------------------------------------------------------------------ */

typedef struct {
    cons_grammar *g;
    uint64_t seed;
    int32_t ids[64];   /* the path taken */
    uint64_t hash[64]; /* a hash of the mask at each step */
    int n;
} worker;

static uint64_t row_hash(const float *row, int V) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < V; i++) h = (h ^ (row[i] == -INFINITY)) * 1099511628211ull;
    return h;
}

static void *work(void *arg) {
    worker *w = arg;
    int V = w->g->ti->n_vocab;
    float *row = malloc((size_t)V * sizeof *row);
    cons_matcher *m = cons_matcher_new(w->g);
    uint64_t rnd = w->seed;
    for (w->n = 0; w->n < 64; w->n++) {
        for (int i = 0; i < V; i++) row[i] = 0;
        int c = cons_mask_logits(m, row, V);
        w->hash[w->n] = row_hash(row, V);
        int32_t pick = -1;
        for (int k = (int)(tu_rnd(&rnd) % (uint64_t)(c > 0 ? c : 1)), id = 0; id < V && c > 0; id++)
            if (row[id] == 0 && id != tok_eos(w->g->ti->t) && k-- == 0) pick = id;
        w->ids[w->n] = pick;
        if (pick < 0 || !cons_accept(m, pick)) break;
    }
    cons_matcher_free(m);
    free(row);
    return NULL;
}

static void test_threads_share_a_grammar(void **st) {
    const tokenizer *t = vocabs[1].t;
    const char *re = "\\{(\"[a-z]{1,8}\": (\\d{1,4}|\"[^\"]{0,12}\"|true|false)(, )?){1,6}\\}";
    char err[CT_ERRLEN];
    int32_t eos = tok_eos(t);
    for (int round = 0; round < 3; round++) {
        cons_grammar *g = cons_compile(re, strlen(re), t, &eos, 1, err);
        assert_non_null(g);
        enum { N = 4 };
        worker w[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            w[i] = (worker){.g = g, .seed = (uint64_t)(round * 10 + i % 2 + 1)}; /* pairs walk the same path */
            pthread_create(&th[i], NULL, work, &w[i]);
        }
        for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
        cons_grammar *solo = cons_compile(re, strlen(re), t, &eos, 1, err);
        for (int i = 0; i < N; i++) { /* a fresh grammar on one thread sees the same masks */
            worker ref = {.g = solo, .seed = w[i].seed};
            work(&ref);
            assert_int_equal(ref.n, w[i].n);
            assert_memory_equal(ref.hash, w[i].hash, sizeof ref.hash[0] * (size_t)(ref.n < 64 ? ref.n + 1 : 64));
            assert_memory_equal(ref.ids, w[i].ids, sizeof ref.ids[0] * (size_t)(ref.n < 64 ? ref.n + 1 : 64));
        }
        cons_grammar_unref(solo);
        cons_grammar_unref(g);
    }
}

/* ---- the cache -------------------------------------------------------------------------------------------- */

static void test_cache(void **st) {
    const tokenizer *t = vocabs[2].t;
    char err[CT_ERRLEN];
    int32_t eos[2] = {2, 1};
    cons_cache *c = cons_cache_new(2);
    cons_grammar *a = cons_cache_get(c, "a+", 2, t, eos, 1, err);
    cons_grammar *a2 = cons_cache_get(c, "a+", 2, t, eos, 1, err);
    assert_non_null(a);
    assert_ptr_equal(a, a2); /* a hit */
    cons_grammar *a3 = cons_cache_get(c, "a+", 2, t, eos, 2, err); /* other eos ids: another key */
    assert_ptr_not_equal(a, a3);
    assert_ptr_equal(a->ti->t, t);
    assert_ptr_not_equal(a->ti, a3->ti);
    cons_grammar *b = cons_cache_get(c, "b+", 2, t, eos, 1, err); /* evicts the least recently used: a */
    cons_grammar *a4 = cons_cache_get(c, "a+", 2, t, eos, 1, err);
    assert_ptr_not_equal(a, a4);          /* compiled again */
    assert_ptr_equal(a->ti, a4->ti);      /* over the same index */
    cons_grammar *bad = cons_cache_get(c, "a(?=b)", 6, t, eos, 1, err);
    assert_null(bad);
    assert_non_null(strstr(err, "lookahead"));
    assert_ptr_equal(cons_grammar_tokenizer(a), t);
    cons_grammar *g[] = {a, a2, a3, b, a4};
    cons_cache_free(c); /* the caller's references stay valid */
    cons_matcher *m = cons_matcher_new(a);
    assert_true(cons_accept(m, token_of(t, "a")));
    cons_matcher_free(m);
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) cons_grammar_unref(g[i]);
    cons_cache *none = cons_cache_new(0); /* capacity 0 keeps nothing */
    cons_grammar *x = cons_cache_get(none, "x", 1, t, eos, 1, err), *y = cons_cache_get(none, "x", 1, t, eos, 1, err);
    assert_ptr_not_equal(x, y);
    cons_grammar_unref(x);
    cons_grammar_unref(y);
    cons_cache_free(none);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_brute_force),
        cmocka_unit_test(test_eos_and_complete),
        cmocka_unit_test(test_mask_forms),
        cmocka_unit_test(test_special_never_text),
        cmocka_unit_test(test_threads_share_a_grammar),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
