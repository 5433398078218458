/*
 * js_internal.h — what the files of the JSON-Schema compiler share
 * (json_schema.c, js_emit.c, js_merge.c, js_object.c, js_string.c,
 * js_pattern.c, js_number.c).  Internal to engine/constraint/.
 *
 * One compilation is one js_ctx.  The regex grows in ctx->out; every
 * compile function appends the regex of one value to it and returns
 *   JS_OK     something was appended (a self-contained piece: it never has a
 *             top-level `|`, so callers may concatenate it or quantify it
 *             after wrapping it in (?: ));
 *   JS_EMPTY  the value can match nothing within the bounds (a `false`
 *             schema, minimum > maximum, a recursion cut at max_depth ...):
 *             nothing was appended, ctx->why says why (first reason wins);
 *   JS_FAIL   an error: ctx->err is set, the whole compilation stops.
 * Appending never fails visibly: out of memory or past the size limit sets
 * ctx->fail (and err) and later appends do nothing; compile functions
 * return JS_FAIL once they see it.
 */
#ifndef CTGI_JS_INTERNAL_H
#define CTGI_JS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_schema.h"

typedef enum { JS_FAIL = -1, JS_OK = 0, JS_EMPTY = 1 } js_st;

#define JS_MAX_REGEX (1u << 20)  /* refuse regexes longer than 1 MiB */
#define JS_MAX_WORK (64u << 20)  /* bytes appended in all, dropped tries included */
#define JS_MAX_REFS 256          /* $ref expansions nested at once */
#define JS_MAX_DEPTH_OPT 32      /* the largest opts->max_depth accepted */
#define JS_MAX_NEST 200          /* schemas compiled inside each other at once (stack) */

/* A $ref being expanded: its target and the container depth it was
 * followed at (a recursion must be deeper than its previous turn). */
typedef struct {
    const json_t *target;
    int depth;
} js_refent;

typedef struct {
    const json_t *root;
    js_opts opts;
    char *err;
    bool fail;
    char *out; /* the regex so far */
    size_t n, cap;
    size_t work;
    char *path; /* JSON pointer of the schema being compiled */
    size_t path_n, path_cap;
    int depth; /* containers (objects, arrays) around the current value */
    int nest;  /* js_compile calls on the stack */
    js_refent refs[JS_MAX_REFS];
    int n_refs;
    json_t *keep; /* schemas made by merging, alive until the end */
    char why[256]; /* the first reason some part matched nothing */
    char *any_memo[JS_MAX_DEPTH_OPT + 2]; /* any-value regex per remaining depth */
} js_ctx;

