/*
 * log.h — the server's log: one line per HTTP request (route, status,
 * prompt and generated tokens, queue and inference time) and free-form
 * lines for start-up and shutdown; plain text, or one JSON object per line
 * with --json-output.  Lines go to stderr, each written with one call.
 */
#ifndef CTGI_LOG_H
#define CTGI_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *method;
    const char *path;
    int status;
    const char *outcome;     /* "ok", "cancelled", "error", "overloaded", … */
    int prompt_tokens;       /* -1 = not applicable */
    int generated_tokens;    /* -1 = not applicable */
    const char *finish_reason; /* NULL = none */
    double queue_seconds, inference_seconds, total_seconds;
    const char *adapter;     /* the LoRA adapter's name, NULL = the base (not logged) */
} log_request;

void log_request_line(bool json, const log_request *r);

/* level: "INFO" | "WARN" | "ERROR".  A message, plus (json only) extra
 * fields given as a JSON object text (NULL for none). */
void log_line(bool json, const char *level, const char *fields_json, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copy in to out (at most cap bytes with the NUL; cut at a whole
 * character) with what could fool a log reader written as \xNN: invalid
 * UTF-8 and C1 controls always; control bytes and DEL unless LOG_ESC_JSON
 * (jansson escapes those); space, '"' and '\\' too with LOG_ESC_FIELD.
 * Returns the length written. */
#define LOG_ESC_JSON 1u
#define LOG_ESC_FIELD 2u
size_t log_escape(const char *in, char *out, size_t cap, unsigned mode);

#endif
