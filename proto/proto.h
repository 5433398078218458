/*
 * proto.h — the vocabulary shared by every wire protocol ctgi speaks.
 *
 * Owns: borrowed byte strings (proto_str), the error value every parser and
 * validator fills (HTTP status + TGI `error_type` + message), the TGI error
 * envelope `{"error": ..., "error_type": ...}`, SSE framing, and the
 * per-request limits that validation checks against (proto_limits).
 *
 * proto/ does no I/O and never calls the engine: it turns bytes into plain
 * C structs and plain C structs into bytes.  The server decides what to do
 * with both.
 */
#ifndef CTGI_PROTO_H
#define CTGI_PROTO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed byte string; may contain NUL bytes, need not be NUL-terminated. */
typedef struct {
    const char *s;
    size_t len;
} proto_str;

/* Append s[0, n) to the NUL-terminated *out (length *len, capacity *cap;
 * *out may start NULL), doubling from 256 bytes.  false when memory runs
 * out (*out unchanged). */
bool proto_cat(char **out, size_t *len, size_t *cap, const char *s, size_t n);

/* A string literal as a proto_str (length without the terminator). */
#define PROTO_LIT(lit) ((proto_str){(lit), sizeof(lit) - 1})
proto_str proto_cstr(const char *s); /* NULL → {NULL, 0} */

/* Long enough for any of our messages plus a quoted excerpt of a bad value. */
#define PROTO_ERRLEN 1024

/* What went wrong, in the form the HTTP layer answers it.  error_type is a
 * static string (TGI's names: "validation", "overloaded", "generation",
 * "incomplete_generation", "incomplete_generation_stream", "healthcheck",
 * plus ctgi's "invalid_json" for bodies that are not JSON at all).
 * param and code are static strings for OpenAI's envelope (openai.h): the
 * request field at fault and a machine-readable code; NULL (written as
 * null) unless an OpenAI check sets them.  proto_fail resets both. */
typedef struct {
    int status;
    const char *error_type;
    char message[PROTO_ERRLEN];
    const char *param;
    const char *code;
} proto_error;

/* Fill e (if not NULL); always returns false, so `return proto_fail(...)`. */
bool proto_fail(proto_error *e, int status, const char *error_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool proto_vfail(proto_error *e, int status, const char *error_type, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

/* 422 "Input validation error: <message>" — TGI's ValidationError. */
bool proto_invalid(proto_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* TGI's other error kinds with their exact texts (api.md §1.6). */
bool proto_err_overloaded(proto_error *e);                   /* 429 "Model is overloaded" */
bool proto_err_generation(proto_error *e, const char *what); /* 424 "Request failed during generation: …" */
bool proto_err_incomplete(proto_error *e);                   /* 500 "Incomplete generation" */
bool proto_err_incomplete_stream(proto_error *e);            /* 500, as an SSE event */
bool proto_err_unhealthy(proto_error *e);                    /* 503 "unhealthy" */

/* `{"error":"…","error_type":"…"}` as a malloc'd NUL-terminated string
 * (*len its length, len may be NULL); NULL only when memory runs out. */
char *proto_encode_error(const proto_error *e, size_t *len);
/* The same envelope as one SSE event: `data:{…}\n\n`. */
char *proto_sse_error(const proto_error *e, size_t *len);
/* `data:` + json + `\n\n`.  TGI (axum) writes no space after `data:`. */
char *proto_sse_frame(const char *json, size_t json_len, size_t *len);
/* The keep-alive axum sends during long silences: an empty SSE comment. */
#define PROTO_SSE_KEEPALIVE ":\n\n"

/* Per-request limits (TGI's launcher flags).  All counts are tokens or items. */
typedef struct {
    uint32_t max_concurrent_requests; /* admission; reported by /info */
    uint32_t max_best_of;
    uint32_t max_stop_sequences;
    uint32_t max_top_n_tokens;
    uint32_t max_input_tokens;
    uint32_t max_total_tokens;
    uint32_t max_n; /* OpenAI `n` / `best_of` per prompt (default 16) */
} proto_limits;

/* A LoRA adapter the server serves (ctgi serve --lora-adapters), as /info
 * and /v1/models show it. */
typedef struct {
    const char *id;      /* the name requests select it by */
    const char *path;    /* as given */
    const char *format;  /* "peft" | "gguf" */
    const char *targets; /* "q,k,v,o,gate,up,down" (those it adapts) */
    int rank;
    double alpha;
} proto_adapter;

/* TGI's defaults (128, 2, 4, 5) with max_input_tokens 1023,
 * max_total_tokens 1024 and max_n 16; the server overrides the token limits from the
 * model's context length and its flags. */
proto_limits proto_limits_default(void);

/* The launcher's start-up checks: 0 < max_input_tokens < max_total_tokens,
 * max_best_of >= 1, max_n >= 1, max_top_n_tokens within what the sampler can report.
 * Writes a message naming the flag into err (PROTO_ERRLEN bytes). */
bool proto_limits_check(const proto_limits *l, char *err);

#endif
