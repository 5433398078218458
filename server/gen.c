/*
 * gen.c — a generation request from its body to its answer: admission
 * (--max-concurrent-requests → 429, the tokenize routes too), validation and tokenization on a
 * libuv worker (never on the loop thread: tokenizing a 2 MB prompt is CPU
 * work), submission to the engine (best_of sequences), the engine's events
 * for non-streaming answers (with TGI's x-* timing headers), cancellation,
 * and the request's log line and metrics.  Streaming bytes are sse.c's.
 *
 * The conn's "work" fields (req, err, prompt, lens, tok_json, stream,
 * sampling, full_text, work_failed) belong to the worker between
 * uv_queue_work and after_work; the loop reads them only after.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "server.h"
#include "tokenize.h"

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool is_generation(route_id r) {
    return r == RT_COMPAT || r == RT_GENERATE || r == RT_GENERATE_STREAM || r == RT_CHAT || r == RT_COMPLETIONS ||
           r == RT_INFILL;
}

static bool is_tokenize(route_id r) { return r == RT_TOKENIZE || r == RT_CHAT_TOKENIZE; }

static tgi_route tgi_route_of(route_id r) {
    switch (r) {
    case RT_GENERATE: return TGI_ROUTE_GENERATE;
    case RT_GENERATE_STREAM: return TGI_ROUTE_GENERATE_STREAM;
    case RT_TOKENIZE: return TGI_ROUTE_TOKENIZE;
    default: return TGI_ROUTE_COMPAT;
    }
}

/* ---- tokens ---------------------------------------------------------------------------- */

void gen_tok_free(gen_tok *t) {
    free(t->text);
    free(t->tops);
    free(t->top_text);
    memset(t, 0, sizeof *t);
}

char *gen_token_text(const model *m, int32_t id, size_t *len) {
    char small[64];
    size_t n = tok_token_bytes(model_tokenizer(m), id, false, small, sizeof small);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n < sizeof small) memcpy(s, small, n);
    else tok_token_bytes(model_tokenizer(m), id, false, s, n + 1);
    s[n] = '\0';
    *len = n;
    return s;
}

char *gen_top_texts(const model *m, const sampler_token *top, int n_top, size_t off[SAMPLER_MAX_TOP_N + 1]) {
    char *buf = calloc(1, 1);
    off[0] = 0;
    for (int i = 0; buf && i < n_top; i++) {
        size_t n;
        char *t = gen_token_text(m, top[i].id, &n);
        char *nb = t ? realloc(buf, off[i] + n + 1) : NULL;
        if (!nb) {
            free(t);
            free(buf);
            return NULL;
        }
        buf = nb;
        memcpy(buf + off[i], t, n + 1);
        free(t);
        off[i + 1] = off[i] + n;
    }
    return buf;
}

bool gen_tok_from_event(const model *m, engine_token *et, gen_tok *out) {
    memset(out, 0, sizeof *out);
    size_t len = et->text_len;
    out->text = et->text;
    et->text = NULL;
    if (et->special) {
        free(out->text);
        out->text = gen_token_text(m, et->id, &len);
    }
    if (!out->text) return false;
    out->g.token = (tgi_token){et->id, {out->text, len}, et->logprob, et->special};
    if (et->n_top <= 0) return true;
    size_t off[SAMPLER_MAX_TOP_N + 1];
    out->tops = calloc((size_t)et->n_top, sizeof *out->tops);
    char *buf = out->tops ? gen_top_texts(m, et->top, et->n_top, off) : NULL;
    if (!buf) return false;
    out->top_text = buf;
    for (int i = 0; i < et->n_top; i++)
        out->tops[i] = (tgi_token){et->top[i].id, {buf + off[i], off[i + 1] - off[i]}, et->top[i].logprob,
                                   tok_is_special(model_tokenizer(m), et->top[i].id)};
    out->g.top = out->tops;
    out->g.n_top = et->n_top;
    return true;
}

/* ---- validation on a worker -------------------------------------------------------------- */

