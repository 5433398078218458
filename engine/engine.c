/*
 * engine.c — the engine's public face (engine.h): configuration defaults,
 * the engine thread and its step loop, the submit queue into it, and the
 * thin caller-side wrappers over a request's outbox.
 *
 * Threads: engine_submit (any thread) validates and copies the request on
 * the caller's thread — cheap, no model code — then appends the handle to
 * `inbox` under `mu` and signals `cv`.  The engine thread sleeps on `cv`
 * while it has nothing to do; otherwise it moves the inbox into the
 * scheduler and runs one step, then publishes a stats snapshot under `mu`.
 */
#include "engine.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encdec.h"
#include "request.h"
#include "model/model.h"
#include "scheduler.h"
#include "spec_draft.h"

struct engine {
    const model *m;
    engine_config cfg; /* resolved */
    pool *pool;
    sched *s;
    cons_cache *cons; /* engine_constraint's grammars */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t cv;   /* new work or stop */
    engine_req **inbox;  /* submitted, not yet handed to the scheduler */
    int n_inbox, cap_inbox;
    bool stop;
    engine_stats snap;   /* after the last step */
};

/* ---- small public helpers ----------------------------------------------------- */

engine_config engine_config_default(void) {
    return (engine_config){
        .n_threads = 0,
        .block_size = 16,
        .max_batch_total_tokens = 0,
        .kv_cache_bytes = 0,
        .max_batch_prefill_tokens = 4096,
        .max_batch_size = 64,
        .prefix_caching = true,
        .kv_dtype = ENGINE_KV_F16,
    };
}

/* engine_kv_dtype is kv.h's kv_dtype seen from outside engine/ (which
 * may not include kv.h): the same values. */
_Static_assert((int)ENGINE_KV_F32 == (int)KV_F32 && (int)ENGINE_KV_F16 == (int)KV_F16 &&
                   (int)ENGINE_KV_BF16 == (int)KV_BF16 && (int)ENGINE_KV_Q8_0 == (int)KV_Q8_0,
               "engine_kv_dtype and kv_dtype must agree");

const char *engine_kv_dtype_name(engine_kv_dtype t) { return kv_dtype_name((kv_dtype)t); }

bool engine_kv_dtype_parse(const char *name, engine_kv_dtype *out) {
    kv_dtype t;
    if (!kv_dtype_parse(name, &t)) return false;
    *out = (engine_kv_dtype)t;
    return true;
}

engine_request engine_request_default(void) {
    return (engine_request){.sampling = sampler_params_default(), .max_new_tokens = 100};
}

const char *engine_finish_name(engine_finish f) {
    switch (f) {
    case ENGINE_FINISH_EOS: return "eos_token";
    case ENGINE_FINISH_STOP: return "stop_sequence";
    default: return "length";
    }
}

void engine_event_clear(engine_event *ev) {
    free(ev->token.text);
    free(ev->final.text);
    free(ev->final.prompt);
    memset(ev, 0, sizeof *ev);
}

/* ---- configuration ---------------------------------------------------------------- */

/* KV capacity in tokens when only a byte budget, or nothing, is given. */
static long default_kv_tokens(const model *m, const engine_config *c, size_t bytes_per_token) {
    if (c->kv_cache_bytes > 0) return (long)(c->kv_cache_bytes / bytes_per_token);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double ram = pages > 0 && page > 0 ? (double)pages * (double)page : 4e9;
    double fit = ram * 0.25 / (double)bytes_per_token;
    double avail = (double)ct_mem_available() * 0.5 / (double)bytes_per_token; /* a busy machine: half of what is left */
    if (avail > 0 && avail < fit) fit = avail;
    double want = 16.0 * m->cfg.ctx_len;
    return (long)(fit < want ? fit : want);
}

/* Defaults for zero fields, checks for the rest; the KV capacity becomes a
 * whole number of blocks. */
