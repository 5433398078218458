/*
 * infill.c — POST /infill, llama.cpp's fill-in-the-middle route (the one
 * code editors call), from its body to its answer.
 *
 * The life of the request is gen.c's (admission, the validation worker,
 * cancellation, the log line, metrics); this file fills in:
 *   - on the worker: parse (proto/llamacpp.h); a model without FIM tokens
 *     is 501, as llama.cpp answers it; the prompt is llama.cpp's
 *     repository-level layout (fim.h, `repo`) of input_extra, input_prefix
 *     + prompt and input_suffix, cut to fit the context the way llama.cpp
 *     cuts it: the room is the context minus n_predict (a quarter of the
 *     context when n_predict is -1), at most --max-input-tokens;
 *   - on the loop: one sequence; the markers of the vocabulary end the
 *     middle (besides EOS), unless ignore_eos;
 *   - the events: llama.cpp's partial objects over SSE (`data: {…}`, no
 *     [DONE]) and its final object, or the final object alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* The hole's own text before the cursor: input_prefix + prompt (llama.vim
 * sends the current line's start as `prompt`). */
static char *prefix_text(const lcpp_infill *r, size_t *len) {
    char *p = malloc(r->prefix_len + r->prompt_len + 1);
    if (!p) return NULL;
    memcpy(p, r->prefix, r->prefix_len);
    memcpy(p + r->prefix_len, r->prompt, r->prompt_len);
    p[r->prefix_len + r->prompt_len] = '\0';
    *len = r->prefix_len + r->prompt_len;
    return p;
}

static bool build_prompt(conn *c, uint32_t budget) {
    conn_infill *o = &c->infill;
    const lcpp_infill *r = &o->req;
    fim_file *files = calloc((size_t)r->n_extra + 1, sizeof *files);
    size_t plen = 0;
    char *pre = prefix_text(r, &plen);
    bool ok = files && pre;
    if (!ok) proto_fail(&c->err, 500, "generation", "out of memory");
    for (int i = 0; ok && i < r->n_extra; i++)
        files[i] = (fim_file){r->extra[i].filename, r->extra[i].filename_len, r->extra[i].text, r->extra[i].text_len};
    fim_input in = {.prefix = pre, .prefix_len = plen, .suffix = r->suffix, .suffix_len = r->suffix_len,
                    .files = files, .n_files = r->n_extra, .repo = true, .budget = (int)budget};
    ok = ok && fim_build(model_tokenizer(c->s->m), &in, &o->fp, &c->err);
    free(files);
    free(pre);
    return ok;
}

void infill_work(conn *c) {
    srv *s = c->s;
    conn_infill *o = &c->infill;
    c->work_failed = true;
    if (!lcpp_parse_infill(c->body, c->body_len, &o->req, &c->err)) return;
    if (!fim_supported(model_tokenizer(s->m))) {
        proto_fail(&c->err, 501, "not_supported", "Infill is not supported by this model: its vocabulary has no "
                   "fill-in-the-middle tokens (prefix/suffix/middle markers such as <fim_prefix>)");
        return;
    }
    uint32_t total = s->limits.max_total_tokens, n_predict = o->req.n_predict > 0 ? (uint32_t)o->req.n_predict : 0;
    if (n_predict >= total) {
        proto_fail(&c->err, 400, "validation", "n_predict (%u) leaves no room for the prompt: the context has %u tokens",
                   n_predict, total);
        return;
    }
    uint32_t room = min_u32(s->limits.max_input_tokens, total - (n_predict ? n_predict : total / 4));
    if (!build_prompt(c, room)) return;
    o->max_new = n_predict ? n_predict : total - (uint32_t)o->fp.n;
    c->stream = o->req.stream;
    c->sampling = o->req.temperature >= SAMPLER_GREEDY_EPS;
    c->work_failed = false;
}

bool infill_submit(conn *c) {
    srv *s = c->s;
    conn_infill *o = &c->infill;
    const lcpp_infill *r = &o->req;
    if (!(c->seqs = calloc(1, sizeof *c->seqs))) return proto_fail(&c->err, 500, "generation", "out of memory");
    c->n_seqs = 1;
    c->t_validated = srv_now();
    c->n_prompt = o->fp.n;
    c->lens.max_new_tokens = o->max_new;
    gen_seq *q = &c->seqs[0];
    q->seed = o->seed = r->has_seed ? r->seed : serve_seed(s);
    engine_request er = engine_request_default();
    er.prompt = o->fp.ids;
    er.n_prompt = o->fp.n;
    er.sampling = lcpp_sampler_params(r, q->seed);
    er.max_new_tokens = (int)o->max_new;
    er.ignore_eos = r->ignore_eos;
    er.stops = (const char *const *)r->stop;
    er.n_stops = r->n_stop;
    er.stop_exclude = true; /* llama.cpp cuts the stop word and never streams a piece of one */
    er.stop_ids = r->ignore_eos ? NULL : o->fp.stops;
    er.n_stop_ids = r->ignore_eos ? 0 : o->fp.n_stops;
    er.notify = http_engine_notify;
    er.ud = c;
    char err[CT_ERRLEN];
    if (!(q->h = engine_submit(s->e, &er, err))) return proto_fail(&c->err, 400, "validation", "%s", err);
    return true;
}