static void work_generate(conn *c, const model *m, const proto_limits *lim) {
    char err[CT_ERRLEN];
    int32_t *ids = NULL;
    if (!tgi_validate(&c->req, c->troute, lim, &c->err)) goto fail;
    if (!gen_adapter(c, c->req.p.has_adapter_id ? c->req.p.adapter_id : NULL)) goto fail;
    int n = tok_encode(model_tokenizer(m), c->req.inputs, c->req.inputs_len, c->req.add_special_tokens, true, &ids, err);
    if (n < 0) {
        proto_invalid(&c->err, "tokenizer error: %s", err);
        goto fail;
    }
    if (n == 0) {
        proto_invalid(&c->err, "`inputs` tokenized to no tokens");
        goto fail;
    }
    if (!tgi_validate_lengths(&c->req, (uint32_t)n, lim, &c->lens, &c->err)) goto fail;
    char *regex;
    if (!tgi_grammar_regex(&c->req, &regex, &c->err) || !gen_constraint(c, regex)) goto fail;
    memmove(ids, ids + c->lens.truncate_drop, (size_t)c->lens.input_length * sizeof *ids);
    c->prompt = ids;
    c->n_prompt = (int)c->lens.input_length;
    return;
fail:
    free(ids);
    c->work_failed = true;
}

bool gen_adapter(conn *c, const char *id) {
    const model *m = c->s->m;
    c->adapter = 0;
    if (!id || !strcmp(id, c->s->cfg.model_id)) return true;
    if ((c->adapter = model_lora_find(m, id))) return true;
    int n = model_lora_count(m);
    if (n == 0)
        return proto_invalid(&c->err, "`adapter_id` '%.200s': this server has no LoRA adapters (send null, omit it, "
                                      "or start it with --lora-adapters)", id);
    char known[1024];
    size_t at = 0;
    for (int k = 1; k <= n && at < sizeof known; k++)
        at += (size_t)snprintf(known + at, sizeof known - at, "%s'%s'", k > 1 ? ", " : "", model_lora_get(m, k).name);
    return proto_invalid(&c->err, "`adapter_id` '%.200s' is not one of this server's LoRA adapters: %s", id, known);
}

bool gen_constraint(conn *c, char *regex) {
    if (!regex) return true;
    char err[CT_ERRLEN];
    c->grammar = engine_constraint(c->s->e, regex, strlen(regex), err);
    free(regex);
    if (c->grammar) return true;
    if (c->api == API_TGI) return proto_invalid(&c->err, "grammar is not valid: %s", err);
    proto_fail(&c->err, 400, "validation", "%s", err);
    c->err.param = "response_format";
    return false;
}

static void work_cb(uv_work_t *w) {
    conn *c = w->data;
    srv *s = c->s;
    if (c->api == API_OAI) {
        oai_work(c);
        return;
    }
    if (c->api == API_LCPP) {
        infill_work(c);
        return;
    }
    if (!tgi_parse(c->body, c->body_len, c->troute, &c->req, &c->err)) {
        c->work_failed = true;
        return;
    }
    if (c->troute == TGI_ROUTE_TOKENIZE) {
        c->tok_json = tokenize_answer(s->m, &c->req, &c->tok_json_len, &c->err);
        c->work_failed = !c->tok_json;
        return;
    }
    c->stream = tgi_streaming(&c->req, c->troute);
    c->sampling = tgi_sampling(&c->req);
    c->full_text = tgi_return_full_text(&c->req, c->troute);
    /* TGI defaults "/" to the full text only for text-generation models: a
     * text2text (encoder-decoder) model's output does not continue its input */
    if (!c->req.p.has_return_full_text && model_get_info(s->m).encoder_decoder) c->full_text = false;
    work_generate(c, s->m, &s->limits);
}

/* ---- submission -------------------------------------------------------------------------- */

static bool submit(conn *c) {
    if (c->api == API_OAI) return oai_submit(c);
    if (c->api == API_LCPP) return infill_submit(c);
    srv *s = c->s;
    const tgi_parameters *p = &c->req.p;
    int n = p->has_best_of && p->best_of > 1 ? (int)p->best_of : 1;
    if (!(c->seqs = calloc((size_t)n, sizeof *c->seqs))) return proto_fail(&c->err, 500, "generation", "out of memory");
    c->n_seqs = n;
    c->t_validated = srv_now();
    for (int i = 0; i < n; i++) {
        gen_seq *q = &c->seqs[i];
        q->seed = p->has_seed ? p->seed : serve_seed(s);
        engine_request er = engine_request_default();
        er.prompt = c->prompt;
        er.n_prompt = c->n_prompt;
        er.sampling = tgi_sampler_params(&c->req, q->seed);
        /* a token's logprob shows in stream events and details, and ranks best_of */
        er.sampling.no_logprob = !c->stream && !p->details && n == 1;
        er.max_new_tokens = (int)c->lens.max_new_tokens;
        er.stops = (const char *const *)p->stop;
        er.n_stops = p->n_stop;
        er.prompt_logprobs = p->decoder_input_details;
        er.constraint = c->grammar;
        er.adapter = c->adapter;
        er.notify = http_engine_notify;
        er.ud = c;
        char err[CT_ERRLEN];
        if (!(q->h = engine_submit(s->e, &er, err))) {
            gen_cancel(c, false);
            return proto_invalid(&c->err, "%s", err);
        }
    }
    return true;
}

