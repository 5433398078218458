/*
 * request.c — validation and copy of a submitted request, its outbox of
 * events, its reference count, and what happens when logits arrive for it
 * (sample, detokenize, stop rules, events).  See request.h.
 */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- validation and creation -------------------------------------------------- */

static bool validate(const model *m, const engine_request *r, int kv_positions, char *err) {
    const model_config *c = &m->cfg;
    if (r->n_prompt < 1 || !r->prompt) return ct_err(err, "the prompt is empty");
    for (int i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= c->vocab)
            return ct_err(err, "prompt token %d (id %d) is outside the vocabulary [0, %d)", i, r->prompt[i],
                          c->vocab);
    if (r->max_new_tokens < 1)
        return ct_err(err, "`max_new_tokens` must be strictly positive (got %d)", r->max_new_tokens);
    long total = (long)r->n_prompt + r->max_new_tokens;
    if (total > c->ctx_len)
        return ct_err(err,
                      "the prompt has %d tokens and max_new_tokens is %d: %ld tokens, more than the model's "
                      "context of %d",
                      r->n_prompt, r->max_new_tokens, total, c->ctx_len);
    /* the last generated token is never fed back, so it needs no KV row */
    if (total - 1 > kv_positions)
        return ct_err(err,
                      "the prompt has %d tokens and max_new_tokens is %d: the sequence needs %ld KV positions, "
                      "more than the whole KV cache holds (%d = max_batch_total_tokens)",
                      r->n_prompt, r->max_new_tokens, total - 1, kv_positions);
    if (!sampler_params_validate(&r->sampling, c->vocab, err)) return false;
    return stop_validate(r->stops, r->n_stops, err);
}

