/*
 * hf_write.c — a llama.cpp-layout GGUF rewritten as its family's Hugging
 * Face directory (hf_write.h).  Owns the per-family tensor tables (GGUF
 * name -> HF name and how the values move), the config.json of each
 * model_type and a loadable tokenizer.json.  All tensors are written F32.
 */
#include "hf_write.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf_write.h"
#include "model/dtype.h"
#include "model/gguf.h"
#include "synth_model.h"

typedef enum {
    X_NONE,      /* as stored */
    X_TRANSPOSE, /* Conv1D: (rows, cols) stored as (cols, rows) */
    X_GAIN,      /* RMSNorm gain 1 + w stored as w (gemma) */
    X_GROUPED,   /* fused qkv rows q|k|v -> per kv group [its q heads, k, v] */
} xform;

typedef struct {
    const char *gguf, *hf; /* base names (no .weight / .bias); %d: layer */
    xform x;
} entry;

static const entry GPT2[] = { /* the original checkpoints: no "transformer." */
    {"token_embd", "wte", X_NONE}, {"position_embd", "wpe", X_NONE}, {"output_norm", "ln_f", X_NONE},
    {"output", "lm_head", X_NONE}, {"attn_norm", "h.%d.ln_1", X_NONE}, {"attn_qkv", "h.%d.attn.c_attn", X_TRANSPOSE},
    {"attn_output", "h.%d.attn.c_proj", X_TRANSPOSE}, {"ffn_norm", "h.%d.ln_2", X_NONE},
    {"ffn_up", "h.%d.mlp.c_fc", X_TRANSPOSE}, {"ffn_down", "h.%d.mlp.c_proj", X_TRANSPOSE}, {NULL, NULL, X_NONE},
};
static const entry BIGCODE[] = {
    {"token_embd", "transformer.wte", X_NONE}, {"position_embd", "transformer.wpe", X_NONE},
    {"output_norm", "transformer.ln_f", X_NONE}, {"output", "lm_head", X_NONE},
    {"attn_norm", "transformer.h.%d.ln_1", X_NONE}, {"attn_qkv", "transformer.h.%d.attn.c_attn", X_GROUPED},
    {"attn_output", "transformer.h.%d.attn.c_proj", X_NONE}, {"ffn_norm", "transformer.h.%d.ln_2", X_NONE},
    {"ffn_up", "transformer.h.%d.mlp.c_fc", X_NONE}, {"ffn_down", "transformer.h.%d.mlp.c_proj", X_NONE},
    {NULL, NULL, X_NONE},
};
static const entry NEOX[] = {
    {"token_embd", "gpt_neox.embed_in", X_NONE}, {"output_norm", "gpt_neox.final_layer_norm", X_NONE},
    {"output", "embed_out", X_NONE}, {"attn_norm", "gpt_neox.layers.%d.input_layernorm", X_NONE},
    {"attn_qkv", "gpt_neox.layers.%d.attention.query_key_value", X_GROUPED},
    {"attn_output", "gpt_neox.layers.%d.attention.dense", X_NONE},
    {"ffn_norm", "gpt_neox.layers.%d.post_attention_layernorm", X_NONE},
    {"ffn_up", "gpt_neox.layers.%d.mlp.dense_h_to_4h", X_NONE},
    {"ffn_down", "gpt_neox.layers.%d.mlp.dense_4h_to_h", X_NONE}, {NULL, NULL, X_NONE},
};
static const entry FALCON_7B[] = {
    {"token_embd", "transformer.word_embeddings", X_NONE}, {"output_norm", "transformer.ln_f", X_NONE},
    {"output", "lm_head", X_NONE}, {"attn_norm", "transformer.h.%d.input_layernorm", X_NONE},
    {"attn_qkv", "transformer.h.%d.self_attention.query_key_value", X_GROUPED},
    {"attn_output", "transformer.h.%d.self_attention.dense", X_NONE},
    {"ffn_up", "transformer.h.%d.mlp.dense_h_to_4h", X_NONE},
    {"ffn_down", "transformer.h.%d.mlp.dense_4h_to_h", X_NONE}, {NULL, NULL, X_NONE},
};
static const entry FALCON_40B[] = {
    {"token_embd", "transformer.word_embeddings", X_NONE}, {"output_norm", "transformer.ln_f", X_NONE},
    {"output", "lm_head", X_NONE}, {"attn_norm_2", "transformer.h.%d.ln_attn", X_NONE},
    {"attn_norm", "transformer.h.%d.ln_mlp", X_NONE},
    {"attn_qkv", "transformer.h.%d.self_attention.query_key_value", X_GROUPED},
    {"attn_output", "transformer.h.%d.self_attention.dense", X_NONE},
    {"ffn_up", "transformer.h.%d.mlp.dense_h_to_4h", X_NONE},
    {"ffn_down", "transformer.h.%d.mlp.dense_4h_to_h", X_NONE}, {NULL, NULL, X_NONE},
};
static const entry MPT[] = {
    {"token_embd", "transformer.wte", X_NONE}, {"output_norm", "transformer.norm_f", X_NONE},
    {"attn_norm", "transformer.blocks.%d.norm_1", X_NONE}, {"attn_qkv", "transformer.blocks.%d.attn.Wqkv", X_NONE},
    {"attn_output", "transformer.blocks.%d.attn.out_proj", X_NONE}, {"ffn_norm", "transformer.blocks.%d.norm_2", X_NONE},
    {"ffn_up", "transformer.blocks.%d.ffn.up_proj", X_NONE}, {"ffn_down", "transformer.blocks.%d.ffn.down_proj", X_NONE},
    {NULL, NULL, X_NONE},
};
static const entry BLOOM[] = {
    {"token_embd", "transformer.word_embeddings", X_NONE},
    {"token_embd_norm", "transformer.word_embeddings_layernorm", X_NONE},
    {"output_norm", "transformer.ln_f", X_NONE}, {"output", "lm_head", X_NONE},
    {"attn_norm", "transformer.h.%d.input_layernorm", X_NONE},
    {"attn_qkv", "transformer.h.%d.self_attention.query_key_value", X_GROUPED},
    {"attn_output", "transformer.h.%d.self_attention.dense", X_NONE},
    {"ffn_norm", "transformer.h.%d.post_attention_layernorm", X_NONE},
    {"ffn_up", "transformer.h.%d.mlp.dense_h_to_4h", X_NONE},
    {"ffn_down", "transformer.h.%d.mlp.dense_4h_to_h", X_NONE}, {NULL, NULL, X_NONE},
};
static const entry PHI3[] = {
    {"token_embd", "model.embed_tokens", X_NONE}, {"output_norm", "model.norm", X_NONE}, {"output", "lm_head", X_NONE},
    {"attn_norm", "model.layers.%d.input_layernorm", X_NONE}, {"attn_qkv", "model.layers.%d.self_attn.qkv_proj", X_NONE},
    {"attn_output", "model.layers.%d.self_attn.o_proj", X_NONE},
    {"ffn_norm", "model.layers.%d.post_attention_layernorm", X_NONE},
    {"ffn_up", "model.layers.%d.mlp.gate_up_proj", X_NONE}, {"ffn_down", "model.layers.%d.mlp.down_proj", X_NONE},
    {NULL, NULL, X_NONE},
};
#define GEMMA_COMMON                                                                                             \
    {"token_embd", "model.embed_tokens", X_NONE}, {"output_norm", "model.norm", X_GAIN},                        \
        {"attn_norm", "model.layers.%d.input_layernorm", X_GAIN}, {"attn_q", "model.layers.%d.self_attn.q_proj", X_NONE}, \
        {"attn_k", "model.layers.%d.self_attn.k_proj", X_NONE}, {"attn_v", "model.layers.%d.self_attn.v_proj", X_NONE}, \
        {"attn_output", "model.layers.%d.self_attn.o_proj", X_NONE},                                            \
        {"ffn_gate", "model.layers.%d.mlp.gate_proj", X_NONE}, {"ffn_up", "model.layers.%d.mlp.up_proj", X_NONE}, \
        {"ffn_down", "model.layers.%d.mlp.down_proj", X_NONE}
