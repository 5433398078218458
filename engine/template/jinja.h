/*
 * jinja.h — a sandboxed Jinja2 interpreter, as large as real chat
 * templates need.
 *
 * Owns: parsing a template source into a tree (jinja_template), and
 * rendering it against a context of plain data (a JSON object whose
 * members become the template's top-level variables).  Semantics follow
 * Python Jinja2 3.1 as Hugging Face transformers configures it for chat
 * templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
 * the loopcontrols extension, `raise_exception`, `strftime_now`, and a
 * `tojson` that writes json.dumps(ensure_ascii=False) spacing); the test
 * oracle is @huggingface/jinja, which renders byte-identically.
 *
 * Templates are untrusted input (they come inside model files): rendering
 * never touches files, the environment or the network, and is bounded by
 * jinja_limits (call depth, loop iterations / evaluation steps, output
 * size).  Exceeding a limit is an ordinary error, never a crash.
 *
 * Errors: jinja_parse and jinja_render write one line into err
 * (CT_ERRLEN bytes) naming the problem and, for parse errors, the line
 * number ("template syntax error (line 3): ..."); raise_exception(msg)
 * renders as an error whose message is exactly msg; a limit error names
 * the limit ("template exceeded max_steps ...").  Unknown filters and
 * tests are render-time errors (as in @huggingface/jinja, and as Jinja2
 * does for filters inside conditionals).
 *
 * Where Python Jinja2 and @huggingface/jinja disagree, this follows
 * Python: e.g. `undefined.attr` is an error, `str + list` is an error,
 * lists and dicts print as Python reprs.
 *
 * Supported beyond the basics: recursive for-loops (loop(xs), loop.depth),
 * loop.changed/cycle, {% call %} blocks with caller(args), str.format with
 * format specs, `%` formatting with %(key)s, and Jinja2's filters except
 * pprint, xmlattr and filesizeformat (unknown-filter errors).  Where this is a subset,
 * it says so with an error rather than guessing:
 *   - integers are 64-bit.  A literal beyond that (10000000000000000000)
 *     keeps its exact digits: it prints, converts to str/JSON, compares
 *     and sorts exactly (against floats through the nearest double), but
 *     arithmetic on it, or an int64 result overflowing, is an error;
 *   - str.format refuses '#', 'z', 'n' and nested {} in format specs.
 *
 * Threads: a parsed template is read-only; any number of threads may
 * render it at once (there is no global state).
 */
#ifndef CTGI_JINJA_H
#define CTGI_JINJA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"

typedef struct jinja_template jinja_template;

typedef struct {
    bool trim_blocks;   /* drop the first newline after a block tag (transformers: true) */
    bool lstrip_blocks; /* strip whitespace before a block tag on its line (transformers: true) */
} jinja_options;

/* transformers' chat-template settings: trim_blocks and lstrip_blocks on. */
jinja_options jinja_options_chat(void);

typedef struct {
    int max_depth;          /* nesting of macro calls (default 64) */
    uint64_t max_steps;     /* loop iterations + calls of macros, filters and
                               functions (default 1,000,000) */
    size_t max_output;      /* bytes of rendered output, and of any one string
                               built on the way (default 4 MiB) */
    time_t now;             /* strftime_now's clock; 0 = the current time */
    size_t max_memory;      /* bytes of values one render may create (default 256 MiB;
                               0 = the default) */
} jinja_limits;

jinja_limits jinja_limits_default(void);

/* Parse src[0, len) (it may contain NUL bytes; opt NULL = the chat
 * options).  NULL + err on a syntax error (with its line). */
jinja_template *jinja_parse(const char *src, size_t len, const jinja_options *opt, char *err);
void jinja_free(jinja_template *t);

/* Render t with the members of the JSON object ctx as variables (ctx is
 * only read and must outlive the call; it may be NULL).  lim NULL = the
 * defaults; a zero field of *lim also means its default (except now).
 * Returns the malloc'd NUL-terminated output (*out_len its length, may be
 * NULL), or NULL + err. */
char *jinja_render(const jinja_template *t, const json_t *ctx, const jinja_limits *lim,
                   size_t *out_len, char *err);

#endif
