/*
 * engine_fixture.c — see engine_fixture.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_fixture.h"
#include "synth_model.h"
#include "testutil.h"

/* ---- models ---------------------------------------------------------------------- */

/* The synthetic model of `seed` (head_dim 0: synth_default's), through a
 * scratch GGUF file. */
static model *synth_load(uint64_t seed, int head_dim, const char *vocab, char *err) {
    char *dir = tu_mkdtemp(), *path = NULL;
    synth_config c = synth_default();
    c.seed = seed;
    if (head_dim) c.head_dim = head_dim;
    c.vocab_gguf = vocab;
    model *m = NULL;
    if (!dir || asprintf(&path, "%s/tiny.gguf", dir) < 0) {
        snprintf(err, CT_ERRLEN, "out of memory for a scratch path");
        path = NULL;
    } else if (synth_write_gguf(&c, path, err)) {
        m = model_load(path, err);
    }
    tu_rmrf(dir);
    free(dir);
    free(path);
    return m;
}

ef_fixture *ef_fixture_create(uint64_t seed) {
    ef_fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN] = "";
    char *stories = tu_model_path("stories260K.gguf");
    bool ok = fx && stories && (fx->m = synth_load(seed, 0, stories, err)) != NULL &&
              (fx->stories = model_load(stories, err)) != NULL && (fx->pool = pool_create(1, 0)) != NULL;
    free(stories);
    if (!ok) {
        print_error("engine fixture: %s\n", *err ? err : "out of memory");
        ef_fixture_free(fx);
        return NULL;
    }
    return fx;
}

model *ef_synth_model(uint64_t seed, int head_dim) {
    char err[CT_ERRLEN] = "";
    char *stories = tu_model_path("stories260K.gguf");
    model *m = stories ? synth_load(seed, head_dim, stories, err) : NULL;
    free(stories);
    if (!m) print_error("synthetic model: %s\n", *err ? err : "out of memory");
    return m;
}

void ef_fixture_free(ef_fixture *fx) {
    if (!fx) return;
    pool_free(fx->pool);
    model_free(fx->m);
    model_free(fx->stories);
    free(fx);
}

int32_t *ef_encode(const model *m, const char *text, int *n) {
    int32_t *ids = NULL;
    char err[CT_ERRLEN] = "";
    *n = tok_encode(m->tok, text, strlen(text), true, false, &ids, err);
    if (*n <= 0) fail_msg("tok_encode: %s", err);
    return ids;
}

/* ---- requests and what they produce ------------------------------------------------ */

void ef_job_random(ef_job *j, uint64_t *rnd, int n_prompt) {
    assert_true(n_prompt >= 0 && n_prompt <= EF_MAX_PROMPT);
    memset(j, 0, sizeof *j);
    j->r = engine_request_default();
    j->r.n_prompt = n_prompt;
    for (int i = 0; i < n_prompt; i++) j->prompt[i] = (int32_t)(3 + tu_rnd(rnd) % 509);
    j->r.prompt = j->prompt;
}

void ef_outcome_free(ef_outcome *o) {
    free(o->fin.prompt);
    o->fin.prompt = NULL;
}

static void take_token(ef_outcome *o, const engine_token *t) {
    assert_true(o->n < EF_MAX_TOKENS);
    assert_true(o->text_len + t->text_len < sizeof o->text);
    assert_int_equal(t->text[t->text_len], '\0'); /* may hold NUL bytes (<0x00>) before it */
    memcpy(o->text + o->text_len, t->text, t->text_len);
    o->text_len += t->text_len;
    o->end[o->n] = o->text_len;
    o->logprob[o->n] = t->logprob;
    o->n_top[o->n] = t->n_top;
    memcpy(o->top[o->n], t->top, sizeof o->top[0]);
    o->ids[o->n++] = t->id;
}

/* Fold one event into o; the event's parts are freed or moved into o. */
static void take(ef_outcome *o, engine_event *ev) {
    assert_false(o->ended); /* nothing after FINAL / ERROR */
    if (ev->kind == ENGINE_EVENT_TOKEN) {
        take_token(o, &ev->token);
    } else if (ev->kind == ENGINE_EVENT_FINAL) {
        const engine_final *f = &ev->final;
        assert_int_equal(f->n_generated, o->n);
        assert_int_equal(f->text_len, o->text_len);
        assert_memory_equal(f->text, o->text, o->text_len);
        assert_true(f->queue_seconds >= 0 && f->prefill_seconds >= 0 && f->decode_seconds >= 0);
        o->ended = true;
        o->fin = ev->final;
        o->fin.text = NULL;
        ev->final.prompt = NULL; /* moved into o */
    } else {
        o->ended = o->failed = true;
        o->cancelled = ev->error.cancelled;
        if (!o->cancelled) print_message("# ERROR %s\n", ev->error.message);
    }
    engine_event_clear(ev);
}

