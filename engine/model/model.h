/*
 * model.h — a loaded transformer: hyper-parameters, weights (matrices in
 * their file's type, packed for the kernels), tokenizer and generation
 * defaults.  Decoder-only families, and T5's encoder-decoder: an encoder
 * stack (enc_layers) over the prompt, whose output each decoder layer
 * reads through cross-attention (layer_weights' cross_* fields).
 *
 * Architectures are described by their differences, never by a copy of
 * the forward pass: arch.c has one row (arch_desc) per family with its
 * fixed traits (norm kind, MLP kind, positions, parallel residual...), the
 * loaders (model_gguf.c, model_hf.c) resolve them with the file's
 * hyper-parameters into model_config, and forward.c reads model_config
 * and the presence of optional weights (biases, extra norms): each
 * difference is one small hook there.  docs/ARCHITECTURE.md, "Model
 * architectures", says how to add the next family.
 *
 * Matrix layout: the weight matrices (wq .. w_down, output) stay in their
 * file's type (shapes below are the logical (rows, cols)): F16, BF16 and
 * the GGUF block quantizations in wmat.h's group layout (wmat_pack at load
 * time, the same bytes as the file), F32 in matmul.h's packed panels
 * (mm_pack; wmat.type is DT_F32 and data points to the floats).  The
 * token embedding is read a row at a time, dequantized, from the file's
 * own rows (tok_embd), so a tied output head is a packed copy beside it.
 * Vectors (norms, biases) are f32.  Fused projections (a qkv matrix, phi3's
 * gate_up) are split into their parts at load time (rows picked by a row
 * map, so quantized rows move whole), and so are Hugging Face layouts that
 * interleave heads: every file format ends in the same layer_weights.
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

typedef enum {
    ARCH_LLAMA = 0, ARCH_QWEN2, ARCH_QWEN3, ARCH_PHI3, ARCH_GEMMA, ARCH_GEMMA2, ARCH_GPT2, ARCH_STARCODER,
    ARCH_GPTNEOX, ARCH_FALCON, ARCH_MPT, ARCH_BLOOM, ARCH_T5, ARCH_COUNT
} arch_id;

/* The norm of every block: RMSNorm x / rms(x) * g, or LayerNorm
 * (x - mean) / sd * g (+ b when the file has a bias). */
typedef enum { NORM_RMS = 0, NORM_LAYER } norm_kind;
/* The MLP: down(silu(gate x) * up x), down(gelu(gate x) * up x), or the
 * non-gated down(gelu(up x)) or down(relu(up x)) (the original T5); each
 * product with its bias when present. */
typedef enum { FFN_SWIGLU = 0, FFN_GEGLU, FFN_GELU, FFN_RELU } ffn_kind;
/* GELU's form: the tanh approximation (llama.cpp for every GGUF family,
 * HF gelu_new / gelu_pytorch_tanh) or the exact erf (HF "gelu"). */
typedef enum { GELU_TANH = 0, GELU_ERF } gelu_kind;
/* Where positions enter: RoPE on q/k, a learned absolute embedding added
 * to the token embedding, ALiBi (a per-head linear bias on the scores), or
 * T5's relative buckets (a learned per-head bias on the scores, looked up
 * by the bucket of key position - query position). */
typedef enum { POS_ROPE = 0, POS_LEARNED, POS_ALIBI, POS_RELATIVE } pos_kind;

typedef enum { ROPE_SCALING_NONE = 0, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3 } rope_scaling_type;

/* One architecture's fixed traits (arch.c).  What a file may still change
 * (partial rotary, parallel residual of gptneox, falcon's norm layout, the
 * sliding window...) is resolved into model_config by the loaders. */
