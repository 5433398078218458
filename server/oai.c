/*
 * oai.c — an OpenAI request (POST /v1/chat/completions, /v1/completions,
 * and TGI's POST /chat_tokenize) from its body to its answer.
 *
 * The life of a request is gen.c's (admission, the validation worker,
 * cancellation, the log line); this file fills in what differs:
 *   - on the worker: parse and validate (proto/openai.h), render the chat
 *     messages with the model's chat template (engine/chat_template.h) and
 *     tokenize the result without adding special tokens — the template
 *     writes the BOS itself — or tokenize each completions prompt (with
 *     `suffix`: a fill-in-the-middle prompt, fim.h); then the token budget
 *     of each prompt;
 *   - on the loop: submit n (or best_of) sequences per prompt.  They share
 *     the prompt through the prefix cache: the first computes it, the
 *     others attach its blocks.  Choice j of a request with a seed uses
 *     seed + j, so the choices differ and a replay gives the same ones;
 *   - the engine's events: streamed as chat.completion.chunk /
 *     text_completion chunks (oai_stream.c), or gathered for one answer.
 *
 * Stop strings follow OpenAI: the engine leaves the matched stop out of the
 * text and holds back text that could still begin one (stop_exclude), so
 * a streamed delta never shows a piece of a stop string.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fim.h"
#include "server.h"
#include "tokenize.h"

/* ---- the worker: parse, template, tokenize ------------------------------------------------ */

static bool fail_template(proto_error *e, const char *msg) {
    proto_fail(e, 422, "template_error", "%s", msg);
    e->param = "messages";
    e->code = "template_error";
    return false;
}

/* Chat: messages → the rendered prompt (c->oai.text) → its ids. */
static bool render_chat(conn *c, int32_t **ids, int *n) {
    srv *s = c->s;
    char err[CT_ERRLEN];
    chat_render_opts opt = {.add_generation_prompt = true, .kwargs = c->oai.req.chat_template_kwargs};
    json_t *noted;
    if (!oai_tools_prepare(c, &opt, &noted)) return false;
    c->oai.text = chat_template_render(s->ct, s->m, noted ? noted : c->oai.req.messages, &opt, &c->oai.text_len, err);
    json_decref(noted);
    if (!c->oai.text) return fail_template(&c->err, err);
    *n = tok_encode(model_tokenizer(s->m), c->oai.text, c->oai.text_len, false, true, ids, err);
    if (*n < 0) {
        proto_fail(&c->err, 400, "validation", "tokenizer error: %s", err);
        c->err.param = "messages";
        return false;
    }
    return true;
}

/* Completions with `suffix`: prompt p is the prefix of a FIM prompt. */
static bool fim_prompt_of(conn *c, int p) {
    conn_oai *o = &c->oai;
    const oai_prompt *pr = &o->req.prompts[p];
    fim_input in = {.prefix = pr->text, .prefix_len = pr->text_len, .prefix_ids = pr->ids,
                    .n_prefix_ids = pr->n_ids, .suffix = o->req.suffix, .suffix_len = o->req.suffix_len};
    fim_prompt fp;
    if (!fim_build(model_tokenizer(c->s->m), &in, &fp, &c->err)) {
        c->err.param = "suffix";
        if (c->err.status == 422) c->err.code = "unsupported_parameter";
        return false;
    }
    o->prompts[p] = fp.ids;
    o->n_prompt[p] = fp.n;
    o->echo_at[p] = fp.prefix_at;
    o->n_echo[p] = fp.n_prefix;
    if (p > 0 || o->req.ignore_eos) return true; /* the markers are the same for every prompt */
    /* the markers end the middle, beside the client's stop_token_ids */
    o->stop_ids = malloc(((size_t)o->req.n_stop_token_ids + (size_t)fp.n_stops) * sizeof *o->stop_ids);
    if (!o->stop_ids) return proto_fail(&c->err, 500, "generation", "out of memory");
    if (o->req.n_stop_token_ids)
        memcpy(o->stop_ids, o->req.stop_token_ids, (size_t)o->req.n_stop_token_ids * sizeof *o->stop_ids);
    memcpy(o->stop_ids + o->req.n_stop_token_ids, fp.stops, (size_t)fp.n_stops * sizeof *o->stop_ids);
    o->n_stop_ids = o->req.n_stop_token_ids + fp.n_stops;
    return true;
}

/* A suffix asks for fill-in-the-middle.  A model without FIM tokens
 * refuses a non-empty one (422) rather than continue the prefix as if
 * nothing followed; an empty one means nothing follows: a plain
 * completion. */
