/*
 * request.c — validation and copy of a submitted request, its outbox of
 * events, its reference count, and what happens when logits arrive for it
 * (ban what min_new_tokens forbids, mask what the constraint forbids,
 * sample, advance the constraint, detokenize, stop rules, events;
 * log_softmax of its prompt rows for prompt logprobs).  See request.h.
 */
#include "request.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- validation and creation -------------------------------------------------- */

static bool validate(const model *m, const engine_request *r, int kv_positions, char *err) {
    const model_config *c = &m->cfg;
    if (r->n_prompt < 1 || !r->prompt) return ct_err(err, "the prompt is empty");
    if (r->adapter < 0 || r->adapter > m->n_loras)
        return ct_err(err, "adapter %d: the model has %d LoRA adapters", r->adapter, m->n_loras);
    for (int i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= c->vocab)
            return ct_err(err, "prompt token %d (id %d) is outside the vocabulary [0, %d)", i, r->prompt[i],
                          c->vocab);
    /* 0 is a scoring request: only its prompt's logprobs are wanted */
    if (r->max_new_tokens < 1 && !(r->max_new_tokens == 0 && r->prompt_logprobs))
        return ct_err(err, "`max_new_tokens` must be strictly positive (got %d)", r->max_new_tokens);
    long total = (long)r->n_prompt + r->max_new_tokens;
    if (total > c->ctx_len)
        return ct_err(err,
                      "the prompt has %d tokens and max_new_tokens is %d: %ld tokens, more than the model's "
                      "context of %d",
                      r->n_prompt, r->max_new_tokens, total, c->ctx_len);
    /* the last generated token is never fed back, so it needs no KV row;
     * every prompt token is fed */
    long needed = r->max_new_tokens > 0 ? total - 1 : total;
    if (needed > kv_positions)
        return ct_err(err,
                      "the prompt has %d tokens and max_new_tokens is %d: the sequence needs %ld KV positions, "
                      "more than the whole KV cache holds (%d = max_batch_total_tokens)",
                      r->n_prompt, r->max_new_tokens, needed, kv_positions);
    if (r->min_new_tokens < 0 || r->min_new_tokens > r->max_new_tokens)
        return ct_err(err, "`min_tokens` must be >= 0 and <= max_new_tokens (%d), got %d", r->max_new_tokens,
                      r->min_new_tokens);
    if (r->prompt_logprobs_from < 0 || r->prompt_logprobs_from > r->n_prompt)
        return ct_err(err, "prompt_logprobs_from must be in [0, %d] (the prompt's length), got %d", r->n_prompt,
                      r->prompt_logprobs_from);
    if (r->n_stop_ids < 0 || (r->n_stop_ids > 0 && !r->stop_ids))
        return ct_err(err, "bad stop token list (%d ids)", r->n_stop_ids);
    for (int i = 0; i < r->n_stop_ids; i++)
        if (r->stop_ids[i] < 0 || r->stop_ids[i] >= c->vocab)
            return ct_err(err, "stop token id %d is outside the vocabulary [0, %d)", r->stop_ids[i], c->vocab);
    if (r->constraint && cons_grammar_tokenizer(r->constraint) != m->tok)
        return ct_err(err, "the constraint was compiled for another tokenizer than this model's");
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
    cons_matcher_free(h->cons);
    stop_free(h->stop);
    free(h->text);
    free(h->kv.table);
    ed_free(h->enc);
    free(h->dseq.table);
    free(h->stop_ids);
    free(h->plp);
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
    h->min_new_tokens = r->min_new_tokens;
    h->ignore_eos = r->ignore_eos;
    h->adapter = r->adapter;
    h->stop_exclude = r->stop_exclude;
    h->stop_index = -1;
    h->top_n = r->sampling.top_n;
    h->n_stop_ids = r->n_stop_ids;
    /* an encoder-decoder's prompt goes to the encoder; the decoder's own
     * tokens (what it is fed, and the penalties' history) start with its
     * start id */
    bool encdec = model_is_encdec(&m->cfg);
    const int32_t *dec = encdec ? &m->cfg.dec_start_id : r->prompt;
    h->n_prompt = h->n_tokens = encdec ? 1 : r->n_prompt;
    if (encdec) h->enc = ed_create(r->prompt, r->n_prompt);
    h->tokens = malloc(((size_t)h->n_prompt + r->max_new_tokens) * sizeof(int32_t));
    h->terminal = calloc(1, sizeof *h->terminal);
    h->text_cap = 64;
    h->text = malloc(h->text_cap);
    h->smp = sampler_create(&r->sampling, m->cfg.vocab, dec, h->n_prompt);
    h->stop = stop_create(r->stops, r->n_stops);
    if (r->n_stop_ids > 0) h->stop_ids = malloc((size_t)r->n_stop_ids * sizeof(int32_t));
    if (r->prompt_logprobs) h->plp = calloc((size_t)r->n_prompt, sizeof *h->plp);
    if (r->constraint && (h->cons = cons_matcher_new(r->constraint))) /* the engine's reference */
        cons_matcher_allow_eos(h->cons, !r->ignore_eos);
    if (!h->tokens || !h->terminal || !h->text || !h->smp || !h->stop || (r->n_stop_ids > 0 && !h->stop_ids) ||
        (r->prompt_logprobs && !h->plp) || (r->constraint && !h->cons) || (encdec && !h->enc)) {
        req_free(h);
        ct_err(err, "out of memory (request of %d prompt tokens)", r->n_prompt);
        return NULL;
    }
    memcpy(h->tokens, dec, (size_t)h->n_prompt * sizeof(int32_t));
    if (r->n_stop_ids > 0) memcpy(h->stop_ids, r->stop_ids, (size_t)r->n_stop_ids * sizeof(int32_t));
    if (h->plp) {
        /* the first token has no context; entries before prompt_logprobs_from
         * are not wanted: their rows count as recorded, so none is computed */
        int from = r->prompt_logprobs_from > 1 ? r->prompt_logprobs_from : 1;
        for (int i = 0; i < from; i++) h->plp[i].logprob = NAN;
        h->n_plp = from - 1;
    }
    h->text[0] = '\0';
    tok_stream_init(&h->ts, m->tok, !r->keep_special_text);
    /* a decoder-only model's text continues the prompt: keep its leading
     * space; an encoder-decoder's is a text of its own, decoded as one
     * (SentencePiece drops the space that starts it, as transformers' and
     * TGI's T5 outputs do) */
    h->ts.first = encdec;
    kv_seq_init(&h->kv);
    kv_seq_set_namespace(&h->kv, (uint64_t)r->adapter); /* an adapter's prefixes are its own */
    kv_seq_init(&h->dseq);
    h->verify = -1;
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

static void finish(engine_req *h, engine_finish reason, int32_t stop_id) {
    req_node *n = take_terminal(h);
    if (!n) return;
    engine_final *f = &n->ev.final;
    n->ev.kind = ENGINE_EVENT_FINAL;
    f->reason = reason;
    f->stop_token_id = stop_id;
    f->stop_index = reason == ENGINE_FINISH_STOP ? h->stop_index : -1;
    f->n_prompt = h->enc ? h->enc->n : h->n_prompt;
    f->n_generated = h->n_generated;
    f->n_cached_prompt = h->n_cached_prompt;
    f->n_drafted = h->n_drafted;
    f->n_accepted = h->n_accepted;
    f->queue_seconds = h->t_admit - h->t_submit;
    f->prefill_seconds = h->t_first - h->t_admit;
    f->decode_seconds = h->t_last - h->t_first;
    f->text = h->text; /* ownership moves to the event */
    f->text_len = h->text_len;
    h->text = NULL;
    h->text_len = h->text_cap = 0;
    f->prompt = h->plp; /* likewise */
    h->plp = NULL;
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

static bool is_stop_id(const engine_req *h, int32_t id) {
    for (int i = 0; i < h->n_stop_ids; i++)
        if (h->stop_ids[i] == id) return true;
    return false;
}

/* stop_exclude: replace t's text by the text that can no longer turn out
 * to be (part of) a stop string: everything before a match, everything at
 * the end, else all but the held-back tail.  A matched stop string (and
 * what the token had after it) leaves the request's text too. */
static bool release_text(engine_req *h, engine_token *t, bool finished, bool matched, const stop_result *sr) {
    size_t end = matched ? h->stop_base + sr->match_start : finished ? h->text_len : h->text_len - sr->hold;
    if (end < h->n_released) end = h->n_released; /* cannot happen: held bytes cover any match's start */
    char *out = malloc(end - h->n_released + 1);
    if (!out) return false;
    memcpy(out, h->text + h->n_released, end - h->n_released);
    out[end - h->n_released] = '\0';
    free(t->text);
    t->text = out;
    t->text_len = end - h->n_released;
    h->n_released = end;
    if (matched) {
        h->text_len = end;
        h->text[end] = '\0';
    }
    return true;
}

/* Decode id's text into t and decide whether generation ends (generate.c's
 * rules: EOS unless ignored, a stop id, the token limit, stop strings with
 * TGI semantics — the matched stop string stays in the text, what follows
 * it is cut; and a constraint whose text is `complete`, which ends like
 * EOS).  Stop strings are matched from token number min_new_tokens on: the
 * matcher only sees text from stop_base.  With stop_exclude the token's
 * text becomes what release_text lets out. */
static bool token_text(engine_req *h, const model *m, engine_token *t, bool complete, bool *finished,
                       engine_finish *reason, int32_t *stop_id) {
    bool eos = !h->ignore_eos && model_is_eos(m, t->id), by_id = is_stop_id(h, t->id);
    bool last = h->n_generated == h->max_new_tokens;
    char *txt = NULL;
    size_t len = 0;
    tok_stream_push(&h->ts, t->id, &txt, &len);
    if (eos || by_id || last || complete) tok_stream_flush(&h->ts, &txt, &len);
    if (!txt && !(txt = calloc(1, 1))) return false;
    stop_result sr = {0};
    bool check = h->n_generated >= h->min_new_tokens;
    if (h->n_generated == h->min_new_tokens) h->stop_base = h->text_len; /* the first piece fed */
    *finished = true;
    *stop_id = -1;
    if (check && stop_feed(h->stop, txt, len, &sr)) {
        len = h->stop_base + sr.match_end - h->text_len;
        txt[len] = '\0';
        *reason = ENGINE_FINISH_STOP;
        h->stop_index = sr.stop_index;
    } else if (eos || by_id) {
        *reason = ENGINE_FINISH_EOS;
        if (!eos) *stop_id = t->id;
    } else if (complete) { /* nothing may follow: as if EOS came next */
        *reason = ENGINE_FINISH_EOS;
    } else if (last) {
        *reason = ENGINE_FINISH_LENGTH;
    } else {
        *finished = false;
    }
    t->text = txt;
    t->text_len = len;
    if (!append_text(h, txt, len)) return false;
    return h->stop_exclude ? release_text(h, t, *finished, *reason == ENGINE_FINISH_STOP, &sr) : true;
}

/* min_new_tokens: until that many tokens exist, the ids that would end the
 * request cannot be drawn. */
static void ban_enders(const engine_req *h, const model *m, float *logits) {
    if (h->n_generated >= h->min_new_tokens) return;
    if (!h->ignore_eos)
        for (int i = 0; i < m->n_eos; i++) logits[m->eos_ids[i]] = -INFINITY;
    for (int i = 0; i < h->n_stop_ids; i++) logits[h->stop_ids[i]] = -INFINITY;
}

void req_sample(engine_req *h, const model *m, float *logits) {
    if (h->max_new_tokens == 0) return; /* a scoring request: nothing to sample */
    ban_enders(h, m, logits);
    if (h->cons && cons_mask_logits(h->cons, logits, m->cfg.vocab) == 0) {
        h->cons_stuck = true; /* req_on_sample fails the request */
        h->sample.id = -1;
        return;
    }
    h->verify_hit = false;
    if (h->verify >= 0)
        h->sample.id = sampler_sample_draft(h->smp, logits, h->verify, &h->sample, &h->verify_hit);
    else
        h->sample.id = sampler_sample(h->smp, logits, &h->sample);
}

bool req_on_sample(engine_req *h, const model *m, bool *done, char *err) {
    *done = false;
    if (h->max_new_tokens == 0) { /* a scoring request: its prompt is fed, nothing to sample */
        h->t_first = h->t_last = ct_now();
        finish(h, ENGINE_FINISH_LENGTH, -1);
        *done = true;
        return true;
    }
    const sample_result *res = &h->sample;
    int32_t id = res->id;
    if (id < 0 && h->cons_stuck) return ct_err(err, "constraint: no token can continue the text");
    if (id < 0) return ct_err(err, "every token is banned (logit bias / penalties / min_tokens leave no candidate)");
    /* the mask allowed id, so the matcher takes it; were it not so, the
     * request fails rather than leave its language */
    if (h->cons && !cons_accept(h->cons, id)) return ct_err(err, "constraint: token %d does not continue the text", id);
    bool complete = h->cons && cons_is_complete(h->cons);
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
    t->logprob = res->logprob;
    t->special = tok_is_special(m->tok, id);
    t->n_top = res->n_top;
    memcpy(t->top, res->top, sizeof t->top);
    bool finished;
    engine_finish reason = ENGINE_FINISH_LENGTH;
    int32_t stop_id;
    if (!token_text(h, m, t, complete, &finished, &reason, &stop_id)) {
        engine_event_clear(&n->ev);
        free(n);
        return ct_err(err, "out of memory");
    }
    push(h, n, false);
    if (finished) finish(h, reason, stop_id);
    *done = finished;
    return true;
}

/* ---- prompt logprobs -------------------------------------------------------------- */

void req_prompt_logits(engine_req *h, int pos, float *row, int vocab) {
    engine_prompt_token *e = &h->plp[pos + 1];
    double lse = sampler_log_sum_exp(row, vocab);
    if (lse == -INFINITY) { /* no finite logit: nothing is possible */
        e->logprob = -INFINITY;
        e->n_top = 0;
        return;
    }
    e->logprob = (float)((double)row[h->tokens[pos + 1]] - lse);
    e->n_top = sampler_top_logprobs(row, vocab, lse, h->top_n, e->top);
}
