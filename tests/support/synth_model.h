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

#include <stddef.h>

#include "common.h"

typedef struct {
    const char *arch;      /* "llama" | "qwen2" (q/k/v biases) | "qwen3" (q/k RMSNorm) */
    int dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim;
    int ctx_len;
    float rope_theta, norm_eps;
    bool tied;             /* no separate output matrix */
    const char *rope_scaling; /* NULL | "linear" | "llama3" */
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_orig_ctx;
    int sliding_window;    /* > 0: every layer attends to the last sliding_window positions
                              (GGUF <arch>.attention.sliding_window; HF sliding_window, and
                              model_type "mistral" for a llama) */
    uint32_t weight_type;  /* dt_type of the 2-D weights: any synth_can_quantize type (GGUF;
                              safetensors supports F32 F16 BF16) */
    bool llama_mix;        /* GGUF: each matrix in the type llama-quantize would choose for weight_type
                              (Q4_K = Q4_K_M: Q6_K output and some attn_v/ffn_down; Q6_K output for
                              the other 4/5-bit types) */
    uint64_t seed;
    /* Tokenizer: the tokenizer.ggml.* metadata is copied from this vocab
     * GGUF (e.g. $CTGI_MODELS/vocab/ggml-vocab-llama-spm.gguf); the vocab
     * size is the number of its tokens. */
    const char *vocab_gguf;
    /* For HF directories: tokenizer.json (+ tokenizer_config.json beside
     * it, if present) to copy, e.g. $CTGI_MODELS/synth/llama-spm-hf/tokenizer.json. */
    const char *tokenizer_json;
    /* HF only: 0 or 1 = one model.safetensors; n > 1 = n shards
     * model-0000i-of-0000n.safetensors + model.safetensors.index.json. */
    int hf_shards;
} synth_config;

/* Defaults: llama, dim 64, 2 layers, 4 heads, 2 kv heads, head_dim 16,
 * ffn 128, ctx 512, theta 10000, eps 1e-5, untied, F32, seed 1. */
synth_config synth_default(void);

/* Tensors are generated and written one at a time (never the whole model
 * in memory).  A row length that is not a multiple of weight_type's block
 * size (e.g. 64 for Q4_K/Q6_K, which need 256) fails with a message naming
 * the tensor.  synth_write_hf creates dir if needed; tokenizer_json NULL
 * writes no tokenizer files. */
bool synth_write_gguf(const synth_config *c, const char *path, char *err);
bool synth_write_hf(const synth_config *c, const char *dir, char *err);

/* Encode n f32 values as type into dst (dt_bytes(type, n) bytes); false
 * for a type synth_can_quantize refuses or n not a multiple of the block
 * size.  Types: F32 F16 BF16, Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL (blocks of
 * 32), Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS (blocks of 256) — every type
 * dt_to_f32 converts.  Simple absmax / min-max quantizers, no error
 * search (synth_quant.c). */
bool synth_quantize(uint32_t type, const float *src, void *dst, size_t n);
bool synth_can_quantize(uint32_t type);

/* Append metadata entry i of src (any type, arrays included) to a GGUF
 * writer, for copying tokenizers and rewriting files in tests. */
struct gw_writer;
struct gguf_file;
bool synth_gguf_copy_kv(struct gw_writer *w, const struct gguf_file *src, uint64_t i, char *err);

/* dst = a copy of GGUF file src with one edit, for building broken files
 * (fields left zero change nothing; the tensor edits apply to `tensor`). */
typedef struct {
    const char *drop_kv;          /* omit this key */
    const char *u32_key;          /* replace this key's value by u32 `u32` */
    uint32_t u32;
    const char *f32_key;          /* ... by f32 `f32` */
    float f32;
    const char *str_key, *str;    /* ... by a string */
    const char *add_key, *add_str; /* append a string entry (after the copied ones) */
    const char *tensor;           /* the tensor to change: */
    bool drop;                    /*   omit it */
    bool retype;                  /*   type `type` (data: zeros of the new size) */
    uint32_t type;
    uint32_t n_dims;              /*   > 0: shape ne (data: zeros of the new size) */
    uint64_t ne[4];
    bool raw;                     /*   only its info, with data offset `offset` */
    uint64_t offset;
    bool to_f32;                  /* every tensor dequantized to F32 (dt_to_f32) */
} synth_gguf_edit;

bool synth_gguf_rewrite(const char *src, const char *dst, const synth_gguf_edit *e, char *err);

#endif