static bool resolve_config(const model *m, const engine_config *in, engine_config *c, char *err) {
    *c = *in;
    if (c->n_threads < 0 || c->block_size < 0 || c->max_batch_total_tokens < 0 ||
        c->max_batch_prefill_tokens < 0 || c->max_batch_size < 0)
        return ct_err(err,
                      "negative engine setting: threads %d, block_size %d, max_batch_total_tokens %d, "
                      "max_batch_prefill_tokens %d, max_batch_size %d",
                      c->n_threads, c->block_size, c->max_batch_total_tokens, c->max_batch_prefill_tokens,
                      c->max_batch_size);
    if (c->speculate < 0 || c->speculate > ENGINE_SPECULATE_MAX)
        return ct_err(err, "speculate must be in [0, %d] (drafted tokens per step), got %d", ENGINE_SPECULATE_MAX,
                      c->speculate);
    if (c->draft_model && c->speculate < 1)
        return ct_err(err, "a draft model needs speculate >= 1 (the tokens it drafts per step)");
    if (c->draft_model && (model_get_info(m).encoder_decoder || model_get_info(c->draft_model).encoder_decoder))
        return ct_err(err, "a draft model cannot be used with an encoder-decoder model (t5)");
    if (c->draft_model && !spec_draft_vocab_check(m, c->draft_model, err)) return false;
    if (c->n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->n_threads = n > 0 ? (int)n : 1;
    }
    if (c->block_size == 0) c->block_size = 16;
    if (c->max_batch_size == 0) c->max_batch_size = 64;
    if (c->max_batch_prefill_tokens == 0) c->max_batch_prefill_tokens = c->block_size > 4096 ? c->block_size : 4096;
    kv_dtype dt = (kv_dtype)c->kv_dtype;
    if (!kv_dtype_name(dt)) return ct_err(err, "unknown KV cache dtype %d", (int)c->kv_dtype);
    if (m->cfg.head_dim % kv_dtype_align(dt) != 0)
        return ct_err(err,
                      "KV cache dtype %s stores blocks of %d values per head, but this model's head_dim is %d "
                      "(not a multiple of %d): use f16, bf16 or f32",
                      kv_dtype_name(dt), kv_dtype_align(dt), m->cfg.head_dim, kv_dtype_align(dt));
    /* the real bytes of one cached token: a byte budget buys 2x the tokens at f16 */
    size_t per_token = kv_position_bytes(m->cfg.n_layers, m->cfg.n_kv_heads * m->cfg.head_dim, dt);
    long tokens = c->max_batch_total_tokens > 0 ? c->max_batch_total_tokens : default_kv_tokens(m, c, per_token);
    long blocks = (tokens + c->block_size - 1) / c->block_size;
    if (blocks < 1)
        return ct_err(err, "the KV cache budget (%zu bytes) holds no block of %d positions (%zu bytes each)",
                      c->kv_cache_bytes, c->block_size, per_token * (size_t)c->block_size);
    if (blocks * c->block_size > 1L << 30)
        return ct_err(err, "KV cache of %ld tokens is too large", blocks * c->block_size);
    c->max_batch_total_tokens = (int)(blocks * c->block_size);
    c->kv_cache_bytes = (size_t)blocks * (size_t)c->block_size * per_token;
    uint64_t avail = ct_mem_available();
    if (avail > 0 && c->kv_cache_bytes > avail) {
        char a[32], b[32];
        return ct_err(err, "the KV cache of %d tokens (%s) does not fit in memory: only %s is available",
                      c->max_batch_total_tokens, ct_fmt_bytes(c->kv_cache_bytes, a, sizeof a),
                      ct_fmt_bytes(avail, b, sizeof b));
    }
    return true;
}

engine_config engine_get_config(const engine *e) { return e->cfg; }

const model *engine_model(const engine *e) { return e->m; }

/* ---- the engine thread -------------------------------------------------------------- */

static void *engine_main(void *arg) {
    engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->stop && e->n_inbox == 0 && !sched_has_work(e->s)) pthread_cond_wait(&e->cv, &e->mu);
        for (int i = 0; i < e->n_inbox; i++) sched_add(e->s, e->inbox[i]);
        e->n_inbox = 0;
        if (e->stop) break; /* sched_free (engine_free) ends everything held */
        pthread_mutex_unlock(&e->mu);
        sched_step(e->s);
        engine_stats st;
        sched_stats(e->s, &st);
        pthread_mutex_lock(&e->mu);
        e->snap = st;
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

