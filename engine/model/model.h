/*
 * model.h — a loaded decoder-only transformer: hyper-parameters, weights
 * (f32; matrices packed for matmul.h), tokenizer and generation defaults.
 *
 * Architectures are described by their differences (struct arch_desc in
 * arch.c): norm type, bias flags, RoPE style, tied output...  One forward
 * pass (forward.c) reads those flags, so adding gpt2/phi3/gemma means adding
 * a table row and the few branches its flags need, never a second copy.
 *
 * Matrix layout: the weight matrices (wq .. w_down, output) stay in their
 * file's type (shapes below are the logical (rows, cols)): F16, BF16 and
 * the GGUF block quantizations in wmat.h's group layout (wmat_pack at load
 * time, the same bytes as the file), F32 in matmul.h's packed panels
 * (mm_pack; wmat.type is DT_F32 and data points to the floats).  The
 * token embedding is read a row at a time, dequantized, from the file's
 * own rows (tok_embd), so a tied output head is a packed copy beside it.
 * Vectors (norms, biases) are f32.
 *
 * RoPE layout: weights are always held in the Hugging Face "rotate-half"
 * (NEOX) layout.  GGUF llama files store q/k rows permuted for interleaved
 * RoPE; the loader undoes that permutation, so both formats of the same
 * weights compute the same function with one RoPE kernel.
 */
#ifndef CTGI_MODEL_H
#define CTGI_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "kernels/wmat.h"
#include "model/model_info.h"
#include "tokenizer/tokenizer.h"

typedef enum { ARCH_LLAMA = 0, ARCH_QWEN2 = 1, ARCH_COUNT } arch_id;

typedef enum { ROPE_SCALING_NONE = 0, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3 } rope_scaling_type;

typedef struct {
    arch_id id;
    const char *name;     /* "llama", "qwen2": GGUF general.architecture */
    const char *hf_class; /* "LlamaForCausalLM", ... */
    const char *hf_model_type; /* config.json model_type */
    bool qkv_bias;        /* q/k/v projections carry a bias */
    bool gguf_qk_permuted; /* GGUF stores q/k for interleaved RoPE */
    float default_eps;
    float default_theta;
} arch_desc;

const arch_desc *arch_find_gguf(const char *name);      /* NULL if unsupported */
const arch_desc *arch_find_hf(const char *model_type);  /* NULL if unsupported */
const arch_desc *arch_get(arch_id id);

typedef struct {
    arch_id arch;
    int dim;        /* residual stream width */
    int n_layers;
    int n_heads;    /* query heads */
    int n_kv_heads; /* key/value heads (GQA when < n_heads) */
    int head_dim;
    int ffn_dim;    /* SwiGLU hidden width */
    int vocab;
    int ctx_len;    /* trained context */
    float norm_eps;
    float rope_theta;
    rope_scaling_type rope_scaling;
    float rope_factor;           /* linear / llama3 factor */
    float rope_low_freq_factor;  /* llama3 */
    float rope_high_freq_factor; /* llama3 */
    int rope_orig_ctx;           /* llama3 original_max_position_embeddings */
    bool tied_output;            /* output == token embedding */
} model_config;

typedef struct {
    float *attn_norm; /* (dim) */
    wmat wq;          /* (n_heads*head_dim, dim) */
    wmat wk;          /* (n_kv_heads*head_dim, dim) */
    wmat wv;          /* (n_kv_heads*head_dim, dim) */
    float *bq;        /* (n_heads*head_dim) or NULL */
    float *bk;        /* (n_kv_heads*head_dim) or NULL */
    float *bv;        /* (n_kv_heads*head_dim) or NULL */
    wmat wo;          /* (dim, n_heads*head_dim) */
    float *ffn_norm;  /* (dim) */
    wmat w_gate;      /* (ffn_dim, dim) */
    wmat w_up;        /* (ffn_dim, dim) */
    wmat w_down;      /* (dim, ffn_dim) */
} layer_weights;

struct model {
    model_config cfg;
    char *name;        /* general.name or directory name */
    char *path;        /* as given */
    char *format;      /* "gguf" | "safetensors" */
    char *dtype;       /* the matrices' types by share of parameters, e.g. "Q4_K+Q6_K" */
    const uint8_t *tok_embd; /* (vocab, dim) rows of type tok_embd_type, the file's bytes */
    uint32_t tok_embd_type;
    size_t tok_embd_row_bytes;
    layer_weights *layers; /* (n_layers) */
    float *out_norm;   /* (dim) */
    wmat output;       /* (vocab, dim); a copy of tok_embd's values when tied */
    float *rope_inv_freq; /* (head_dim/2) theta^(-2i/head_dim), with scaling applied */
    tokenizer *tok;
    int32_t *eos_ids;  /* ids that end generation (EOS + generation_config), n_eos */
    int n_eos;
    char *chat_template; /* raw template text or NULL */
    const char *chat_template_origin; /* static: which file it came from (model_hf.c); NULL = the format's own */
    uint64_t n_params;
    /* ownership: the mapped files weights may point into, and the buffers
     * converted at load time (freed by model_free) */
    void *gguf;        /* gguf_file * or NULL */
    void *st;          /* st_model * or NULL */
    void **owned;
    int n_owned, cap_owned;
};

/* model_load, model_free, model_get_info, model_tokenizer, model_is_eos and
 * model_load_tokenizer: model_info.h. */

#endif
