/*
 * jinja_internal.h — the shared vocabulary of the jinja_*.c files: the
 * arena every template tree and every rendered value lives in, the value
 * type (jv), the syntax tree (jnode), the lexer's tokens and the render
 * state.  Nothing here is part of the public contract (see jinja.h).
 *
 * Memory model: a template owns one arena holding its tree and literal
 * strings; a render owns another holding every value it creates.  Values
 * never own memory themselves, so they are copied freely by value and
 * everything is released at once when the render ends.  The render arena
 * is capped (jinja_limits.max_memory) so a template cannot exhaust memory.
 */
#ifndef CTGI_JINJA_INTERNAL_H
#define CTGI_JINJA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jinja.h"

/* ---- arena ------------------------------------------------------------ */

typedef struct jarena_chunk jarena_chunk;
typedef struct {
    jarena_chunk *head;
    size_t used;  /* bytes handed out so far */
    size_t limit; /* 0 = unlimited */
} jarena;

/* NULL when malloc fails or the arena's limit would be exceeded. */
void *ja_alloc(jarena *a, size_t n);
char *ja_strdup(jarena *a, const char *s, size_t n);
void ja_free(jarena *a);

/* ---- growable byte buffer (malloc-owned) ------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
    size_t limit;  /* appends past this many bytes fail (0 = none) */
    bool over;     /* an append failed: over the limit or out of memory */
} jbuf;

bool jb_put(jbuf *b, const char *s, size_t n);
bool jb_puts(jbuf *b, const char *s);
bool jb_putc(jbuf *b, char c);
bool jb_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jb_free(jbuf *b);

/* ---- values ----------------------------------------------------------- */

typedef enum {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR,
    JV_LIST,   /* list or tuple (jlist.tuple) */
    JV_DICT,   /* insertion-ordered mapping; mutable only while being built */
    JV_NS,     /* namespace(): a dict whose attributes `set` may assign */
    JV_MACRO, JV_FUNC, JV_LOOP,
    JV_BIG,    /* an integer literal beyond int64: its decimal digits in s
                  (with a leading '-' when negative); it prints and compares
                  exactly, but arithmetic on it is an error (no bignums) */
} jv_kind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jmacro jmacro;
typedef struct jloop jloop;
typedef struct jnode jnode;

/* Built-in callables reachable as values (globals, loop.cycle, loop.changed). */
typedef enum {
    JF_RANGE, JF_NAMESPACE, JF_DICT, JF_RAISE, JF_STRFTIME, JF_CYCLE, JF_CHANGED,
} jfunc_id;

typedef struct {
    uint8_t k;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *p; size_t n; } s; /* JV_STR, JV_BIG; JV_UNDEF: the missing name */
        jlist *l;
        jdict *d;
        jmacro *m;
        jloop *loop;
        struct {
            jfunc_id fn;
            jloop *self; /* JF_CYCLE: the loop it belongs to */
        };
    };
} jv;

struct jlist {
    jv *v;
    size_t n;
    bool tuple;
    bool group; /* a groupby (grouper, list) tuple: also has those attributes */
};
struct jdict { jv *keys; jv *vals; size_t n, cap; };

typedef struct jscope jscope;
struct jmacro { const jnode *def; jscope *closure; };

struct jloop {
    const jlist *items;
    size_t i;            /* index0 of the current item */
    int depth;           /* loop.depth: 1, plus one per recursive loop(...) call */
    const jnode *node;   /* a `recursive` for statement (NULL if not) and */
    jscope *scope;       /* the scope it runs in, for loop(...) */
    jv changed_last;     /* loop.changed()'s previous arguments (a tuple) */
    bool changed_seen;
};

static inline jv jv_undef(void) { jv v = {.k = JV_UNDEF}; return v; }
static inline jv jv_undef_named(const char *p, size_t n) {
    jv v = {.k = JV_UNDEF}; v.s.p = p; v.s.n = n; return v;
}
static inline jv jv_none(void) { jv v = {.k = JV_NONE}; return v; }
static inline jv jv_bool(bool b) { jv v = {.k = JV_BOOL}; v.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {.k = JV_INT}; v.i = i; return v; }
static inline jv jv_float(double f) { jv v = {.k = JV_FLOAT}; v.f = f; return v; }
static inline jv jv_str(const char *p, size_t n) { jv v = {.k = JV_STR}; v.s.p = p; v.s.n = n; return v; }

/* ---- syntax tree ------------------------------------------------------ */

