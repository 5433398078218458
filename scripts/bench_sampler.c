/*
 * bench_sampler.c — what choosing a token costs, alone and inside a decode
 * step (built as build/tools/bench_sampler; run by hand or scripts/bench.sh).
 *
 *   bench_sampler [--threads N] [--cache-dir DIR] [--quick] [--no-engine | --engine-only]
 *
 * 1. per call: sampler_sample on one logits row of a 32000 (Llama) and a
 *    151936 (Qwen2) vocabulary, for greedy without logprobs (out = NULL),
 *    greedy with the chosen token's logprob (what the engine asks for unless
 *    the request sets no_logprob), greedy with 5 alternatives, and sampling (temperature 0.7 with
 *    top_p 0.9, with top_k 50 + top_p 0.9, and temperature 1 alone), median
 *    of many calls.  The rows look like a language model's: N(0, 2^2)
 *    logits plus 32 plausible tokens 4-12 above them, so top_p 0.9 keeps a
 *    few dozen to a few hundred tokens; one more line runs top_p on flat
 *    rows (N(0, 1), nothing above), where it keeps almost half the row;
 * 2. per step: the B sampler calls of one step (B = 1, 16, 64), one after
 *    the other on the calling thread and spread over the engine's pool the
 *    way the scheduler does (a shared counter hands out rows);
 * 3. in the engine: B requests on the 110M bench model (vocabulary 32000),
 *    16-token prompts, 32 new tokens (EOS ignored): mean decode step and the
 *    part of it spent choosing tokens (engine_stats.sample_seconds_total),
 *    counted from the step after every request has its first token.
 *
 * Nothing is asserted: the tables are for people.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "engine.h"
#include "model/model_info.h"
#include "pool.h"
#include "sampling/sampler.h"
#include "support/bench_models.h"
#include "support/bench_util.h"

typedef struct {
    int threads;
    const char *cache_dir;
    bool quick, engine, micro;
} options;

/* ---- logits rows ------------------------------------------------------------------- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double unif(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }
static float gauss(void) { /* sum of 12 uniforms: close enough to normal for a benchmark */
    double s = 0;
    for (int i = 0; i < 12; i++) s += unif();
    return (float)(s - 6.0);
}

#define N_ROWS 8
/* flat: N(0, 1) and no plausible tokens, so top_p keeps half the row */
static float *make_rows(int nv, bool flat) {
    float *rows = malloc((size_t)N_ROWS * (size_t)nv * sizeof *rows);
    if (!rows) bench_die("out of memory");
    for (int r = 0; r < N_ROWS; r++) {
        float *l = rows + (size_t)r * (size_t)nv;
        for (int i = 0; i < nv; i++) l[i] = (flat ? 1.0f : 2.0f) * gauss();
        for (int k = 0; k < 32 && !flat; k++) l[rnd() % (uint64_t)nv] += 4.0f + 8.0f * (float)unif();
    }
    return rows;
}

/* ---- the modes --------------------------------------------------------------------- */

typedef struct {
    const char *name;
    bool with_out; /* pass a sample_result (logprob of the chosen token) */
    sampler_params p;
    bool flat;     /* on flat rows (make_rows) */
} mode;

#define N_MODES 7
static void make_modes(mode *m) {
    sampler_params g = sampler_params_default(), s = g;
    s.do_sample = true;
    s.temperature = 0.7f;
    s.top_p = 0.9f;
    m[0] = (mode){"greedy, no logprob", false, g, false};
    m[0].p.no_logprob = true; /* in the engine: the TOKEN event's logprob is not computed */
    m[1] = (mode){"greedy + logprob", true, g, false};
    g.top_n = 5;
    m[2] = (mode){"greedy + top 5", true, g, false};
    m[3] = (mode){"T 0.7, top_p 0.9", true, s, false};
    s.top_k = 50;
    m[4] = (mode){"T 0.7, top_k 50, top_p 0.9", true, s, false};
    s.top_k = 0;
    s.top_p = 1.0f;
    s.temperature = 1.0f;
    m[5] = (mode){"T 1, no warper", true, s, false};
    s.temperature = 0.7f;
    s.top_p = 0.9f;
    m[6] = (mode){"T 0.7, top_p 0.9, flat row", true, s, true};
}

/* Median seconds of one sampler_sample call (the row copy is not timed). */
static double time_call(const mode *md, const float *rows, int nv, int reps) {
    sampler_params p = md->p;
    p.seed = 7;
    sampler *s = sampler_create(&p, nv, NULL, 0);
    float *work = malloc((size_t)nv * sizeof *work);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!s || !work || !t) bench_die("out of memory");
    sample_result res;
    for (int i = 0; i < reps; i++) {
        memcpy(work, rows + (size_t)(i % N_ROWS) * (size_t)nv, (size_t)nv * sizeof *work);
        double t0 = ct_now();
        sampler_sample(s, work, md->with_out ? &res : NULL);
        t[i] = ct_now() - t0;
    }
    double med = bench_percentile(t, reps, 0.5);
    sampler_free(s);
    free(work);
    free(t);
    return med;
}