static void after_work(uv_work_t *w, int status) {
    conn *c = w->data;
    srv *s = c->s;
    free(c->body); /* parsed (or refused): not needed any more */
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    if (c->completed || c->gone) {
        conn_unref(c);
        return;
    }
    if (!c->work_failed && is_tokenize(c->route)) {
        conn_answer_later(c, resp_buffer(c, c->tok_json, c->tok_json_len, "application/json"), 200);
    } else if (c->work_failed || s->state == SRV_STOPPING || !submit(c)) {
        if (!c->work_failed && s->state == SRV_STOPPING) proto_fail(&c->err, 503, "unhealthy", "Server is shutting down");
        if (is_generation(c->route)) metrics_fail(s->met, c->err.status == 503 ? MF_UNHEALTHY : MF_VALIDATION);
        c->outcome = c->err.status == 503 ? "unavailable" : "invalid";
        c->finished = true;
        conn_answer_later(c, resp_error(c, &c->err), resp_status(c, &c->err));
    } else if (c->stream) {
        conn_answer_later(c, sse_response(c), 200);
        if (c->api == API_OAI) oai_stream_begin(c);
    }
    conn_unref(c);
    http_drive(s);
}

enum MHD_Result gen_start(conn *c) {
    srv *s = c->s;
    c->troute = tgi_route_of(c->route);
    /* every route that queues work on a worker takes a permit (the
     * tokenize routes too: else their worker queue is unbounded); only
     * generations are counted in the request metrics */
    bool gen = is_generation(c->route);
    if (gen || is_tokenize(c->route)) {
        if (gen) metrics_request(s->met);
        if ((uint32_t)s->n_permits >= s->limits.max_concurrent_requests) {
            if (gen) metrics_fail(s->met, MF_OVERLOADED);
            c->outcome = "overloaded";
            proto_error e;
            proto_err_overloaded(&e);
            struct MHD_Response *r = resp_error(c, &e);
            enum MHD_Result ret = r ? MHD_queue_response(c->mc, 429, r) : MHD_NO;
            if (r) MHD_destroy_response(r);
            c->queued = true;
            c->status = 429;
            return ret;
        }
        c->permit = true;
        s->n_permits++;
    }
    c->in_active = true;
    c->next_active = s->active;
    if (s->active) s->active->prev_active = c;
    s->active = c;
    c->work.data = c;
    c->refs++; /* the work's, dropped in after_work */
    if (uv_queue_work(&s->loop, &c->work, work_cb, after_work) != 0) {
        c->refs--;
        return MHD_NO;
    }
    conn_suspend(c);
    return MHD_YES;
}

/* ---- non-streaming answers --------------------------------------------------------------- */

static double mean_logprob(const gen_seq *q) {
    double sum = 0;
    for (int i = 0; i < q->n_toks; i++) sum += q->toks[i].g.token.logprob;
    return q->n_toks ? sum / q->n_toks : -1e30;
}

static tgi_finish_reason finish_of(engine_finish f) {
    return f == ENGINE_FINISH_EOS ? TGI_FINISH_EOS_TOKEN
           : f == ENGINE_FINISH_STOP ? TGI_FINISH_STOP_SEQUENCE
                                     : TGI_FINISH_LENGTH;
}

char *gen_full_text(const conn *c, const engine_final *f, size_t *len) {
    size_t pre = c->full_text ? c->req.inputs_len : 0;
    char *t = malloc(pre + f->text_len + 1);
    if (!t) return NULL;
    if (pre) memcpy(t, c->req.inputs, pre);
    memcpy(t + pre, f->text, f->text_len);
    t[pre + f->text_len] = '\0';
    *len = pre + f->text_len;
    return t;
}

tgi_finish gen_finish(const conn *c, const gen_seq *q) {
    return (tgi_finish){finish_of(q->fin.reason), (uint32_t)q->fin.n_generated, c->sampling, q->seed};
}