typedef enum {
    /* expressions */
    JN_LIT, JN_NAME, JN_ATTR, JN_ITEM, JN_SLICE, JN_CALL, JN_FILTER, JN_TEST,
    JN_BINOP, JN_NEG, JN_POS, JN_NOT, JN_AND, JN_OR, JN_CMP, JN_COND,
    JN_LIST, JN_TUPLE, JN_DICT,
    /* statements */
    JN_BODY, JN_TEXT, JN_OUTPUT, JN_IF, JN_FOR, JN_SET, JN_MACRO,
    JN_BREAK, JN_CONTINUE, JN_FILTERBLOCK, JN_CALLBLOCK,
} jnode_kind;

/* Operators (JN_BINOP op, and each link of a JN_CMP chain). */
typedef enum {
    JO_ADD, JO_SUB, JO_MUL, JO_DIV, JO_FLOORDIV, JO_MOD, JO_POW, JO_CONCAT,
    JO_EQ, JO_NE, JO_LT, JO_LE, JO_GT, JO_GE, JO_IN, JO_NOTIN,
} jop;

/* One node shape for everything; which fields mean what per kind:
 *   LIT: lit.  NAME: name.  ATTR: a.name.  ITEM: a[b].  SLICE: a[b:c:d].
 *   CALL: a(kids, kw).  FILTER: a|name(kids, kw) (a NULL inside a filter
 *   block).  TEST: a is [not when op] name(kids).  BINOP: a op b.
 *   NEG/POS/NOT: a.  AND/OR: a, b.  CMP: a then kids[i] with ops[i].
 *   COND: b if a else c.  LIST/TUPLE: kids.  DICT: kids keys, kw values.
 *   BODY: kids.  TEXT: lit.  OUTPUT: a.  IF: a, b body, c else (BODY/IF).
 *   FOR: a target, b iterable, c filter cond, d body, e else; op 1 when
 *   `recursive`.
 *   SET: a target, b value or d body.  MACRO: name, params in kwnames with
 *   defaults kw (NULL = none), d body.  FILTERBLOCK: a filter chain, d body.
 *   CALLBLOCK: a the macro call (a JN_CALL); otherwise shaped as a MACRO
 *   named "caller" (params, d body), which it becomes when called. */
struct jnode {
    uint8_t kind;
    uint8_t op;
    int line;
    const char *name;
    size_t name_n;
    jv lit;
    jnode *a, *b, *c, *d, *e;
    jnode **kids;
    size_t nkids;
    const char **kwnames;
    size_t *kwname_n;
    jnode **kw;
    size_t nkw;
    uint8_t *ops;  /* JN_CMP */
};

/* ---- lexer ------------------------------------------------------------ */

typedef enum {
    JT_EOF, JT_DATA, JT_VAR_BEGIN, JT_VAR_END, JT_BLOCK_BEGIN, JT_BLOCK_END,
    JT_NAME, JT_STRING, JT_INT, JT_FLOAT, JT_OP,
    JT_BIG, /* an integer literal beyond int64: p/n its digits */
} jtok_kind;

typedef struct {
    uint8_t kind;
    int line;
    const char *p;  /* NAME/OP: the source text; DATA/STRING: decoded bytes */
    size_t n;
    int64_t i;
    double f;
} jtok;

typedef struct {
    jtok *v;
    size_t n, cap;
} jtoks;

/* Tokenize src into toks (strings decoded into arena a).  false + err. */
bool jlex(const char *src, size_t len, const jinja_options *opt, jarena *a, jtoks *toks,
          char *err);

/* ---- parser ----------------------------------------------------------- */

struct jinja_template {
    jarena arena;
    jnode *root; /* JN_BODY */
};

/* ---- render state ----------------------------------------------------- */

struct jscope {
    jscope *parent;
    const char **names;
    size_t *name_n;
    jv *vals;
    size_t n, cap;
};

typedef enum { JX_OK, JX_ERR, JX_BREAK, JX_CONTINUE } jexec;

typedef struct {
    jarena arena;
    jbuf *out;        /* where output goes now (swapped by macros/block set) */
    const jinja_limits *lim;
    uint64_t steps;
    int depth;        /* macro calls in progress (max_depth) */
    int nest;         /* evaluator recursion: expressions + statements */
    char *err;        /* CT_ERRLEN */
    bool failed;
} jrender;