static const entry GEMMA[] = {
    GEMMA_COMMON, {"ffn_norm", "model.layers.%d.post_attention_layernorm", X_GAIN}, {NULL, NULL, X_NONE},
};
static const entry GEMMA2[] = {
    GEMMA_COMMON,
    {"post_attention_norm", "model.layers.%d.post_attention_layernorm", X_GAIN},
    {"ffn_norm", "model.layers.%d.pre_feedforward_layernorm", X_GAIN},
    {"post_ffw_norm", "model.layers.%d.post_feedforward_layernorm", X_GAIN},
    {NULL, NULL, X_NONE},
};

/* T5 (llama.cpp's enc.blk.N / dec.blk.N names, written out whole: %d the
 * block); ffn_up is wi_1 beside a gate (flan-t5), else wi (t5's relu). */
#define T5_COMMON(wi)                                                                                            \
    {"token_embd", "shared", X_NONE}, {"output", "lm_head", X_NONE},                                             \
        {"enc.output_norm", "encoder.final_layer_norm", X_NONE},                                                \
        {"dec.output_norm", "decoder.final_layer_norm", X_NONE},                                                \
        {"enc.blk.%d.attn_norm", "encoder.block.%d.layer.0.layer_norm", X_NONE},                                \
        {"enc.blk.%d.attn_q", "encoder.block.%d.layer.0.SelfAttention.q", X_NONE},                              \
        {"enc.blk.%d.attn_k", "encoder.block.%d.layer.0.SelfAttention.k", X_NONE},                              \
        {"enc.blk.%d.attn_v", "encoder.block.%d.layer.0.SelfAttention.v", X_NONE},                              \
        {"enc.blk.%d.attn_o", "encoder.block.%d.layer.0.SelfAttention.o", X_NONE},                              \
        {"enc.blk.%d.attn_rel_b", "encoder.block.%d.layer.0.SelfAttention.relative_attention_bias", X_NONE},    \
        {"enc.blk.%d.ffn_norm", "encoder.block.%d.layer.1.layer_norm", X_NONE},                                 \
        {"enc.blk.%d.ffn_gate", "encoder.block.%d.layer.1.DenseReluDense.wi_0", X_NONE},                        \
        {"enc.blk.%d.ffn_up", "encoder.block.%d.layer.1.DenseReluDense." wi, X_NONE},                           \
        {"enc.blk.%d.ffn_down", "encoder.block.%d.layer.1.DenseReluDense.wo", X_NONE},                          \
        {"dec.blk.%d.attn_norm", "decoder.block.%d.layer.0.layer_norm", X_NONE},                                \
        {"dec.blk.%d.attn_q", "decoder.block.%d.layer.0.SelfAttention.q", X_NONE},                              \
        {"dec.blk.%d.attn_k", "decoder.block.%d.layer.0.SelfAttention.k", X_NONE},                              \
        {"dec.blk.%d.attn_v", "decoder.block.%d.layer.0.SelfAttention.v", X_NONE},                              \
        {"dec.blk.%d.attn_o", "decoder.block.%d.layer.0.SelfAttention.o", X_NONE},                              \
        {"dec.blk.%d.attn_rel_b", "decoder.block.%d.layer.0.SelfAttention.relative_attention_bias", X_NONE},    \
        {"dec.blk.%d.cross_attn_norm", "decoder.block.%d.layer.1.layer_norm", X_NONE},                          \
        {"dec.blk.%d.cross_attn_q", "decoder.block.%d.layer.1.EncDecAttention.q", X_NONE},                      \
        {"dec.blk.%d.cross_attn_k", "decoder.block.%d.layer.1.EncDecAttention.k", X_NONE},                      \
        {"dec.blk.%d.cross_attn_v", "decoder.block.%d.layer.1.EncDecAttention.v", X_NONE},                      \
        {"dec.blk.%d.cross_attn_o", "decoder.block.%d.layer.1.EncDecAttention.o", X_NONE},                      \
        {"dec.blk.%d.ffn_norm", "decoder.block.%d.layer.2.layer_norm", X_NONE},                                 \
        {"dec.blk.%d.ffn_gate", "decoder.block.%d.layer.2.DenseReluDense.wi_0", X_NONE},                        \
        {"dec.blk.%d.ffn_up", "decoder.block.%d.layer.2.DenseReluDense." wi, X_NONE},                           \
        {"dec.blk.%d.ffn_down", "decoder.block.%d.layer.2.DenseReluDense.wo", X_NONE}, {NULL, NULL, X_NONE}
