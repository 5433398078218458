/*
 * bench_serving.c — the engine under concurrent load, without HTTP (built as
 * build/tools/bench_serving; driven by scripts/bench.sh / `make bench`).
 *
 *   bench_serving [--threads N] [--cache-dir DIR] [--model small|large]
 *                 [--requests N] [--prompt N] [--gen N] [--concurrency 1,4,16,64]
 *                 [--prefix N] [--prefix-concurrency N] [--kv-cache-dtype T]
 *                 [--all-requests] [--quick]
 *
 * Workload 1 (throughput/latency): `requests` requests with distinct random
 * `prompt`-token prompts, `gen` new tokens each (EOS ignored, greedy), kept
 * `concurrency` in flight by one client thread (a new request is submitted
 * the moment one finishes).  A level of concurrency c runs only the first
 * max(8, 4c) requests unless --all-requests: after a few waves of c
 * identical requests the numbers are steady, and 64 single-stream requests
 * would take half an hour on 2 cores.  Per level, a fresh engine: aggregate generated
 * tokens/s over the wall time, time to first token (submit -> first TOKEN
 * event) and inter-token latency (gaps between a request's TOKEN events)
 * at p50/p95, peak KV memory (most blocks held at once x block bytes, at
 * the KV cache type's real size: --kv-cache-dtype, default f16).
 *
 * Workload 2 (shared system prompt): `requests` requests made of one common
 * `prefix`-token prefix plus 16 tokens of their own, 32 new tokens, at
 * `prefix-concurrency`, with prefix caching on and off: time to first token.
 *
 * The client wakes on the engine's notify callback and drains events
 * without blocking, stamping each on arrival — what a server's event loop
 * would see.  Nothing is asserted: the tables are for people.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "engine.h"
#include "model/model_info.h"
#include "support/bench_models.h"
#include "support/bench_util.h"

typedef struct {
    int threads;
    const char *cache_dir;
    const char *model_key;
    int requests, prompt, gen;
    int conc[8], n_conc;
    int prefix, prefix_conc;
    bool all_requests; /* every level runs all requests (else low levels run fewer) */
    engine_kv_dtype kv_dtype;
} options;

/* ---- the client --------------------------------------------------------------------- */

typedef struct {
    int32_t *prompt;
    int n_prompt, max_new;
} work;

typedef struct {
    engine_req *h;
    double t_submit, t_first, t_last;
    int n_tokens;
    bool done;
} client;

typedef struct {
    double wall, ttft_p50, ttft_p95, itl_p50, itl_p95, ttft_mean;
    long generated;
    engine_stats st;
} run_result;


/* Drain c's events; stamp arrivals; true when it has ended. */
static bool drain(client *c, double *gaps, long *n_gaps) {
    engine_event ev;
    while (engine_next_event(c->h, &ev, false)) {
        double now = ct_now();
        if (ev.kind == ENGINE_EVENT_TOKEN) {
            if (c->n_tokens++ == 0)
                c->t_first = now;
            else
                gaps[(*n_gaps)++] = now - c->t_last;
            c->t_last = now;
        } else {
            if (ev.kind == ENGINE_EVENT_ERROR) bench_die("request failed: %s", ev.error.message);
            c->done = true;
        }
        engine_event_clear(&ev);
    }
    return c->done;
}

/* Submit the i-th work item as a greedy request that ignores EOS. */
static void submit(engine *e, const work *w, client *c, bench_waker *wk) {
    engine_request r = engine_request_default();
    r.prompt = w->prompt;
    r.n_prompt = w->n_prompt;
    r.max_new_tokens = w->max_new;
    r.ignore_eos = true;
    r.notify = bench_wake;
    r.ud = wk;
    char err[CT_ERRLEN] = "";
    memset(c, 0, sizeof *c);
    c->t_submit = ct_now();
    if (!(c->h = engine_submit(e, &r, err))) bench_die("engine_submit: %s", err);
}