static void per_call_table(const options *o, const int *vocabs, int n_vocabs, const mode *modes) {
    printf("\n== one sampler_sample call (median, microseconds)\n");
    printf("%-28s", "mode");
    for (int v = 0; v < n_vocabs; v++) printf(" %9s %d", "V", vocabs[v]);
    printf("\n");
    float *rows[4][2];
    for (int v = 0; v < n_vocabs; v++) rows[v][0] = make_rows(vocabs[v], false), rows[v][1] = make_rows(vocabs[v], true);
    for (int k = 0; k < N_MODES; k++) {
        printf("%-28s", modes[k].name);
        for (int v = 0; v < n_vocabs; v++) {
            int reps = (o->quick ? 60 : 400) * 32000 / vocabs[v] + 20;
            printf(" %16.1f", 1e6 * time_call(&modes[k], rows[v][modes[k].flat], vocabs[v], reps));
        }
        printf("\n");
        fflush(stdout);
    }
    for (int v = 0; v < n_vocabs; v++) free(rows[v][0]), free(rows[v][1]);
}

/* ---- a step's samples ------------------------------------------------------------ */

typedef struct {
    sampler **s;
    float *work;
    int n, nv;
    bool with_out;
    sample_result *res;
    atomic_int next;
} batch_job;

static void batch_task(void *arg, int ith, int nth) {
    batch_job *j = arg;
    for (int r; (r = atomic_fetch_add(&j->next, 1)) < j->n;)
        sampler_sample(j->s[r], j->work + (size_t)r * (size_t)j->nv, j->with_out ? &j->res[r] : NULL);
}

/* Seconds for the n calls of a step: serially (pl NULL) or on the pool. */
static double time_batch(pool *pl, const mode *md, const float *rows, int nv, int n, int reps) {
    batch_job j = {.n = n, .nv = nv, .with_out = md->with_out};
    j.s = calloc((size_t)n, sizeof *j.s);
    j.work = malloc((size_t)n * (size_t)nv * sizeof *j.work);
    j.res = malloc((size_t)n * sizeof *j.res);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!j.s || !j.work || !j.res || !t) bench_die("out of memory");
    for (int r = 0; r < n; r++) {
        sampler_params p = md->p;
        p.seed = (uint64_t)r;
        if (!(j.s[r] = sampler_create(&p, nv, NULL, 0))) bench_die("sampler_create");
    }
    for (int i = 0; i < reps; i++) {
        for (int r = 0; r < n; r++)
            memcpy(j.work + (size_t)r * (size_t)nv, rows + (size_t)((r + i) % N_ROWS) * (size_t)nv,
                   (size_t)nv * sizeof(float));
        atomic_store(&j.next, 0);
        double t0 = ct_now();
        if (pl)
            pool_run(pl, batch_task, &j);
        else
            batch_task(&j, 0, 1);
        t[i] = ct_now() - t0;
    }
    double med = bench_percentile(t, reps, 0.5);
    for (int r = 0; r < n; r++) sampler_free(j.s[r]);
    free(j.s);
    free(j.work);
    free(j.res);
    free(t);
    return med;
}

static void per_step_table(const options *o, pool *pl, const int *vocabs, int n_vocabs, const mode *modes) {
    static const int B[] = {1, 16, 64};
    static const int pick[] = {0, 1, 4};
    printf("\n== the sampler calls of one step (median ms; serial = on the engine thread, pool = %d threads)\n",
           pool_size(pl));
    printf("%-28s %7s %3s %9s %9s\n", "mode", "V", "B", "serial", "pool");
    for (int v = 0; v < n_vocabs; v++) {
        float *rows = make_rows(vocabs[v], false);
        for (size_t k = 0; k < sizeof pick / sizeof *pick; k++)
            for (size_t b = 0; b < sizeof B / sizeof *B; b++) {
                int reps = (o->quick ? 5 : 15) * 64 / B[b] * 32000 / vocabs[v] + 3;
                const mode *md = &modes[pick[k]];
                double ser = time_batch(NULL, md, rows, vocabs[v], B[b], reps);
                double par = time_batch(pl, md, rows, vocabs[v], B[b], reps);
                printf("%-28s %7d %3d %9.3f %9.3f\n", md->name, vocabs[v], B[b], 1e3 * ser, 1e3 * par);
                fflush(stdout);
            }
        free(rows);
    }
}

/* ---- in the engine -------------------------------------------------------------- */

typedef struct {
    engine_req *h;
    int n_tokens;
    bool done;
} client;

/* Run n requests at once; the decode-phase totals: steps, step seconds,
 * sampling seconds (from the first stats snapshot where every request has a
 * token). */
