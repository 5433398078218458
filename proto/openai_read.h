/*
 * openai_read.h — what the openai_*.c files share and nobody else needs:
 * the readers of the two structured request fields (messages, prompt) and
 * the error helpers that set OpenAI's status, param and code.
 */
#ifndef CTGI_OPENAI_READ_H
#define CTGI_OPENAI_READ_H

#include "json_in.h"
#include "openai.h"

/* `messages` into a new array of normalised message objects (*out owned by
 * the caller on success).  400 for wrong shapes, 422 for image/audio parts. */
bool oai_read_messages(const ji_doc *d, const json_t *v, json_t **out, proto_error *err);

/* `prompt`: a string, an array of strings, an array of token ids or an
 * array of id arrays, into *out (n_out prompts, owned by the caller even
 * on failure — free what *n_out counts). */
bool oai_read_prompt(const ji_doc *d, const json_t *v, oai_prompt **out, int *n_out,
                     proto_error *err);

/* A json_in failure (422, serde's wording) as OpenAI answers it: status
 * 400 and param set; returns false. */
bool oai_as_400(proto_error *err, const char *param);
/* 400 "message" with param (a static field name or NULL); returns false. */
bool oai_bad(proto_error *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 422 code `code` ("unsupported_parameter" / "unsupported_value"): a valid
 * request for something ctgi does not do yet. */
bool oai_unsupported(proto_error *err, const char *param, const char *code, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* The tool fields (openai_tools.c).  `tools` → *out (a checked copy, or
 * NULL when empty; *has: non-empty); `tool_choice` into r; after every
 * field was read, the default choice (auto with tools, none without);
 * oai_validate's cross-checks (a forced choice needs tools, a named one
 * must exist); an assistant message's tool_calls[].function.arguments
 * strings parsed into objects in place (false on OOM). */
bool oai_read_tools(const ji_doc *d, const json_t *v, json_t **out, bool *has, proto_error *err);
bool oai_read_tool_choice(const ji_doc *d, const json_t *v, oai_request *r, proto_error *err);
void oai_tools_resolve(oai_request *r);
bool oai_validate_tools(const oai_request *r, proto_error *err);
bool oai_message_tool_calls(json_t *msg);

#endif
