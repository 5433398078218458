/*
 * jsonw.h — a small streaming JSON writer for responses that must be
 * byte-identical to what TGI's serde_json produces.
 *
 * Owns: one growable output buffer, the comma/colon bookkeeping of nested
 * objects and arrays, and the exact spelling of scalars:
 *   - strings are escaped as serde_json does (`\"`, `\\`, `\b \f \n \r \t`,
 *     other control bytes as lowercase `\u00XX`, everything else raw), and
 *     invalid UTF-8 is replaced by U+FFFD per maximal invalid subpart, as
 *     Rust's String::from_utf8_lossy does before anything reaches serde;
 *   - f32 values are written in the shortest form that reads back as the
 *     same float, laid out the way the `ryu` crate (serde_json's float
 *     printer) lays them out: `-0.41`, `1.0`, `1e-7`, `1.5e20`; NaN and
 *     ±inf are `null`, as serde_json writes non-finite floats.
 *
 * Why not jansson's dumper: it prints reals with "%.17g" (a float logprob
 * of -0.41 becomes -0.4099999964237213), escapes control bytes in upper
 * case, and cannot hold integers above INT64_MAX (TGI seeds are u64).
 * Requests are still parsed with jansson (json_in.h).
 *
 * Errors (out of memory, nesting deeper than JW_MAX_DEPTH, unbalanced
 * containers) are sticky: jw_finish then returns NULL.
 */
#ifndef CTGI_JSONW_H
#define CTGI_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 16

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
    bool after_key;           /* a key was written; its value comes next */
    int depth;                /* open containers */
    bool first[JW_MAX_DEPTH]; /* per open container: nothing written yet */
} jw;

void jw_init(jw *w);
/* Hand over the NUL-terminated text (len may be NULL); NULL if anything
 * failed or a container is still open.  The writer is reset either way. */
char *jw_finish(jw *w, size_t *len);
void jw_free(jw *w);

void jw_obj_begin(jw *w);
void jw_obj_end(jw *w);
void jw_arr_begin(jw *w);
void jw_arr_end(jw *w);
void jw_key(jw *w, const char *key); /* key is plain ASCII, written unescaped */

void jw_str(jw *w, const char *s, size_t len);
void jw_cstr(jw *w, const char *s); /* NULL → null */
void jw_u64(jw *w, uint64_t v);
void jw_i64(jw *w, int64_t v);
void jw_f32(jw *w, float v);
void jw_bool(jw *w, bool v);
void jw_null(jw *w);
/* Bytes copied verbatim, no separator bookkeeping (for SSE framing). */
void jw_raw(jw *w, const char *s, size_t len);

/* The f32 spelling above into out (>= 40 bytes); returns its length.
 * Non-finite values give "null".  jw_format_f64 is the same for doubles
 * (ryu's format64 layout), used where serde_json prints an f64, as in its
 * "floating point `1.5`" error texts. */
size_t jw_format_f32(float v, char *out);
size_t jw_format_f64(double v, char *out);

#endif