static const entry T5_GATED[] = {T5_COMMON("wi_1")};
static const entry T5_RELU[] = {T5_COMMON("wi")};

typedef struct {
    const gguf_file *f;
    const char *an;
    int dim, n_layers, n_head, n_kv, hd, ffn, ctx, vocab;
    float eps;
    sw_writer *sw;
    bool f16;
    char *err;
} wctx;

static uint32_t ku32(const wctx *w, const char *key, uint32_t dflt) {
    char k[128];
    uint32_t v;
    snprintf(k, sizeof k, "%s.%s", w->an, key);
    return gguf_get_u32(w->f, k, &v) ? v : dflt;
}

static float kf32(const wctx *w, const char *key, float dflt) {
    char k[128];
    float v;
    snprintf(k, sizeof k, "%s.%s", w->an, key);
    return gguf_get_f32(w->f, k, &v) ? v : dflt;
}

/* Row r of the HF grouped layout is which row of GGUF's q|k|v? */
static uint64_t grouped_src(const wctx *w, uint64_t r) {
    uint64_t hd = (uint64_t)w->hd, qpg = (uint64_t)(w->n_head / w->n_kv), head = r / hd, i = r % hd;
    uint64_t g = head / (qpg + 2), j = head % (qpg + 2), q = (uint64_t)w->n_head * hd, kv = (uint64_t)w->n_kv * hd;
    if (j < qpg) return (g * qpg + j) * hd + i;
    return (j == qpg ? q : q + kv) + g * hd + i;
}