/* Code points, as Rust's chars().count() (oai_utf8_chars counts them). */
size_t gen_compute_characters(const conn *c) {
    if (c->api == API_TGI) return oai_utf8_chars(c->req.inputs, c->req.inputs_len);
    if (c->api == API_LCPP) {
        const lcpp_infill *r = &c->infill.req;
        size_t n = oai_utf8_chars(r->prefix, r->prefix_len) + oai_utf8_chars(r->prompt, r->prompt_len) +
                   oai_utf8_chars(r->suffix, r->suffix_len);
        for (int i = 0; i < r->n_extra; i++) n += oai_utf8_chars(r->extra[i].text, r->extra[i].text_len);
        return n;
    }
    if (c->oai.text) return oai_utf8_chars(c->oai.text, c->oai.text_len); /* the rendered chat prompt */
    size_t n = 0;
    const oai_request *r = &c->oai.req;
    for (int p = 0; p < r->n_prompts; p++)
        n += oai_utf8_chars(r->prompts[p].text, r->prompts[p].text_len) + (c->oai.fim ? oai_utf8_chars(r->suffix, r->suffix_len) : 0);
    return n;
}

void gen_success(conn *c, const gen_seq *q, metrics_req *mr) {
    double total = srv_now() - c->t_start;
    double inference = q->fin.prefill_seconds + q->fin.decode_seconds;
    *mr = (metrics_req){total, c->t_validated - c->t_start, q->fin.queue_seconds, inference,
                        q->fin.n_generated ? inference / q->fin.n_generated : 0, (uint32_t)c->n_prompt,
                        (uint32_t)q->fin.n_generated, c->lens.max_new_tokens, (uint32_t)q->fin.n_accepted};
    metrics_success(c->s->met, mr);
}

/* decoder_input_details: the prompt's tokens with their logprobs (the
 * first has none: null), texts back to back in *buf. */
static bool fill_prefill(const conn *c, const gen_seq *q, tgi_token **out, char **buf) {
    const model *m = c->s->m;
    size_t used = 0, cap = 256;
    size_t *off = calloc((size_t)c->n_prompt + 1, sizeof *off);
    *out = calloc((size_t)c->n_prompt + 1, sizeof **out);
    *buf = malloc(cap);
    bool ok = off && *out && *buf;
    for (int i = 0; ok && i < c->n_prompt; i++) {
        size_t n = tok_token_bytes(model_tokenizer(m), c->prompt[i], false, NULL, 0);
        if (used + n + 1 > cap) {
            while (used + n + 1 > cap) cap *= 2;
            char *nb = realloc(*buf, cap);
            if (!(ok = nb != NULL)) break;
            *buf = nb;
        }
        tok_token_bytes(model_tokenizer(m), c->prompt[i], false, *buf + used, n);
        off[i + 1] = used += n;
    }
    for (int i = 0; ok && i < c->n_prompt; i++)
        (*out)[i] = (tgi_token){c->prompt[i], {*buf + off[i], off[i + 1] - off[i]},
                                i == 0 ? NAN : q->fin.prompt[i].logprob, false};
    free(off);
    return ok;
}

/* The malloc'd parts of one tgi_sequence. */
typedef struct {
    tgi_generated *gens;
    char *text;
    tgi_token *prefill;
    char *prefill_text;
} seq_parts;

static void seq_parts_free(seq_parts *p) {
    free(p->gens);
    free(p->text);
    free(p->prefill);
    free(p->prefill_text);
}

/* Sequence q as tgi_sequence (its arrays malloc'd into *p). */
static bool fill_sequence(const conn *c, const gen_seq *q, tgi_sequence *out, seq_parts *p) {
    size_t len = 0;
    p->gens = malloc(((size_t)q->n_toks + 1) * sizeof *p->gens);
    p->text = gen_full_text(c, &q->fin, &len);
    if (!p->gens || !p->text) return false;
    if (q->fin.prompt && !fill_prefill(c, q, &p->prefill, &p->prefill_text)) return false;
    for (int i = 0; i < q->n_toks; i++) p->gens[i] = q->toks[i].g;
    *out = (tgi_sequence){.generated_text = {p->text, len}, .finish = gen_finish(c, q),
                          .prefill = p->prefill, .n_prefill = p->prefill ? c->n_prompt : 0, .tokens = p->gens,
                          .n_tokens = q->n_toks, .top_tokens = c->req.p.has_top_n_tokens && c->req.p.top_n_tokens > 0};
    return true;
}

static void add_header_num(struct MHD_Response *r, const char *name, double v, bool integer) {
    char buf[48];
    if (integer) snprintf(buf, sizeof buf, "%.0f", v);
    else snprintf(buf, sizeof buf, "%.9g", v);
    MHD_add_response_header(r, name, buf);
}

