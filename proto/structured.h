/*
 * structured.h — structured-output constraints as each API spells them,
 * turned into one regex of the engine's constraint dialect
 * (constraint/constraint.h), which the server compiles for the model.
 *
 * Owns the request shapes and their errors:
 *   TGI       parameters.grammar {"type": "json" | "json_object" | "json_schema" | "regex",
 *             "value": …} (a schema as an object or as a string holding JSON;
 *             json_schema's value is {"name"?, "schema"}) — 422 ValidationError;
 *   OpenAI    response_format {"type": "text" | "json_object" | "json_schema" | "regex"}:
 *             json_schema {"name", "schema"?, "strict"?}; llama.cpp's
 *             json_object + "schema"; TGI's "value" form too;
 *   vLLM      guided_json, guided_regex, guided_choice (and guided_grammar,
 *             refused: no GBNF), structured_outputs {json, regex, choice,
 *             json_object, grammar}.
 * At most one constraint per request (vLLM's 400 otherwise).  A schema
 * keyword ctgi cannot enforce is never ignored: 422 naming it (OpenAI
 * routes: code "unsupported_value"); a malformed schema or regex is 400 on
 * OpenAI routes, 422 on TGI's.
 */
#ifndef CTGI_STRUCTURED_H
#define CTGI_STRUCTURED_H

#include <jansson.h>
#include <stdbool.h>

#include "proto.h"

/* TGI's grammar (present, not null) → *regex (malloc'd).  false + err. */
bool so_tgi_grammar(const json_t *grammar, char **regex, proto_error *err);

/* The OpenAI-side fields, each NULL when absent or null. */
typedef struct {
    const json_t *response_format;
    const json_t *guided_json, *guided_regex, *guided_choice, *guided_grammar;
    const json_t *structured_outputs;
} so_openai_fields;

/* The constraint those fields ask for: *regex (malloc'd) or NULL when they
 * ask for none ({"type":"text"}, nothing given).  false + err. */
bool so_openai(const so_openai_fields *f, char **regex, proto_error *err);

/* Regex of exactly one of the strings (n >= 1).  NULL on allocation failure. */
char *so_choice_regex(const char *const *choices, int n);

#endif