void infill_on_token(conn *c, gen_seq *q, engine_token *et) {
    conn_infill *o = &c->infill;
    q->n_toks++;
    if (memchr(et->text, '\n', et->text_len)) o->has_new_line = true;
    if (c->stream) {
        if (et->text_len == 0 && !o->req.return_tokens) return; /* nothing complete yet */
        size_t n;
        char *ev = lcpp_encode_partial((proto_str){et->text, et->text_len}, &et->id, o->req.return_tokens ? 1 : 0,
                                       (uint32_t)q->n_toks, (uint32_t)c->n_prompt, &n);
        if (ev) sse_append(c, ev, n);
        free(ev);
        return;
    }
    if (!o->req.return_tokens) return;
    if (o->n_ids == o->cap_ids) {
        int cap = o->cap_ids ? 2 * o->cap_ids : 64;
        int32_t *v = realloc(o->ids, (size_t)cap * sizeof *v);
        if (!v) return; /* out of memory: the id is lost, the text is not */
        o->ids = v;
        o->cap_ids = cap;
    }
    o->ids[o->n_ids++] = et->id;
}

static lcpp_stop stop_of(engine_finish f) {
    return f == ENGINE_FINISH_LENGTH ? LCPP_STOP_LIMIT : f == ENGINE_FINISH_STOP ? LCPP_STOP_WORD : LCPP_STOP_EOS;
}

/* llama.cpp's final object for q (malloc'd). */
static char *encode_final(conn *c, const gen_seq *q, bool sse, size_t *len) {
    conn_infill *o = &c->infill;
    const engine_final *fin = &q->fin;
    const lcpp_infill *r = &o->req;
    char *prompt = tok_decode(model_tokenizer(c->s->m), o->fp.ids, (size_t)o->fp.n, false);
    if (!prompt) return NULL;
    bool word = fin->reason == ENGINE_FINISH_STOP && fin->stop_index >= 0 && fin->stop_index < r->n_stop;
    lcpp_final f = {
        .content = sse ? (proto_str){"", 0} : (proto_str){fin->text, fin->text_len},
        .tokens = o->ids,
        .n_tokens = sse ? 0 : o->n_ids,
        .model = c->s->cfg.model_id,
        .tokens_predicted = (uint32_t)fin->n_generated,
        .tokens_evaluated = (uint32_t)fin->n_prompt,
        .tokens_cached = (uint32_t)(fin->n_prompt + fin->n_generated),
        .prompt = {prompt, strlen(prompt)},
        .has_new_line = o->has_new_line || (fin->text && memchr(fin->text, '\n', fin->text_len)),
        .truncated = o->fp.truncated,
        .stop_type = stop_of(fin->reason),
        .stopping_word = word ? (proto_str){r->stop[fin->stop_index], r->stop_len[fin->stop_index]} : (proto_str){"", 0},
        .timings = {(uint32_t)fin->n_cached_prompt, (uint32_t)(fin->n_prompt - fin->n_cached_prompt),
                    fin->prefill_seconds * 1e3, (uint32_t)fin->n_generated, fin->decode_seconds * 1e3},
        .settings = r,
        .seed = o->seed,
        .n_predict = o->max_new,
    };
    char *body = lcpp_encode_final(&f, sse, len);
    free(prompt);
    return body;
}

void infill_on_final(conn *c, gen_seq *q) {
    size_t n = 0;
    metrics_req mr;
    char *body = encode_final(c, q, c->stream, &n);
    if (c->stream) {
        if (body) sse_append(c, body, n);
        free(body);
        gen_success(c, q, &mr);
        c->finished = true;
        c->stream_done = true;
        return;
    }
    struct MHD_Response *r = body ? resp_buffer(c, body, n, "application/json") : NULL;
    free(body);
    if (r) gen_success(c, q, &mr);
    c->finished = true;
    conn_answer_later(c, r, 200);
}

void infill_free(conn *c) {
    conn_infill *o = &c->infill;
    lcpp_infill_free(&o->req);
    fim_prompt_free(&o->fp);
    free(o->ids);
    memset(o, 0, sizeof *o);
}