/* Run n work items with `conc` in flight on a fresh engine. */
static run_result run(const model *m, const engine_config *cfg, const work *ws, int n, int conc) {
    char err[CT_ERRLEN] = "";
    engine *e = engine_create(m, cfg, err);
    if (!e) bench_die("engine_create: %s", err);
    bench_waker wk = BENCH_WAKER_INIT;
    client *cs = calloc((size_t)n, sizeof *cs);
    long max_gaps = 0;
    for (int i = 0; i < n; i++) max_gaps += ws[i].max_new;
    double *gaps = malloc((size_t)max_gaps * sizeof *gaps), *ttft = malloc((size_t)n * sizeof *ttft);
    long n_gaps = 0;
    int next = 0, active = 0, done = 0;
    double t0 = ct_now();
    while (done < n) {
        while (active < conc && next < n) {
            submit(e, &ws[next], &cs[next], &wk);
            next++, active++;
        }
        bench_wait(&wk);
        for (int i = 0; i < next; i++) {
            if (cs[i].done || !drain(&cs[i], gaps, &n_gaps)) continue;
            engine_release(cs[i].h);
            done++, active--;
        }
    }
    run_result r = {.wall = ct_now() - t0};
    double sum = 0;
    for (int i = 0; i < n; i++) {
        ttft[i] = cs[i].t_first - cs[i].t_submit;
        sum += ttft[i];
        r.generated += cs[i].n_tokens;
    }
    r.ttft_mean = sum / n;
    r.ttft_p50 = bench_percentile(ttft, n, 0.5);
    r.ttft_p95 = bench_percentile(ttft, n, 0.95);
    r.itl_p50 = bench_percentile(gaps, n_gaps, 0.5);
    r.itl_p95 = bench_percentile(gaps, n_gaps, 0.95);
    r.st = engine_get_stats(e);
    engine_free(e);
    free(cs);
    free(gaps);
    free(ttft);
    return r;
}

/* ---- workloads ---------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* n items: `shared` common tokens then `own` tokens of their own each. */
static work *make_work(int n, int shared, int own, int max_new, int vocab, uint64_t seed) {
    work *ws = calloc((size_t)n, sizeof *ws);
    uint64_t common = seed ^ 0xC0FFEE, r = seed;
    int32_t *prefix = malloc((size_t)(shared > 0 ? shared : 1) * sizeof *prefix);
    for (int i = 0; i < shared; i++) prefix[i] = (int32_t)(3 + rnd(&common) % (uint64_t)(vocab - 3));
    for (int k = 0; k < n; k++) {
        ws[k].n_prompt = shared + own;
        ws[k].max_new = max_new;
        ws[k].prompt = malloc((size_t)ws[k].n_prompt * sizeof(int32_t));
        memcpy(ws[k].prompt, prefix, (size_t)shared * sizeof(int32_t));
        for (int i = shared; i < ws[k].n_prompt; i++) ws[k].prompt[i] = (int32_t)(3 + rnd(&r) % (uint64_t)(vocab - 3));
    }
    free(prefix);
    return ws;
}

static void free_work(work *ws, int n) {
    for (int i = 0; i < n; i++) free(ws[i].prompt);
    free(ws);
}

static engine_config bench_config(const options *o, bool prefix) {
    engine_config c = engine_config_default();
    c.n_threads = o->threads;
    c.prefix_caching = prefix;
    c.kv_dtype = o->kv_dtype;
    return c;
}

static void concurrency_table(const model *m, const options *o) {
    work *ws = make_work(o->requests, 0, o->prompt, o->gen, model_get_info(m).vocab, 1);
    engine_config c = bench_config(o, true);
    printf("\n== serving: %d requests, %d-token prompts, %d new tokens (EOS ignored, greedy), threads=%d, KV %s\n",
           o->requests, o->prompt, o->gen, o->threads, engine_kv_dtype_name(o->kv_dtype));
    printf("%5s %4s %8s %10s %8s | %9s %9s | %8s %8s | %8s %6s %6s\n", "conc", "reqs", "wall s", "gen tok/s", "x single",
           "TTFT p50", "TTFT p95", "ITL p50", "ITL p95", "peak KV", "preempt", "steps");
    double single = 0;
    for (int k = 0; k < o->n_conc; k++) {
        int n = o->all_requests || 4 * o->conc[k] >= o->requests ? o->requests : 4 * o->conc[k];
        if (n < 8) n = o->requests < 8 ? o->requests : 8;
        run_result r = run(m, &c, ws, n, o->conc[k]);
        double tps = r.generated / r.wall;
        if (o->conc[k] == 1) single = tps;
        char ratio[16] = "-";
        if (single > 0) snprintf(ratio, sizeof ratio, "%.2fx", tps / single);
        double kv_mb = (double)r.st.kv_blocks_used_peak * (double)r.st.kv_block_bytes / 1e6;
        printf("%5d %4d %8.1f %10.1f %8s | %8.3fs %8.3fs | %6.1fms %6.1fms | %6.0fMB %6llu %6llu\n", o->conc[k], n, r.wall,
               tps, ratio, r.ttft_p50, r.ttft_p95, r.itl_p50 * 1e3, r.itl_p95 * 1e3, kv_mb,
               (unsigned long long)r.st.preemptions, (unsigned long long)r.st.steps);
        fflush(stdout);
    }
    printf("  reqs: requests run at that level (max(8, 4 x conc) of them unless --all-requests).\n"
           "  gen tok/s: all generated tokens / wall time; x single: against concurrency 1.\n"
           "  TTFT: submit -> first token event; ITL: gaps between a request's token events (all requests).\n"
           "  peak KV: most blocks held by sequences at once x bytes per block (K+V, %s).\n",
           engine_kv_dtype_name(o->kv_dtype));
    free_work(ws, o->requests);
}