/* ---- js_emit.c: buffer, escapes, errors, paths, whitespace ---- */
void js_put(js_ctx *c, const char *s);
void js_putn(js_ctx *c, const char *s, size_t n);
void js_putc(js_ctx *c, char ch);
void js_printf(js_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append the regex matching exactly s[0, n) (metacharacters escaped). */
void js_put_lit(js_ctx *c, const char *s, size_t n);
/* Append a code point: as itself, or escaped when inside a class needs it. */
void js_put_cp(js_ctx *c, uint32_t cp, bool in_class);
/* Cut ctx->out back to n bytes (an attempt that came out empty). */
void js_cut(js_ctx *c, size_t n);
/* A copy of out[from, n) (then cut back to from); NULL on failure. */
char *js_take(js_ctx *c, size_t from);
js_st js_fail(js_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
js_st js_empty(js_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The current JSON pointer ("/" for the root). */
const char *js_where(js_ctx *c);
size_t js_path_push(js_ctx *c, const char *seg);
size_t js_path_push_i(js_ctx *c, size_t i);
void js_path_pop(js_ctx *c, size_t len);
/* Set the path to ptr (a $ref's fragment); returns the old one for
 * js_path_restore (NULL after an error). */
char *js_path_swap(js_ctx *c, const char *ptr);
void js_path_restore(js_ctx *c, char *old);

/* Whitespace slots between tokens, per opts->whitespace. */
typedef enum { JS_WS_OPEN, JS_WS_CLOSE, JS_WS_COLON, JS_WS_COMMA } js_ws_slot;
void js_put_ws(js_ctx *c, js_ws_slot slot);

/* Compile schema s (at the current path) and append its regex. */
js_st js_compile(js_ctx *c, const json_t *s);
/* Compile s into a fresh string (nothing left appended); *out NULL unless OK. */
js_st js_compile_str(js_ctx *c, const json_t *s, char **out);
/* Any JSON value nesting at most `levels` containers. */
js_st js_any_value(js_ctx *c, int levels, bool object_only);
/* The levels a free value may still use at the current depth (>= 0). */
int js_levels_left(const js_ctx *c);
/* Keep j alive until the compilation ends (steals the reference). */
const json_t *js_keep(js_ctx *c, json_t *j);

/* Type sets as bit masks. */
enum { JS_T_NULL = 1, JS_T_BOOL = 2, JS_T_OBJ = 4, JS_T_ARR = 8, JS_T_STR = 16, JS_T_INT = 32, JS_T_NUM = 64 };
#define JS_T_ALL 0x7f
/* The types s's "type" allows (every type when absent; "number" includes
 * "integer"); -1 after an error (unknown type name). */
int js_declared_types(js_ctx *c, const json_t *s);
/* The type of JSON value v (a real with an integral value is JS_T_INT). */
int js_value_type(const json_t *v);

/* Keyword kinds: what a keyword constrains. */
typedef enum {
    JS_K_UNKNOWN,
    JS_K_ANNOT,   /* ignored: title, description, $defs ... */
    JS_K_CORE,    /* type, enum, const, $ref, allOf, anyOf, oneOf, nullable */
    JS_K_OBJECT,
    JS_K_ARRAY,
    JS_K_STRING,
    JS_K_NUMBER,
} js_kind;
js_kind js_keyword_kind(const char *key);
/* Every keyword of s known and of the right shape; else false + error. */
bool js_check_keywords(js_ctx *c, const json_t *s);
/* Does s have a keyword other than annotations (and those in `except`,
 * a NULL-terminated list)? */
bool js_constrains(const json_t *s, const char *const *except);

/* s without the keywords in drop, a new object kept alive by c. */
const json_t *js_without(js_ctx *c, const json_t *s, const char *const *drop);
/* Resolve a local $ref ("#", "#/$defs/x", JSON-pointer escapes, %XX);
 * NULL + error naming the ref when it cannot be followed. */
const json_t *js_resolve_ref(js_ctx *c, const char *ref);

/* ---- js_emit.c: JSON values as regexes ---- */
/* Append the regex of JSON value v serialized compactly (whitespace slots
 * between tokens per opts). */
void js_put_value(js_ctx *c, const json_t *v);
/* Append the regex of the JSON string literal of s[0, n) ("..." escaped the
 * way a compact serializer writes it). */
void js_put_string_lit(js_ctx *c, const char *s, size_t n);

/* ---- js_merge.c ---- */
/* The conjunction of schemas parts[0..n) as one schema (top-level $ref and
 * allOf of the parts followed), or NULL + error (JS_FAIL) for keywords that
 * cannot be merged.  The result is kept alive by c. */
const json_t *js_merge(js_ctx *c, const json_t *const *parts, size_t n);
/* Can no value that the compiled branch `a` generates validate against b?
 * Conservative: false when not provable. */
bool js_disjoint(js_ctx *c, const json_t *a, const json_t *b);
/* Make object branches of a oneOf exclusive where cheap: each stops
 * generating the names another branch requires (br[i] replaced by a
 * stricter merged schema).  false after an error. */
bool js_oneof_exclusive(js_ctx *c, const json_t **br, size_t n);

/* ---- js_object.c ---- */
js_st js_compile_object(js_ctx *c, const json_t *s);
js_st js_compile_array(js_ctx *c, const json_t *s);

/* ---- js_string.c ---- */
js_st js_compile_string(js_ctx *c, const json_t *s);
/* The regex of one JSON-string character (one code point, raw or escaped). */
extern const char JS_STR_CHAR[];
/* The regex of any JSON string literal. */
extern const char JS_STR_ANY[];

/* ---- js_pattern.c ---- */
typedef struct {
    size_t min_len, max_len; /* code points of the decoded strings (max SIZE_MAX: unbounded) */
    bool single;             /* the pattern is one one-character atom, maybe quantified */
    char *atom;              /* when single: the atom's regex (malloc'd) */
    size_t q_min, q_max;     /* when single: its repetition (1,1 when none) */
} js_pattern_info;
/* Append the regex of the JSON string CONTENTS (between the quotes) whose
 * decoded text fully matches ECMAScript pattern p; false + error (set via
 * js_fail) for constructs outside the supported subset. */
bool js_put_pattern(js_ctx *c, const char *p, js_pattern_info *info);

/* ---- js_number.c ---- */
js_st js_compile_integer(js_ctx *c, const json_t *s);
js_st js_compile_number(js_ctx *c, const json_t *s);
/* The regex of integers in [lo, hi] (|lo|, |hi| < 10^16). */
void js_put_int_range(js_ctx *c, int64_t lo, int64_t hi);
/* Shortest decimal text that reads back as d ("%.17g" at most). */
void js_fmt_double(double d, char *buf, size_t cap);

/* The next code point of valid UTF-8 at *p (jansson checked the text);
 * *p moves past it. */
static inline uint32_t js_utf8_next(const unsigned char **p) {
    const unsigned char *s = *p;
    uint32_t cp;
    int n;
    if (s[0] < 0x80) cp = s[0], n = 1;
    else if (s[0] < 0xe0) cp = s[0] & 0x1f, n = 2;
    else if (s[0] < 0xf0) cp = s[0] & 0x0f, n = 3;
    else cp = s[0] & 0x07, n = 4;
    for (int i = 1; i < n; i++) cp = cp << 6 | (s[i] & 0x3f);
    *p = s + n;
    return cp;
}

#endif
