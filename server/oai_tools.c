/*
 * oai_tools.c — OpenAI tool calling on a chat request: the server's half
 * (proto/toolcall.h has the formats, parsers and constraints).
 *
 * On the validation worker: which tool-call format the chat template
 * speaks (once per request, from its source), the `tools` the template is
 * rendered with, a system note listing the tools when the template ignores
 * them, and — for tool_choice "required" or a named function — the
 * constraint that forces a well-formed call.  While tokens arrive: each
 * sequence keeps the text the parser must see (control tokens such as
 * [TOOL_CALLS] or <|python_tag|> included, EOS left out) and, when
 * streaming, feeds it to a tc_stream whose events become content and
 * tool-call deltas.  At the end: tc_parse of that text gives the message's
 * content and tool_calls, and finish_reason "tool_calls" when there are
 * calls.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* ---- the request ----------------------------------------------------------------------- */

/* messages with the tools note added to the system message (a new system
 * message first when there is none).  A new reference, NULL on OOM. */
static json_t *with_note(const json_t *messages, const char *note) {
    json_t *out = json_deep_copy(messages);
    if (!out) return NULL;
    json_t *first = json_array_get(out, 0);
    const char *role = json_string_value(json_object_get(first, "role"));
    const char *content = json_string_value(json_object_get(first, "content"));
    if (role && (!strcmp(role, "system") || !strcmp(role, "developer")) && content) {
        size_t a = strlen(content), b = strlen(note);
        char *s = malloc(a + b + 3);
        if (!s) goto oom;
        memcpy(s, content, a);
        memcpy(s + a, "\n\n", 2);
        memcpy(s + a + 2, note, b + 1);
        int rc = json_object_set_new(first, "content", json_string(s));
        free(s);
        if (rc) goto oom;
        return out;
    }
    json_t *sys = json_pack("{s:s, s:s}", "role", "system", "content", note);
    if (!sys || json_array_insert_new(out, 0, sys)) goto oom;
    return out;
oom:
    json_decref(out);
    return NULL;
}

bool oai_tools_prepare(conn *c, chat_render_opts *opt, json_t **messages) {
    conn_oai *o = &c->oai;
    const char *src = chat_template_source(c->s->ct);
    *messages = NULL;
    opt->tools = oai_template_tools(&o->req);
    o->tools_on = opt->tools != NULL;
    if (!o->tools_on) return true;
    o->fmt = tc_detect_format(src);
    if (tc_template_reads_tools(src)) return true;
    /* the template never shows the tools: tell the model in the generic format */
    o->fmt = TC_GENERIC;
    char *note = tc_tools_note(opt->tools, o->req.parallel_tool_calls);
    *messages = note ? with_note(o->req.messages, note) : NULL;
    free(note);
    if (!*messages) return proto_fail(&c->err, 500, "generation", "out of memory");
    return true;
}

bool oai_tools_constraint(conn *c, char **regex) {
    conn_oai *o = &c->oai;
    *regex = NULL;
    json_t *forced = oai_forced_tools(&o->req);
    if (!forced) return true;
    char err[CT_ERRLEN];
    *regex = tc_constraint_regex(o->fmt, forced, o->req.parallel_tool_calls, err);
    json_decref(forced);
    if (*regex) return true;
    bool unsupported = strstr(err, "unsupported keyword") != NULL;
    proto_fail(&c->err, unsupported ? 422 : 400, "validation", "%s", err);
    c->err.param = "tools";
    if (unsupported) c->err.code = "unsupported_value";
    return false;
}

/* ---- while tokens arrive ---------------------------------------------------------------- */

static bool append(gen_seq *q, const char *s, size_t n) {
    if (!srv_grow(&q->tool_text, &q->tool_cap, q->tool_len + n + 1)) return false;
    memcpy(q->tool_text + q->tool_len, s, n);
    q->tool_len += n;
    q->tool_text[q->tool_len] = '\0';
    return true;
}

/* The text of a token as the parser sees it: everything but EOS. */
static void token_piece(const conn *c, const engine_token *et, const char **s, size_t *n) {
    bool eos = et->special && model_is_eos(c->s->m, et->id);
    *s = eos ? "" : et->text;
    *n = eos ? 0 : et->text_len;
}

/* Stream the events a feed produced.  With parallel_tool_calls false only
 * the first call goes out (later ones, and text after them, are dropped). */
static void send_events(conn *c, gen_seq *q, tc_event *evs, int n) {
    uint32_t index = (uint32_t)(q - c->seqs);
    for (int i = 0; i < n; i++) {
        const tc_event *e = &evs[i];
        if (!c->oai.req.parallel_tool_calls && q->n_calls_sent > 0 && (e->kind != TC_EV_CALL_ARGS || e->index > 0))
            continue;
        oai_tool_delta td = {(uint32_t)e->index, e->id, e->name, {e->text ? e->text : "", e->text ? e->len : 0}};
        oai_delta d = {.index = index};
        if (e->kind == TC_EV_CONTENT) {
            d.has_content = true;
            d.content = (proto_str){e->text, e->len};
        } else {
            d.tool = &td;
            if (e->kind == TC_EV_CALL_OPEN) {
                td.arguments = (proto_str){"", 0};
                q->n_calls_sent++;
            } else {
                td.id = td.name = NULL;
            }
        }
        oai_stream_put(c, &d);
    }
}

static void feed(conn *c, gen_seq *q, const char *s, size_t n, bool final) {
    if (!q->tcs && !(q->tcs = tc_stream_new(c->oai.fmt, q->seed))) return;
    tc_event *evs = NULL;
    int k = 0, cap = 0;
    if (tc_stream_feed(q->tcs, s, n, final, &evs, &k, &cap)) send_events(c, q, evs, k);
    tc_events_clear(evs, k);
    free(evs);
}

void oai_tools_token(conn *c, gen_seq *q, const engine_token *et) {
    const char *s;
    size_t n;
    token_piece(c, et, &s, &n);
    if (c->stream) feed(c, q, s, n, false);
    else append(q, s, n); /* out of memory: the piece is lost (the answer says less) */
}

/* The stream's end for q: flush the parser; the finish reason says
 * whether calls went out. */
oai_finish oai_tools_stream_final(conn *c, gen_seq *q) {
    feed(c, q, "", 0, true);
    return q->n_calls_sent ? OAI_FINISH_TOOL_CALLS : oai_finish_of(q->fin.reason);
}

/* ---- the answer ------------------------------------------------------------------------- */

bool oai_tools_choice(conn *c, gen_seq *q, oai_choice *ch, tc_result *res) {
    uint64_t seed = q->seed;
    memset(res, 0, sizeof *res);
    if (tc_parse(c->oai.fmt, q->tool_text ? q->tool_text : "", q->tool_len, &seed, res) < 0) return false;
    ch->text = (proto_str){res->content ? res->content : "", res->content ? res->content_len : 0};
    ch->tool_calls = res->calls;
    /* parallel_tool_calls false: the first call only (res still owns them all) */
    ch->n_tool_calls = !c->oai.req.parallel_tool_calls && res->n_calls > 1 ? 1 : res->n_calls;
    if (res->n_calls) ch->finish = OAI_FINISH_TOOL_CALLS;
    return true;
}

void oai_tools_free(gen_seq *q) {
    free(q->tool_text);
    tc_stream_free(q->tcs);
}