/* GGUF tensor `name` (absent: true, nothing written) as HF `hf`. */
static bool put(wctx *w, const char *name, const char *hf, xform x) {
    const gguf_tensor *t = gguf_find_tensor(w->f, name);
    if (!t) return true;
    uint64_t cols = t->ne[0], rows = t->n_dims > 1 ? t->ne[1] : 1, n = rows * cols;
    float *v = malloc(n * sizeof(float)), *o = malloc(n * sizeof(float));
    if (!v || !o || !dt_to_f32(t->type, t->data, v, n)) {
        free(v);
        free(o);
        return ct_err(w->err, "hf_write: cannot read '%s'", name);
    }
    uint64_t shape[2] = {rows, cols};
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) {
            float val = v[r * cols + c];
            switch (x) {
            case X_TRANSPOSE: o[c * rows + r] = val; break;
            case X_GAIN: o[r * cols + c] = val - 1.0f; break;
            default: o[r * cols + c] = val; break;
            }
        }
    if (x == X_TRANSPOSE) shape[0] = cols, shape[1] = rows;
    if (x == X_GROUPED) { /* a matrix: rows regrouped; a bias: entries */
        uint64_t len = t->n_dims > 1 ? rows : cols, width = t->n_dims > 1 ? cols : 1;
        for (uint64_t r = 0; r < len; r++) memcpy(o + r * width, v + grouped_src(w, r) * width, width * sizeof(float));
    }
    bool half = w->f16 && t->n_dims > 1;
    if (half && !synth_quantize(DT_F16, o, v, n)) half = false; /* v: free now, holds the F16 bytes */
    bool ok = sw_add(w->sw, hf, half ? "F16" : "F32", t->n_dims > 1 ? 2 : 1, t->n_dims > 1 ? shape : &cols,
                     half ? (const void *)v : o, n * (half ? 2 : sizeof(float)));
    free(v);
    free(o);
    return ok || ct_err(w->err, "hf_write: out of memory");
}

static bool put_all(wctx *w, const entry *tab) {
    for (const entry *e = tab; e->gguf; e++) {
        bool per_layer = strstr(e->hf, "%d") != NULL;
        for (int l = 0; l < (per_layer ? w->n_layers : 1); l++)
            for (int b = 0; b < 2; b++) {
                char g[128], h[160], base[128], gb[96];
                const char *sfx = b ? ".bias" : ".weight";
                if (strstr(e->gguf, "%d")) { /* a whole name: T5's enc.blk.%d.* */
                    snprintf(gb, sizeof gb, e->gguf, l);
                    snprintf(g, sizeof g, "%s%s", gb, sfx);
                } else if (per_layer) {
                    snprintf(g, sizeof g, "blk.%d.%s%s", l, e->gguf, sfx);
                } else {
                    snprintf(g, sizeof g, "%s%s", e->gguf, sfx);
                }
                snprintf(base, sizeof base, e->hf, l);
                snprintf(h, sizeof h, "%s%s", base, sfx);
                if (!put(w, g, h, e->x)) return false;
            }
    }
    return true;
}

