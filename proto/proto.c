/*
 * proto.c — error values and their envelopes, SSE framing, and the limits
 * every protocol validates against (see proto.h).
 */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "sampling/sampler_params.h"

proto_str proto_cstr(const char *s) { return (proto_str){s, s ? strlen(s) : 0}; }

bool proto_vfail(proto_error *e, int status, const char *error_type, const char *fmt,
                 va_list ap) {
    if (!e) return false;
    e->status = status;
    e->error_type = error_type;
    e->param = NULL;
    e->code = NULL;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    return false;
}

bool proto_fail(proto_error *e, int status, const char *error_type, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    proto_vfail(e, status, error_type, fmt, ap);
    va_end(ap);
    return false;
}

bool proto_invalid(proto_error *e, const char *fmt, ...) {
    if (!e) return false;
    /* TGI's InferError::ValidationError displays as "Input validation error: {0}" */
    char what[PROTO_ERRLEN - 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return proto_fail(e, 422, "validation", "Input validation error: %s", what);
}

bool proto_err_overloaded(proto_error *e) {
    return proto_fail(e, 429, "overloaded", "Model is overloaded");
}

bool proto_err_generation(proto_error *e, const char *what) {
    return proto_fail(e, 424, "generation", "Request failed during generation: %s", what);
}

bool proto_err_incomplete(proto_error *e) {
    return proto_fail(e, 500, "incomplete_generation", "Incomplete generation");
}

bool proto_err_incomplete_stream(proto_error *e) {
    return proto_fail(e, 500, "incomplete_generation_stream", "Incomplete generation stream");
}

bool proto_err_unhealthy(proto_error *e) {
    return proto_fail(e, 503, "healthcheck", "unhealthy");
}

static void write_error(jw *w, const proto_error *e) {
    jw_obj_begin(w);
    jw_key(w, "error");
    jw_cstr(w, e->message);
    jw_key(w, "error_type");
    jw_cstr(w, e->error_type ? e->error_type : "");
    jw_obj_end(w);
}

char *proto_encode_error(const proto_error *e, size_t *len) {
    jw w;
    jw_init(&w);
    write_error(&w, e);
    return jw_finish(&w, len);
}

char *proto_sse_error(const proto_error *e, size_t *len) {
    jw w;
    jw_init(&w);
    jw_raw(&w, "data:", 5);
    write_error(&w, e);
    jw_raw(&w, "\n\n", 2);
    return jw_finish(&w, len);
}

char *proto_sse_frame(const char *json, size_t json_len, size_t *len) {
    char *out = malloc(json_len + 8);
    if (!out) return NULL;
    memcpy(out, "data:", 5);
    memcpy(out + 5, json, json_len);
    memcpy(out + 5 + json_len, "\n\n", 3); /* with the terminator */
    if (len) *len = json_len + 7;
    return out;
}

proto_limits proto_limits_default(void) {
    return (proto_limits){
        .max_concurrent_requests = 128,
        .max_best_of = 2,
        .max_stop_sequences = 4,
        .max_top_n_tokens = 5,
        .max_input_tokens = 1023,
        .max_total_tokens = 1024,
        .max_n = 16,
    };
}

bool proto_limits_check(const proto_limits *l, char *err) {
    const char *msg = NULL;
    char buf[PROTO_ERRLEN];
    if (l->max_concurrent_requests == 0) msg = "`--max-concurrent-requests` must be at least 1";
    else if (l->max_best_of == 0) msg = "`--max-best-of` must be at least 1";
    else if (l->max_n == 0) msg = "`--max-n` must be at least 1";
    else if (l->max_input_tokens == 0) msg = "`--max-input-tokens` must be at least 1";
    else if (l->max_input_tokens >= l->max_total_tokens) {
        /* the launcher's rule: a prompt must leave room for one new token */
        snprintf(buf, sizeof buf,
                 "`--max-input-tokens` must be < `--max-total-tokens`. Given: %u and %u",
                 l->max_input_tokens, l->max_total_tokens);
        msg = buf;
    } else if (l->max_top_n_tokens > SAMPLER_MAX_TOP_N) {
        snprintf(buf, sizeof buf, "`--max-top-n-tokens` must be <= %d. Given: %u",
                 SAMPLER_MAX_TOP_N, l->max_top_n_tokens);
        msg = buf;
    }
    if (!msg) return true;
    if (err) snprintf(err, PROTO_ERRLEN, "%s", msg);
    return false;
}

bool proto_cat(char **out, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *p = realloc(*out, c);
        if (!p) return false;
        *out = p;
        *cap = c;
    }
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = '\0';
    return true;
}
