/*
 * tok_hf.h — the tokenizer.json loader's internal pieces (tok_hf.c,
 * tok_hf_pipe.c): each function reads one section of the file into the
 * tokenizer and fails with a message naming what it could not handle.
 */
#ifndef CTGI_TOK_HF_H
#define CTGI_TOK_HF_H

#include <jansson.h>

#include "tok_internal.h"

bool tok_hf_normalizer(tokenizer *t, const json_t *j, char *err);
bool tok_hf_pretokenizer(tokenizer *t, const json_t *j, char *err);
bool tok_hf_postprocessor(tokenizer *t, const json_t *j, char *err);
bool tok_hf_decoder(tokenizer *t, const json_t *j, char *err);

#endif