/* ---- config.json ------------------------------------------------------------------- */

static json_t *config(const wctx *w, const char *arch, const hf_write_opts *o, const entry **tab) {
    bool untied = gguf_find_tensor(w->f, "output.weight") != NULL;
    const char *tanh_gelu = o->gelu_erf ? "gelu" : "gelu_new";
    json_t *j = NULL;
    if (!strcmp(arch, "gpt2") || !strcmp(arch, "starcoder")) {
        bool sc = !strcmp(arch, "starcoder");
        *tab = sc ? BIGCODE : GPT2;
        j = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:b}", "model_type", sc ? "gpt_bigcode" : "gpt2",
                      "architectures", sc ? "GPTBigCodeForCausalLM" : "GPT2LMHeadModel", "n_embd", w->dim, "n_layer",
                      w->n_layers, "n_head", w->n_head, "n_inner", w->ffn, "n_positions", w->ctx,
                      "layer_norm_epsilon", (double)w->eps, "activation_function",
                      o->gelu_erf ? "gelu" : sc ? "gelu_pytorch_tanh" : "gelu_new", "tie_word_embeddings", !untied);
        if (sc) json_object_set_new(j, "multi_query", json_boolean(w->n_kv == 1));
    } else if (!strcmp(arch, "gptneox")) {
        *tab = NEOX;
        bool par = true;
        gguf_get_bool(w->f, "gptneox.use_parallel_residual", &par);
        j = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:b, s:s, s:b}", "model_type", "gpt_neox",
                      "architectures", "GPTNeoXForCausalLM", "hidden_size", w->dim, "num_hidden_layers", w->n_layers,
                      "num_attention_heads", w->n_head, "intermediate_size", w->ffn, "max_position_embeddings",
                      w->ctx, "rotary_pct", (double)ku32(w, "rope.dimension_count", (uint32_t)w->hd) / w->hd,
                      "rotary_emb_base", (double)kf32(w, "rope.freq_base", 10000), "layer_norm_eps", (double)w->eps,
                      "use_parallel_residual", par, "hidden_act", tanh_gelu, "tie_word_embeddings", !untied);
    } else if (!strcmp(arch, "falcon")) {
        bool b40 = gguf_find_tensor(w->f, "blk.0.attn_norm_2.weight") != NULL;
        *tab = b40 ? FALCON_40B : FALCON_7B;
        j = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:b, s:b, s:b, s:b, s:s, s:b}",
                      "model_type", "falcon", "architectures", "FalconForCausalLM", "hidden_size", w->dim,
                      "num_hidden_layers", w->n_layers, "num_attention_heads", w->n_head, "num_kv_heads", w->n_kv,
                      "ffn_hidden_size", w->ffn, "max_position_embeddings", w->ctx, "layer_norm_epsilon",
                      (double)w->eps, "rope_theta", (double)kf32(w, "rope.freq_base", 10000), "new_decoder_architecture",
                      b40, "multi_query", !b40 && w->n_kv == 1, "parallel_attn", 1, "bias", 0, "alibi", 0,
                      "activation", o->gelu_erf ? "gelu" : "gelu_pytorch_tanh", "tie_word_embeddings", !untied);
    } else if (!strcmp(arch, "mpt")) {
        *tab = MPT;
        float clip = kf32(w, "attention.clamp_kqv", 0);
        json_t *att = json_pack("{s:b, s:f, s:b, s:s}", "alibi", 1, "alibi_bias_max",
                                (double)kf32(w, "attention.max_alibi_bias", 8), "qk_ln", 0, "attn_type",
                                "multihead_attention");
        json_object_set_new(att, "clip_qkv", clip > 0 ? json_real(clip) : json_null());
        j = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:f, s:i, s:f, s:b, s:o}", "model_type", "mpt", "architectures",
                      "MptForCausalLM", "d_model", w->dim, "n_layers", w->n_layers, "n_heads", w->n_head,
                      "expansion_ratio", (double)w->ffn / w->dim, "max_seq_len", w->ctx, "layer_norm_epsilon",
                      (double)w->eps, "no_bias", 1, "attn_config", att);
    } else if (!strcmp(arch, "bloom")) {
        *tab = BLOOM;
        j = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:f, s:i, s:b}", "model_type", "bloom", "architectures",
                      "BloomForCausalLM", "hidden_size", w->dim, "n_layer", w->n_layers, "n_head", w->n_head,
                      "layer_norm_epsilon", (double)w->eps, "seq_length", w->ctx, "tie_word_embeddings", !untied);
    } else if (!strcmp(arch, "phi3") || !strcmp(arch, "gemma") || !strcmp(arch, "gemma2")) {
        bool phi = !strcmp(arch, "phi3"), g2 = !strcmp(arch, "gemma2");
        *tab = phi ? PHI3 : g2 ? GEMMA2 : GEMMA;
        j = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b}", "model_type", arch,
                      "architectures", phi ? "Phi3ForCausalLM" : g2 ? "Gemma2ForCausalLM" : "GemmaForCausalLM",
                      "hidden_size", w->dim, "num_hidden_layers", w->n_layers, "num_attention_heads", w->n_head,
                      "num_key_value_heads", w->n_kv, "head_dim", w->hd, "intermediate_size", w->ffn,
                      "max_position_embeddings", w->ctx, "rms_norm_eps", (double)w->eps, "rope_theta",
                      (double)kf32(w, "rope.freq_base", 10000), "tie_word_embeddings", !untied);
        uint32_t win = ku32(w, "attention.sliding_window", 0);
        if (win) json_object_set_new(j, "sliding_window", json_integer(win));
        if (phi) json_object_set_new(j, "hidden_act", json_string("silu"));
        else json_object_set_new(j, "hidden_activation", json_string(o->gelu_erf ? "gelu" : "gelu_pytorch_tanh"));
        if (g2) {
            json_object_set_new(j, "query_pre_attn_scalar", json_integer(w->hd));
            json_object_set_new(j, "attn_logit_softcapping", json_real(kf32(w, "attn_logit_softcapping", 0)));
            json_object_set_new(j, "final_logit_softcapping", json_real(kf32(w, "final_logit_softcapping", 0)));
        }
    } else if (!strcmp(arch, "t5")) { /* umt5: a relative bias in every layer */
        bool gated = gguf_find_tensor(w->f, "enc.blk.0.ffn_gate.weight") != NULL;
        bool umt5 = gguf_find_tensor(w->f, "enc.blk.1.attn_rel_b.weight") != NULL;
        *tab = gated ? T5_GATED : T5_RELU;
        j = json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:b, s:b, s:i, s:i}",
                      "model_type", umt5 ? "umt5" : "t5", "architectures",
                      umt5 ? "UMT5ForConditionalGeneration" : "T5ForConditionalGeneration", "d_model", w->dim, "d_kv",
                      w->hd, "d_ff", w->ffn, "num_layers", w->n_layers, "num_decoder_layers",
                      (int)ku32(w, "decoder_block_count", (uint32_t)w->n_layers), "num_heads", w->n_head,
                      "relative_attention_num_buckets", (int)ku32(w, "attention.relative_buckets_count", 32),
                      "layer_norm_epsilon", (double)w->eps, "feed_forward_proj", gated ? "gated-gelu" : "relu",
                      "tie_word_embeddings", !untied, "is_encoder_decoder", 1, "n_positions", w->ctx,
                      "decoder_start_token_id", (int)ku32(w, "decoder_start_token_id", 0));
        json_object_set_new(j, "relative_attention_max_distance", json_integer(128));
        json_object_set_new(j, "pad_token_id", json_integer(ku32(w, "decoder_start_token_id", 0)));
    }
    if (j) {
        json_object_set_new(j, "vocab_size", json_integer(w->vocab));
        uint32_t id;
        if (gguf_get_u32(w->f, "tokenizer.ggml.bos_token_id", &id)) json_object_set_new(j, "bos_token_id", json_integer(id));
        if (gguf_get_u32(w->f, "tokenizer.ggml.eos_token_id", &id)) json_object_set_new(j, "eos_token_id", json_integer(id));
    }
    return j;
}