typedef struct {
    arch_id id;
    const char *name;     /* GGUF general.architecture: "llama", "gpt2"... */
    const char *hf_class; /* "LlamaForCausalLM", ... */
    const char *hf_model_type; /* config.json model_type */
    bool qkv_bias;        /* q/k/v biases are required (qwen2); other biases load when present */
    bool gguf_qk_permuted; /* GGUF stores q/k for interleaved RoPE */
    float default_eps;
    float default_theta;
    norm_kind norm;
    ffn_kind ffn;
    pos_kind pos;
    bool parallel_residual; /* x + attn(n1 x) + mlp(n2 x) (gptneox may turn it off) */
    bool attn_norm_2;     /* falcon: one attn_norm feeds both branches, or with attn_norm_2
                             (40B) attention reads attn_norm_2 and the MLP attn_norm */
    bool embd_scale_sqrt_dim; /* embeddings times sqrt(dim) (gemma) */
    bool embd_norm;       /* a LayerNorm on the embeddings (bloom: token_embd_norm) */
    bool qk_norm;         /* RMSNorm of each q and k head before RoPE (qwen3) */
    bool post_norms;      /* norms on the attention and MLP outputs before the residual (gemma2) */
    bool softcaps;        /* attention and final logit soft-capping keys (gemma2) */
    int swa_dense_every;  /* sliding window layout: 0 every layer, k: every k-th layer full (gemma2: 2) */
    bool hf_norm_plus_one; /* HF stores RMSNorm gains as w, used as 1 + w (gemma); GGUF stores 1 + w */
    bool hf_tied_default; /* tie_word_embeddings when config.json does not say */
    bool encdec;          /* encoder-decoder (T5): an encoder stack, cross-attention in the decoder */
} arch_desc;

const arch_desc *arch_find_gguf(const char *name);      /* NULL if unsupported */
const arch_desc *arch_find_hf(const char *model_type);  /* NULL if unsupported */
const arch_desc *arch_get(arch_id id);
/* "llama, qwen2, ..." (hf: the config.json model_type values) into out. */
void arch_list(char *out, size_t cap, bool hf);

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
    /* the architecture's shape (arch_desc, resolved with the file's keys) */
    norm_kind norm;
    ffn_kind ffn;
    gelu_kind gelu;              /* FFN_GEGLU / FFN_GELU */
    pos_kind pos;
    bool parallel_residual;      /* x + attn(attn_norm x) + mlp(ffn_norm x) */
    int n_rot;                   /* POS_ROPE: rotated dims of a head, even, <= head_dim (partial rotary) */
    float alibi_max_bias;        /* POS_ALIBI: slopes 2^(-max_bias * k / n) (alibi_slopes) */
    float clamp_qkv;             /* > 0: q, k, v clamped to [-c, c] after the projection (mpt) */
    float embd_scale;            /* embeddings multiplied by it (1: none; gemma: sqrt(dim)) */
    float attn_scale;            /* q.k multiplier: 1/sqrt(head_dim) unless the model says otherwise */
    float attn_softcap;          /* > 0: scores s -> c tanh(s / c) before the mask (gemma2) */
    float final_softcap;         /* > 0: logits z -> c tanh(z / c) (gemma2) */
    bool qk_norm;                /* per-head RMSNorm of q and k (attn_q_norm, attn_k_norm) */
    /* Sliding-window attention: a query at position i sees keys j with
     * 0 <= i - j < sliding_window (0: full causal).  Which layers: every
     * one when swa_dense_every is 0, else all but every swa_dense_every-th
     * (l % k == k - 1 is full causal: gemma2's odd layers).  model_layer_window
     * gives a layer's window; a KV block none of the windowed layers can
     * see again is needed only by the full layers. */
    int sliding_window;
    int swa_dense_every;
    /* Encoder-decoder (T5).  n_enc_layers > 0: the prompt goes through the
     * encoder stack once (bidirectional attention), each decoder layer
     * attends to its output (cross-attention) and the decoder generates
     * from dec_start_id.  POS_RELATIVE: the bucket of a key at offset
     * d = key pos - query pos (rel_buckets buckets, logarithmic up to
     * rel_max_distance; half of them for d > 0 in the encoder, d <= 0 only
     * in the decoder) selects a learned per-head bias added to q.k. */
    int n_enc_layers;            /* 0: decoder-only */
    int rel_buckets;
    int rel_max_distance;
    int32_t dec_start_id;        /* the decoder's first token (T5: pad, 0) */
    float output_scale;          /* final hidden state multiplied by it before the head (1: none;
                                    T5 with a tied head: dim^-0.5) */
} model_config;

