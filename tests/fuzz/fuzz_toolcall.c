/*
 * fuzz_toolcall.c — libFuzzer target: generated text through the tool-call
 * parsers (proto/toolcall.h).
 *
 * Input: byte 0 picks the format (and the id seed), byte 1 how the text is
 * cut into stream pieces, the rest is the model's output.  Checked: every
 * call tc_parse accepts has arguments that parse as a JSON object; the
 * stream of the same text, fed in pieces, gives the same content, calls,
 * arguments and ids — unless a call broke after it opened (the one
 * documented difference), which shows as a stream call whose arguments are
 * not a whole object.  Any difference, crash, leak or sanitizer report is a finding.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toolcall.h"

/* s starts with '{' and its brackets (outside strings) close exactly at
 * its last byte: a whole object, not the prefix a broken stream call has. */
static bool balanced_object(const char *s) {
    size_t n = strlen(s);
    int depth = 0;
    bool str = false, esc = false;
    if (n == 0 || s[0] != '{') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') str = false;
        } else if (c == '"') str = true;
        else if (c == '{' || c == '[') depth++;
        else if ((c == '}' || c == ']') && --depth == 0) return i == n - 1;
    }
    return false;
}

/* s is one JSON object.  Numbers are read as reals (an integer beyond
 * 64 bits is valid JSON, Python and JavaScript read it; jansson's ints
 * cannot), and jansson's overflow on 1e400 in a whole object is taken as
 * valid too. */
static bool is_object_text(const char *s) {
    json_error_t e;
    json_t *v = json_loads(s, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    bool ok = v ? json_is_object(v)
                : strncmp(e.text, "real number overflow", 20) == 0 && balanced_object(s);
    json_decref(v);
    return ok;
}

static bool same(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The stream's events folded into a result (content_len, calls). */
static void fold(const tc_event *e, int n, tc_result *r) {
    for (int i = 0; i < n; i++) {
        if (e[i].kind == TC_EV_CONTENT) {
            r->content = realloc(r->content, r->content_len + e[i].len + 1);
            memcpy(r->content + r->content_len, e[i].text, e[i].len);
            r->content_len += e[i].len;
            r->content[r->content_len] = '\0';
        } else if (e[i].kind == TC_EV_CALL_OPEN) {
            if (e[i].index != r->n_calls) abort(); /* calls open in order */
            r->calls = realloc(r->calls, (size_t)(r->n_calls + 1) * sizeof *r->calls);
            r->calls[r->n_calls++] = (tc_call){strdup(e[i].id), strdup(e[i].name), strdup("")};
        } else {
            if (e[i].index != r->n_calls - 1) abort(); /* only the open call gets arguments */
            tc_call *c = &r->calls[e[i].index];
            size_t have = strlen(c->arguments);
            c->arguments = realloc(c->arguments, have + e[i].len + 1);
            memcpy(c->arguments + have, e[i].text, e[i].len + 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    tc_format f = (tc_format)(data[0] % 4);
    uint64_t seed = data[0], rng = seed;
    unsigned cut = data[1];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;

    tc_result whole;
    if (tc_parse(f, text, len, &rng, &whole) < 0) abort();
    for (int i = 0; i < whole.n_calls; i++)
        if (!is_object_text(whole.calls[i].arguments)) abort();

    tc_stream *s = tc_stream_new(f, seed);
    tc_event *evs = NULL;
    int n = 0, cap = 0;
    size_t at = 0;
    for (size_t k = 0; at < len; k++) { /* pieces of 0..8 bytes; 5 is prime to 9: all occur */
        size_t piece = (cut + k * 5) % 9;
        if (piece > len - at) piece = len - at;
        bool last = (cut & 1) && at + piece == len; /* the end with the last piece, or alone */
        if (!tc_stream_feed(s, text + at, piece, last, &evs, &n, &cap)) abort();
        at += piece;
    }
    if (!tc_stream_feed(s, "", 0, true, &evs, &n, &cap)) abort();
    tc_result streamed = {0};
    fold(evs, n, &streamed);
    bool broke = false;
    for (int i = 0; i < streamed.n_calls; i++) broke |= !balanced_object(streamed.calls[i].arguments);
    if (!broke) {
        if (!same(whole.content, streamed.content) || whole.content_len != streamed.content_len ||
            whole.n_calls != streamed.n_calls)
            abort();
        for (int i = 0; i < whole.n_calls; i++)
            if (!same(whole.calls[i].id, streamed.calls[i].id) ||
                !same(whole.calls[i].name, streamed.calls[i].name) ||
                !same(whole.calls[i].arguments, streamed.calls[i].arguments))
                abort();
    }
    tc_result_clear(&streamed);
    tc_result_clear(&whole);
    tc_events_clear(evs, n);
    free(evs);
    tc_stream_free(s);
    return 0;
}