/* A BPE tokenizer.json over the GGUF's token strings, no merges. */
static json_t *tokenizer(const gguf_file *f) {
    gguf_type ty;
    uint64_t n = 0;
    if (!gguf_get_arr(f, "tokenizer.ggml.tokens", &ty, &n) || ty != GGUF_T_STRING) return NULL;
    json_t *vocab = json_object(), *added = json_array();
    for (uint64_t i = 0; i < n; i++) {
        gguf_str s;
        char buf[256];
        if (!gguf_arr_str(f, "tokenizer.ggml.tokens", i, &s)) continue;
        snprintf(buf, sizeof buf, "%.*s", (int)s.len, s.ptr);
        json_object_set_new(vocab, buf, json_integer((json_int_t)i));
        if (i < 3)
            json_array_append_new(added, json_pack("{s:I, s:s, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)i,
                                                   "content", buf, "single_word", 0, "lstrip", 0, "rstrip", 0,
                                                   "normalized", 0, "special", 1));
    }
    return json_pack("{s:s, s:o, s:o, s:n, s:n, s:n, s:n}", "version", "1.0", "added_tokens", added, "model",
                     json_pack("{s:s, s:o, s:[], s:b, s:s}", "type", "BPE", "vocab", vocab, "merges", "byte_fallback",
                               1, "unk_token", "<unk>"),
                     "normalizer", "pre_tokenizer", "post_processor", "decoder");
}

