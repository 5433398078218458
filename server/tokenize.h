/*
 * tokenize.h — the body of POST /tokenize: the prompt's tokens with the
 * byte span of `inputs` each one covers (TGI's SimpleToken list).
 */
#ifndef CTGI_SERVER_TOKENIZE_H
#define CTGI_SERVER_TOKENIZE_H

#include <stddef.h>

#include "model/model_info.h"
#include "proto.h"
#include "tgi.h"

/* [{"id","text","start","stop"}] for req (after `truncate`: the last
 * tokens), malloc'd; NULL + err (422 tokenizer error, or out of memory).
 * Runs on a worker thread (the tokenizer is immutable and thread-safe). */
char *tokenize_answer(const model *m, const tgi_request *req, size_t *len, proto_error *err);

/* POST /chat_tokenize: {"tokenize_response":[…spans of ids in text…],
 * "templated_text":text}, malloc'd; NULL + err when memory runs out. */
char *chat_tokenize_answer(const model *m, const char *text, size_t text_len, const int32_t *ids, int n,
                           size_t *len, proto_error *err);

#endif
