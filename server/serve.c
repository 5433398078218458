/*
 * serve.c — `ctgi serve`: the process's life around the HTTP loop.
 *
 * Owns: the srv object (one per process, on the heap, freed on the way
 * out), the model load on its own thread (so /health answers 503 while it
 * runs and the loop never waits on the disk), the limits resolved against
 * the loaded model, the start-up log, signals (uv_signal: SIGTERM/SIGINT),
 * the graceful drain and the order things are torn down in:
 *
 *   signal → stop accepting, /health 503 → in-flight requests finish, up to
 *   --graceful-termination-timeout → the rest are cancelled (their streams
 *   end with an error event) → every parked connection is resumed, the MHD
 *   daemon stopped, the loop's handles closed → engine, model freed → exit 0.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hub.h"
#include "log.h"
#include "server.h"

#define CANCEL_GRACE_MS 2000 /* after cancelling at the deadline, how long streams get to end */

uint64_t serve_seed(srv *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) & ((1ull << 53) - 1);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h) { (void)h; }

static void finish(srv *s) {
    if (s->state == SRV_STOPPING) return;
    s->state = SRV_STOPPING;
    log_line(s->cfg.json_output, "INFO", NULL, "stopping: %d request(s) still open", s->n_permits);
    http_close(s);
    uv_close((uv_handle_t *)&s->drain_timer, on_closed);
    uv_close((uv_handle_t *)&s->keepalive_timer, on_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_closed);
    uv_close((uv_handle_t *)&s->sigint, on_closed);
    if (!s->load_thread_running && !uv_is_closing((uv_handle_t *)&s->loaded))
        uv_close((uv_handle_t *)&s->loaded, on_closed);
}

static void on_finish_timer(uv_timer_t *t) { finish(t->data); }

/* The drain deadline passed: cancel what is left and give it a moment to
 * end its streams. */
static void on_drain_deadline(uv_timer_t *t) {
    srv *s = t->data;
    if (s->cancel_sent) {
        finish(s);
        return;
    }
    s->cancel_sent = true;
    log_line(s->cfg.json_output, "WARN", NULL, "graceful termination timeout: cancelling %d request(s)",
             s->n_permits);
    for (conn *c = s->active; c; c = c->next_active) gen_cancel(c, false);
    uv_timer_start(&s->drain_timer, on_drain_deadline, CANCEL_GRACE_MS, 0);
}

void serve_check_drained(srv *s) {
    if (s->state == SRV_DRAINING && !s->load_thread_running && s->n_permits == 0)
        uv_timer_start(&s->drain_timer, on_finish_timer, 0, 0); /* not from inside MHD_run */
}

static void on_signal(uv_signal_t *h, int sig) {
    srv *s = h->data;
    if (s->state == SRV_STOPPING) return;
    if (s->state == SRV_DRAINING) { /* a second signal: no more waiting */
        log_line(s->cfg.json_output, "WARN", NULL, "signal %d again: cancelling everything", sig);
        s->cancel_sent = false;
        if (!s->load_thread_running) on_drain_deadline(&s->drain_timer);
        return;
    }
    log_line(s->cfg.json_output, "INFO", NULL,
             "signal %d: shutting down (no new connections, %d request(s) in flight, waiting up to %g s)", sig,
             s->n_permits, s->cfg.graceful_termination_timeout);
    s->state = SRV_DRAINING;
    http_stop_accepting(s);
    if (s->load_thread_running) return; /* on_loaded finishes */
    uv_timer_start(&s->drain_timer, on_drain_deadline, (uint64_t)(s->cfg.graceful_termination_timeout * 1e3), 0);
    serve_check_drained(s);
}

/* ---- loading ------------------------------------------------------------------------------- */

static engine_config engine_cfg(const serve_config *c) {
    engine_config ec = engine_config_default();
    ec.n_threads = c->threads;
    if (c->max_batch_prefill_tokens) ec.max_batch_prefill_tokens = c->max_batch_prefill_tokens;
    if (c->max_batch_total_tokens) ec.max_batch_total_tokens = c->max_batch_total_tokens;
    if (c->max_batch_size) ec.max_batch_size = c->max_batch_size;
    if (c->kv_cache_memory) ec.kv_cache_bytes = c->kv_cache_memory;
    if (c->block_size) ec.block_size = c->block_size;
    ec.prefix_caching = !c->no_prefix_caching;
    ec.speculate = c->speculate;
    ec.blas_matmul = c->matmul && strcmp(c->matmul, "blas") == 0;
    if (c->kv_cache_dtype) engine_kv_dtype_parse(c->kv_cache_dtype, &ec.kv_dtype); /* validated at parse */
    ec.debug_fail_step = c->debug_fail_step;
    return ec;
}