static bool want_fim(conn *c) {
    const oai_request *r = &c->oai.req;
    if (!r->has_suffix) return false;
    if (r->suffix_len == 0 && !fim_supported(model_tokenizer(c->s->m))) return false;
    return true;
}

/* Completions: prompt p → its ids (text prompts get the tokenizer's
 * special tokens, as vLLM and OpenAI add them). */
static bool tokenize_prompt(conn *c, int p, int32_t **ids, int *n) {
    const oai_prompt *pr = &c->oai.req.prompts[p];
    char err[CT_ERRLEN];
    if (c->oai.fim) return fim_prompt_of(c, p);
    if (!pr->text) {
        *n = pr->n_ids;
        *ids = malloc(((size_t)pr->n_ids + 1) * sizeof **ids);
        if (!*ids) return proto_fail(&c->err, 500, "generation", "out of memory");
        memcpy(*ids, pr->ids, (size_t)pr->n_ids * sizeof **ids);
        return true;
    }
    *n = tok_encode(model_tokenizer(c->s->m), pr->text, pr->text_len, true, true, ids, err);
    if (*n < 0) {
        proto_fail(&c->err, 400, "validation", "tokenizer error: %s", err);
        c->err.param = "prompt";
        return false;
    }
    return true;
}

static bool alloc_prompts(conn_oai *o, int n) {
    o->prompts = calloc((size_t)n, sizeof *o->prompts);
    o->n_prompt = calloc((size_t)n, sizeof *o->n_prompt);
    o->echo_at = calloc((size_t)n, sizeof *o->echo_at);
    o->n_echo = calloc((size_t)n, sizeof *o->n_echo);
    o->max_new = calloc((size_t)n, sizeof *o->max_new);
    o->n_prompts = n;
    return o->prompts && o->n_prompt && o->echo_at && o->n_echo && o->max_new;
}

void oai_work(conn *c) {
    srv *s = c->s;
    conn_oai *o = &c->oai;
    oai_kind kind = c->route == RT_COMPLETIONS ? OAI_COMPLETION : OAI_CHAT;
    c->work_failed = true;
    if (!oai_parse(kind, c->body, c->body_len, &o->req, &c->err)) return;
    if (c->route != RT_CHAT_TOKENIZE &&
        (!oai_validate(&o->req, &s->limits, &c->err) || !oai_check_vocab(&o->req, model_get_info(s->m).vocab, &c->err)))
        return;
    int n_prompts = kind == OAI_CHAT ? 1 : o->req.n_prompts;
    if (!alloc_prompts(o, n_prompts)) {
        proto_fail(&c->err, 500, "generation", "out of memory");
        return;
    }
    o->fim = kind == OAI_COMPLETION && want_fim(c);
    for (int p = 0; p < n_prompts; p++) {
        bool ok = kind == OAI_CHAT ? render_chat(c, &o->prompts[p], &o->n_prompt[p])
                                   : tokenize_prompt(c, p, &o->prompts[p], &o->n_prompt[p]);
        if (!ok) return;
        if (!o->fim) o->n_echo[p] = o->n_prompt[p];
    }
    if (c->route == RT_CHAT_TOKENIZE) {
        c->tok_json = chat_tokenize_answer(s->m, o->text, o->text_len, o->prompts[0], o->n_prompt[0],
                                           &c->tok_json_len, &c->err);
        c->work_failed = !c->tok_json;
        return;
    }
    for (int p = 0; p < n_prompts; p++)
        if (!oai_max_new_tokens(&o->req, (uint32_t)o->n_prompt[p], &s->limits, &o->max_new[p], &c->err)) return;
    char *regex, *tool_regex = NULL;
    if (!oai_constraint_regex(&o->req, &regex, &c->err)) return;
    if (regex && o->tools_on) {
        free(regex);
        proto_fail(&c->err, 400, "validation", "a structured-output constraint (response_format, guided_*) "
                                               "cannot be combined with tools: send tool_choice \"none\" or no tools");
        c->err.param = "response_format";
        return;
    }
    if (!regex && !oai_tools_constraint(c, &tool_regex)) return;
    if (!gen_constraint(c, regex ? regex : tool_regex)) return;
    c->stream = o->req.stream;
    c->sampling = oai_sampling(&o->req);
    /* vLLM's way: `model` naming a LoRA adapter selects it; the served
     * model's id, or any other name, is the base (as TGI, which ignores it) */
    c->adapter = model_lora_find(s->m, o->req.model);
    c->work_failed = false;
}

/* ---- submission ---------------------------------------------------------------------------- */

