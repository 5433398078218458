/*
 * bench_spec.c — speculative decoding by prompt lookup (engine_config.
 * speculate): decode speed with and without it, on a copy-heavy and a
 * free-generation task, one stream and 16 (built as build/tools/bench_spec;
 * run by scripts/bench.sh / `make bench`).
 *
 *   bench_spec [--threads N] [--rounds R] [--new N] [--k K] [--models stories,134m] [--quick] [--cache-dir DIR]
 *
 * Acceptance needs a model whose continuation is in its context, so the
 * tasks run on two models:
 *   - stories260K (real text, TinyStories): "copy" = a passage and its
 *     start again (the model goes on quoting it), "free" = a story opening;
 *   - a seeded 134M llama (dim 768, 12 layers, F16, the llama-spm vocabulary)
 *     with a sliding window of 32 on every layer, as Mistral has one: a
 *     token then depends only on the last 32 (RoPE is relative), so a
 *     model with random weights continues a span exactly as it did the
 *     first time it saw it.  "copy" = X + G + X, G being the model's own
 *     greedy continuation of X (|X| = 48) — the model re-emits G, as a real
 *     model re-emits a quoted passage or the unchanged lines of an edited
 *     file; "free" = X alone (its drafts are whatever n-grams recur, and
 *     mostly miss: the adaptive draft length must keep the cost small).
 * Each configuration runs `rounds` times in turn (k = 0 and k = K
 * alternating), greedy, ignore_eos, `new` tokens; the table gives the
 * median decode tok/s (first token to last), the ratio to k = 0, tokens per
 * CPU-second of the process (getrusage: what the work costs, whatever the
 * machine's other load), the acceptance rate (accepted / drafted) and the
 * tokens per step of the stream.  The tokens with and without speculation
 * are compared too (greedy: they must be equal).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common.h"
#include "engine.h"
#include "model/dtype.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "support/bench_util.h"
#include "support/synth_model.h"
#include "support/testutil.h"

#define MAX_STREAMS 16
#define WINDOW 16
#define X_LEN 192

typedef struct {
    int threads, rounds, n_new, k;
    bool quick;
    const char *cache_dir, *models; /* "stories", "134m" or both (comma-separated) */
} options;

typedef struct {
    double tps, cpu_tps, accept, per_step, drafted; /* drafted: per generated token */
    int32_t *ids; /* stream 0's tokens (n_new) */
} result;

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

/* n streams of the prompts p[i] (len[i]) on an engine with k drafts;
 * decode tok/s over all streams: tokens after each stream's first / the
 * time from the first first-token to the last token. */