static void req_free(engine_req *h) {
    for (req_node *n = h->head, *next; n; n = next) {
        next = n->next;
        engine_event_clear(&n->ev);
        free(n);
    }
    free(h->terminal);
    free(h->tokens);
    sampler_free(h->smp);
    stop_free(h->stop);
    free(h->text);
    free(h->kv.table);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

engine_req *req_create(const model *m, const engine_request *r, int kv_positions, char *err) {
    if (!validate(m, r, kv_positions, err)) return NULL;
    engine_req *h = calloc(1, sizeof *h);
    if (!h) {
        ct_err(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->refs = 2;
    h->notify = r->notify;
    h->ud = r->ud;
    atomic_init(&h->cancel, false);
    h->max_new_tokens = r->max_new_tokens;
    h->ignore_eos = r->ignore_eos;
    h->n_prompt = h->n_tokens = r->n_prompt;
    h->tokens = malloc(((size_t)r->n_prompt + r->max_new_tokens) * sizeof(int32_t));
    h->terminal = calloc(1, sizeof *h->terminal);
    h->text_cap = 64;
    h->text = malloc(h->text_cap);
    h->smp = sampler_create(&r->sampling, m->cfg.vocab, r->prompt, r->n_prompt);
    h->stop = stop_create(r->stops, r->n_stops);
    if (!h->tokens || !h->terminal || !h->text || !h->smp || !h->stop) {
        req_free(h);
        ct_err(err, "out of memory (request of %d prompt tokens)", r->n_prompt);
        return NULL;
    }
    memcpy(h->tokens, r->prompt, (size_t)r->n_prompt * sizeof(int32_t));
    h->text[0] = '\0';
    tok_stream_init(&h->ts, m->tok, true);
    h->ts.first = false; /* a continuation: keep the generated text's leading space */
    kv_seq_init(&h->kv);
    h->t_submit = ct_now();
    return h;
}

void req_unref(engine_req *h) {
    pthread_mutex_lock(&h->mu);
    int left = --h->refs;
    pthread_mutex_unlock(&h->mu);
    if (left == 0) req_free(h);
}

/* ---- the outbox ------------------------------------------------------------------- */

/* Queue n (terminal: the FINAL/ERROR).  Events nobody will read (released
 * handle) or that would follow the end are dropped. */
static void push(engine_req *h, req_node *n, bool terminal) {
    pthread_mutex_lock(&h->mu);
    bool drop = h->ended || h->released;
    if (terminal) h->ended = true;
    if (!drop) {
        n->next = NULL;
        if (h->tail)
            h->tail->next = n;
        else
            h->head = n;
        h->tail = n;
        pthread_cond_broadcast(&h->cv);
        if (h->notify) h->notify(h->ud);
    }
    pthread_mutex_unlock(&h->mu);
    if (drop) {
        engine_event_clear(&n->ev);
        free(n);
    }
}

bool req_next_event(engine_req *h, engine_event *ev, bool block) {
    pthread_mutex_lock(&h->mu);
    while (!h->head && block && !h->ended) pthread_cond_wait(&h->cv, &h->mu);
    req_node *n = h->head;
    if (n) {
        h->head = n->next;
        if (!h->head) h->tail = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (!n) return false;
    *ev = n->ev;
    free(n);
    return true;
}

void req_release(engine_req *h) {
    atomic_store(&h->cancel, true);
    pthread_mutex_lock(&h->mu);
    h->released = true;
    pthread_mutex_unlock(&h->mu);
    req_unref(h);
}

/* Take the preallocated terminal node (NULL if the end was already sent). */
static req_node *take_terminal(engine_req *h) {
    req_node *n = h->terminal;
    h->terminal = NULL;
    if (n) memset(n, 0, sizeof *n);
    return n;
}

void req_fail(engine_req *h, const char *message, bool cancelled) {
    req_node *n = take_terminal(h);
    if (!n) return;
    n->ev.kind = ENGINE_EVENT_ERROR;
    n->ev.error.cancelled = cancelled;
    snprintf(n->ev.error.message, sizeof n->ev.error.message, "%s", message);
    push(h, n, true);
}

static void finish(engine_req *h, engine_finish reason) {
    req_node *n = take_terminal(h);
    if (!n) return;
    engine_final *f = &n->ev.final;
    n->ev.kind = ENGINE_EVENT_FINAL;
    f->reason = reason;
    f->n_prompt = h->n_prompt;
    f->n_generated = h->n_generated;
    f->n_cached_prompt = h->n_cached_prompt;
    f->queue_seconds = h->t_admit - h->t_submit;
    f->prefill_seconds = h->t_first - h->t_admit;
    f->decode_seconds = h->t_last - h->t_first;
    f->text = h->text; /* ownership moves to the event */
    f->text_len = h->text_len;
    h->text = NULL;
    h->text_len = h->text_cap = 0;
    push(h, n, true);
}

/* ---- a new token ---------------------------------------------------------------- */

static bool append_text(engine_req *h, const char *s, size_t len) {
    if (h->text_len + len + 1 > h->text_cap) {
        size_t cap = h->text_cap * 2 + len + 1;
        char *t = realloc(h->text, cap);
        if (!t) return false;
        h->text = t;
        h->text_cap = cap;
    }
    memcpy(h->text + h->text_len, s, len);
    h->text_len += len;
    h->text[h->text_len] = '\0';
    return true;
}

/* Decode id's text into t and decide whether generation ends (generate.c's
 * rules: EOS unless ignored, the token limit, stop strings with TGI
 * semantics — the matched stop string stays in the text, what follows it
 * is cut). */
static bool token_text(engine_req *h, const model *m, engine_token *t, bool *finished, engine_finish *reason) {
    bool eos = !h->ignore_eos && model_is_eos(m, t->id);
    bool last = h->n_generated == h->max_new_tokens;
    char *txt = NULL;
    size_t len = 0;
    tok_stream_push(&h->ts, t->id, &txt, &len);
    if (eos || last) tok_stream_flush(&h->ts, &txt, &len);
    if (!txt && !(txt = calloc(1, 1))) return false;
    stop_result sr;
    *finished = true;
    if (stop_feed(h->stop, txt, len, &sr)) {
        len = sr.match_end - h->text_len;
        txt[len] = '\0';
        *reason = ENGINE_FINISH_STOP;
    } else if (eos) {
        *reason = ENGINE_FINISH_EOS;
    } else if (last) {
        *reason = ENGINE_FINISH_LENGTH;
    } else {
        *finished = false;
    }
    t->text = txt;
    t->text_len = len;
    return append_text(h, txt, len);
}

bool req_on_logits(engine_req *h, const model *m, float *logits, bool *done, char *err) {
    *done = false;
    sample_result res;
    int32_t id = sampler_sample(h->smp, logits, &res);
    if (id < 0) return ct_err(err, "every token is banned (logit bias / penalties leave no candidate)");
    req_node *n = calloc(1, sizeof *n);
    if (!n || !sampler_accept(h->smp, id)) {
        free(n);
        return ct_err(err, "out of memory");
    }
    h->tokens[h->n_tokens++] = id;
    h->n_generated++;
    h->t_last = ct_now();
    if (h->n_generated == 1) h->t_first = h->t_last;

    engine_token *t = &n->ev.token;
    n->ev.kind = ENGINE_EVENT_TOKEN;
    t->id = id;
    t->logprob = res.logprob;
    t->special = tok_is_special(m->tok, id);
    t->n_top = res.n_top;
    memcpy(t->top, res.top, sizeof t->top);
    bool finished;
    engine_finish reason = ENGINE_FINISH_LENGTH;
    if (!token_text(h, m, t, &finished, &reason)) {
        engine_event_clear(&n->ev);
        free(n);
        return ct_err(err, "out of memory");
    }
    push(h, n, false);
    if (finished) finish(h, reason);
    *done = finished;
    return true;
}