static engine_request request_for(conn *c, int p, const sampler_params *sp) {
    const oai_request *r = &c->oai.req;
    engine_request er = engine_request_default();
    er.prompt = c->oai.prompts[p];
    er.n_prompt = c->oai.n_prompt[p];
    er.sampling = *sp;
    er.max_new_tokens = (int)c->oai.max_new[p];
    er.ignore_eos = r->ignore_eos;
    er.stops = (const char *const *)r->stop;
    er.n_stops = r->n_stop;
    er.stop_exclude = true;
    /* the tool-call parser needs markers such as [TOOL_CALLS] (control tokens) */
    er.keep_special_text = !r->skip_special_tokens || c->oai.tools_on;
    er.stop_ids = c->oai.stop_ids ? c->oai.stop_ids : r->stop_token_ids;
    er.n_stop_ids = c->oai.stop_ids ? c->oai.n_stop_ids : r->n_stop_token_ids;
    er.min_new_tokens = r->has_min_tokens ? (int)r->min_tokens : 0;
    er.prompt_logprobs = r->kind == OAI_COMPLETION && r->echo && r->logprobs;
    er.constraint = c->grammar;
    er.adapter = c->adapter;
    er.notify = http_engine_notify;
    er.ud = c;
    return er;
}

bool oai_submit(conn *c) {
    srv *s = c->s;
    conn_oai *o = &c->oai;
    const oai_request *r = &o->req;
    o->per_prompt = (int)(r->has_best_of && r->best_of > r->n ? r->best_of : r->n);
    int n = o->n_prompts * o->per_prompt;
    if (!(c->seqs = calloc((size_t)n, sizeof *c->seqs))) return proto_fail(&c->err, 500, "generation", "out of memory");
    c->n_seqs = n;
    c->t_validated = srv_now();
    oai_make_id(o->id, r->kind == OAI_CHAT ? "chatcmpl-" : "cmpl-", serve_seed(s), serve_seed(s));
    o->created = (uint64_t)time(NULL);
    c->n_prompt = 0;
    for (int p = 0; p < o->n_prompts; p++) c->n_prompt += o->n_prompt[p];
    c->lens.max_new_tokens = o->max_new[0];
    sampler_params sp = oai_sampler_params(r, serve_seed(s));
    for (int i = 0; i < n; i++) {
        gen_seq *q = &c->seqs[i];
        q->prompt = i / o->per_prompt;
        sampler_params spi = sp;
        spi.seed = q->seed = sp.seed + (uint64_t)(i % o->per_prompt);
        engine_request er = request_for(c, q->prompt, &spi);
        char err[CT_ERRLEN];
        if (!(q->h = engine_submit(s->e, &er, err))) {
            gen_cancel(c, false);
            proto_fail(&c->err, 400, "validation", "%s", err);
            return false;
        }
    }
    return true;
}

/* ---- tokens -------------------------------------------------------------------------------- */

void oai_tok_free(oai_tok *t) {
    free(t->text);
    free(t->top_text);
    memset(t, 0, sizeof *t);
}

/* Token id with its logprob and alternatives top[0..n_top). */
static bool make_tok(const model *m, int32_t id, float logprob, const sampler_token *top, int n_top, oai_tok *out) {
    memset(out, 0, sizeof *out);
    size_t len, off[SAMPLER_MAX_TOP_N + 1];
    if (!(out->text = gen_token_text(m, id, &len))) return false;
    out->lp = (oai_token_logprob){{out->text, len}, logprob, out->top, n_top};
    if (!(out->top_text = gen_top_texts(m, top, n_top, off))) return false;
    for (int i = 0; i < n_top; i++)
        out->top[i] = (oai_top_logprob){{out->top_text + off[i], off[i + 1] - off[i]}, top[i].logprob};
    return true;
}

bool oai_tok_from_event(const model *m, const engine_token *et, oai_tok *out) {
    return make_tok(m, et->id, et->logprob, et->top, et->n_top, out);
}

/* echo + logprobs: the prompt's tokens come first in the logprobs (the
 * prompt's first token has no context: null), except a BOS the tokenizer
 * added, which is not part of the echoed text (the token after it keeps
 * its logprob given the BOS).  A FIM prompt lists its prefix's tokens
 * (the echoed text), each with its logprob after the markers and text
 * before it; the suffix is not echoed. */
