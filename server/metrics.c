/*
 * metrics.c — counters, histograms and the Prometheus text exposition of
 * `ctgi serve` (see metrics.h).  Histograms are cumulative in the output
 * (`_bucket{le=…}` counts every observation ≤ le), as Prometheus expects.
 */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUR_BUCKETS 35  /* TGI: 0.00015 s × 1.5^i */
#define LEN_BUCKETS 100 /* TGI: linear up to the limit */

typedef struct {
    int n;
    double bounds[LEN_BUCKETS];
    uint64_t counts[LEN_BUCKETS + 1]; /* last = +Inf */
    double sum;
    uint64_t count;
} histo;

typedef enum {
    H_DURATION = 0,
    H_VALIDATION,
    H_QUEUE,
    H_INFERENCE,
    H_TPT,
    H_INPUT,
    H_GENERATED,
    H_MAX_NEW,
    H_TTFT,
    H_ITL,
    H_SKIPPED,
    H_COUNT
} histo_id;

static const struct {
    const char *name, *help;
} HISTO_INFO[H_COUNT] = {
    {"tgi_request_duration", "End-to-end request duration (seconds)"},
    {"tgi_request_validation_duration", "Request arrival to queued (seconds)"},
    {"tgi_request_queue_duration", "Time in the queue (seconds)"},
    {"tgi_request_inference_duration", "Admission to last token (seconds)"},
    {"tgi_request_mean_time_per_token_duration", "Inference time per generated token (seconds)"},
    {"tgi_request_input_length", "Prompt tokens per request"},
    {"tgi_request_generated_tokens", "Generated tokens per request"},
    {"tgi_request_max_new_tokens", "Token budget per request"},
    {"ctgi_request_time_to_first_token_seconds", "Request arrival to first token (seconds)"},
    {"ctgi_request_inter_token_latency_seconds", "Gap between consecutive tokens of a request (seconds)"},
    {"tgi_request_skipped_tokens", "Speculated tokens accepted per request"},
};

static const char *FAILURE_LABEL[MF_COUNT] = {"validation", "overloaded", "dropped",
                                              "generation", "incomplete", "unhealthy"};

struct metrics {
    uint64_t requests, success, failure[MF_COUNT];
    uint64_t cancelled_queued, cancelled_running;
    histo h[H_COUNT];
};

static void histo_geometric(histo *h) {
    h->n = DUR_BUCKETS;
    double b = 0.00015;
    for (int i = 0; i < DUR_BUCKETS; i++, b *= 1.5) h->bounds[i] = b;
}

static void histo_linear(histo *h, uint32_t max) {
    h->n = LEN_BUCKETS;
    double step = (max > 0 ? max : 1) / (double)LEN_BUCKETS;
    for (int i = 0; i < LEN_BUCKETS; i++) h->bounds[i] = step * (i + 1);
}

