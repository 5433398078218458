/*
 * bench_constraint.c — what constrained decoding costs (built as
 * build/tools/bench_constraint; run by hand or scripts/bench.sh).
 *
 *   bench_constraint [--quick] [--vocab PATH]...
 *
 * For each vocabulary (default: the 32000-token Llama SentencePiece one and
 * the largest of $CTGI_MODELS/vocab; --vocab replaces the list) and a few
 * regexes (JSON object, JSON string, digits, words, free text):
 *   - the token index (byte trie over the vocabulary, once per tokenizer)
 *     and each regex's compile time (parse, NFA, start state);
 *   - random token paths through the language (each step a token drawn
 *     uniformly from those the mask allows), walked twice: the first walk
 *     times cons_mask_logits in states whose mask is made by that call
 *     ("first visit") and in states already cached; the second walk, every
 *     mask cached, times one decode step's constraint work (cons_mask_logits
 *     + cons_accept);
 *   - DFA states and cached mask memory at the end.
 * Times in microseconds, mean and p99, one thread.  Nothing is asserted.
 * The same machinery end to end (JSON Schema compile times, the engine's
 * tokens/s with streams under a schema) is scripts/bench_structured.c.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "constraint/constraint_internal.h"
#include "model/model_info.h"
#include "support/bench_util.h"
#include "support/testutil.h"

typedef struct {
    const char *name, *re;
} bench_re;

static const bench_re regexes[] = {
    {"JSON object", "\\{\"name\": \"[^\"\\\\\\x00-\\x1f]{0,40}\", \"age\": \\d{1,3}, \"email\": \"[a-z0-9.]{1,20}@[a-z]{1,12}\\.(com|org)\", "
                    "\"tags\": \\[(\"[a-z]{1,10}\"(, \"[a-z]{1,10}\"){0,4})?\\], \"active\": (true|false)\\}"},
    {"JSON string", "\"([^\"\\\\\\x00-\\x1f]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}){0,200}\""},
    {"phone", "\\(\\d{3}\\) \\d{3}-\\d{4}"},
    {"words", "[A-Z][a-z]+( [a-z]+){0,30}\\."},
    {"free text", "[^\\n]{0,300}\\n"},
};
enum { N_RE = sizeof regexes / sizeof regexes[0] };

typedef struct {
    double *v;
    long n, cap;
} series;

static void add(series *s, double x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        if (!(s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v))) bench_die("out of memory");
    }
    s->v[s->n++] = x;
}

static double mean(const series *s) {
    double t = 0;
    for (long i = 0; i < s->n; i++) t += s->v[i];
    return s->n ? t / (double)s->n : 0;
}

static void cell(series *s) {
    if (!s->n) {
        printf(" %17s", "-");
        return;
    }
    double m = mean(s), p99 = bench_percentile(s->v, s->n, 0.99);
    printf(" %8.1f / %6.1f", 1e6 * m, 1e6 * p99);
    s->n = 0;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* One walk: `paths` random paths of at most `steps` tokens.  timed: the
 * first walk's mask times by first visit / cached; else step times. */
static void walk(cons_grammar *g, int V, int paths, int steps, uint64_t seed, series *first, series *cached,
                 series *step) {
    float *row = malloc((size_t)V * sizeof *row);
    int32_t *ok = malloc((size_t)V * sizeof *ok);
    if (!row || !ok) bench_die("out of memory");
    rng = seed;
    for (int p = 0; p < paths; p++) {
        cons_matcher *m = cons_matcher_new(g);
        cons_matcher_allow_eos(m, false);
        for (int s = 0; s < steps && !cons_is_complete(m); s++) {
            for (int i = 0; i < V; i++) row[i] = 0.0f;
            cons_stats before, after;
            if (first) cons_grammar_stats(g, &before);
            double t0 = ct_now();
            int n = cons_mask_logits(m, row, V);
            double t1 = ct_now();
            if (n == 0) break;
            int k = 0;
            for (int i = 0; i < V; i++)
                if (row[i] == 0.0f) ok[k++] = i;
            int32_t id = ok[rnd() % (uint64_t)k];
            double t2 = ct_now();
            if (!cons_accept(m, id)) bench_die("cons_accept refused an allowed token");
            double t3 = ct_now();
            if (first) {
                cons_grammar_stats(g, &after);
                add(after.masks_made > before.masks_made ? first : cached, t1 - t0);
            } else {
                add(step, (t1 - t0) + (t3 - t2));
            }
        }
        cons_matcher_free(m);
    }
    free(row);
    free(ok);
}