static void keep_prompt_tokens(conn *c, gen_seq *q) {
    const model *m = c->s->m;
    const tokenizer *t = model_tokenizer(m);
    const conn_oai *o = &c->oai;
    const int32_t *ids = o->prompts[q->prompt];
    int from = o->echo_at[q->prompt], n = from + o->n_echo[q->prompt];
    if (!o->fim && o->req.prompts[q->prompt].text && n > 0 && tok_add_bos(t) && ids[0] == tok_bos(t)) from = 1;
    if (!q->fin.prompt || !(q->ptoks = calloc((size_t)n + 1, sizeof *q->ptoks))) return;
    for (int i = from; i < n; i++) {
        const engine_prompt_token *pt = &q->fin.prompt[i];
        if (!make_tok(m, ids[i], i == 0 ? NAN : pt->logprob, pt->top, i == 0 ? 0 : pt->n_top, &q->ptoks[q->n_ptoks])) {
            oai_tok_free(&q->ptoks[q->n_ptoks]);
            return;
        }
        q->n_ptoks++;
    }
}

/* ---- the answer ---------------------------------------------------------------------------- */

oai_finish oai_finish_of(engine_finish f) { return f == ENGINE_FINISH_LENGTH ? OAI_FINISH_LENGTH : OAI_FINISH_STOP; }

oai_usage oai_usage_of(const conn *c) {
    oai_usage u = {(uint32_t)c->n_prompt, 0};
    for (int i = 0; i < c->n_seqs; i++) u.completion_tokens += (uint32_t)c->seqs[i].fin.n_generated;
    return u;
}

oai_meta oai_meta_of(const conn *c) {
    const char *name = c->oai.req.model ? c->oai.req.model : c->s->cfg.model_id;
    return (oai_meta){c->oai.id, c->oai.created, name, CTGI_FINGERPRINT};
}

/* The text echo puts before prompt p's completions (malloc'd): the client's
 * prompt (a FIM prompt's prefix, never its suffix). */
char *oai_echo_text(const conn *c, int p, size_t *len) {
    const oai_prompt *pr = &c->oai.req.prompts[p];
    const conn_oai *o = &c->oai;
    char *t = pr->text ? malloc(pr->text_len + 1)
                       : tok_decode(model_tokenizer(c->s->m), o->prompts[p] + o->echo_at[p], (size_t)o->n_echo[p], false);
    if (!t) return NULL;
    if (pr->text) {
        memcpy(t, pr->text, pr->text_len);
        t[pr->text_len] = '\0';
    }
    *len = pr->text ? pr->text_len : strlen(t);
    return t;
}

static double mean_logprob(const gen_seq *q) { return q->n_toks ? q->lp_sum / q->n_toks : -1e30; }

/* The n sequences of prompt p that become choices, best mean logprob first
 * when best_of asked for more than n (else in submission order). */
static void pick_choices(const conn *c, int p, int *out) {
    int k = c->oai.per_prompt, n = (int)c->oai.req.n, base = p * k;
    bool used[64] = {false}; /* per_prompt <= max_n, checked by oai_validate */
    for (int r = 0; r < n; r++) {
        int best = -1;
        for (int j = 0; j < k && j < 64; j++) {
            if (used[j]) continue;
            if (best < 0 || (k > n && mean_logprob(&c->seqs[base + j]) > mean_logprob(&c->seqs[base + best])))
                best = j;
        }
        used[best] = true;
        out[r] = base + best;
    }
}

static bool fill_choice(const conn *c, const gen_seq *q, uint32_t index, oai_choice *ch, oai_token_logprob **lps,
                        char **text) {
    const oai_request *r = &c->oai.req;
    size_t pre = 0;
    char *echo = r->echo ? oai_echo_text(c, q->prompt, &pre) : NULL;
    if (r->echo && !echo) return false;
    *text = malloc(pre + q->fin.text_len + 1);
    *lps = calloc((size_t)q->n_ptoks + (size_t)q->n_otoks + 1, sizeof **lps);
    if (!*text || !*lps) {
        free(echo);
        return false;
    }
    if (pre) memcpy(*text, echo, pre);
    memcpy(*text + pre, q->fin.text, q->fin.text_len);
    free(echo);
    int k = 0;
    for (int i = 0; i < q->n_ptoks; i++) (*lps)[k++] = q->ptoks[i].lp;
    for (int i = 0; i < q->n_otoks; i++) {
        (*lps)[k] = q->otoks[i].lp;
        (*lps)[k++].top = q->otoks[i].top; /* the token array may have moved since */
    }
    /* text_offset counts from the start of the text: 0 when the echoed
     * prompt's tokens are listed too */
    *ch = (oai_choice){.index = index, .text = {*text, pre + q->fin.text_len}, .finish = oai_finish_of(q->fin.reason),
                       .logprobs = r->logprobs, .tokens = *lps, .n_tokens = k,
                       .text_offset = q->n_ptoks ? 0 : oai_utf8_chars(*text, pre)};
    return true;
}