static void engine_run(const model *m, const options *o, const sampler_params *sp, int n, double out[3]) {
    engine_config c = engine_config_default();
    c.n_threads = o->threads;
    c.max_batch_size = n > c.max_batch_size ? n : c.max_batch_size;
    char err[CT_ERRLEN] = "";
    engine *e = engine_create(m, &c, err);
    if (!e) bench_die("engine_create: %s", err);
    int vocab = model_get_info(m).vocab, gen = o->quick ? 16 : 32;
    bench_waker wk = BENCH_WAKER_INIT;
    client *cs = calloc((size_t)n, sizeof *cs);
    int32_t prompt[16];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 16; k++) prompt[k] = (int32_t)(3 + rnd() % (uint64_t)(vocab - 3));
        engine_request r = engine_request_default();
        r.prompt = prompt;
        r.n_prompt = 16;
        r.max_new_tokens = gen;
        r.ignore_eos = true;
        r.sampling = *sp;
        r.sampling.seed = (uint64_t)i;
        r.notify = bench_wake;
        r.ud = &wk;
        if (!(cs[i].h = engine_submit(e, &r, err))) bench_die("engine_submit: %s", err);
    }
    engine_stats first = {0};
    bool have_first = false;
    int done = 0, started = 0;
    while (done < n) {
        bench_wait(&wk);
        for (int i = 0; i < n; i++) {
            engine_event ev;
            while (!cs[i].done && engine_next_event(cs[i].h, &ev, false)) {
                if (ev.kind == ENGINE_EVENT_TOKEN && cs[i].n_tokens++ == 0) started++;
                if (ev.kind == ENGINE_EVENT_ERROR) bench_die("request failed: %s", ev.error.message);
                if (ev.kind != ENGINE_EVENT_TOKEN) cs[i].done = true, done++;
                engine_event_clear(&ev);
            }
        }
        if (!have_first && started == n) first = engine_get_stats(e), have_first = true;
    }
    engine_stats last = engine_get_stats(e);
    out[0] = (double)(last.steps - first.steps);
    out[1] = last.step_seconds_total - first.step_seconds_total;
    out[2] = last.sample_seconds_total - first.sample_seconds_total;
    for (int i = 0; i < n; i++) engine_release(cs[i].h);
    engine_free(e);
    free(cs);
}

static void engine_table(const options *o, const mode *modes) {
    const bench_spec *spec = bench_spec_find("small");
    char err[CT_ERRLEN] = "";
    char *path = bench_model_ensure(spec, o->cache_dir, err);
    if (!path) bench_die("%s", err);
    model *m = model_load(path, err);
    if (!m) bench_die("model_load %s: %s", path, err);
    static const int B[] = {1, 16, 64};
    static const int pick[] = {0, 1, 4};
    printf("\n== in the engine: %s model, vocabulary %d, threads %d (decode steps only)\n", spec->label,
           model_get_info(m).vocab, o->threads);
    printf("%-28s %3s %6s %10s %12s %7s\n", "mode", "B", "steps", "step ms", "sampling ms", "share");
    for (size_t k = 0; k < sizeof pick / sizeof *pick; k++)
        for (size_t b = 0; b < sizeof B / sizeof *B; b++) {
            double r[3];
            engine_run(m, o, &modes[pick[k]].p, B[b], r);
            double steps = r[0] > 0 ? r[0] : 1;
            printf("%-28s %3d %6.0f %10.2f %12.3f %6.1f%%\n", modes[pick[k]].name, B[b], r[0], 1e3 * r[1] / steps,
                   1e3 * r[2] / steps, r[1] > 0 ? 100 * r[2] / r[1] : 0);
            fflush(stdout);
        }
    printf("  step ms: a decode step's wall time; sampling ms: its sampler calls (engine_stats.sample_seconds_total).\n");
    model_free(m);
    free(path);
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr, "usage: bench_sampler [--threads N] [--cache-dir DIR] [--quick] [--no-engine | --engine-only]\n");
    exit(2);
}

int main(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {.threads = ncpu > 0 ? (int)ncpu : 1, .cache_dir = "bench-models", .engine = true, .micro = true};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) o.quick = true;
        else if (!strcmp(argv[i], "--no-engine")) o.engine = false;
        else if (!strcmp(argv[i], "--engine-only")) o.micro = false;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc) o.cache_dir = argv[++i];
        else usage();
    }
    if (o.threads < 1) usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    mode modes[N_MODES];
    make_modes(modes);
    static const int vocabs[] = {32000, 151936};
    pool *pl = pool_create(o.threads, 0);
    if (!pl) bench_die("pool_create");
    printf("== bench_sampler: %d threads\n", o.threads);
    if (o.micro) {
        per_call_table(&o, vocabs, 2, modes);
        per_step_table(&o, pl, vocabs, 2, modes);
    }
    pool_free(pl);
    if (o.engine) engine_table(&o, modes);
    return 0;
}
