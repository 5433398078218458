/*
 * model_load.h — internal contract between model.c (format-independent
 * weight assembly) and the two file formats (model_gguf.c, model_hf.c).
 *
 * A format fills model->cfg and provides `find`: look a tensor up by its
 * GGUF-style name ("blk.3.attn_q.weight", "blk.3.attn_qkv.weight") and
 * describe it in ggml order (ne[0] = row length).  model.c checks shapes,
 * converts vectors to f32, undoes the q/k permutation of interleaved-RoPE
 * files, transposes Conv1D matrices, splits fused projections (in the
 * layout the source declares) and assembles layer_weights.
 */
#ifndef CTGI_MODEL_LOAD_H
#define CTGI_MODEL_LOAD_H

#include <jansson.h>

#include "model.h"

typedef struct {
    char name[256];   /* the file's own name for it, for error messages */
    uint32_t type;    /* dt_type */
    uint32_t n_dims;
    uint64_t ne[4];   /* ggml order */
    const void *data;
    bool transposed;  /* stored as (cols, rows), i.e. ne[0] = rows: HF Conv1D (gpt2); float types only */
    bool copied;      /* data is the loader's transposed copy, not the file (model_assemble.c) */
} wsrc;

typedef struct {
    void *ctx;
    /* false if the tensor is absent */
    bool (*find)(void *ctx, const char *gguf_name, wsrc *out);
    bool qk_interleaved; /* q/k rows stored for interleaved RoPE: undo */
    /* A fused attn_qkv's rows: false = all q rows, then k, then v (GGUF,
     * gpt2, mpt, phi3); true = per kv group g: the group's q heads, its k
     * head, its v head ([n_kv, q_per_kv + 2, head_dim]: HF gpt_neox and
     * bloom (groups of one head), falcon, gpt_bigcode). */
    bool qkv_grouped;
    bool norm_plus_one;  /* RMSNorm gains stored as w, used as 1 + w (HF gemma) */
} weight_source;

/* model.c */
bool model_assemble(model *m, const weight_source *src, char *err);
/* The weights are copied into memory (packed for the kernels), so a model
 * whose tensors (need bytes in the file) exceed the memory still
 * available would only load to be OOM-killed or swap to a halt: false +
 * err naming both sizes, checked before a byte of weights is read. */
bool model_weights_fit(const char *path, uint64_t need, char *err);
bool model_check_config(const model_config *c, char *err);
void model_init_rope(model *m, const float *freq_factors /* (n_rot/2) or NULL */);
/* ALiBi slopes of cfg.n_heads heads into m->alibi_slopes (false: out of memory). */
bool model_init_alibi(model *m);
void *model_own(model *m, void *buf); /* record an owned buffer; NULL-safe */

/* model_hf_arch.c: a Hugging Face directory's config.json into c (per
 * model_type; unsupported values refused by key), and its tensors under
 * the canonical names (the weight_source of hf_weight_source, whose ctx is
 * h: st and falcon_40b filled by the caller). */
typedef struct {
    const struct st_model *st;
    int layout;      /* model_hf_arch.c's table row */
    bool falcon_40b; /* ln_attn / ln_mlp instead of input_layernorm */
    bool gated_ffn;  /* T5: DenseReluDense.wi_0 / wi_1 (gated) or wi */
} hf_ctx;
bool hf_read_config(model_config *c, json_t *cfg, const arch_desc *a, char *err);
void hf_weight_source(hf_ctx *h, weight_source *src, const model_config *c);
bool hf_find_weight(void *ctx, const char *gguf_name, wsrc *out);
bool hf_falcon_40b(const struct st_model *st);
void hf_config_from_tensors(model_config *c, const struct st_model *st);

/* lora.c: free every adapter of m (model_free). */
void lora_free_all(model *m);

/* model_gguf.c / model_hf.c: fill cfg, name, tok, eos, source; keep files open in m */
bool model_open_gguf(model *m, const char *path, char *err);
bool model_open_hf(model *m, const char *dir, char *err);

#endif
