/*
 * json_in.h — reading request bodies with jansson, and typed field reads
 * whose errors read like the ones TGI's router (axum + serde) gives.
 *
 * Owns: the parsed document of one request body, the integers in it that
 * jansson cannot hold, and the messages for wrong types:
 *
 *   400 "Failed to parse the request body as JSON: <why> at line L column C"
 *   422 "Failed to deserialize the JSON body into the target type:
 *        parameters.top_k: invalid type: string \"a\", expected i32"
 *
 * (axum's two rejection texts, with serde's "invalid type: …, expected …"
 * wording and serde_path_to_error's `a.b[0]` paths).  axum answers these in
 * plain text; ctgi wraps them in the TGI envelope (error_type "invalid_json"
 * for 400, "validation" for 422) so every error a client sees is JSON.
 *
 * Integers above INT64_MAX: jansson refuses them ("too big integer"), yet
 * TGI seeds are u64 and clients replay seeds TGI handed out.  Before
 * parsing, every such integer literal is replaced in a copy of the body by
 * a same-length real literal ("-0.5e-300", "-1.5e-300", … padded with
 * spaces), whose value identifies the original text; the typed readers
 * below map those markers back.  A body that itself contains one of these
 * exact reals while also containing a huge integer would be misread; that
 * takes deliberate effort and yields at worst a wrong error message.
 */
#ifndef CTGI_JSON_IN_H
#define CTGI_JSON_IN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#define JI_MAX_BIG 32 /* huge integers per body; more is a 400 */

typedef struct {
    json_t *root;
    int n_big;
    double big_marker[JI_MAX_BIG]; /* the real each huge integer became */
    char big_text[JI_MAX_BIG][48]; /* its original digits (shortened if longer) */
} ji_doc;

/* Parse body[0..len) (any JSON value at top level, NUL allowed inside
 * strings, duplicate keys rejected).  On failure: 400 into err. */
bool ji_load(const char *body, size_t len, ji_doc *doc, proto_error *err);
void ji_free(ji_doc *doc);

/* 422 "Failed to deserialize the JSON body into the target type: [path: ]<msg>" */
bool ji_fail(proto_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 422 "… invalid type: <what v is>, expected <expected>" */
bool ji_type_error(const ji_doc *d, const json_t *v, const char *path, const char *expected,
                   proto_error *err);

/* Typed reads of v at `path`; expected names as serde spells them.
 * ji_uint: a non-negative integer <= max (expected "u32", "u64", "usize").
 * ji_i32 : an integer in the i32 range.
 * ji_f32 : any number that fits an f32 (integers allowed, as serde does).
 * ji_bool: true/false.
 * ji_string: a string, copied (malloc'd, NUL-terminated, may hold NULs). */
bool ji_uint(const ji_doc *d, const json_t *v, uint64_t max, const char *expected,
             const char *path, uint64_t *out, proto_error *err);
bool ji_i32(const ji_doc *d, const json_t *v, const char *path, int32_t *out, proto_error *err);
bool ji_f32(const ji_doc *d, const json_t *v, const char *path, float *out, proto_error *err);
bool ji_bool(const ji_doc *d, const json_t *v, const char *path, bool *out, proto_error *err);
bool ji_string(const ji_doc *d, const json_t *v, const char *path, char **out, size_t *len,
               proto_error *err);

#endif