engine *engine_create(const model *m, const engine_config *cfg, char *err) {
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        ct_err(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->m = m;
    if (!resolve_config(m, cfg, &e->cfg, err)) goto fail;
    if (!(e->cons = cons_cache_new(ENGINE_CONSTRAINT_CACHE))) {
        ct_err(err, "out of memory (grammar cache)");
        goto fail;
    }
    if (!(e->pool = pool_create(e->cfg.n_threads, 0))) {
        ct_err(err, "cannot start a pool of %d threads", e->cfg.n_threads);
        goto fail;
    }
    sched_config sc = {
        .block_size = e->cfg.block_size,
        .n_blocks = e->cfg.max_batch_total_tokens / e->cfg.block_size,
        .max_prefill_tokens = e->cfg.max_batch_prefill_tokens,
        .max_batch_size = e->cfg.max_batch_size,
        .prefix_caching = e->cfg.prefix_caching,
        .blas_matmul = e->cfg.blas_matmul,
        .kv_dtype = (kv_dtype)e->cfg.kv_dtype,
        .pool_min_logits = SCHED_POOL_MIN_LOGITS,
        .speculate = e->cfg.speculate,
        .draft_model = e->cfg.draft_model,
        .fail_step = e->cfg.debug_fail_step,
        .speculate_unpriced = e->cfg.debug_speculate_unpriced,
    };
    if (!(e->s = sched_create(m, e->pool, &sc, err))) goto fail;
    sched_stats(e->s, &e->snap);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        ct_err(err, "cannot start the engine thread");
        goto fail;
    }
    e->thread_started = true;
    return e;
fail:
    engine_free(e);
    return NULL;
}

void engine_free(engine *e) {
    if (!e) return;
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    sched_free(e->s);
    pool_free(e->pool);
    cons_cache_free(e->cons); /* requests still held keep their grammars (references) */
    free(e->inbox);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

/* ---- requests ------------------------------------------------------------------------ */

/* The KV positions one request may need at once.  With a sliding window
 * on every layer a sequence holds only the blocks its window still sees
 * (the scheduler gives back the others as it advances): at most
 * window / block_size + 2 blocks, however long it runs, so when the cache
 * holds that much, no request is too long for it. */
static int request_kv_positions(const engine *e) {
    int win = model_kv_window(&e->m->cfg), bs = e->cfg.block_size;
    long peak = ((long)win / bs + 2) * bs;
    return win > 0 && e->cfg.max_batch_total_tokens >= peak ? INT_MAX : e->cfg.max_batch_total_tokens;
}

engine_req *engine_submit(engine *e, const engine_request *r, char *err) {
    if (!ed_check(e->m, r, e->cfg.block_size, e->cfg.max_batch_total_tokens, e->cfg.max_batch_prefill_tokens, err))
        return NULL;
    engine_req *h = req_create(e->m, r, request_kv_positions(e), err);
    if (!h) return NULL;
    pthread_mutex_lock(&e->mu);
    bool ok = !e->stop;
    if (!ok) {
        ct_err(err, "the engine is shutting down");
    } else if (e->n_inbox == e->cap_inbox) {
        int cap = e->cap_inbox ? e->cap_inbox * 2 : 64;
        engine_req **in = realloc(e->inbox, (size_t)cap * sizeof *in);
        if (in) {
            e->inbox = in;
            e->cap_inbox = cap;
        } else {
            ok = ct_err(err, "out of memory (request queue)");
        }
    }
    if (ok) {
        e->inbox[e->n_inbox++] = h;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    if (!ok) {
        req_unref(h); /* the engine's reference */
        req_unref(h); /* the caller's */
        return NULL;
    }
    return h;
}

cons_grammar *engine_constraint(engine *e, const char *regex, size_t len, char *err) {
    return cons_cache_get(e->cons, regex, len, e->m->tok, e->m->eos_ids, e->m->n_eos, err);
}

bool engine_next_event(engine_req *h, engine_event *ev, bool block) { return req_next_event(h, ev, block); }

void engine_cancel(engine_req *h) { atomic_store(&h->cancel, true); }

void engine_release(engine_req *h) { req_release(h); }

engine_stats engine_get_stats(engine *e) {
    pthread_mutex_lock(&e->mu);
    engine_stats st = e->snap;
    st.waiting += e->n_inbox;
    pthread_mutex_unlock(&e->mu);
    return st;
}
