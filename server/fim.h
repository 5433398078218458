/*
 * fim.h — fill-in-the-middle prompts: the text before a hole (the prefix),
 * the text after it (the suffix) and, for llama.cpp's /infill, other files
 * of the project, laid out in the tokens the model's family was trained on.
 *
 * The markers are the vocabulary's (tok_fim); the family is told by its
 * prefix marker:
 *   Mistral / Codestral ([PREFIX])   [BOS] [SUFFIX] suffix [PREFIX] prefix
 *                                    (suffix first, no middle marker: the
 *                                    middle follows the prefix)
 *   every other family               [BOS] PRE prefix SUF suffix MID
 *     StarCoder/SantaCoder/Granite   <fim_prefix> <fim_suffix> <fim_middle>
 *     Qwen2.5-Coder, CodeGemma       <|fim_prefix|> <|fim_suffix|> <|fim_middle|>
 *     DeepSeek-Coder                 <｜fim▁begin｜> <｜fim▁hole｜> <｜fim▁end｜>
 *     CodeLlama                      ▁<PRE> ▁<SUF> ▁<MID>
 * BOS where the tokenizer adds one.  The prefix is encoded as text that
 * starts a document (tok_encode: SentencePiece's space prefix, "<PRE> {pre}"
 * of CodeLlama's reference code) and the suffix as text that continues one
 * (tok_encode_cont: CodeLlama's encode_infilling, mistral-common's
 * "[SUFFIX]suffix"); for byte-level vocabularies both are plain encodes.
 * Neither is parsed for special tokens: a "<fim_middle>" typed in the code
 * stays text.
 *
 * With files (llama.cpp's input_extra) and `repo`, llama.cpp's
 * repository-level layout (server format_prompt_infill) comes first:
 *   [REP]myproject\n  ([SEP]name\ntext)*  [SEP]filename\n
 * ("myproject" and "filename" are llama.cpp's fixed placeholders), or
 * without a file separator each file's text after "\n\n--- snippet ---\n\n".
 * One departure: the BOS stays first (llama.cpp puts it after the files).
 */
#ifndef CTGI_SERVER_FIM_H
#define CTGI_SERVER_FIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "tokenizer/tokenizer.h"

/* Another file of the project (llama.cpp's {"filename", "text"}). */
typedef struct {
    const char *name; /* NULL: llama.cpp's "tmp" */
    size_t name_len;
    const char *text;
    size_t text_len;
} fim_file;

typedef struct {
    const char *prefix;          /* text before the hole ... */
    size_t prefix_len;
    const int32_t *prefix_ids;   /* ... or its token ids (prefix NULL) */
    int n_prefix_ids;
    const char *suffix;          /* text after the hole (may be empty) */
    size_t suffix_len;
    const fim_file *files;       /* other files, before the hole's own */
    int n_files;
    bool repo;                   /* the repository header and the file separator of the hole's file */
    int budget;                  /* > 0: cut the texts so the prompt has at most this many tokens */
} fim_input;

typedef struct {
    int32_t *ids;       /* the prompt (owned) */
    int n;
    int prefix_at;      /* the prefix's tokens: ids[prefix_at .. prefix_at + n_prefix) */
    int n_prefix;
    int32_t stops[8];   /* markers (other than EOS) that end the middle when generated */
    int n_stops;
    bool truncated;     /* budget: tokens of the prefix, suffix or files were left out */
} fim_prompt;

/* The vocabulary can lay out an infill: prefix and suffix markers, and a
 * middle marker unless its family needs none (Mistral's [PREFIX]). */
bool fim_supported(const tokenizer *t);

/* Build the prompt into *out (zeroed first).  false + err: 422 "this model
 * has no fill-in-the-middle tokens …" (fim_supported is false), 400 for a
 * tokenizer error or a budget the markers alone exceed, 500 out of memory.
 * err->param is left NULL: the caller names its field. */
bool fim_build(const tokenizer *t, const fim_input *in, fim_prompt *out, proto_error *err);
void fim_prompt_free(fim_prompt *p);

#endif
