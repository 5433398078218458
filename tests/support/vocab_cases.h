/*
 * vocab_cases.h — one case of llama.cpp's tokenizer vectors
 * (shared/models/vocab/<vocab>.gguf.inp / .out, test-tokenizer-0's files:
 * cases separated by "\n__ggml_vocab_test__\n", one line of ids each,
 * tokenized with add_special=false, parse_special=false), looked up by its
 * text: an independent oracle for tests that need a text's ids.
 */
#ifndef CTGI_VOCAB_CASES_H
#define CTGI_VOCAB_CASES_H

#include <stdint.h>

/* The ids llama.cpp gives `text` with vocabulary gguf_rel (relative to the
 * shared models directory, e.g. "vocab/ggml-vocab-llama-spm.gguf"): their
 * count and a malloc'd array in *ids; -1 when the files are missing or have
 * no such case. */
int vc_ids(const char *gguf_rel, const char *text, int32_t **ids);

#endif