/* TGI's timing headers: seconds in x-compute-time, whole ms elsewhere. */
void gen_timing_headers(conn *c, struct MHD_Response *r, const metrics_req *mr) {
    MHD_add_response_header(r, "x-compute-type", c->s->cfg.compute_type);
    add_header_num(r, "x-compute-time", mr->total, false);
    add_header_num(r, "x-compute-characters", (double)gen_compute_characters(c), true);
    add_header_num(r, "x-total-time", mr->total * 1e3, true);
    add_header_num(r, "x-validation-time", mr->validation * 1e3, true);
    add_header_num(r, "x-queue-time", mr->queue * 1e3, true);
    add_header_num(r, "x-inference-time", mr->inference * 1e3, true);
    add_header_num(r, "x-time-per-token", mr->time_per_token * 1e3, true);
    add_header_num(r, "x-prompt-tokens", mr->input_tokens, true);
    add_header_num(r, "x-generated-tokens", mr->generated_tokens, true);
}

/* The answer of a non-streaming request: the sequence with the best mean
 * logprob, the others as best_of_sequences in submission order. */
static void answer_generation(conn *c) {
    int best = 0, n = c->n_seqs;
    for (int i = 1; i < n; i++)
        if (mean_logprob(&c->seqs[i]) > mean_logprob(&c->seqs[best])) best = i;
    tgi_sequence *seqs = calloc((size_t)n, sizeof *seqs);
    seq_parts *parts = calloc((size_t)n, sizeof *parts);
    bool ok = seqs && parts;
    for (int i = 0; ok && i < n; i++) {
        int j = i == 0 ? best : (i - 1 < best ? i - 1 : i); /* the others, in order */
        ok = fill_sequence(c, &c->seqs[j], &seqs[i], &parts[i]);
    }
    size_t len = 0;
    char *body = NULL;
    if (ok) {
        tgi_generate_response resp = {seqs[0], c->req.p.details, n > 1 ? &seqs[1] : NULL, n - 1};
        body = tgi_encode_generate(&resp, c->route == RT_COMPAT, &len);
    }
    struct MHD_Response *r = body ? resp_buffer(c, body, len, "application/json") : NULL;
    if (r) {
        metrics_req mr;
        gen_success(c, &c->seqs[best], &mr);
        gen_timing_headers(c, r, &mr);
    }
    for (int i = 0; i < n && parts; i++) seq_parts_free(&parts[i]);
    free(seqs);
    free(parts);
    free(body);
    c->finished = true;
    conn_answer_later(c, r, 200);
}

/* ---- engine events ----------------------------------------------------------------------- */

static void on_token(conn *c, gen_seq *q, engine_token *et) {
    double now = srv_now();
    if (q->t_first == 0) {
        q->t_first = now;
        if (q == c->seqs) metrics_ttft(c->s->met, now - c->t_start);
    } else if (q == c->seqs) {
        metrics_itl(c->s->met, now - q->t_last);
    }
    q->t_last = now;
    if (c->api == API_OAI) {
        oai_on_token(c, q, et);
        return;
    }
    if (c->api == API_LCPP) {
        infill_on_token(c, q, et);
        return;
    }
    gen_tok t;
    if (!gen_tok_from_event(c->s->m, et, &t)) {
        gen_tok_free(&t);
        return; /* out of memory: the token is lost, the request goes on */
    }
    if (c->stream) {
        q->n_toks++;
        sse_token(c, &t);
        return;
    }
    if (q->n_toks == q->cap_toks) {
        int cap = q->cap_toks ? 2 * q->cap_toks : 32;
        gen_tok *nt = realloc(q->toks, (size_t)cap * sizeof *nt);
        if (!nt) {
            gen_tok_free(&t);
            return;
        }
        q->toks = nt;
        q->cap_toks = cap;
    }
    q->toks[q->n_toks++] = t;
}

