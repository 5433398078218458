/*
 * log.c — request and event log lines (see log.h).  JSON lines are built
 * with jansson; text lines are `<UTC time> <LEVEL> <message>`.
 */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static void timestamp(char *out, size_t cap) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%06ldZ", (long)tv.tv_usec);
}

static void emit_json(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        size_t n = strlen(s);
        s[n] = '\n';
        fwrite(s, 1, n + 1, stderr); /* one write per line (stderr is unbuffered) */
        free(s);
    }
    json_decref(o);
}

void log_line(bool json, const char *level, const char *fields_json, const char *fmt, ...) {
    char ts[40], msg[1024];
    timestamp(ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!json) {
        fprintf(stderr, "%s %s %s\n", ts, level, msg);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:s}", "timestamp", ts, "level", level, "message", msg);
    json_t *f = fields_json ? json_loads(fields_json, 0, NULL) : NULL;
    if (o && f) json_object_set(o, "fields", f);
    json_decref(f);
    if (o) emit_json(o);
}

void log_request_line(bool json, const log_request *r) {
    char ts[40];
    timestamp(ts, sizeof ts);
    if (!json) {
        char toks[64] = "";
        if (r->prompt_tokens >= 0)
            snprintf(toks, sizeof toks, " prompt_tokens=%d generated_tokens=%d", r->prompt_tokens,
                     r->generated_tokens);
        fprintf(stderr,
                "%s INFO request method=%s path=%s status=%d outcome=%s%s%s%s queue_ms=%.1f "
                "inference_ms=%.1f total_ms=%.1f\n",
                ts, r->method, r->path, r->status, r->outcome, toks, r->finish_reason ? " finish=" : "",
                r->finish_reason ? r->finish_reason : "", r->queue_seconds * 1e3, r->inference_seconds * 1e3,
                r->total_seconds * 1e3);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "timestamp", ts, "level", "INFO", "message",
                          "request", "method", r->method, "path", r->path, "status", r->status, "outcome",
                          r->outcome);
    if (!o) return;
    if (r->prompt_tokens >= 0) {
        json_object_set_new(o, "prompt_tokens", json_integer(r->prompt_tokens));
        json_object_set_new(o, "generated_tokens", json_integer(r->generated_tokens));
    }
    if (r->finish_reason) json_object_set_new(o, "finish_reason", json_string(r->finish_reason));
    json_object_set_new(o, "queue_ms", json_real(r->queue_seconds * 1e3));
    json_object_set_new(o, "inference_ms", json_real(r->inference_seconds * 1e3));
    json_object_set_new(o, "total_ms", json_real(r->total_seconds * 1e3));
    emit_json(o);
}