void ef_drain(engine_req *h, ef_outcome *o, bool block) {
    engine_event ev;
    while (engine_next_event(h, &ev, block)) take(o, &ev);
    if (block) assert_true(o->ended);
}

static void assert_same_prompt(const ef_outcome *a, const ef_outcome *b, int i) {
    assert_true((a->fin.prompt == NULL) == (b->fin.prompt == NULL));
    if (!a->fin.prompt) return;
    assert_int_equal(a->fin.n_prompt, b->fin.n_prompt);
    for (int k = 0; k < a->fin.n_prompt; k++) {
        const engine_prompt_token *x = &a->fin.prompt[k], *y = &b->fin.prompt[k];
        if (memcmp(&x->logprob, &y->logprob, sizeof(float)) != 0 || x->n_top != y->n_top ||
            memcmp(x->top, y->top, (size_t)x->n_top * sizeof x->top[0]) != 0)
            fail_msg("request %d prompt position %d: %.9g vs %.9g", i, k, (double)x->logprob, (double)y->logprob);
    }
}

/* Bit for bit: every row is computed the same way whatever the batch. */
void ef_assert_same(const ef_outcome *a, const ef_outcome *b, int i) {
    if (a->n != b->n || memcmp(a->ids, b->ids, (size_t)a->n * sizeof a->ids[0]) != 0) {
        int k = 0;
        while (k < a->n && k < b->n && a->ids[k] == b->ids[k]) k++;
        fail_msg("request %d: %d vs %d tokens, first difference at token %d", i, a->n, b->n, k);
    }
    for (int k = 0; k < a->n; k++)
        if (memcmp(&a->logprob[k], &b->logprob[k], sizeof(float)) != 0)
            fail_msg("request %d token %d: logprob %.9g vs %.9g", i, k, (double)a->logprob[k], (double)b->logprob[k]);
    assert_int_equal(a->text_len, b->text_len);
    assert_memory_equal(a->text, b->text, a->text_len);
    assert_int_equal(a->fin.reason, b->fin.reason);
    assert_same_prompt(a, b, i);
}

/* ---- engines -------------------------------------------------------------------------- */

engine_config ef_config(int budget, int batch, int kv_tokens, bool prefix) {
    engine_config c = engine_config_default();
    c.n_threads = 1;
    c.max_batch_prefill_tokens = budget;
    c.max_batch_size = batch;
    c.max_batch_total_tokens = kv_tokens;
    c.prefix_caching = prefix;
    return c;
}

engine *ef_engine(const model *m, const engine_config *c) {
    char err[CT_ERRLEN] = "";
    engine *e = engine_create(m, c, err);
    if (!e) fail_msg("engine_create: %s", err);
    return e;
}

engine_req *ef_submit(engine *e, const engine_request *r) {
    char err[CT_ERRLEN] = "";
    engine_req *h = engine_submit(e, r, err);
    if (!h) fail_msg("engine_submit: %s", err);
    return h;
}

void ef_run_batch(engine *e, const engine_request *reqs, int n, ef_outcome *out) {
    engine_req **h = calloc((size_t)n, sizeof *h);
    assert_non_null(h);
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        h[i] = ef_submit(e, &reqs[i]);
    }
    for (int i = 0; i < n; i++) {
        ef_drain(h[i], &out[i], true);
        assert_false(out[i].failed);
        engine_release(h[i]);
    }
    free(h);
}

void ef_run_alone(const model *m, const engine_request *r, ef_outcome *o) {
    ef_run_alone_kv(m, r, engine_config_default().kv_dtype, o);
}

void ef_run_alone_kv(const model *m, const engine_request *r, engine_kv_dtype t, ef_outcome *o) {
    engine_config c = ef_config(512, 8, 4096, false);
    c.kv_dtype = t;
    engine *e = ef_engine(m, &c);
    ef_run_batch(e, r, 1, o);
    engine_free(e);
}

void ef_expect_refusal(engine *e, const engine_request *r, const char *const *needles) {
    char err[CT_ERRLEN] = "";
    engine_req *h = engine_submit(e, r, err);
    if (h) fail_msg("accepted a request that should be refused (%s)", needles[0] ? needles[0] : "");
    for (; *needles; needles++)
        if (!strstr(err, *needles)) fail_msg("message \"%s\" lacks \"%s\"", err, *needles);
}

engine_stats ef_settle(engine *e) {
    engine_stats st;
    for (int i = 0; i < 200000; i++) {
        st = engine_get_stats(e);
        if (st.waiting == 0 && st.running == 0) break;
        usleep(50);
    }
    return st;
}