static void observe(histo *h, double v) {
    int i = 0;
    while (i < h->n && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

metrics *metrics_create(uint32_t max_input_tokens, uint32_t max_total_tokens) {
    metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    for (int i = H_DURATION; i <= H_TPT; i++) histo_geometric(&m->h[i]);
    histo_geometric(&m->h[H_TTFT]);
    histo_geometric(&m->h[H_ITL]);
    histo_linear(&m->h[H_INPUT], max_input_tokens);
    histo_linear(&m->h[H_GENERATED], max_total_tokens);
    histo_linear(&m->h[H_MAX_NEW], max_total_tokens);
    histo_linear(&m->h[H_SKIPPED], max_total_tokens);
    return m;
}

void metrics_set_lengths(metrics *m, uint32_t max_input_tokens, uint32_t max_total_tokens) {
    for (int i = H_INPUT; i <= H_MAX_NEW; i++) memset(&m->h[i], 0, sizeof m->h[i]);
    histo_linear(&m->h[H_INPUT], max_input_tokens);
    histo_linear(&m->h[H_GENERATED], max_total_tokens);
    histo_linear(&m->h[H_MAX_NEW], max_total_tokens);
    memset(&m->h[H_SKIPPED], 0, sizeof m->h[H_SKIPPED]);
    histo_linear(&m->h[H_SKIPPED], max_total_tokens);
}

void metrics_free(metrics *m) { free(m); }

void metrics_request(metrics *m) { m->requests++; }
void metrics_fail(metrics *m, metrics_failure f) { m->failure[f]++; }
void metrics_ttft(metrics *m, double s) { observe(&m->h[H_TTFT], s); }
void metrics_itl(metrics *m, double s) { observe(&m->h[H_ITL], s); }

void metrics_cancelled(metrics *m, bool before_first_token) {
    if (before_first_token) m->cancelled_queued++;
    else m->cancelled_running++;
    m->failure[MF_DROPPED]++;
}

void metrics_success(metrics *m, const metrics_req *r) {
    m->success++;
    observe(&m->h[H_DURATION], r->total);
    observe(&m->h[H_VALIDATION], r->validation);
    observe(&m->h[H_QUEUE], r->queue);
    observe(&m->h[H_INFERENCE], r->inference);
    observe(&m->h[H_TPT], r->time_per_token);
    observe(&m->h[H_INPUT], r->input_tokens);
    observe(&m->h[H_GENERATED], r->generated_tokens);
    observe(&m->h[H_MAX_NEW], r->max_new_tokens);
    observe(&m->h[H_SKIPPED], r->skipped_tokens);
}

/* ---- text exposition -------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = true; return; }
        if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) { b->oom = true; return; }
        b->s = ns;
        b->cap = cap;
    }
}

static void head(buf *b, const char *name, const char *type, const char *help) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(buf *b, const char *name, const char *type, const char *help, double v) {
    head(b, name, type, help);
    put(b, "%s %.17g\n", name, v);
}

static void put_histo(buf *b, const histo *h, const char *name, const char *help) {
    head(b, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->counts[i];
        put(b, "%s_bucket{le=\"%.10g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[h->n];
    put(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    put(b, "%s_sum %.17g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static void put_requests(buf *b, const metrics *m) {
    scalar(b, "tgi_request_count", "counter", "Generation requests received", (double)m->requests);
    scalar(b, "tgi_request_success", "counter", "Generation requests answered in full", (double)m->success);
    head(b, "tgi_request_failure", "counter", "Failed generation requests by reason");
    for (int i = 0; i < MF_COUNT; i++)
        put(b, "tgi_request_failure{err=\"%s\"} %llu\n", FAILURE_LABEL[i], (unsigned long long)m->failure[i]);
    head(b, "ctgi_request_cancelled", "counter",
         "Requests cancelled because the client disconnected, by phase (queued = before the first token)");
    put(b, "ctgi_request_cancelled{phase=\"queued\"} %llu\n", (unsigned long long)m->cancelled_queued);
    put(b, "ctgi_request_cancelled{phase=\"running\"} %llu\n", (unsigned long long)m->cancelled_running);
    for (int i = 0; i < H_COUNT; i++) put_histo(b, &m->h[i], HISTO_INFO[i].name, HISTO_INFO[i].help);
}

static void put_engine(buf *b, const engine_stats *st, const engine_config *cfg) {
    scalar(b, "tgi_queue_size", "gauge", "Requests waiting for admission", st->waiting);
    scalar(b, "tgi_batch_current_size", "gauge", "Sequences in the running batch", st->running);
    scalar(b, "tgi_batch_max_total_tokens", "gauge", "KV-cache capacity in tokens", cfg->max_batch_total_tokens);
    scalar(b, "tgi_batch_current_max_tokens", "gauge", "KV positions held by running sequences",
           (double)st->kv_blocks_used * st->block_size);
    double total = st->kv_blocks_total > 0 ? st->kv_blocks_total : 1;
    scalar(b, "ctgi_kv_cache_usage_ratio", "gauge", "Fraction of KV blocks held by sequences",
           st->kv_blocks_used / total);
    head(b, "ctgi_kv_cache_blocks", "gauge", "KV blocks by state");
    put(b, "ctgi_kv_cache_blocks{state=\"used\"} %d\n", st->kv_blocks_used);
    put(b, "ctgi_kv_cache_blocks{state=\"cached\"} %d\n", st->kv_blocks_cached);
    put(b, "ctgi_kv_cache_blocks{state=\"free\"} %d\n", st->kv_blocks_free);
    scalar(b, "ctgi_kv_cache_blocks_total", "gauge", "KV blocks in the pool", st->kv_blocks_total);
    scalar(b, "ctgi_kv_cache_blocks_used_peak", "gauge", "Most KV blocks held at once", st->kv_blocks_used_peak);
    uint64_t lookups = st->prefix_hit_blocks + st->prefix_miss_blocks;
    scalar(b, "ctgi_prefix_cache_hit_ratio", "gauge", "Prompt blocks found in the prefix cache / looked up",
           lookups ? (double)st->prefix_hit_blocks / (double)lookups : 0.0);
    scalar(b, "ctgi_prefix_cache_hit_blocks", "counter", "Prompt blocks reused from the prefix cache",
           (double)st->prefix_hit_blocks);
    scalar(b, "ctgi_prefix_cache_miss_blocks", "counter", "Prompt blocks computed", (double)st->prefix_miss_blocks);
    scalar(b, "ctgi_kv_cache_evictions", "counter", "Cached blocks evicted", (double)st->kv_evictions);
    scalar(b, "ctgi_preemptions", "counter", "Sequences preempted for lack of KV blocks", (double)st->preemptions);
    scalar(b, "ctgi_engine_steps", "counter", "Engine steps", (double)st->steps);
    scalar(b, "ctgi_tokens_prefilled", "counter", "Prompt tokens fed (recomputation included)",
           (double)st->tokens_prefilled);
    scalar(b, "ctgi_tokens_generated", "counter", "Tokens sampled", (double)st->tokens_generated);
    scalar(b, "ctgi_speculative_drafted_tokens", "counter", "Speculative decoding: drafted tokens verified",
           (double)st->tokens_drafted);
    scalar(b, "ctgi_speculative_accepted_tokens", "counter", "Speculative decoding: drafted tokens accepted",
           (double)st->tokens_accepted);
    scalar(b, "ctgi_engine_step_seconds", "gauge", "Duration of the last engine step", st->last_step_seconds);
}

char *metrics_render(const metrics *m, const engine_stats *st, const engine_config *cfg,
                     const metrics_gauges *g, size_t *len) {
    buf b = {0};
    put_requests(&b, m);
    scalar(&b, "ctgi_requests_in_flight", "gauge", "Generation and tokenize requests holding a concurrency permit",
           g->requests_in_flight);
    scalar(&b, "ctgi_max_concurrent_requests", "gauge", "--max-concurrent-requests", g->max_concurrent_requests);
    scalar(&b, "ctgi_http_requests_open", "gauge", "HTTP requests being served", g->connections);
    scalar(&b, "ctgi_ready", "gauge", "1 when the model is loaded and the server accepts work", g->ready);
    if (st && cfg) put_engine(&b, st, cfg);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    if (len) *len = b.len;
    return b.s;
}

double metrics_find(const char *text, const char *name) {
    size_t n = strlen(name);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return -1;
}