static void on_end(conn *c, gen_seq *q, engine_event *ev) {
    q->ended = true;
    c->n_ended++;
    if (ev->kind == ENGINE_EVENT_FINAL) {
        q->fin = ev->final;
        ev->final.text = NULL;
    } else {
        q->failed = true;
        q->cancelled = ev->error.cancelled;
        snprintf(q->error, sizeof q->error, "%s", ev->error.message);
    }
    if (c->gone || c->finished) return;
    if (q->failed) {
        gen_cancel(c, false); /* best_of: the others are useless now */
        proto_error e;
        proto_err_generation(&e, q->error);
        metrics_fail(c->s->met, MF_GENERATION);
        c->outcome = "error";
        if (c->stream) {
            sse_error(c, &e);
        } else {
            c->finished = true;
            conn_answer_later(c, resp_error(c, &e), resp_status(c, &e));
        }
        return;
    }
    if (c->api == API_OAI) {
        oai_on_final(c, q);
    } else if (c->api == API_LCPP) {
        infill_on_final(c, q);
    } else if (c->stream) {
        sse_final(c);
    } else if (c->n_ended == c->n_seqs) {
        answer_generation(c);
    }
}

void gen_drain(conn *c) {
    for (int i = 0; i < c->n_seqs; i++) {
        gen_seq *q = &c->seqs[i];
        engine_event ev;
        while (q->h && !q->ended && engine_next_event(q->h, &ev, false)) {
            if (ev.kind == ENGINE_EVENT_TOKEN) on_token(c, q, &ev.token);
            else on_end(c, q, &ev);
            engine_event_clear(&ev);
        }
    }
}

void gen_cancel(conn *c, bool client_gone) {
    bool any_token = false;
    for (int i = 0; i < c->n_seqs; i++) {
        if (c->seqs[i].h && !c->seqs[i].ended) engine_cancel(c->seqs[i].h);
        any_token = any_token || c->seqs[i].t_first > 0;
    }
    if (client_gone && c->permit && is_generation(c->route) && !c->finished && strcmp(c->outcome, "cancelled") != 0) {
        metrics_cancelled(c->s->met, !any_token);
        c->outcome = "cancelled";
    }
}

/* ---- the end ----------------------------------------------------------------------------- */

static void log_generation(conn *c) {
    const gen_seq *q = c->n_seqs ? &c->seqs[0] : NULL;
    bool fin = q && q->ended && !q->failed;
    log_request l = {c->method, c->path, c->queued ? c->status : 0, c->outcome,
                     is_tokenize(c->route) ? -1 : c->n_prompt,
                     q ? (fin ? q->fin.n_generated : q->n_toks) : 0,
                     fin ? engine_finish_name(q->fin.reason) : NULL,
                     fin ? q->fin.queue_seconds : 0,
                     fin ? q->fin.prefill_seconds + q->fin.decode_seconds : 0, srv_now() - c->t_start,
                     c->adapter ? model_lora_get(c->s->m, c->adapter).name : NULL};
    log_request_line(c->s->cfg.json_output, &l);
}

void gen_completed(conn *c, bool error) {
    srv *s = c->s;
    bool unfinished = false;
    for (int i = 0; i < c->n_seqs; i++) unfinished = unfinished || !c->seqs[i].ended;
    if (c->permit && (unfinished || (error && !c->finished && c->n_seqs > 0))) {
        c->gone = true;
        gen_cancel(c, true); /* a disconnect MHD saw (or a stream cut short) */
    }
    for (int i = 0; i < c->n_seqs; i++) {
        if (c->seqs[i].h) engine_release(c->seqs[i].h); /* no notify after this */
        c->seqs[i].h = NULL;
    }
    pthread_mutex_lock(&s->ready_mu);
    if (c->in_ready) {
        conn **pp = &s->ready;
        while (*pp && *pp != c) pp = &(*pp)->next_ready;
        if (*pp) *pp = c->next_ready;
        c->in_ready = false;
    }
    pthread_mutex_unlock(&s->ready_mu);
    if (error && strcmp(c->outcome, "ok") == 0) c->outcome = "aborted";
    log_generation(c);
    if (c->prev_active) c->prev_active->next_active = c->next_active;
    else s->active = c->next_active;
    if (c->next_active) c->next_active->prev_active = c->prev_active;
    c->in_active = false;
    if (c->permit) {
        c->permit = false;
        s->n_permits--;
        serve_check_drained(s);
    }
}

void gen_free(conn *c) {
    oai_free(c); /* a zeroed conn_oai for TGI requests */
    infill_free(c);
    for (int i = 0; i < c->n_seqs; i++) {
        gen_seq *q = &c->seqs[i];
        if (q->h) engine_release(q->h);
        for (int k = 0; q->toks && k < q->n_toks && !c->stream; k++) gen_tok_free(&q->toks[k]);
        free(q->toks);
        free(q->fin.text);
    }
    free(c->seqs);
    free(c->prompt);
    free(c->tok_json);
    tgi_request_free(&c->req);
    cons_grammar_unref(c->grammar);
}