static char *encode_answer(conn *c, size_t *len) {
    const oai_request *r = &c->oai.req;
    int n = c->oai.n_prompts * (int)r->n;
    oai_choice *ch = calloc((size_t)n, sizeof *ch);
    oai_token_logprob **lps = calloc((size_t)n, sizeof *lps);
    char **texts = calloc((size_t)n, sizeof *texts);
    int *pick = calloc((size_t)n, sizeof *pick);
    tc_result *calls = c->oai.tools_on ? calloc((size_t)n, sizeof *calls) : NULL;
    bool ok = ch && lps && texts && pick && (calls || !c->oai.tools_on);
    for (int p = 0; ok && p < c->oai.n_prompts; p++) pick_choices(c, p, pick + p * (int)r->n);
    for (int i = 0; ok && i < n; i++) {
        ok = fill_choice(c, &c->seqs[pick[i]], (uint32_t)i, &ch[i], &lps[i], &texts[i]);
        if (ok && calls) ok = oai_tools_choice(c, &c->seqs[pick[i]], &ch[i], &calls[i]);
    }
    oai_usage u = oai_usage_of(c);
    oai_meta m = oai_meta_of(c);
    char *body = !ok ? NULL
                 : r->kind == OAI_CHAT ? oai_encode_chat(&m, ch, n, &u, len)
                                       : oai_encode_completion(&m, ch, n, &u, len);
    for (int i = 0; i < n && lps && texts; i++) {
        free(lps[i]);
        free(texts[i]);
    }
    for (int i = 0; i < n && calls; i++) tc_result_clear(&calls[i]);
    free(calls);
    free(ch);
    free(lps);
    free(texts);
    free(pick);
    return body;
}

static void answer(conn *c) {
    size_t len = 0;
    char *body = encode_answer(c, &len);
    struct MHD_Response *r = body ? resp_buffer(c, body, len, "application/json") : NULL;
    free(body);
    if (r) {
        metrics_req mr;
        gen_success(c, &c->seqs[0], &mr);
        gen_timing_headers(c, r, &mr);
    }
    c->finished = true;
    conn_answer_later(c, r, 200);
}

/* ---- engine events ------------------------------------------------------------------------- */

static bool keep_token(gen_seq *q, const model *m, const engine_token *et) {
    if (q->n_otoks == q->cap_otoks) {
        int cap = q->cap_otoks ? 2 * q->cap_otoks : 32;
        oai_tok *nt = realloc(q->otoks, (size_t)cap * sizeof *nt);
        if (!nt) return false;
        q->otoks = nt;
        q->cap_otoks = cap;
    }
    oai_tok *t = &q->otoks[q->n_otoks];
    if (!oai_tok_from_event(m, et, t)) {
        oai_tok_free(t);
        return false;
    }
    q->n_otoks++;
    return true;
}

void oai_on_token(conn *c, gen_seq *q, engine_token *et) {
    q->n_toks++;
    q->lp_sum += et->logprob;
    if (c->oai.tools_on) {
        oai_tools_token(c, q, et);
        if (!c->stream && c->oai.req.logprobs) keep_token(q, c->s->m, et);
        return;
    }
    if (c->stream) oai_stream_token(c, q, et);
    else if (c->oai.req.logprobs) keep_token(q, c->s->m, et); /* out of memory: the entry is lost */
}

/* A sequence finished (FINAL): stream its finish chunk, or answer once
 * every sequence is done. */
void oai_on_final(conn *c, gen_seq *q) {
    if (!c->stream && c->oai.req.logprobs && c->oai.req.echo) keep_prompt_tokens(c, q);
    if (c->stream) oai_stream_final(c, q);
    else if (c->n_ended == c->n_seqs) answer(c);
}

void oai_free(conn *c) {
    conn_oai *o = &c->oai;
    for (int i = 0; i < c->n_seqs; i++) {
        gen_seq *q = &c->seqs[i];
        for (int k = 0; k < q->n_otoks; k++) oai_tok_free(&q->otoks[k]);
        free(q->otoks);
        for (int k = 0; k < q->n_ptoks; k++) oai_tok_free(&q->ptoks[k]);
        free(q->ptoks);
        oai_tools_free(q);
    }
    for (int p = 0; p < o->n_prompts && o->prompts; p++) free(o->prompts[p]);
    free(o->prompts);
    free(o->n_prompt);
    free(o->echo_at);
    free(o->n_echo);
    free(o->stop_ids);
    free(o->max_new);
    free(o->text);
    oai_request_free(&o->req);
}