/* c's architecture traits and defaults from a (arch.c): the loaders start
 * from these, then read the file's keys. */
void arch_apply(const arch_desc *a, model_config *c);

/* An encoder-decoder model (T5). */
static inline bool model_is_encdec(const model_config *c) { return c->n_enc_layers > 0; }

/* T5's relative position bucket of offset d = key position - query
 * position (bidirectional: the encoder; else causal): exact buckets for
 * small |d|, logarithmic ones up to max_distance, the last one beyond
 * (transformers' T5Attention._relative_position_bucket, llama.cpp's
 * llama_relative_position_bucket). */
int32_t model_rel_bucket(int d, int n_buckets, int max_distance, bool bidirectional);

/* The window of layer l (0: full causal attention). */
static inline int model_layer_window(const model_config *c, int l) {
    if (c->sliding_window <= 0) return 0;
    int k = c->swa_dense_every;
    return k > 0 && l % k == k - 1 ? 0 : c->sliding_window;
}

/* The window every layer shares (0: some layer attends to everything):
 * a KV block wholly before the latest position - window + 1 is never read
 * again, so the scheduler gives it back (kv_seq_drop_before). */
static inline int model_kv_window(const model_config *c) {
    return c->sliding_window > 0 && c->swa_dense_every == 0 ? c->sliding_window : 0;
}

/* Optional vectors are NULL when the file has none. */
typedef struct {
    float *attn_norm; /* (dim) the norm attention reads (falcon-40B: attn_norm_2) */
    float *attn_norm_b; /* (dim) LayerNorm bias or NULL */
    wmat wq;          /* (n_heads*head_dim, dim) */
    wmat wk;          /* (n_kv_heads*head_dim, dim) */
    wmat wv;          /* (n_kv_heads*head_dim, dim) */
    float *bq;        /* (n_heads*head_dim) or NULL */
    float *bk;        /* (n_kv_heads*head_dim) or NULL */
    float *bv;        /* (n_kv_heads*head_dim) or NULL */
    float *q_norm;    /* (head_dim) per-head RMSNorm gains of q (qwen3) or NULL */
    float *k_norm;    /* (head_dim) ... of k */
    wmat wo;          /* (dim, n_heads*head_dim) */
    float *bo;        /* (dim) or NULL */
    float *post_attn_norm; /* (dim) norm of the attention output (gemma2) or NULL */
    float *ffn_norm;  /* (dim) the norm the MLP reads; NULL in a parallel block
                         whose MLP reads attn_norm's output too (falcon-7B) */
    float *ffn_norm_b; /* (dim) or NULL */
    wmat w_gate;      /* (ffn_dim, dim); absent (data NULL) for FFN_GELU */
    float *b_gate;    /* (ffn_dim) or NULL */
    wmat w_up;        /* (ffn_dim, dim) */
    float *b_up;      /* (ffn_dim) or NULL */
    wmat w_down;      /* (dim, ffn_dim) */
    float *b_down;    /* (dim) or NULL */
    float *post_ffn_norm; /* (dim) norm of the MLP output (gemma2) or NULL */
    const float *rel_bias; /* (rel_buckets, n_heads) POS_RELATIVE: the bias the layer's self-attention
                              adds, by bucket then head: its own attn_rel_b or (T5: only layer 0 of each
                              stack has one) layer 0's; NULL otherwise */
    /* cross-attention on the encoder's output (T5 decoder layers; absent: cross_norm NULL) */
    float *cross_norm; /* (dim) */
    wmat wq_cross;     /* (n_heads*head_dim, dim) on the decoder's stream */
    wmat wk_cross;     /* (n_kv_heads*head_dim, dim) on the encoder's output */
    wmat wv_cross;     /* (n_kv_heads*head_dim, dim) */
    wmat wo_cross;     /* (dim, n_heads*head_dim) */
} layer_weights;

/* LoRA (lora.c).  The products an adapter may change, in layer_weights'
 * order; the file names of each are lora.c's table. */
