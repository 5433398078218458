/*
 * synth_model.h — seeded random decoder models written as real model files,
 * for format/architecture tests and benchmarks.
 *
 * The same config + seed always gives the same weights (in the Hugging Face
 * layout), written either as a GGUF file (llama: q/k rows permuted for
 * interleaved RoPE exactly as convert_hf_to_gguf.py does; 2-D weights in
 * the requested type) or as a Hugging Face directory (config.json,
 * generation_config.json, model.safetensors, tokenizer.json).  So a GGUF
 * and an HF directory made from one config compute the same function.
 * Weights are drawn so that logits stay well spread (std of a few units).
 */
#ifndef CTGI_SYNTH_MODEL_H
#define CTGI_SYNTH_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

typedef struct {
    const char *arch;      /* "llama" | "qwen2" (qwen2 adds q/k/v biases) */
    int dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim;
    int ctx_len;
    float rope_theta, norm_eps;
    bool tied;             /* no separate output matrix */
    const char *rope_scaling; /* NULL | "linear" | "llama3" */
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_orig_ctx;
    uint32_t weight_type;  /* dt_type of the 2-D weights: DT_F32 DT_F16 DT_BF16 DT_Q8_0 DT_Q4_0 DT_Q4_K DT_Q6_K
                              (GGUF; safetensors supports F32 F16 BF16) */
    uint64_t seed;
    /* Tokenizer: the tokenizer.ggml.* metadata is copied from this vocab
     * GGUF (e.g. $CTGI_MODELS/vocab/ggml-vocab-llama-spm.gguf); the vocab
     * size is the number of its tokens. */
    const char *vocab_gguf;
    /* For HF directories: tokenizer.json (+ tokenizer_config.json beside
     * it, if present) to copy, e.g. $CTGI_MODELS/synth/llama-spm-hf/tokenizer.json. */
    const char *tokenizer_json;
} synth_config;

/* Defaults: llama, dim 64, 2 layers, 4 heads, 2 kv heads, head_dim 16,
 * ffn 128, ctx 512, theta 10000, eps 1e-5, untied, F32, seed 1. */
synth_config synth_default(void);

bool synth_write_gguf(const synth_config *c, const char *path, char *err);
bool synth_write_hf(const synth_config *c, const char *dir, char *err);

#endif