static void prefix_table(const model *m, const options *o) {
    const int own = 16, gen = 32;
    work *ws = make_work(o->requests, o->prefix, own, gen, model_get_info(m).vocab, 2);
    printf("\n== shared system prompt: %d requests = %d common + %d own tokens, %d new tokens, concurrency %d\n",
           o->requests, o->prefix, own, gen, o->prefix_conc);
    printf("%8s | %9s %9s %9s | %8s %10s %10s\n", "caching", "TTFT p50", "TTFT p95", "TTFT mean", "wall s",
           "prefilled", "hit blocks");
    run_result res[2];
    for (int on = 1; on >= 0; on--) {
        engine_config c = bench_config(o, on);
        run_result r = res[on] = run(m, &c, ws, o->requests, o->prefix_conc);
        printf("%8s | %8.3fs %8.3fs %8.3fs | %8.1f %10llu %10llu\n", on ? "on" : "off", r.ttft_p50, r.ttft_p95,
               r.ttft_mean, r.wall, (unsigned long long)r.st.tokens_prefilled,
               (unsigned long long)r.st.prefix_hit_blocks);
        fflush(stdout);
    }
    printf("  TTFT with caching on is %.1fx better at p50 (%.1fx mean); prefilled = prompt tokens computed.\n",
           res[0].ttft_p50 / res[1].ttft_p50, res[0].ttft_mean / res[1].ttft_mean);
    free_work(ws, o->requests);
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr,
            "usage: bench_serving [--threads N] [--cache-dir DIR] [--model small|large] [--requests N]\n"
            "                     [--prompt N] [--gen N] [--concurrency 1,4,16,64] [--prefix N]\n"
            "                     [--prefix-concurrency N] [--kv-cache-dtype f32|f16|bf16|q8_0]\n"
            "                     [--all-requests] [--quick]\n"
            "  defaults: all cores, bench-models, small (110M), 64 requests, 128/128 tokens, KV f16,\n"
            "  concurrency 1,4,16,64 (level c runs max(8, 4c) requests unless --all-requests),\n"
            "  a 512-token shared prefix at concurrency 16;\n"
            "  --quick: 16 requests, concurrency 1,4,16\n");
    exit(2);
}

static void parse_conc(options *o, const char *s) {
    o->n_conc = 0;
    for (const char *p = s; *p && o->n_conc < 8;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1) usage();
        o->conc[o->n_conc++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') usage();
    }
}

static options parse(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {.threads = ncpu > 0 ? (int)ncpu : 1, .cache_dir = "bench-models", .model_key = "small",
                 .requests = 64, .prompt = 128, .gen = 128, .conc = {1, 4, 16, 64}, .n_conc = 4,
                 .prefix = 512, .prefix_conc = 16, .kv_dtype = engine_config_default().kv_dtype};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            o.requests = 16;
            parse_conc(&o, "1,4,16");
            continue;
        }
        if (!strcmp(a, "--all-requests")) {
            o.all_requests = true;
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--threads")) o.threads = atoi(v);
        else if (!strcmp(a, "--cache-dir")) o.cache_dir = v;
        else if (!strcmp(a, "--model")) o.model_key = v;
        else if (!strcmp(a, "--requests")) o.requests = atoi(v);
        else if (!strcmp(a, "--prompt")) o.prompt = atoi(v);
        else if (!strcmp(a, "--gen")) o.gen = atoi(v);
        else if (!strcmp(a, "--concurrency")) parse_conc(&o, v);
        else if (!strcmp(a, "--prefix")) o.prefix = atoi(v);
        else if (!strcmp(a, "--prefix-concurrency")) o.prefix_conc = atoi(v);
        else if (!strcmp(a, "--kv-cache-dtype")) {
            if (!engine_kv_dtype_parse(v, &o.kv_dtype)) usage();
        } else usage();
    }
    if (o.threads < 1 || o.requests < 1 || o.prompt < 1 || o.gen < 1 || o.prefix < 0 || o.prefix_conc < 1) usage();
    return o;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const bench_spec *spec = bench_spec_find(o.model_key);
    if (!spec) usage();
    printf("== bench_serving (cache: %s)\n", o.cache_dir);
    char err[CT_ERRLEN] = "";
    char *path = bench_model_ensure(spec, o.cache_dir, err);
    if (!path) bench_die("%s", err);
    model *m = model_load(path, err);
    if (!m) bench_die("model_load %s: %s", path, err);
    model_info mi = model_get_info(m);
    printf("  model %s: dim %d, %d layers, vocab %d, context %d\n", spec->label, mi.dim, mi.n_layers, mi.vocab,
           mi.ctx_len);
    concurrency_table(m, &o);
    if (o.prefix > 0) prefix_table(m, &o);
    model_free(m);
    free(path);
    return 0;
}