typedef enum {
    LORA_Q = 0, LORA_K, LORA_V, LORA_O, LORA_GATE, LORA_UP, LORA_DOWN, LORA_N_TARGETS
} lora_target;

/* One adapted product W (rows, cols): W x + scale * B (A x), in the base's
 * row order (rotate-half q/k rows, model.h "RoPE layout").  Each matrix
 * stays in its file's 16-bit type (F16 or BF16: half the bytes a decode
 * step reads) or is F32 (F32 files, and the types that widen exactly only
 * to f32, e.g. Q8_0); the products widen each value to f32 exactly.
 * a NULL: this product is not adapted. */
typedef struct {
    void *a;          /* (r, cols) of a_type */
    void *bt;         /* (r, rows) of bt_type: B transposed, so B t runs along contiguous outputs */
    uint32_t a_type;  /* DT_F32, DT_F16 or DT_BF16 */
    uint32_t bt_type;
    int r;
    float scale;      /* alpha / r (rslora: alpha / sqrt(r); GGUF without alpha: 1) */
} lora_pair;

typedef struct {
    char *name;        /* the name requests select it by */
    char *path;        /* as given */
    const char *format; /* static: "peft" | "gguf" */
    int rank;          /* the largest r of its pairs */
    float alpha;       /* lora_alpha / adapter.lora.alpha (0: GGUF without one) */
    unsigned targets;  /* bit t set: some layer adapts lora_target t */
    lora_pair *w;      /* (n_layers * LORA_N_TARGETS): layer l, target t at l * LORA_N_TARGETS + t */
} lora_adapter;

struct model {
    model_config cfg;
    char *name;        /* general.name or directory name */
    char *path;        /* as given */
    char *format;      /* "gguf" | "safetensors" */
    char *dtype;       /* the matrices' types by share of parameters, e.g. "Q4_K+Q6_K" */
    const uint8_t *tok_embd; /* (vocab, dim) rows of type tok_embd_type, the file's bytes */
    uint32_t tok_embd_type;
    size_t tok_embd_row_bytes;
    const uint8_t *pos_embd; /* POS_LEARNED: (n_pos_embd, dim) rows of type pos_embd_type, the file's bytes */
    uint32_t pos_embd_type;
    size_t pos_embd_row_bytes;
    int n_pos_embd;    /* positions it covers (>= ctx_len) */
    float *embd_norm, *embd_norm_b; /* (dim) LayerNorm of the embeddings (bloom) or NULL */
    layer_weights *layers; /* (n_layers) */
    float *out_norm;   /* (dim) */
    float *out_norm_b; /* (dim) or NULL */
    wmat output;       /* (vocab, dim); a copy of tok_embd's values when tied */
    float *rope_inv_freq; /* (n_rot/2) theta^(-2i/n_rot), with scaling applied (POS_ROPE) */
    float *alibi_slopes;  /* (n_heads) POS_ALIBI, else NULL */
    /* encoder-decoder (cfg.n_enc_layers > 0): the encoder stack (attention
     * and MLP, no cross_*) and its final norm; layers[] and out_norm are
     * the decoder's */
    layer_weights *enc_layers; /* (n_enc_layers) */
    float *enc_out_norm;       /* (dim) */
    /* POS_RELATIVE: the bucket of offset d = key - query at [d + rel_max_distance], d clamped
     * to +-rel_max_distance (every bucket is reached within it: farther keys share the last) */
    int32_t *rel_bucket_enc;   /* (2 rel_max_distance + 1) bidirectional (encoder) */
    int32_t *rel_bucket_dec;   /* (2 rel_max_distance + 1) causal (decoder; d > 0 never occurs) */
    tokenizer *tok;
    int32_t *eos_ids;  /* ids that end generation (EOS + generation_config), n_eos */
    int n_eos;
    char *chat_template; /* raw template text or NULL */
    const char *chat_template_origin; /* static: which file it came from (model_hf.c); NULL = the format's own */
    uint64_t n_params;
    /* LoRA adapters added after loading (model_lora_load), selected per
     * request by their 1-based index (0: the base alone) */
    lora_adapter *loras; /* (n_loras) */
    int n_loras;
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