static result run(const model *m, const options *o, int32_t *const *p, const int *len, int n, int k) {
    engine_config c = engine_config_default();
    c.n_threads = o->threads;
    c.speculate = k;
    c.prefix_caching = false;
    c.max_batch_total_tokens = 16384;
    char err[CT_ERRLEN];
    engine *e = engine_create(m, &c, err);
    if (!e) bench_die("engine: %s", err);
    bench_waker w = BENCH_WAKER_INIT;
    engine_req *h[MAX_STREAMS];
    int got[MAX_STREAMS] = {0}, done = 0;
    double t_first = 0, t_last = 0, cpu0 = 0;
    result r = {0};
    r.ids = calloc((size_t)o->n_new, sizeof *r.ids);
    for (int i = 0; i < n; i++) {
        engine_request q = engine_request_default();
        q.prompt = p[i];
        q.n_prompt = len[i];
        q.max_new_tokens = o->n_new;
        q.ignore_eos = true;
        q.notify = bench_wake;
        q.ud = &w;
        if (!(h[i] = engine_submit(e, &q, err))) bench_die("submit: %s", err);
    }
    while (done < n) {
        bench_wait(&w);
        for (int i = 0; i < n; i++) {
            engine_event ev;
            while (h[i] && engine_next_event(h[i], &ev, false)) {
                if (ev.kind == ENGINE_EVENT_TOKEN) {
                    if (t_first == 0) {
                        t_first = ct_now();
                        cpu0 = cpu_seconds();
                    }
                    if (i == 0) r.ids[got[0]] = ev.token.id;
                    got[i]++;
                } else if (ev.kind == ENGINE_EVENT_ERROR) {
                    bench_die("stream %d: %s", i, ev.error.message);
                } else {
                    done++;
                }
                engine_event_clear(&ev);
            }
        }
    }
    t_last = ct_now();
    double cpu = cpu_seconds() - cpu0;
    engine_stats st = engine_get_stats(e);
    for (int i = 0; i < n; i++) engine_release(h[i]);
    engine_free(e);
    long tokens = 0;
    for (int i = 0; i < n; i++) tokens += got[i] - 1;
    r.tps = tokens / (t_last - t_first);
    r.cpu_tps = cpu > 0 ? tokens / cpu : 0;
    r.drafted = (double)st.tokens_drafted / (double)st.tokens_generated;
    r.accept = st.tokens_drafted ? (double)st.tokens_accepted / (double)st.tokens_drafted : 0;
    /* tokens per stream-step: every accepted draft is a step saved */
    r.per_step = (double)(st.tokens_generated) / (double)(st.tokens_generated - st.tokens_accepted);
    return r;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One table row: rounds of k = 0 and k = o->k in turn. */
static void row(const model *m, const options *o, const char *model_name, const char *task, int32_t *const *p,
                const int *len, int n) {
    double tps[2][16], cpu[2][16], acc = 0, per_step = 0, drafted = 0;
    bool same = true;
    for (int rd = 0; rd < o->rounds; rd++) {
        result a = run(m, o, p, len, n, 0), b = run(m, o, p, len, n, o->k);
        tps[0][rd] = a.tps, tps[1][rd] = b.tps, cpu[0][rd] = a.cpu_tps, cpu[1][rd] = b.cpu_tps;
        acc = b.accept, per_step = b.per_step, drafted = b.drafted;
        same &= memcmp(a.ids, b.ids, (size_t)o->n_new * sizeof *a.ids) == 0;
        free(a.ids);
        free(b.ids);
    }
    double t0 = median(tps[0], o->rounds), t1 = median(tps[1], o->rounds);
    double c0 = median(cpu[0], o->rounds), c1 = median(cpu[1], o->rounds);
    printf("| %s | %s | %d | %.1f | %.1f | %.2fx | %.1f / %.1f (%.2fx) | %.2f | %.0f%% | %.2f | %s |\n", model_name, task,
           n, t0, t1, t1 / t0, c0, c1, c1 / c0, drafted, 100 * acc, per_step, same ? "yes" : "NO");
    fflush(stdout);
}

/* ---- the tasks ---------------------------------------------------------------------------- */

static int32_t *encode(const model *m, const char *text, int *n) {
    char err[CT_ERRLEN];
    int32_t *ids = NULL;
    *n = tok_encode(model_tokenizer(m), text, strlen(text), true, false, &ids, err);
    if (*n <= 0) bench_die("cannot tokenize the prompt: %s", err);
    return ids;
}

static const char *STORY =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog Max. "
    "One day, Lily saw a big red ball under a tree. She ran to the ball and kicked it high into the sky. Max barked "
    "and ran after the ball. Lily laughed and said, \"Good dog, Max!\" They played all day until the sun went down.";

static void stories_rows(const options *o) {
    char err[CT_ERRLEN];
    char *path = tu_model_path("stories260K.gguf");
    model *m = path ? model_load(path, err) : NULL;
    free(path);
    if (!m) bench_die("stories260K: %s", err);
    /* copy: the passage, then its start again: the model goes on quoting */
    char copy[2048];
    snprintf(copy, sizeof copy, "%s %.*s", STORY, 40, STORY);
    int32_t *p[MAX_STREAMS];
    int len[MAX_STREAMS];
    p[0] = encode(m, copy, &len[0]);
    row(m, o, "stories260K", "copy", p, len, 1);
    for (int i = 1; i < MAX_STREAMS; i++) p[i] = p[0], len[i] = len[0];
    row(m, o, "stories260K", "copy", p, len, MAX_STREAMS);
    free(p[0]);
    p[0] = encode(m, "Once upon a time, there was a", &len[0]);
    row(m, o, "stories260K", "free", p, len, 1);
    for (int i = 1; i < MAX_STREAMS; i++) p[i] = p[0], len[i] = len[0];
    row(m, o, "stories260K", "free", p, len, MAX_STREAMS);
    free(p[0]);
    model_free(m);
}

static char *windowed_model(const options *o) {
    char *path = malloc(strlen(o->cache_dir) + 64);
    sprintf(path, "%s/ctgi-bench-spec-134M-w%d.gguf", o->cache_dir, WINDOW);
    struct stat sb;
    if (stat(path, &sb) == 0) return path;
    printf("bench_spec: writing %s\n", path);
    fflush(stdout);
    char *vocab = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    synth_config c = synth_default();
    c.dim = 768;
    c.n_layers = 12;
    c.n_heads = 12;
    c.n_kv_heads = 4;
    c.head_dim = 64;
    c.ffn_dim = 2048;
    c.ctx_len = 4096;
    c.sliding_window = WINDOW;
    c.weight_type = DT_F16;
    c.seed = 0x5bec;
    c.vocab_gguf = vocab;
    char err[CT_ERRLEN];
    if (!synth_write_gguf(&c, path, err)) bench_die("%s", err);
    free(vocab);
    return path;
}

static void windowed_rows(const options *o) {
    char err[CT_ERRLEN];
    char *path = windowed_model(o);
    model *m = model_load(path, err);
    if (!m) bench_die("%s: %s", path, err);
    free(path);
    int vocab = m->cfg.vocab;
    int32_t *free_p[MAX_STREAMS], *copy_p[MAX_STREAMS];
    int free_len[MAX_STREAMS], copy_len[MAX_STREAMS];
    /* X: seeded ids per stream; G: the model's greedy continuation of X */
    options og = *o;
    for (int i = 0; i < MAX_STREAMS; i++) {
        uint64_t rnd = 0x1234 + (uint64_t)i;
        free_p[i] = malloc(X_LEN * sizeof(int32_t));
        free_p[i][0] = 1;
        for (int j = 1; j < X_LEN; j++) free_p[i][j] = (int32_t)(300 + tu_rnd(&rnd) % (uint64_t)(vocab - 300));
        free_len[i] = X_LEN;
    }
    result g = run(m, &og, free_p, free_len, 1, 0); /* stream 0's G; the others copy their own below */
    for (int i = 0; i < MAX_STREAMS; i++) {
        result gi = i == 0 ? g : run(m, &og, free_p + i, free_len + i, 1, 0);
        copy_len[i] = 2 * X_LEN + o->n_new;
        copy_p[i] = malloc((size_t)copy_len[i] * sizeof(int32_t));
        memcpy(copy_p[i], free_p[i], X_LEN * sizeof(int32_t));
        memcpy(copy_p[i] + X_LEN, gi.ids, (size_t)o->n_new * sizeof(int32_t));
        memcpy(copy_p[i] + X_LEN + o->n_new, free_p[i], X_LEN * sizeof(int32_t));
        free(gi.ids);
        if (o->quick) break;
    }
    const char *name = "134M w16 F16";
    row(m, o, name, "copy", copy_p, copy_len, 1);
    row(m, o, name, "free", free_p, free_len, 1);
    if (!o->quick) {
        row(m, o, name, "copy", copy_p, copy_len, MAX_STREAMS);
        row(m, o, name, "free", free_p, free_len, MAX_STREAMS);
    }
    for (int i = 0; i < MAX_STREAMS; i++) {
        free(free_p[i]);
        if (i == 0 || !o->quick) free(copy_p[i]);
    }
    model_free(m);
}

int main(int argc, char **argv) {
    options o = {.threads = 0, .rounds = 3, .n_new = 128, .k = 4, .cache_dir = "bench-models",
                 .models = "stories,134m"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) o.rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--new") && i + 1 < argc) o.n_new = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) o.k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc) o.cache_dir = argv[++i];
        else if (!strcmp(argv[i], "--models") && i + 1 < argc) o.models = argv[++i];
        else if (!strcmp(argv[i], "--quick")) o.quick = true, o.rounds = 1;
        else bench_die("usage: bench_spec [--threads N] [--rounds R] [--new N] [--k K] [--models stories,134m] [--quick] [--cache-dir DIR]");
    }
    if (o.rounds < 1 || o.rounds > 16 || o.n_new < 8 || o.k < 1 || o.k > ENGINE_SPECULATE_MAX)
        bench_die("bench_spec: --rounds 1..16, --new >= 8, --k 1..%d", ENGINE_SPECULATE_MAX);
    mkdir(o.cache_dir, 0755);
    printf("speculative decoding (prompt lookup, --speculate %d against 0): greedy, %d new tokens, median of %d "
           "rounds\n\n",
           o.k, o.n_new, o.rounds);
    printf("| model | task | streams | tok/s k=0 | tok/s k=%d | ratio | tok per CPU-s k=0 / k=%d | drafted per token | "
           "accepted | tokens per step | same tokens |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
           o.k, o.k);
    if (strstr(o.models, "stories")) stories_rows(&o);
    if (strstr(o.models, "134m")) windowed_rows(&o);
    return 0;
}