/* --lora-adapters / LORA_ADAPTERS: comma-separated `name=path` or `path`
 * (TGI's `id` form: the adapter is named by what was given), each a PEFT
 * folder or a GGUF LoRA file, loaded into m before the engine starts. */
static bool load_adapters(model *m, const char *spec, char *err) {
    char *copy = strdup(spec), *save = NULL;
    if (!copy) return ct_err(err, "out of memory");
    bool ok = true;
    for (char *e = strtok_r(copy, ",", &save); ok && e; e = strtok_r(NULL, ",", &save)) {
        while (*e == ' ') e++;
        for (size_t n = strlen(e); n > 0 && e[n - 1] == ' ';) e[--n] = '\0';
        if (!*e) continue;
        char *eq = strchr(e, '='), *name = e, *path = e;
        if (eq) {
            *eq = '\0';
            path = eq + 1;
        }
        char e2[CT_ERRLEN];
        struct stat st;
        if (stat(path, &st) != 0)
            ok = ct_err(err,
                        "--lora-adapters: '%s' is not a local adapter folder or GGUF file (adapters are not "
                        "downloaded from the Hub: download it and give name=path)", path);
        else if (!model_lora_load(m, name, path, e2)) ok = ct_err(err, "--lora-adapters: %s", e2);
    }
    free(copy);
    return ok;
}

