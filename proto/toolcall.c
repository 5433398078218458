/*
 * toolcall.c — the face of tool-call parsing (toolcall.h): which format a
 * chat template speaks (and the note for templates that ignore tools),
 * call ids, tc_parse and tc_stream.  Both parsers run
 * the same machine (toolcall_machine.c); tc_parse is one run over the whole
 * text that may take back a call whose arguments broke, tc_stream keeps
 * the text fed so far and runs the machine over each new piece.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "toolcall_internal.h"

tc_format tc_detect_format(const char *src) {
    if (!src) return TC_GENERIC;
    bool header = strstr(src, "<|start_header_id|>") != NULL;
    if (strstr(src, "<tool_call>")) return TC_HERMES;
    if (header && strstr(src, "<function=")) return TC_GENERIC;
    if (strstr(src, "<|python_tag|>") ||
        (header && (strstr(src, "ipython") || strstr(src, "tools"))))
        return TC_LLAMA3;
    if (strstr(src, "[TOOL_CALLS]") || strstr(src, "[AVAILABLE_TOOLS]")) return TC_MISTRAL;
    return TC_GENERIC;
}

const char *tc_format_name(tc_format f) {
    switch (f) {
    case TC_HERMES: return "hermes";
    case TC_LLAMA3: return "llama3";
    case TC_MISTRAL: return "mistral";
    case TC_GENERIC: break;
    }
    return "generic";
}

bool tc_template_reads_tools(const char *src) { return src && strstr(src, "tools"); }

char *tc_tools_note(const json_t *tools, bool parallel) {
    static const char HEAD[] =
        "You can call tools. To call one, answer with nothing but a JSON object: "
        "{\"tool_call\": {\"name\": \"<tool name>\", \"arguments\": {<its arguments>}}}";
    static const char PARALLEL[] =
        "; to call several at once: {\"tool_calls\": [{\"name\": \"<tool name>\", "
        "\"arguments\": {<its arguments>}}, ...]}";
    static const char TAIL[] = ". Otherwise answer as usual.\n\nTools:";
    size_t len = 0, cap = 0;
    char *out = NULL;
    bool ok = proto_cat(&out, &len, &cap, HEAD, strlen(HEAD)) &&
              (!parallel || proto_cat(&out, &len, &cap, PARALLEL, strlen(PARALLEL))) &&
              proto_cat(&out, &len, &cap, TAIL, strlen(TAIL));
    for (size_t i = 0; ok && i < json_array_size(tools); i++) {
        const json_t *fn = json_object_get(json_array_get(tools, i), "function");
        char *j = json_dumps(fn ? fn : json_array_get(tools, i), JSON_COMPACT | JSON_ENCODE_ANY);
        ok = j && proto_cat(&out, &len, &cap, "\n", 1) && proto_cat(&out, &len, &cap, j, strlen(j));
        free(j);
    }
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* splitmix64 */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tc_make_id(tc_format f, uint64_t *rng, char *out) {
    static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t p = 0, n = 9;
    if (f != TC_MISTRAL) {
        memcpy(out, "call_", 5);
        p = 5;
        n = 24;
    }
    for (size_t i = 0; i < n; i++) out[p++] = ALNUM[next_u64(rng) % 62];
    out[p] = '\0';
}

void tc_events_clear(tc_event *evs, int n) {
    for (int i = 0; i < n; i++) {
        free(evs[i].id);
        free(evs[i].name);
        free(evs[i].text);
    }
}

void tc_result_clear(tc_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_calls; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        free(r->calls[i].arguments);
    }
    free(r->calls);
    free(r->content);
    memset(r, 0, sizeof *r);
}

/* Events → result; the events' strings move into it. */
static bool assemble(tc_event *evs, int n, tc_result *out) {
    int calls = 0;
    for (int i = 0; i < n; i++) calls += evs[i].kind == TC_EV_CALL_OPEN;
    out->calls = calloc(calls ? (size_t)calls : 1, sizeof *out->calls);
    if (!out->calls) return false;
    for (int i = 0; i < n; i++) {
        tc_event *e = &evs[i];
        if (e->kind == TC_EV_CALL_OPEN) {
            tc_call *c = &out->calls[out->n_calls++];
            c->id = e->id;
            c->name = e->name;
            e->id = e->name = NULL;
            continue;
        }
        char **t = e->kind == TC_EV_CONTENT ? &out->content : &out->calls[e->index].arguments;
        size_t have = *t ? strlen(*t) : 0; /* arguments hold no NUL (JSON) */
        if (e->kind == TC_EV_CONTENT) have = out->content_len;
        char *p = realloc(*t, have + e->len + 1);
        if (!p) return false;
        memcpy(p + have, e->text, e->len);
        p[have + e->len] = '\0';
        *t = p;
        if (e->kind == TC_EV_CONTENT) out->content_len += e->len;
    }
    return true;
}

int tc_parse(tc_format f, const char *text, size_t len, uint64_t *rng_state, tc_result *out) {
    memset(out, 0, sizeof *out);
    tc_machine m;
    tcm_init(&m, f, *rng_state, true);
    tc_event *evs = NULL;
    int n = 0, cap = 0;
    tc_sink sink = {&evs, &n, &cap, 0};
    bool ok = tcm_run(&m, text ? text : "", text ? len : 0, true, &sink) && assemble(evs, n, out);
    tcm_free(&m);
    tc_events_clear(evs, n);
    free(evs);
    if (!ok) {
        tc_result_clear(out);
        return -1;
    }
    *rng_state = m.rng;
    return out->n_calls;
}

/* ---- streams ------------------------------------------------------------------ */

struct tc_stream {
    tc_machine m;
    char *buf; /* everything fed so far */
    size_t len, cap;
    bool done;
};

tc_stream *tc_stream_new(tc_format f, uint64_t seed) {
    tc_stream *s = calloc(1, sizeof *s);
    if (s) tcm_init(&s->m, f, seed, false);
    return s;
}

void tc_stream_free(tc_stream *s) {
    if (!s) return;
    tcm_free(&s->m);
    free(s->buf);
    free(s);
}

bool tc_stream_feed(tc_stream *s, const char *text, size_t len, bool final, tc_event **evs, int *n,
                    int *cap) {
    if (s->done) return true;
    if (s->len + len + 1 > s->cap) {
        size_t c = s->cap ? s->cap : 256;
        while (c < s->len + len + 1) c *= 2;
        char *p = realloc(s->buf, c);
        if (!p) return false;
        s->buf = p;
        s->cap = c;
    }
    if (len) memcpy(s->buf + s->len, text, len);
    s->len += len;
    s->buf[s->len] = '\0';
    tc_sink sink = {evs, n, cap, *n};
    s->done = final;
    return tcm_run(&s->m, s->buf, s->len, final, &sink);
}
