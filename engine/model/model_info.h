/*
 * model_info.h — a loaded model as everything outside engine/ sees it: an
 * opaque handle, its loading, what it is (model_info), its tokenizer and
 * its end-of-sequence ids.  Public: server/ and proto/ may include this
 * header (docs/ARCHITECTURE.md, "public headers"); the weights and their
 * layouts (model.h) stay inside engine/.
 *
 * A model is read-only once loaded: any thread may query it while it lives.
 * Strings and arrays in a model_info point into the model and live as long
 * as it does.
 */
#ifndef CTGI_MODEL_INFO_H
#define CTGI_MODEL_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "tokenizer/tokenizer.h"

typedef struct model model;

typedef struct {
    const char *name;          /* general.name, or the directory's name */
    const char *path;          /* as given to model_load */
    const char *format;        /* "gguf" | "safetensors" */
    const char *architecture;  /* "llama", "qwen2", "gpt2", "falcon"... (GGUF general.architecture) */
    const char *hf_class;      /* "LlamaForCausalLM", "Qwen2ForCausalLM", "GPT2LMHeadModel"... */
    const char *weight_type;   /* the matrices' types, most parameters first: "F16", "Q4_K+Q6_K"... */
    const char *kernels;       /* the product kernels this CPU runs: "avx512-vnni", "avx2", "portable" */
    int ctx_len;               /* trained context, tokens */
    int vocab;                 /* vocabulary size (logits per token) */
    int dim;                   /* residual stream width */
    int n_layers;
    int n_heads, n_kv_heads, head_dim;
    uint64_t n_params;         /* parameters of the weight tensors */
    int32_t bos_id;            /* -1 if none */
    int32_t eos_id;            /* the tokenizer's EOS, -1 if none */
    const int32_t *eos_ids;    /* (n_eos) every id that ends generation (EOS + generation_config) */
    int n_eos;
    /* Encoder-decoder (T5, "text2text-generation"): the prompt is the
     * encoder's input, the decoder generates from decoder_start_id; no
     * prompt logprobs (the decoder never reads the prompt as tokens). */
    bool encoder_decoder;
    int n_enc_layers;          /* encoder layers (n_layers: the decoder's) */
    int32_t decoder_start_id;  /* -1 for a decoder-only model */
} model_info;

/* Load a GGUF file or a Hugging Face directory.  NULL + err naming the
 * problem (file, tensor, type, key) on failure. */
model *model_load(const char *path, char *err);
void model_free(model *m);

/* Load only the tokenizer of a model path (GGUF file, HF directory, or a
 * tokenizer.json); the caller frees it with tok_free. */
tokenizer *model_load_tokenizer(const char *path, char *err);

model_info model_get_info(const model *m);
/* The model's tokenizer; lives as long as m. */
const tokenizer *model_tokenizer(const model *m);
/* id ends generation (one of model_info.eos_ids). */
bool model_is_eos(const model *m, int32_t id);

#endif