static void *load_main(void *arg) {
    srv *s = arg;
    if (s->cfg.load_delay_ms > 0) {
        struct timespec ts = {s->cfg.load_delay_ms / 1000, (long)(s->cfg.load_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    s->m = model_load(s->model_path, s->load_err);
    if (s->m && s->cfg.lora_adapters && !load_adapters(s->m, s->cfg.lora_adapters, s->load_err)) {
        model_free(s->m);
        s->m = NULL;
    }
    if (s->m && s->cfg.draft_model) {
        char err[CT_ERRLEN];
        s->draft = model_load(s->cfg.draft_model, err);
        if (!s->draft) {
            snprintf(s->load_err, sizeof s->load_err, "draft model: %.480s", err);
            model_free(s->m);
            s->m = NULL;
        }
    }
    if (s->m) {
        char err[CT_ERRLEN];
        s->ct = chat_template_create(s->m, s->cfg.chat_template, err);
        if (!s->ct) snprintf(s->load_err, sizeof s->load_err, "chat template: %.480s", err);
    }
    if (s->ct) {
        engine_config ec = engine_cfg(&s->cfg);
        ec.draft_model = s->draft;
        s->e = engine_create(s->m, &ec, s->load_err);
        if (s->e) s->ecfg = engine_get_config(s->e);
    }
    uv_async_send(&s->loaded);
    return NULL;
}

/* TGI's token limits against the model's context and the KV cache. */
static bool resolve_limits(srv *s, char *err) {
    proto_limits l = s->cfg.limits;
    uint32_t ctx = (uint32_t)model_get_info(s->m).ctx_len, kv = (uint32_t)s->ecfg.max_batch_total_tokens;
    if (!l.max_total_tokens) l.max_total_tokens = ctx < kv ? ctx : kv;
    if (!l.max_input_tokens) l.max_input_tokens = l.max_total_tokens - 1;
    if (l.max_total_tokens > ctx) {
        snprintf(err, CT_ERRLEN, "--max-total-tokens %u exceeds the model's context length %u", l.max_total_tokens, ctx);
        return false;
    }
    if (l.max_total_tokens > kv) {
        snprintf(err, CT_ERRLEN, "--max-total-tokens %u exceeds the KV cache (--max-batch-total-tokens %u)",
                 l.max_total_tokens, kv);
        return false;
    }
    if (!proto_limits_check(&l, err)) return false;
    s->limits = l;
    metrics_set_lengths(s->met, l.max_input_tokens, l.max_total_tokens);
    return true;
}

static void log_ready(srv *s) {
    const proto_limits *l = &s->limits;
    const engine_config *e = &s->ecfg;
    const model_info mi = model_get_info(s->m);
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:s, s:i, s:I}",
                          "model_id", s->cfg.model_id, "format", mi.format, "dtype", mi.weight_type, "kernels",
                          mi.kernels, "parameters",
                          (json_int_t)mi.n_params, "context", mi.ctx_len, "max_concurrent_requests",
                          (int)l->max_concurrent_requests, "max_best_of", (int)l->max_best_of,
                          "max_stop_sequences", (int)l->max_stop_sequences, "max_top_n_tokens",
                          (int)l->max_top_n_tokens, "max_input_tokens", (int)l->max_input_tokens,
                          "max_total_tokens", (int)l->max_total_tokens, "max_batch_prefill_tokens",
                          e->max_batch_prefill_tokens, "max_batch_total_tokens", e->max_batch_total_tokens,
                          "max_batch_size", e->max_batch_size, "kv_cache_bytes", (json_int_t)e->kv_cache_bytes,
                          "kv_cache_dtype", engine_kv_dtype_name(e->kv_dtype), "threads", e->n_threads,
                          "payload_limit", (json_int_t)s->cfg.payload_limit);
    char *fields = f ? json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    log_line(s->cfg.json_output, "INFO", fields,
             "ready in %.2f s: model %s (%s, %s, %llu parameters, context %d); kernels %s; limits: max_concurrent_requests=%u "
             "max_best_of=%u max_stop_sequences=%u max_top_n_tokens=%u max_input_tokens=%u max_total_tokens=%u "
             "max_batch_prefill_tokens=%d max_batch_total_tokens=%d max_batch_size=%d kv_cache=%.1f MiB "
             "kv_cache_dtype=%s threads=%d matmul=%s payload_limit=%zu api_keys=%d cors=%s",
             srv_now() - s->t_ready, s->cfg.model_id, mi.format, mi.weight_type, (unsigned long long)mi.n_params,
             mi.ctx_len, mi.kernels, l->max_concurrent_requests, l->max_best_of, l->max_stop_sequences,
             l->max_top_n_tokens, l->max_input_tokens, l->max_total_tokens, e->max_batch_prefill_tokens,
             e->max_batch_total_tokens, e->max_batch_size, (double)e->kv_cache_bytes / (1 << 20),
             engine_kv_dtype_name(e->kv_dtype), e->n_threads,
             e->blas_matmul ? "blas" : "invariant",
             s->cfg.payload_limit, s->keys.n,
             s->cfg.cors_allow_origin ? s->cfg.cors_allow_origin : "*");
    free(fields);
    json_decref(f);
}

static void on_loaded(uv_async_t *a) {
    srv *s = a->data;
    pthread_join(s->load_thread, NULL);
    s->load_thread_running = false;
    uv_close((uv_handle_t *)&s->loaded, on_closed);
    char err[CT_ERRLEN];
    bool ok = s->e != NULL;
    if (!ok) snprintf(err, sizeof err, "%s", s->load_err);
    else ok = resolve_limits(s, err);
    if (ok) s->engine_ready = true; /* /info and /metrics may read the model now */
    if (!ok) {
        log_line(s->cfg.json_output, "ERROR", NULL, "cannot serve %s: %s", s->cfg.model_id, err);
        s->exit_code = 1;
        finish(s);
        return;
    }
    if (s->state == SRV_DRAINING) { /* a signal came while loading */
        finish(s);
        return;
    }
    s->engine_ready = true;
    s->t_ready_wall = time(NULL);
    s->state = SRV_READY;
    for (int k = 1; k <= model_lora_count(s->m); k++) {
        model_lora_info ad = model_lora_get(s->m, k);
        log_line(s->cfg.json_output, "INFO", NULL, "LoRA adapter '%s': %s %s, rank %d, alpha %g, %d layers, %s",
                 ad.name, ad.format, ad.path, ad.rank, ad.alpha, ad.n_layers, ad.targets);
    }
    log_ready(s);
}

/* ---- the model's files --------------------------------------------------------------------- */

static void note_log(void *ud, const char *msg) {
    srv *s = ud;
    log_line(s->cfg.json_output, strncmp(msg, "warning: ", 9) == 0 ? "WARN" : "INFO", NULL, "%s", msg);
}

/* --model-id: an existing file or directory (with --model-file, a file in
 * that directory), else a Hub repo id fetched into the Hub cache.  0, or
 * the exit status (1 error, 2 usage, 3 the Hub cannot be reached). */
static int resolve_model(srv *s) {
    const serve_config *c = &s->cfg;
    bool json = c->json_output;
    struct stat st;
    if (stat(c->model_id, &st) == 0) {
        bool join = c->model_file && S_ISDIR(st.st_mode);
        if (join ? asprintf(&s->model_path, "%s/%s", c->model_id, c->model_file) < 0
                 : !(s->model_path = strdup(c->model_id)))
            s->model_path = NULL;
        return s->model_path ? 0 : 1;
    }
    char err[HUB_ERRLEN], path[PATH_MAX];
    if (!hub_repo_id_check(c->model_id, err)) {
        log_line(json, "ERROR", NULL, "--model-id: no such file or directory '%s', and %s", c->model_id, err);
        return 1; /* a missing file, as when a path's load fails */
    }
    log_line(json, "INFO", NULL, "model %s (revision %s): not a local path; fetching it from the Hugging Face Hub",
             c->model_id, c->revision ? c->revision : "main");
    int rc = cli_hub_model(c->model_id, c->revision, c->model_file, note_log, s, path, s->model_sha, err);
    if (rc != 0) {
        log_line(json, "ERROR", NULL, "cannot serve %s: %s", c->model_id, err);
        return rc;
    }
    log_line(json, "INFO", NULL, "model %s: commit %s, loading %s", c->model_id, s->model_sha, path);
    s->model_path = strdup(path);
    return s->model_path ? 0 : 1;
}

/* ---- the process --------------------------------------------------------------------------- */

static void on_keepalive(uv_timer_t *t) {
    srv *s = t->data;
    sse_keepalive(s);
    http_drive(s);
}

static bool start(srv *s) {
    char err[CT_ERRLEN];
    if (getrandom(&s->rng, sizeof s->rng, 0) != sizeof s->rng) s->rng = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (!(s->met = metrics_create(s->cfg.limits.max_input_tokens, s->cfg.limits.max_total_tokens))) return false;
    if (!http_start(s, err)) {
        log_line(s->cfg.json_output, "ERROR", NULL, "%s", err);
        return false;
    }
    json_t *f = json_pack("{s:s, s:i}", "hostname", s->cfg.hostname, "port", s->port);
    char *fields = f ? json_dumps(f, JSON_COMPACT) : NULL;
    log_line(s->cfg.json_output, "INFO", fields, "ctgi %s listening on %s://%s:%d (loading %s)", CTGI_VERSION,
             s->tls_cert ? "https" : "http", s->cfg.hostname, s->port, s->cfg.model_id);
    free(fields);
    json_decref(f);
    uv_timer_init(&s->loop, &s->drain_timer);
    uv_timer_init(&s->loop, &s->keepalive_timer);
    s->drain_timer.data = s->keepalive_timer.data = s;
    uint64_t ka = (uint64_t)(s->cfg.sse_keep_alive * 500); /* check twice per interval */
    uv_timer_start(&s->keepalive_timer, on_keepalive, ka ? ka : 1, ka ? ka : 1);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_async_init(&s->loop, &s->loaded, on_loaded);
    s->loaded.data = s;
    s->t_ready = srv_now();
    s->load_thread_running = pthread_create(&s->load_thread, NULL, load_main, s) == 0;
    if (!s->load_thread_running) {
        log_line(s->cfg.json_output, "ERROR", NULL, "cannot start the model loading thread");
        s->exit_code = 1;
        finish(s);
    }
    return true;
}

int cli_serve(int argc, char **argv) {
    srv *s = calloc(1, sizeof *s);
    if (!s) return 1;
    int rc = serve_config_parse(argc, argv, &s->cfg);
    if (rc != 0) {
        free(s);
        return rc == 1 ? 0 : 2;
    }
    char kerr[AUTH_ERRLEN];
    if (!auth_keys_load(&s->keys, s->cfg.api_key, s->cfg.api_key_file, kerr)) {
        fprintf(stderr, "ctgi serve: %s\n", kerr);
        free(s);
        return 2;
    }
    if ((rc = resolve_model(s)) != 0) {
        auth_keys_free(&s->keys);
        free(s);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a death */
    pthread_mutex_init(&s->ready_mu, NULL);
    uv_loop_init(&s->loop);
    if (start(s)) uv_run(&s->loop, UV_RUN_DEFAULT);
    else s->exit_code = 1;
    uv_loop_close(&s->loop);
    engine_free(s->e);
    chat_template_free(s->ct);
    model_free(s->m);
    model_free(s->draft);
    metrics_free(s->met);
    free(s->drain);
    free(s->model_path);
    auth_keys_free(&s->keys);
    guard_tls_free(s);
    pthread_mutex_destroy(&s->ready_mu);
    rc = s->exit_code;
    log_line(s->cfg.json_output, "INFO", NULL, "exit %d", rc);
    free(s);
    return rc;
}
