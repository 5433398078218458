/*
 * toolcall_internal.h — what the toolcall*.c files share and nobody else
 * needs: a strict incremental JSON scanner (one byte at a time, reporting
 * where values begin and end) and the tool-call machine that both
 * tc_parse and tc_stream run, so that a stream and a whole parse take the
 * same decisions byte for byte.
 */
#ifndef CTGI_TOOLCALL_INTERNAL_H
#define CTGI_TOOLCALL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toolcall.h"

/* ---- the JSON scanner (toolcall_json.c) ----------------------------------------
 *
 * RFC 8259 exactly: no comments, no trailing commas, no raw control bytes
 * in strings, \u escapes with paired surrogates, strings valid UTF-8 (no
 * overlong forms, no surrogates, <= U+10FFFF).  \u0000 is accepted (it is
 * valid JSON).  A value's depth is the number of containers around it (the
 * root is 0; a member of the root object is 1).  Events, in text order:
 *   TJ_BEGIN  a value starts: a = its first byte's offset, b = that byte;
 *   TJ_END    a value ends:   a = the offset just past it (a number ends at
 *             the byte after it, which is then read as the next token);
 *   TJ_KEY    an object key was read: [a, b) is the key with its quotes;
 *             depth is the depth of the member's value.
 * The callback returns false to stop the scan (TJ_STOP). */
#define TJ_MAX_DEPTH 128

typedef enum { TJ_BEGIN, TJ_END, TJ_KEY } tj_event;
typedef enum {
    TJ_TAKEN, /* the byte was consumed */
    TJ_LEFT,  /* the root value was already complete: the byte is not JSON's */
    TJ_BAD,   /* the byte cannot continue the JSON text */
    TJ_STOP,  /* the callback said stop */
} tj_result;

typedef bool (*tj_cb)(void *ctx, tj_event ev, int depth, size_t a, size_t b);

typedef struct {
    uint8_t stack[TJ_MAX_DEPTH]; /* '{' or '[' per open container */
    int depth;
    uint8_t state, sub;
    bool key;      /* the string being read is an object key */
    bool want_low; /* a \uD800-\uDBFF escape awaits its low half */
    uint8_t utf_need, utf_lo, utf_hi;
    uint16_t u;
    size_t str_start;
} tj;

void tj_reset(tj *j);
tj_result tj_step(tj *j, const char *buf, size_t pos, tj_cb cb, void *ctx);
bool tj_done(const tj *j); /* the root value is complete */
/* s[0, n) is exactly one JSON object (no surrounding whitespace). */
bool tj_is_object(const char *s, size_t n);

/* ---- the machine (toolcall_machine.c) ------------------------------------------ */

/* Where events go: an array the caller owns; events below `floor` were
 * handed out already and are never merged into. */
typedef struct {
    tc_event **evs;
    int *n, *cap;
    int floor;
} tc_sink;

typedef struct {
    bool active, committed, accepted;
    int key;                 /* the member whose value is being read */
    bool have_name, have_args, have_type, args_obj, args_open;
    size_t val_a;            /* where the member's (string) value began */
    size_t args_a, args_b;   /* the arguments object's bytes, when it is one */
    size_t args_sent;        /* arguments bytes sent so far (up to) */
    char *name;              /* decoded */
    char *args_str;          /* arguments given as a JSON string: its decoded text */
    size_t args_str_len;
    int index, ev_mark;      /* the call's index, the event count before it opened */
    uint64_t rng_mark;       /* the generator before its id was drawn */
} tc_callst;

typedef struct {
    size_t restart;   /* content resumes here when the region yields no call */
    int calls;        /* calls of this region accepted (in a stream: opened) */
    int dc;           /* depth of the call objects (see toolcall_machine.c) */
    bool args_tag;    /* mistral v11: [ARGS] was read after the name */
    size_t name_a;    /* mistral v11: where the name began */
} tc_region;

typedef struct {
    tc_format f;
    bool retract;     /* tc_parse: a call that breaks after it opened is taken back */
    uint64_t rng;
    int n_calls;      /* the next call's index */
    int mode;
    size_t pos;       /* next byte to read */
    bool at_start;    /* nothing but whitespace read yet (LLAMA3 / GENERIC '{' trigger) */
    bool after_call;  /* whitespace right after a call is dropped */
    char *ws;         /* whitespace held back: dropped if a call follows */
    size_t ws_len, ws_cap;
    tj j;
    tc_region r;
    tc_callst c;
    /* per run */
    const char *buf;
    size_t len;
    bool final, oom;
    tc_sink *out;
} tc_machine;

void tcm_init(tc_machine *m, tc_format f, uint64_t seed, bool retract);
void tcm_free(tc_machine *m);
/* Read buf[m->pos, len) (buf holds everything fed so far; it may have
 * moved since the last run), appending events.  false on out of memory. */
bool tcm_run(tc_machine *m, const char *buf, size_t len, bool final, tc_sink *out);

/* ---- shared helpers (toolcall.c) ---------------------------------------------------- */

/* The next id of format f from *rng ("call_" + 24, or 9 for TC_MISTRAL,
 * alphanumerics).  out holds >= 32 bytes. */
void tc_make_id(tc_format f, uint64_t *rng, char *out);

#endif
