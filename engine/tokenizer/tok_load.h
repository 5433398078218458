/*
 * tok_load.h — building a tokenizer from a model's files (internal to
 * engine/: the model loader and model_load_tokenizer call these; the
 * public face is tokenizer.h).
 */
#ifndef CTGI_TOK_LOAD_H
#define CTGI_TOK_LOAD_H

#include "common.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer.h"

/* From a GGUF file's tokenizer.ggml.* metadata. */
tokenizer *tok_load_gguf(const gguf_file *f, char *err);
/* From a Hugging Face directory (tokenizer.json, tokenizer_config.json) or
 * a path to a tokenizer.json file itself. */
tokenizer *tok_load_hf(const char *path, char *err);

#endif