/* Set the render's error (first one wins); always returns false. */
bool jr_fail(jrender *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Count one step against max_steps. */
bool jr_step(jrender *r);
void *jr_alloc(jrender *r, size_t n);
/* Guard the evaluator's C recursion: flat chains (x|f|f|f..., a+b+c...)
 * make trees as deep as they are long, which the parser does not bound. */
enum { JR_MAX_NEST = 1000 };

/* values (jinja_value.c) */
bool jv_truthy(jv v);
const char *jv_type_name(jv v);
bool jv_equal(jv a, jv b);
/* <0, 0, >0; false + error when the values are not orderable. */
bool jv_compare(jrender *r, jv a, jv b, int *cmp);
jlist *jl_new(jrender *r, size_t n);
jdict *jd_new(jrender *r, size_t cap);
bool jd_set(jrender *r, jdict *d, jv key, jv val);
/* Lookup by string key; NULL if missing. */
jv *jd_get_str(const jdict *d, const char *k, size_t n);
jv *jd_get(const jdict *d, jv key);
jv jv_list(jlist *l);
jv jv_dict(jdict *d);
/* str(v) and repr(v) appended to b; false on a limit or bad nesting. */
bool jv_write_str(jrender *r, jbuf *b, jv v);
bool jv_write_repr(jrender *r, jbuf *b, jv v, int depth);
/* str(v) as a value (strings are returned as they are). */
bool jv_to_str(jrender *r, jv v, jv *out);
/* A jbuf with the render's size limit; jv_from_buf moves it into the arena. */
jbuf jr_buf(jrender *r);
bool jv_from_buf(jrender *r, jbuf *b, jv *out);
/* json.dumps options: indent < 0 = one line; separators as Python's
 * (item, key) pair, defaulting to (", ", ": ") or (",", ": ") with indent;
 * ascii = ensure_ascii (non-ASCII as \uXXXX). */
typedef struct {
    int indent;
    bool sort_keys, ascii;
    jv item_sep, key_sep; /* JV_STR */
} jjson_opts;
bool jv_tojson(jrender *r, jbuf *b, jv v, const jjson_opts *o, int level);
bool jv_from_json(jrender *r, const json_t *j, jv *out, int depth);
void jv_float_repr(double f, char *buf, size_t n);
/* Iterate: lists, tuples, dict keys, string characters, undefined (empty). */
bool jv_iterable(jrender *r, jv v, jlist **out);
/* Code points in a UTF-8 string. */
size_t ju_len(const char *p, size_t n);

/* evaluation (jinja_eval.c) */
bool jeval(jrender *r, jscope *s, const jnode *n, jv *out);
bool jscope_set(jrender *r, jscope *s, const char *name, size_t n, jv v);
jv *jscope_get(jscope *s, const char *name, size_t n);
jexec jexec_body(jrender *r, jscope *s, const jnode *body);
/* Call a callable value with evaluated arguments. */
bool jcall_value(jrender *r, jv fn, const jv *args, size_t nargs, const char **kwn,
                 const size_t *kwnl, const jv *kwv, size_t nkw, int line, jv *out);
bool jgetattr(jrender *r, jv obj, const char *name, size_t n, jv *out);
bool jgetitem(jrender *r, jv obj, jv key, jv *out);

/* Arguments of a filter, test, method or global call after evaluation. */
typedef struct {
    const jv *pos;
    size_t npos;
    const char **kwn;
    const size_t *kwnl;
    const jv *kwv;
    size_t nkw;
} jargs;

/* Evaluate a call's (or filter's) kids and kw into a. */
bool jeval_args(jrender *r, jscope *s, const jnode *n, jargs *a);

/* The i-th positional or the keyword `name`; NULL if neither was given. */
const jv *jarg(const jargs *a, size_t i, const char *name);

/* filters and tests (jinja_filters.c, jinja_select.c) */
bool jfilter(jrender *r, const char *name, size_t n, jv v, const jargs *a, jv *out);
bool jtest(jrender *r, const char *name, size_t n, jv v, const jargs *a, bool *out);
bool jfilter_exists(const char *name, size_t n);
bool jtest_exists(const char *name, size_t n);

/* methods and globals (jinja_methods.c) */
bool jmethod(jrender *r, jv obj, const char *name, size_t n, const jargs *a, jv *out,
             bool *found);
bool jglobal(const char *name, size_t n, jv *out);
/* The rarer str methods (jinja_strmethods.c); *found false if unknown. */
bool jstr_method(jrender *r, jv s, const char *m, size_t n, const jargs *a, jv *out, bool *found);
bool jcall_builtin(jrender *r, jv fn, const jargs *a, jv *out);
/* string formatting (jinja_format.c): Python's "%s" % args (a single
 * dict argument serves %(name)s), and str.format with format specs. */
bool jformat_percent(jrender *r, jv fmt, const jv *args, size_t nargs, jv *out);
bool jformat_str(jrender *r, jv fmt, const jargs *a, jv *out);

static inline bool jname_is(const char *p, size_t n, const char *lit) {
    size_t m = __builtin_strlen(lit);
    return n == m && __builtin_memcmp(p, lit, m) == 0;
}

#endif