static void bench_vocab(const char *path, bool quick) {
    char err[CT_ERRLEN];
    tokenizer *t = model_load_tokenizer(path, err);
    if (!t) bench_die("%s: %s", path, err);
    int V = tok_n_vocab(t);
    int32_t eos = tok_eos(t);
    double t0 = ct_now();
    ti_index *ti = ti_build(t, &eos, eos >= 0 ? 1 : 0, err);
    double t_index = ct_now() - t0;
    if (!ti) bench_die("%s", err);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("\n== %s: %d tokens, token index %.1f ms (%u trie nodes, longest text %d bytes)\n", base, V, 1e3 * t_index,
           ti->n_nodes, ti->max_len);
    printf("%-12s %8s %7s %18s %18s %18s %9s\n", "regex", "compile", "states", "first-visit mask", "cached mask",
           "step mask+accept", "masks");
    printf("%-12s %8s %7s %18s %18s %18s %9s\n", "", "ms", "", "us mean / p99", "us mean / p99", "us mean / p99", "MB");
    int paths = quick ? 8 : 32, steps = quick ? 32 : 96;
    for (int r = 0; r < N_RE; r++) {
        series first = {0}, cached = {0}, step = {0};
        double c0 = ct_now();
        cons_grammar *g = cons_compile_index(regexes[r].re, strlen(regexes[r].re), ti, CONS_MAX_DFA_STATES, err);
        double c1 = ct_now();
        if (!g) bench_die("%s: %s", regexes[r].name, err);
        walk(g, V, paths, steps, 1234 + (uint64_t)r, &first, &cached, NULL);
        walk(g, V, paths, steps, 1234 + (uint64_t)r, NULL, NULL, &step);
        cons_stats st;
        cons_grammar_stats(g, &st);
        printf("%-12s %8.2f %7d", regexes[r].name, 1e3 * (c1 - c0), st.dfa_states);
        cell(&first);
        cell(&cached);
        cell(&step);
        printf(" %9.2f\n", (double)st.mask_bytes / 1048576.0);
        free(first.v);
        free(cached.v);
        free(step.v);
        cons_grammar_unref(g);
    }
    ti_unref(ti);
    tok_free(t);
}

/* The vocabulary with the most tokens in $CTGI_MODELS/vocab (malloc'd), or NULL. */
static char *largest_vocab(void) {
    char *dir = tu_model_path("vocab"), *best = NULL;
    DIR *d = opendir(dir);
    int best_n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".gguf")) continue;
        char *p = malloc(strlen(dir) + n + 2), err[CT_ERRLEN];
        sprintf(p, "%s/%s", dir, e->d_name);
        tokenizer *t = model_load_tokenizer(p, err);
        if (t && tok_n_vocab(t) > best_n) {
            best_n = tok_n_vocab(t);
            free(best);
            best = p;
            p = NULL;
        }
        if (t) tok_free(t);
        free(p);
    }
    if (d) closedir(d);
    free(dir);
    return best;
}

int main(int argc, char **argv) {
    bool quick = false;
    const char *given[8];
    int n_given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc && n_given < 8) given[n_given++] = argv[++i];
        else bench_die("usage: bench_constraint [--quick] [--vocab PATH]...");
    }
    printf("== constrained decoding (one thread): compile, token masks, per-step cost\n");
    if (n_given) {
        for (int i = 0; i < n_given; i++) bench_vocab(given[i], quick);
        return 0;
    }
    char *llama = tu_model_path("vocab/ggml-vocab-llama-spm.gguf"), *big = largest_vocab();
    bench_vocab(llama, quick);
    if (big && strcmp(big, llama)) bench_vocab(big, quick);
    printf("\n(no 150k-token vocabulary among the shared models; pass one with --vocab)\n");
    free(llama);
    free(big);
    return 0;
}
