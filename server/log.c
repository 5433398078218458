/*
 * log.c — request and event log lines (see log.h).  JSON lines are built
 * with jansson; text lines are `<UTC time> <LEVEL> <message>`.
 *
 * Text that may come from a client (paths, methods, messages that echo a
 * request) is escaped before it is written: a byte that could end a line,
 * drive a terminal or break the line's format becomes `\xNN` (text lines:
 * control bytes, DEL, C1 controls, invalid UTF-8, and in key=value fields
 * also space, `"` and `\`; JSON lines: invalid UTF-8 and C1 controls, the
 * rest is JSON's own escaping).
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

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid. */
static size_t utf8_len(const unsigned char *p) {
    unsigned c = p[0];
    size_t n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

size_t log_escape(const char *in, char *out, size_t cap, unsigned mode) {
    static const char HEX[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    if (cap == 0) return 0;
    while (*p) {
        size_t n = utf8_len(p);
        bool c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
        bool esc = n == 0 || c1 || (n == 1 && (mode & LOG_ESC_JSON) == 0 && (*p < 0x20 || *p == 0x7f)) ||
                   (n == 1 && (mode & LOG_ESC_FIELD) && (*p == ' ' || *p == '"' || *p == '\\'));
        size_t k = esc ? (c1 ? 8 : 4) : n;
        if (o + k + 1 > cap) break;
        if (!esc) {
            memcpy(out + o, p, n);
        } else {
            for (size_t i = 0; i < (c1 ? 2u : 1u); i++) {
                out[o + 4 * i] = '\\';
                out[o + 4 * i + 1] = 'x';
                out[o + 4 * i + 2] = HEX[p[i] >> 4];
                out[o + 4 * i + 3] = HEX[p[i] & 15];
            }
        }
        o += k;
        p += n ? n : 1;
    }
    out[o] = '\0';
    return o;
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
    char safe[4 * sizeof msg];
    log_escape(msg, safe, sizeof safe, json ? LOG_ESC_JSON : 0);
    if (!json) {
        fprintf(stderr, "%s %s %s\n", ts, level, safe);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:s}", "timestamp", ts, "level", level, "message", safe);
    json_t *f = fields_json ? json_loads(fields_json, 0, NULL) : NULL;
    if (o && f) json_object_set(o, "fields", f);
    json_decref(f);
    if (o) emit_json(o);
}

void log_request_line(bool json, const log_request *r) {
    char ts[40], method[64], path[512];
    timestamp(ts, sizeof ts);
    unsigned mode = json ? LOG_ESC_JSON : LOG_ESC_FIELD;
    log_escape(r->method, method, sizeof method, mode);
    log_escape(r->path, path, sizeof path, mode);
    char adapter[256] = "";
    if (r->adapter) log_escape(r->adapter, adapter, sizeof adapter, mode);
    if (!json) {
        char toks[64] = "";
        if (r->prompt_tokens >= 0)
            snprintf(toks, sizeof toks, " prompt_tokens=%d generated_tokens=%d", r->prompt_tokens,
                     r->generated_tokens);
        fprintf(stderr,
                "%s INFO request method=%s path=%s status=%d outcome=%s%s%s%s%s%s queue_ms=%.1f "
                "inference_ms=%.1f total_ms=%.1f\n",
                ts, method, path, r->status, r->outcome, toks, r->finish_reason ? " finish=" : "",
                r->finish_reason ? r->finish_reason : "", r->adapter ? " adapter=" : "", adapter,
                r->queue_seconds * 1e3, r->inference_seconds * 1e3, r->total_seconds * 1e3);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "timestamp", ts, "level", "INFO", "message",
                          "request", "method", method, "path", path, "status", r->status, "outcome",
                          r->outcome);
    if (!o) return;
    if (r->prompt_tokens >= 0) {
        json_object_set_new(o, "prompt_tokens", json_integer(r->prompt_tokens));
        json_object_set_new(o, "generated_tokens", json_integer(r->generated_tokens));
    }
    if (r->finish_reason) json_object_set_new(o, "finish_reason", json_string(r->finish_reason));
    if (r->adapter) json_object_set_new(o, "adapter", json_string(adapter));
    json_object_set_new(o, "queue_ms", json_real(r->queue_seconds * 1e3));
    json_object_set_new(o, "inference_ms", json_real(r->inference_seconds * 1e3));
    json_object_set_new(o, "total_ms", json_real(r->total_seconds * 1e3));
    emit_json(o);
}
