/*
 * json_schema.h — JSON Schema (draft 2020-12, the subset real schemas use)
 * compiled to a regex of constraint.h's dialect, so that every string the
 * regex matches is a JSON text that validates against the schema.
 * (Public header.)
 *
 * Supported keywords: type (string or array of types), properties,
 * required, additionalProperties (false, true, or a schema), items,
 * prefixItems, minItems, maxItems, enum, const, pattern, format (date,
 * time, date-time, uuid, email, ipv4), minLength, maxLength, minimum,
 * maximum, exclusiveMinimum, exclusiveMaximum (integer and number), anyOf,
 * oneOf (only when its branches are provably disjoint: different types,
 * different enum/const values, or a required property whose schemas in the
 * two branches are disjoint — a discriminator `const` — or that the other
 * branch forbids), allOf (schemas merged; conflicting `pattern`s, formats,
 * anyOfs ... are an error), $ref to "#", "#/$defs/..." and
 * "#/definitions/..." (any local JSON pointer), $defs, definitions,
 * nullable (OpenAPI); and the annotations that do not constrain (title,
 * description, default, examples, $schema, $id, $comment, deprecated,
 * readOnly, writeOnly, content*, $anchor, discriminator, "x-..." vendor
 * keywords, strict-mode extras like `additionalProperties` on
 * non-objects).  Any other keyword is an error naming it and the JSON
 * pointer of its schema ("/" for the root), never silently ignored.
 *
 * Generation shape (what the regex allows, a subset of what validates):
 * object properties appear in the schema's declared order (then required
 * names the schema does not declare), required ones always, optional ones
 * optionally; extra properties (raw keys of at most 64 characters, never a
 * declared name) only when additionalProperties allows them and either
 * opts->allow_additional is true or the object declares no properties
 * ({"type": "object"} is any object, {"additionalProperties": S} a map);
 * whitespace between tokens is bounded (opts->whitespace); no whitespace
 * before or after the root value; strings never use \u escapes of
 * surrogates; numbers have at most 16 integer and 16 fractional digits and
 * a 1-2 digit exponent, and with a bound no exponent and 15 digits in all;
 * repetitions above 1000 (maxItems, maxLength, pattern counts) generate at
 * most 1000; recursion through $ref stops at opts->max_depth nesting
 * levels (a schema that cannot be satisfied within that depth is an error
 * naming the $ref); `{}` / true is any JSON value whose containers nest at
 * most opts->max_depth deep counted from the root of the document.
 * Regexes longer than 1 MiB are refused with an error (any JSON value at
 * depth 5 is about 320 KB, at depth 4 about 80 KB).
 */
#ifndef CTGI_JSON_SCHEMA_H
#define CTGI_JSON_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common.h"

typedef enum {
    JS_WS_COMPACT,  /* no whitespace at all: {"a":1,"b":[2,3]} */
    JS_WS_SPACE,    /* an optional single space after ':' and ',' (default) */
    JS_WS_FLEXIBLE, /* up to 2 of [ \n\t] anywhere JSON allows whitespace */
} js_whitespace;

typedef struct {
    js_whitespace whitespace;
    int max_depth;          /* nesting bound for {} / json_object and recursive $ref (default 5, 1..32) */
    bool allow_additional;  /* generate extra properties where the schema permits (default false) */
} js_opts;

js_opts js_opts_default(void);

/* The regex for schema (an object or a boolean).  NUL-terminated, caller
 * frees.  NULL + err naming the offending keyword and its JSON pointer,
 * e.g. "unsupported keyword `not` at /properties/a". */
char *js_schema_to_regex(const json_t *schema, const js_opts *opts, char *err);

/* The regex for any JSON value (json_object / {"type":"json_object"}):
 * objects only when object_only (OpenAI's json_object and llama.cpp ask for
 * an object at the root). */
char *js_any_json_regex(bool object_only, const js_opts *opts, char *err);

#endif
