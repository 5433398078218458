/*
 * metrics.h — the server's Prometheus metrics: TGI's `tgi_*` counters,
 * gauges and histograms (names, labels and buckets as TGI's router exports
 * them, ../shared/reference/api.md §1.11) plus ctgi's additions: time to
 * first token, inter-token latency, KV-cache usage, prefix-cache hit ratio,
 * preemptions, cancellations.
 *
 * Owns: the counters and histograms the loop thread updates (no locking:
 * only the loop thread touches a metrics object) and the text exposition
 * format.  Gauges that describe the engine are read from engine_get_stats
 * at render time.
 */
#ifndef CTGI_METRICS_H
#define CTGI_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct metrics metrics;

/* Length histograms get 100 linear buckets up to these (TGI's layout). */
metrics *metrics_create(uint32_t max_input_tokens, uint32_t max_total_tokens);
void metrics_free(metrics *m);
/* The limits became known (model loaded): re-lay the length histograms. */
void metrics_set_lengths(metrics *m, uint32_t max_input_tokens, uint32_t max_total_tokens);

/* TGI's request failure kinds (label `err`). */
typedef enum {
    MF_VALIDATION = 0,
    MF_OVERLOADED,
    MF_DROPPED,     /* the client went away (cancelled) */
    MF_GENERATION,
    MF_INCOMPLETE,
    MF_UNHEALTHY,   /* refused while loading / shutting down */
    MF_COUNT
} metrics_failure;

/* One finished generation. */
typedef struct {
    double total, validation, queue, inference; /* seconds */
    double time_per_token;                      /* inference / generated */
    uint32_t input_tokens, generated_tokens, max_new_tokens;
    uint32_t skipped_tokens;                    /* speculative decoding: drafted tokens accepted */
} metrics_req;

void metrics_request(metrics *m);                       /* tgi_request_count */
void metrics_fail(metrics *m, metrics_failure f);       /* tgi_request_failure{err} */
void metrics_success(metrics *m, const metrics_req *r); /* success + histograms */
void metrics_cancelled(metrics *m, bool before_first_token);
void metrics_ttft(metrics *m, double seconds);
void metrics_itl(metrics *m, double seconds);

/* Things only the server knows, shown as gauges. */
typedef struct {
    int requests_in_flight; /* holding a --max-concurrent-requests permit */
    int connections;        /* HTTP requests open */
    int max_concurrent_requests;
    bool ready;
} metrics_gauges;

/* The exposition text (malloc'd).  st/cfg may be NULL (model loading). */
char *metrics_render(const metrics *m, const engine_stats *st, const engine_config *cfg,
                     const metrics_gauges *g, size_t *len);

/* A rendered metric's value, for tests and tools: the first sample whose
 * line starts with `name` (labels included, e.g. "tgi_request_failure{err=\"dropped\"}").
 * Returns -1 when absent. */
double metrics_find(const char *text, const char *name);

#endif
