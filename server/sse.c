/*
 * sse.c — a streaming answer as TGI emits it: one `data:{StreamResponse}`
 * event per token (framed by proto's encoders), the last one carrying
 * `generated_text` and `details`; an error after the stream started as an
 * error event; a `:` comment after --sse-keep-alive seconds of silence
 * (long prefills, a long queue); headers Content-Type text/event-stream,
 * Cache-Control no-cache, X-Accel-Buffering no.
 *
 * Owns: the conn's unsent bytes and the MHD content reader that hands them
 * out.  A reader with nothing to send parks the connection (returning 0
 * without suspending makes MHD spin, runtime-notes P3); new bytes resume
 * it.  A client that stops reading has its backlog capped
 * (--max-stream-backlog) and is dropped beyond it.
 *
 * The last token.  TGI's last event is the last token itself, but the
 * engine queues FINAL as a separate event after the token.  A token that
 * could be the last (the token budget reached, an EOS id, the text now
 * ending in a stop string — exactly the engine's three reasons to finish)
 * is held until the next event says which it was; every other token goes
 * out at once, so streaming adds no latency.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"

bool srv_grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    char *b = realloc(*buf, nc);
    if (!b) return false;
    *buf = b;
    *cap = nc;
    return true;
}

void sse_append(conn *c, const char *bytes, size_t n) {
    if (c->gone) return;
    if (c->out_pos > 0 && c->out_pos == c->out_len) c->out_pos = c->out_len = 0;
    if (c->out_len - c->out_pos + n > c->s->cfg.max_stream_backlog || !srv_grow(&c->out, &c->out_cap, c->out_len + n)) {
        log_line(c->s->cfg.json_output, "WARN", NULL, "%s: client not reading (%zu bytes unsent): dropped",
                 c->path, c->out_len - c->out_pos);
        c->gone = true;
        gen_cancel(c, true);
    } else {
        memcpy(c->out + c->out_len, bytes, n);
        c->out_len += n;
    }
    c->last_write = srv_now();
    conn_resume(c); /* no-op unless parked; the wake callback drives MHD */
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
    conn *c = cls;
    if (c->gone) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t avail = c->out_len - c->out_pos;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, c->out + c->out_pos, n);
        c->out_pos += n;
        return (ssize_t)n;
    }
    if (c->stream_done) return MHD_CONTENT_READER_END_OF_STREAM;
    conn_suspend(c);
    return 0;
}

static void reader_free(void *cls) { conn_unref(cls); }

struct MHD_Response *sse_response(conn *c) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, c, reader_free);
    if (!r) return NULL;
    c->refs++; /* the reader's, dropped by reader_free */
    resp_add_cors(c, r);
    char chars[32];
    snprintf(chars, sizeof chars, "%zu", gen_compute_characters(c));
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    MHD_add_response_header(r, "x-compute-type", c->s->cfg.compute_type);
    MHD_add_response_header(r, "x-compute-characters", chars);
    c->last_write = srv_now();
    return r;
}

/* ---- events ------------------------------------------------------------------------------ */

static void emit(conn *c, const gen_tok *t, bool last) {
    tgi_stream_event e = {.index = ++c->index, .token = t->g, .last = last};
    char *text = NULL;
    if (last) {
        const gen_seq *q = &c->seqs[0];
        size_t len = 0;
        text = gen_full_text(c, &q->fin, &len);
        e.generated_text = (proto_str){text ? text : "", text ? len : 0};
        e.details = c->req.p.details;
        e.finish = gen_finish(c, q);
        e.input_length = (uint32_t)c->n_prompt;
    }
    size_t n;
    char *ev = tgi_encode_stream_event(&e, &n);
    if (ev) sse_append(c, ev, n);
    free(ev);
    free(text);
}

static bool ends_with(const char *s, size_t n, const char *suffix, size_t k) {
    return k > 0 && k <= n && memcmp(s + n - k, suffix, k) == 0;
}

/* Could t be the last token (see the file comment)? */
static bool may_be_last(const conn *c, const gen_tok *t) {
    const gen_seq *q = &c->seqs[0];
    if ((uint32_t)q->n_toks >= c->lens.max_new_tokens) return true;
    if (model_is_eos(c->s->m, t->g.token.id)) return true;
    for (int i = 0; i < c->req.p.n_stop; i++)
        if (ends_with(c->text, c->text_len, c->req.p.stop[i], c->req.p.stop_len[i])) return true;
    return false;
}

void sse_token(conn *c, gen_tok *t) {
    if (c->has_held) {
        emit(c, &c->held, false);
        gen_tok_free(&c->held);
        c->has_held = false;
    }
    if (!t->g.token.special) { /* the engine's text skips special tokens */
        size_t n = t->g.token.text.len;
        if (srv_grow(&c->text, &c->text_cap, c->text_len + n + 1)) {
            memcpy(c->text + c->text_len, t->g.token.text.s, n);
            c->text_len += n;
        }
    }
    if (may_be_last(c, t)) {
        c->held = *t;
        c->has_held = true;
        memset(t, 0, sizeof *t);
        return;
    }
    emit(c, t, false);
    gen_tok_free(t);
}

void sse_final(conn *c) {
    c->finished = true;
    c->stream_done = true;
    if (c->has_held) {
        emit(c, &c->held, true);
        gen_tok_free(&c->held);
        c->has_held = false;
        metrics_req mr;
        gen_success(c, &c->seqs[0], &mr);
        return;
    }
    /* cannot happen with the engine's three finish reasons; say so rather
     * than end without the final event */
    log_line(c->s->cfg.json_output, "ERROR", NULL, "%s: stream ended without a final token", c->path);
    proto_error e;
    proto_err_incomplete_stream(&e);
    metrics_fail(c->s->met, MF_INCOMPLETE);
    size_t n;
    char *ev = proto_sse_error(&e, &n);
    if (ev) sse_append(c, ev, n);
    free(ev);
}

void sse_error(conn *c, const proto_error *e) {
    if (c->has_held) {
        emit(c, &c->held, false);
        gen_tok_free(&c->held);
        c->has_held = false;
    }
    size_t n;
    char *ev = c->api == API_OAI    ? oai_sse_error(e, &n)
               : c->api == API_LCPP ? lcpp_encode_error(e, true, &n)
                                    : proto_sse_error(e, &n);
    if (ev) sse_append(c, ev, n);
    free(ev);
    if (c->api == API_OAI) sse_append(c, OAI_SSE_DONE, sizeof OAI_SSE_DONE - 1);
    c->finished = true;
    c->stream_done = true;
    conn_resume(c);
}

void sse_keepalive(srv *s) {
    double now = srv_now(), gap = s->cfg.sse_keep_alive;
    /* c->queued first: while a conn's work runs on a libuv worker, the
     * worker writes c->stream (gen.c), and nothing is queued before
     * after_work */
    for (conn *c = s->active; c; c = c->next_active)
        if (c->queued && c->stream && !c->stream_done && !c->gone && now - c->last_write >= gap)
            sse_append(c, PROTO_SSE_KEEPALIVE, sizeof PROTO_SSE_KEEPALIVE - 1);
}

void sse_free(conn *c) {
    gen_tok_free(&c->held);
    free(c->out);
    free(c->text);
}
