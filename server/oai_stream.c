/*
 * oai_stream.c — an OpenAI answer streamed over SSE: `data: {chunk}\n\n`
 * events and `data: [DONE]` at the end (the bytes and the connection are
 * sse.c's).
 *
 * Chat: every choice opens with {"role":"assistant","content":""} as soon
 * as the request is admitted (the openai client's .stream() helper needs
 * the role first), then one {"content":…} delta per token that released
 * text — or per token when logprobs were asked for, each carrying its
 * token's logprob — then {} with the finish_reason.  Completions: an echo
 * chunk first when asked for, then the text pieces, then the finish chunk
 * with empty text.  With stream_options.include_usage, every chunk carries
 * "usage":null and a last chunk with empty choices carries the usage.
 *
 * The engine holds back text that could still begin a stop string and
 * never releases a stop string itself (stop_exclude), so a delta here is
 * always text the client keeps.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

void oai_stream_put(conn *c, const oai_delta *d) {
    oai_meta m = oai_meta_of(c);
    const oai_request *r = &c->oai.req;
    size_t n;
    char *ev = r->kind == OAI_CHAT ? oai_encode_chat_chunk(&m, d, r->include_usage, &n)
                                   : oai_encode_completion_chunk(&m, d, r->include_usage, &n);
    if (ev) sse_append(c, ev, n);
    free(ev);
}

void oai_stream_begin(conn *c) {
    const oai_request *r = &c->oai.req;
    for (int i = 0; i < c->n_seqs; i++) {
        gen_seq *q = &c->seqs[i];
        if (r->kind == OAI_CHAT) {
            oai_delta d = {.index = (uint32_t)i, .role = true, .has_content = true, .content = {"", 0}};
            oai_stream_put(c, &d);
        } else if (r->echo) {
            size_t len = 0;
            char *t = oai_echo_text(c, q->prompt, &len);
            if (!t) continue;
            oai_delta d = {.index = (uint32_t)i, .has_content = true, .content = {t, len}};
            oai_stream_put(c, &d);
            q->n_chars += oai_utf8_chars(t, len);
            free(t);
        }
    }
}

static uint32_t index_of(const conn *c, const gen_seq *q) { return (uint32_t)(q - c->seqs); }

void oai_stream_token(conn *c, gen_seq *q, const engine_token *et) {
    bool lp = c->oai.req.logprobs;
    if (et->text_len == 0 && !lp) return;
    oai_tok t = {0};
    if (lp && !oai_tok_from_event(c->s->m, et, &t)) {
        oai_tok_free(&t);
        lp = false; /* out of memory: the text still goes out */
        if (et->text_len == 0) return;
    }
    oai_delta d = {.index = index_of(c, q), .has_content = true, .content = {et->text, et->text_len},
                   .logprobs = lp, .tokens = lp ? &t.lp : NULL, .n_tokens = lp ? 1 : 0,
                   .text_offset = q->n_chars};
    oai_stream_put(c, &d);
    q->n_chars += oai_utf8_chars(et->text, et->text_len);
    oai_tok_free(&t);
}

void oai_stream_final(conn *c, gen_seq *q) {
    oai_finish f = c->oai.tools_on ? oai_tools_stream_final(c, q) : oai_finish_of(q->fin.reason);
    oai_delta d = {.index = index_of(c, q),
                   .finish = f,
                   .has_content = c->oai.req.kind == OAI_COMPLETION, .content = {"", 0}};
    oai_stream_put(c, &d);
    if (c->n_ended < c->n_seqs) return;
    if (c->oai.req.include_usage) {
        oai_usage u = oai_usage_of(c);
        oai_meta m = oai_meta_of(c);
        size_t n;
        char *ev = oai_encode_usage_chunk(c->oai.req.kind, &m, &u, &n);
        if (ev) sse_append(c, ev, n);
        free(ev);
    }
    sse_append(c, OAI_SSE_DONE, sizeof OAI_SSE_DONE - 1);
    metrics_req mr;
    gen_success(c, &c->seqs[0], &mr);
    c->finished = true;
    c->stream_done = true;
}