static bool dump(const char *dir, const char *file, json_t *j, char *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    bool ok = j && json_dump_file(j, path, JSON_INDENT(1)) == 0;
    json_decref(j);
    return ok || ct_err(err, "hf_write: cannot write %s", path);
}

bool hf_write_from_gguf(const char *gguf_path, const char *dir, const hf_write_opts *o, char *err) {
    hf_write_opts none = {0};
    gguf_file *f = gguf_open(gguf_path, err);
    if (!f) return false;
    char *arch = gguf_get_strdup(f, "general.architecture");
    wctx w = {.f = f, .an = arch, .err = err, .f16 = o && o->f16};
    w.dim = (int)ku32(&w, "embedding_length", 0);
    w.n_layers = (int)ku32(&w, "block_count", 0);
    w.n_head = (int)ku32(&w, "attention.head_count", 1);
    w.n_kv = (int)ku32(&w, "attention.head_count_kv", (uint32_t)w.n_head);
    w.hd = (int)ku32(&w, "attention.key_length", (uint32_t)(w.dim / w.n_head));
    w.ffn = (int)ku32(&w, "feed_forward_length", 0);
    w.ctx = (int)ku32(&w, "context_length", 2048);
    w.eps = kf32(&w, "attention.layer_norm_epsilon", kf32(&w, "attention.layer_norm_rms_epsilon", 1e-5f));
    int dec_layers = (int)ku32(&w, "decoder_block_count", (uint32_t)w.n_layers);
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    w.vocab = emb ? (int)emb->ne[1] : 0;
    const entry *tab = NULL;
    json_t *cfg = arch ? config(&w, arch, o ? o : &none, &tab) : NULL;
    bool ok = cfg != NULL || ct_err(err, "hf_write: architecture '%s' is not written", arch ? arch : "?");
    ok = ok && (mkdir(dir, 0755) == 0 || errno == EEXIST || ct_err(err, "%s: %s", dir, strerror(errno)));
    if (ok) ok = dump(dir, "config.json", cfg, err); /* dump takes cfg */
    else json_decref(cfg);
    ok = ok && dump(dir, "tokenizer.json", tokenizer(f), err);
    w.sw = ok ? sw_new() : NULL;
    if (dec_layers > w.n_layers) w.n_layers = dec_layers; /* T5: absent tensors are skipped */
    ok = ok && w.sw && put_all(&w, tab);
    if (ok) {
        char path[4096];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        ok = sw_write(w.sw, path, err);
    }
    sw_free(w.sw);
    free(arch);
    gguf_close(f);
    return ok;
}

bool hf_write_tokenizer(const char *gguf_path, const char *dir, char *err) {
    gguf_file *f = gguf_open(gguf_path, err);
    if (!f) return false;
    bool ok = dump(dir, "tokenizer.json", tokenizer(f), err);
    gguf_close(f);
    return ok;
}
