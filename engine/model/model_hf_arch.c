/*
 * model_hf_arch.c — what each Hugging Face model_type calls things:
 * config.json keys -> model_config (hf_read_config), and tensor names and
 * layouts -> the canonical GGUF names model_assemble.c asks for
 * (hf_find_weight).  The conventions that differ from GGUF are declared
 * here and converted by model_assemble.c: gpt2's Conv1D matrices stored
 * (in, out); fused qkv rows grouped per head or per kv group (gpt_neox,
 * bloom, falcon, gpt_bigcode); gemma's RMSNorm gains stored as w for 1 + w.
 * T5 (t5, mt5, umt5) has a table of its own: its names say the stack
 * (encoder.block.N / decoder.block.N) and the sub-layer (layer.0 self-
 * attention, layer.1 cross-attention or MLP, layer.2 the decoder's MLP).
 * Any config value ctgi does not compute is refused by its key's name.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_load.h"
#include "safetensors.h"

/* ---- tensor names --------------------------------------------------------------- */

/* A GGUF tensor base name (no .weight/.bias) and its HF name (%d: layer). */
typedef struct {
    const char *gguf, *hf;
    bool conv1d; /* stored (in, out) */
} hf_name;

#define LLAMA_COMMON                                                                                            \
    {"token_embd", "model.embed_tokens", false}, {"output_norm", "model.norm", false},                         \
        {"output", "lm_head", false}, {"attn_norm", "model.layers.%d.input_layernorm", false},                 \
        {"attn_q", "model.layers.%d.self_attn.q_proj", false}, {"attn_k", "model.layers.%d.self_attn.k_proj", false}, \
        {"attn_v", "model.layers.%d.self_attn.v_proj", false},                                                 \
        {"attn_output", "model.layers.%d.self_attn.o_proj", false},                                            \
        {"ffn_gate", "model.layers.%d.mlp.gate_proj", false}, {"ffn_down", "model.layers.%d.mlp.down_proj", false}

static const hf_name LLAMA[] = {
    LLAMA_COMMON,
    {"ffn_norm", "model.layers.%d.post_attention_layernorm", false},
    {"ffn_up", "model.layers.%d.mlp.up_proj", false},
    {"attn_q_norm", "model.layers.%d.self_attn.q_norm", false}, /* qwen3 */
    {"attn_k_norm", "model.layers.%d.self_attn.k_norm", false},
    {NULL, NULL, false},
};
static const hf_name PHI3[] = { /* fused qkv_proj and gate_up_proj (= GGUF's ffn_up of 2*ffn rows) */
    LLAMA_COMMON,
    {"ffn_norm", "model.layers.%d.post_attention_layernorm", false},
    {"attn_qkv", "model.layers.%d.self_attn.qkv_proj", false},
    {"ffn_up", "model.layers.%d.mlp.gate_up_proj", false},
    {NULL, NULL, false},
};
static const hf_name GEMMA2[] = { /* four norms a block; post_attention_layernorm is a post-norm here */
    LLAMA_COMMON,
    {"ffn_up", "model.layers.%d.mlp.up_proj", false},
    {"post_attention_norm", "model.layers.%d.post_attention_layernorm", false},
    {"ffn_norm", "model.layers.%d.pre_feedforward_layernorm", false},
    {"post_ffw_norm", "model.layers.%d.post_feedforward_layernorm", false},
    {NULL, NULL, false},
};
#define GPT2_NAMES(conv)                                                                                       \
    {"token_embd", "transformer.wte", false}, {"position_embd", "transformer.wpe", false},                     \
        {"output_norm", "transformer.ln_f", false}, {"output", "lm_head", false},                              \
        {"attn_norm", "transformer.h.%d.ln_1", false}, {"attn_qkv", "transformer.h.%d.attn.c_attn", conv},     \
        {"attn_output", "transformer.h.%d.attn.c_proj", conv}, {"ffn_norm", "transformer.h.%d.ln_2", false},   \
        {"ffn_up", "transformer.h.%d.mlp.c_fc", conv}, {"ffn_down", "transformer.h.%d.mlp.c_proj", conv},      \
    {                                                                                                          \
        NULL, NULL, false                                                                                      \
    }
static const hf_name GPT2[] = {GPT2_NAMES(true)};     /* Conv1D: (in, out) */
static const hf_name BIGCODE[] = {GPT2_NAMES(false)}; /* gpt_bigcode: the same names, nn.Linear */
static const hf_name NEOX[] = {
    {"token_embd", "gpt_neox.embed_in", false}, {"output_norm", "gpt_neox.final_layer_norm", false},
    {"output", "embed_out", false}, {"attn_norm", "gpt_neox.layers.%d.input_layernorm", false},
    {"attn_qkv", "gpt_neox.layers.%d.attention.query_key_value", false},
    {"attn_output", "gpt_neox.layers.%d.attention.dense", false},
    {"ffn_norm", "gpt_neox.layers.%d.post_attention_layernorm", false},
    {"ffn_up", "gpt_neox.layers.%d.mlp.dense_h_to_4h", false},
    {"ffn_down", "gpt_neox.layers.%d.mlp.dense_4h_to_h", false},
    {NULL, NULL, false},
};
static const hf_name FALCON[] = { /* 40B: ln_attn feeds attention (attn_norm_2), ln_mlp the MLP */
    {"token_embd", "transformer.word_embeddings", false}, {"output_norm", "transformer.ln_f", false},
    {"output", "lm_head", false}, {"attn_norm", "transformer.h.%d.input_layernorm", false},
    {"attn_norm_2", "transformer.h.%d.ln_attn", false},
    {"attn_qkv", "transformer.h.%d.self_attention.query_key_value", false},
    {"attn_output", "transformer.h.%d.self_attention.dense", false},
    {"ffn_up", "transformer.h.%d.mlp.dense_h_to_4h", false},
    {"ffn_down", "transformer.h.%d.mlp.dense_4h_to_h", false},
    {NULL, NULL, false},
};
static const hf_name FALCON_40B_ATTN_NORM = {"attn_norm", "transformer.h.%d.ln_mlp", false};
static const hf_name MPT[] = {
    {"token_embd", "transformer.wte", false}, {"output_norm", "transformer.norm_f", false},
    {"output", "lm_head", false}, {"attn_norm", "transformer.blocks.%d.norm_1", false},
    {"attn_qkv", "transformer.blocks.%d.attn.Wqkv", false},
    {"attn_output", "transformer.blocks.%d.attn.out_proj", false},
    {"ffn_norm", "transformer.blocks.%d.norm_2", false}, {"ffn_up", "transformer.blocks.%d.ffn.up_proj", false},
    {"ffn_down", "transformer.blocks.%d.ffn.down_proj", false},
    {NULL, NULL, false},
};
static const hf_name BLOOM[] = {
    {"token_embd", "transformer.word_embeddings", false},
    {"token_embd_norm", "transformer.word_embeddings_layernorm", false},
    {"output_norm", "transformer.ln_f", false}, {"output", "lm_head", false},
    {"attn_norm", "transformer.h.%d.input_layernorm", false},
    {"attn_qkv", "transformer.h.%d.self_attention.query_key_value", false},
    {"attn_output", "transformer.h.%d.self_attention.dense", false},
    {"ffn_norm", "transformer.h.%d.post_attention_layernorm", false},
    {"ffn_up", "transformer.h.%d.mlp.dense_h_to_4h", false},
    {"ffn_down", "transformer.h.%d.mlp.dense_4h_to_h", false},
    {NULL, NULL, false},
};

/* Per architecture: its names, a prefix some checkpoints leave out (the
 * original gpt2 and bloom files name "h.0.attn..."), its qkv layout. */
static const struct {
    arch_id arch;
    const hf_name *names;
    const char *optional_prefix;
    bool qkv_grouped;
} LAYOUTS[] = {
    {ARCH_LLAMA, LLAMA, NULL, false},       {ARCH_QWEN2, LLAMA, NULL, false},
    {ARCH_QWEN3, LLAMA, NULL, false},       {ARCH_GEMMA, LLAMA, NULL, false},
    {ARCH_PHI3, PHI3, NULL, false},         {ARCH_GEMMA2, GEMMA2, NULL, false},
    {ARCH_GPT2, GPT2, "transformer.", false}, {ARCH_STARCODER, BIGCODE, "transformer.", true},
    {ARCH_GPTNEOX, NEOX, NULL, true},       {ARCH_FALCON, FALCON, "transformer.", true},
    {ARCH_MPT, MPT, "transformer.", false}, {ARCH_BLOOM, BLOOM, "transformer.", true},
    {ARCH_T5, NULL, NULL, false}, /* t5_find_weight */
};

static int layout_index(arch_id a) {
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
        if (LAYOUTS[i].arch == a) return (int)i;
    return 0;
}

/* The safetensors tensor for an HF name, with or without the optional prefix. */
static const st_tensor *find_st(const hf_ctx *h, const char *hf) {
    const st_tensor *t = st_find(h->st, hf);
    const char *pre = LAYOUTS[h->layout].optional_prefix;
    if (!t && pre && strncmp(hf, pre, strlen(pre)) == 0) t = st_find(h->st, hf + strlen(pre));
    return t;
}

/* Describe safetensors tensor t as out. */
static bool describe(const st_tensor *t, bool conv1d, wsrc *out) {
    if (!t || t->n_dims > 4) return false;
    snprintf(out->name, sizeof out->name, "%s", t->name);
    out->type = t->type;
    out->n_dims = t->n_dims;
    for (uint32_t i = 0; i < 4; i++) out->ne[i] = i < t->n_dims ? t->shape[t->n_dims - 1 - i] : 1;
    out->data = t->data;
    out->transposed = conv1d && t->n_dims == 2;
    return true;
}

/* T5's names (transformers' T5ForConditionalGeneration; llama.cpp's
 * enc.blk.N.* / dec.blk.N.* on the left).  %d: the block. */
static const struct { const char *stack, *gguf, *hf; } T5_NAMES[] = {
    {"enc", "attn_norm", "encoder.block.%d.layer.0.layer_norm"},
    {"enc", "attn_q", "encoder.block.%d.layer.0.SelfAttention.q"},
    {"enc", "attn_k", "encoder.block.%d.layer.0.SelfAttention.k"},
    {"enc", "attn_v", "encoder.block.%d.layer.0.SelfAttention.v"},
    {"enc", "attn_o", "encoder.block.%d.layer.0.SelfAttention.o"},
    {"enc", "attn_rel_b", "encoder.block.%d.layer.0.SelfAttention.relative_attention_bias"},
    {"enc", "ffn_norm", "encoder.block.%d.layer.1.layer_norm"},
    {"enc", "ffn_gate", "encoder.block.%d.layer.1.DenseReluDense.wi_0"},
    {"enc", "ffn_down", "encoder.block.%d.layer.1.DenseReluDense.wo"},
    {"dec", "attn_norm", "decoder.block.%d.layer.0.layer_norm"},
    {"dec", "attn_q", "decoder.block.%d.layer.0.SelfAttention.q"},
    {"dec", "attn_k", "decoder.block.%d.layer.0.SelfAttention.k"},
    {"dec", "attn_v", "decoder.block.%d.layer.0.SelfAttention.v"},
    {"dec", "attn_o", "decoder.block.%d.layer.0.SelfAttention.o"},
    {"dec", "attn_rel_b", "decoder.block.%d.layer.0.SelfAttention.relative_attention_bias"},
    {"dec", "cross_attn_norm", "decoder.block.%d.layer.1.layer_norm"},
    {"dec", "cross_attn_q", "decoder.block.%d.layer.1.EncDecAttention.q"},
    {"dec", "cross_attn_k", "decoder.block.%d.layer.1.EncDecAttention.k"},
    {"dec", "cross_attn_v", "decoder.block.%d.layer.1.EncDecAttention.v"},
    {"dec", "cross_attn_o", "decoder.block.%d.layer.1.EncDecAttention.o"},
    {"dec", "ffn_norm", "decoder.block.%d.layer.2.layer_norm"},
    {"dec", "ffn_gate", "decoder.block.%d.layer.2.DenseReluDense.wi_0"},
    {"dec", "ffn_down", "decoder.block.%d.layer.2.DenseReluDense.wo"},
    {NULL, "enc.output_norm", "encoder.final_layer_norm"},
    {NULL, "dec.output_norm", "decoder.final_layer_norm"},
    {NULL, "output", "lm_head"},
};

/* A T5 tensor by its llama.cpp name.  ffn_up is wi_1 beside a gate (wi_0),
 * else wi; the token embedding is `shared`, or the copy an encoder or
 * decoder keeps under its own name. */
static bool t5_find_weight(const hf_ctx *h, const char *name, wsrc *out) {
    char stack[4] = "", rest[96] = "", hf[256] = "";
    int layer = -1;
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    if (sscanf(name, "%3[a-z].blk.%d.%95s", stack, &layer, rest) == 3) {
        rest[strlen(rest) - strlen(dot)] = '\0'; /* the base: "attn_q" */
        const char *grp = !strcmp(stack, "enc") ? "encoder.block.%d.layer.1" : "decoder.block.%d.layer.2";
        char fmt[128] = "";
        if (!strcmp(rest, "ffn_up")) snprintf(fmt, sizeof fmt, "%s.DenseReluDense.%s", grp, h->gated_ffn ? "wi_1" : "wi");
        for (size_t i = 0; !fmt[0] && i < sizeof T5_NAMES / sizeof T5_NAMES[0]; i++)
            if (T5_NAMES[i].stack && !strcmp(T5_NAMES[i].stack, stack) && !strcmp(T5_NAMES[i].gguf, rest))
                snprintf(fmt, sizeof fmt, "%s", T5_NAMES[i].hf);
        if (!fmt[0]) return false;
        int len = snprintf(hf, sizeof hf, fmt, layer);
        snprintf(hf + len, sizeof hf - (size_t)len, "%s", dot);
    } else if (!strcmp(name, "token_embd.weight")) {
        const char *alt[] = {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
        snprintf(out->name, sizeof out->name, "%s", alt[0]);
        for (int i = 0; i < 3; i++)
            if (describe(st_find(h->st, alt[i]), false, out)) return true;
        return false;
    } else {
        char base[64];
        snprintf(base, sizeof base, "%.*s", (int)(dot - name), name);
        for (size_t i = 0; !hf[0] && i < sizeof T5_NAMES / sizeof T5_NAMES[0]; i++)
            if (!T5_NAMES[i].stack && !strcmp(T5_NAMES[i].gguf, base)) snprintf(hf, sizeof hf, "%s%s", T5_NAMES[i].hf, dot);
        if (!hf[0]) return false;
    }
    snprintf(out->name, sizeof out->name, "%s", hf); /* named in errors even when absent */
    return describe(st_find(h->st, hf), false, out);
}

bool hf_find_weight(void *ctx, const char *name, wsrc *out) {
    const hf_ctx *h = ctx;
    if (LAYOUTS[h->layout].arch == ARCH_T5) return t5_find_weight(h, name, out);
    int layer = -1, off = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &off) == 1 && off > 0) name += off;
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)(dot - name), name);
    const hf_name *n = NULL;
    for (const hf_name *e = LAYOUTS[h->layout].names; e->gguf && !n; e++)
        if (strcmp(e->gguf, base) == 0) n = e;
    /* Falcon-40B's MLP norm is ln_mlp (GGUF attn_norm); attention's ln_attn */
    if (n && h->falcon_40b && strcmp(base, "attn_norm") == 0) n = &FALCON_40B_ATTN_NORM;
    if (!n || (strstr(n->hf, "%d") != NULL) != (layer >= 0)) return false;
    char hf[256];
    int len = snprintf(hf, sizeof hf, n->hf, layer);
    snprintf(hf + len, sizeof hf - (size_t)len, "%s", dot);
    snprintf(out->name, sizeof out->name, "%s", hf);
    return describe(find_st(h, hf), n->conv1d, out);
}

void hf_weight_source(hf_ctx *h, weight_source *src, const model_config *c) {
    int i = layout_index(c->arch);
    h->layout = i;
    h->gated_ffn = c->ffn != FFN_GELU && c->ffn != FFN_RELU;
    *src = (weight_source){.ctx = h, .find = hf_find_weight, .qkv_grouped = LAYOUTS[i].qkv_grouped,
                           .norm_plus_one = arch_get(c->arch)->hf_norm_plus_one};
}

/* ---- config.json ---------------------------------------------------------------- */

/* An absent (or null) key takes the default; a present integer is kept even
 * when absurd (clamped into int) so that model_check_config names it. */
static int jint(json_t *o, const char *key, int dflt) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return dflt;
    json_int_t x = json_integer_value(v);
    return x > INT_MAX ? INT_MAX : x < 0 ? -1 : (int)x;
}

/* The first of several spellings present. */
static int jint2(json_t *o, const char *k1, const char *k2, int dflt) {
    return json_is_integer(json_object_get(o, k1)) ? jint(o, k1, dflt) : jint(o, k2, dflt);
}

static float jnum(json_t *o, const char *key, float dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (float)json_number_value(v) : dflt;
}

static bool jbool(json_t *o, const char *key, bool dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *jstr(json_t *o, const char *key, const char *dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static bool refuse(char *err, const char *key, const char *what) {
    return ct_err(err, "config.json: %s: %s is not supported", key, what);
}

/* A GELU activation's name -> its form; other names are refused. */
static bool gelu_kind_of(model_config *c, const char *key, const char *act, char *err) {
    if (!strcmp(act, "gelu")) c->gelu = GELU_ERF;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        c->gelu = GELU_TANH;
    else return ct_err(err, "config.json: %s '%s' is not supported (gelu, gelu_new, gelu_pytorch_tanh)", key, act);
    return true;
}

static bool read_rope_scaling(model_config *c, json_t *rs, char *err) {
    if (!json_is_object(rs)) return true;
    json_t *t = json_object_get(rs, "rope_type");
    if (!json_is_string(t)) t = json_object_get(rs, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : "default";
    c->rope_factor = jnum(rs, "factor", 1.0f);
    if (strcmp(type, "default") == 0) return true;
    if (strcmp(type, "linear") == 0) {
        c->rope_scaling = ROPE_SCALING_LINEAR;
    } else if (strcmp(type, "llama3") == 0) {
        c->rope_scaling = ROPE_SCALING_LLAMA3;
        c->rope_low_freq_factor = jnum(rs, "low_freq_factor", 1.0f);
        c->rope_high_freq_factor = jnum(rs, "high_freq_factor", 4.0f);
        c->rope_orig_ctx = jint(rs, "original_max_position_embeddings", 8192);
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor))
            return ct_err(err, "config.json: llama3 rope_scaling needs high_freq_factor > low_freq_factor");
    } else {
        return ct_err(err, "config.json: unsupported rope_scaling type '%s'", type);
    }
    if (!(c->rope_factor > 0)) return ct_err(err, "config.json: rope_scaling factor must be > 0");
    return true;
}

/* llama, mistral, qwen2, qwen3, phi3, gemma, gemma2. */
static bool read_llama_like(model_config *c, json_t *j, const arch_desc *a, char *err) {
    c->dim = jint(j, "hidden_size", 0);
    c->n_layers = jint(j, "num_hidden_layers", 0);
    c->n_heads = jint(j, "num_attention_heads", 0);
    c->n_kv_heads = jint(j, "num_key_value_heads", c->n_heads);
    c->head_dim = jint(j, "head_dim", c->n_heads ? c->dim / c->n_heads : 0);
    c->ffn_dim = jint(j, "intermediate_size", 0);
    c->ctx_len = jint(j, "max_position_embeddings", 2048);
    c->norm_eps = jnum(j, "rms_norm_eps", a->default_eps);
    c->rope_theta = jnum(j, "rope_theta", a->default_theta);
    float partial = jnum(j, "partial_rotary_factor", 1.0f);
    c->n_rot = (int)((float)c->head_dim * partial);
    c->sliding_window = jint(j, "sliding_window", 0);
    if (a->id == ARCH_QWEN2 || a->id == ARCH_QWEN3) { /* their window is off unless use_sliding_window */
        if (jbool(j, "use_sliding_window", false))
            return refuse(err, "use_sliding_window", "true (sliding windows from max_window_layers on)");
        c->sliding_window = 0;
    }
    if (c->ffn == FFN_GEGLU) { /* gemma: hidden_activation, else HF forces the tanh form */
        const char *act = jstr(j, "hidden_activation", "gelu_pytorch_tanh");
        if (!gelu_kind_of(c, "hidden_activation", act, err)) return false;
    } else {
        const char *act = jstr(j, "hidden_act", "silu");
        if (strcmp(act, "silu") != 0) return ct_err(err, "config.json: hidden_act '%s' is not supported (silu)", act);
    }
    if (a->softcaps) {
        c->attn_softcap = jnum(j, "attn_logit_softcapping", 0.0f);
        c->final_softcap = jnum(j, "final_logit_softcapping", 0.0f);
        c->attn_scale = 1.0f / sqrtf(jnum(j, "query_pre_attn_scalar", (float)c->head_dim));
    }
    if (a->id == ARCH_PHI3 && json_is_object(json_object_get(j, "rope_scaling"))) {
        const char *t = jstr(json_object_get(j, "rope_scaling"), "type", jstr(json_object_get(j, "rope_scaling"), "rope_type", "?"));
        if (!strcmp(t, "longrope") || !strcmp(t, "su") || !strcmp(t, "yarn"))
            return ct_err(err, "config.json: rope_scaling type '%s' (LongRoPE) is not supported", t);
    }
    return read_rope_scaling(c, json_object_get(j, "rope_scaling"), err);
}

/* gpt2 and gpt_bigcode. */
static bool read_gpt2(model_config *c, json_t *j, const arch_desc *a, char *err) {
    c->dim = jint2(j, "n_embd", "hidden_size", 0);
    c->n_layers = jint2(j, "n_layer", "num_hidden_layers", 0);
    c->n_heads = jint2(j, "n_head", "num_attention_heads", 0);
    c->n_kv_heads = a->id == ARCH_STARCODER && jbool(j, "multi_query", true) ? 1 : c->n_heads;
    c->head_dim = c->n_heads ? c->dim / c->n_heads : 0;
    c->ffn_dim = jint(j, "n_inner", 4 * c->dim);
    c->ctx_len = jint2(j, "n_positions", "max_position_embeddings", 1024);
    c->norm_eps = jnum(j, "layer_norm_epsilon", a->default_eps);
    if (jbool(j, "scale_attn_by_inverse_layer_idx", false))
        return refuse(err, "scale_attn_by_inverse_layer_idx", "true");
    if (!jbool(j, "scale_attn_weights", true)) c->attn_scale = 1.0f;
    return gelu_kind_of(c, "activation_function", jstr(j, "activation_function", "gelu_new"), err);
}

static bool read_neox(model_config *c, json_t *j, const arch_desc *a, char *err) {
    c->dim = jint(j, "hidden_size", 0);
    c->n_layers = jint(j, "num_hidden_layers", 0);
    c->n_heads = c->n_kv_heads = jint(j, "num_attention_heads", 0);
    c->head_dim = c->n_heads ? c->dim / c->n_heads : 0;
    c->ffn_dim = jint(j, "intermediate_size", 4 * c->dim);
    c->ctx_len = jint(j, "max_position_embeddings", 2048);
    c->norm_eps = jnum(j, "layer_norm_eps", a->default_eps);
    c->rope_theta = jnum(j, "rotary_emb_base", jnum(j, "rope_theta", a->default_theta));
    c->n_rot = (int)((float)c->head_dim * jnum(j, "rotary_pct", 0.25f));
    c->parallel_residual = jbool(j, "use_parallel_residual", true);
    if (!gelu_kind_of(c, "hidden_act", jstr(j, "hidden_act", "gelu"), err)) return false;
    return read_rope_scaling(c, json_object_get(j, "rope_scaling"), err);
}

static bool read_falcon(model_config *c, json_t *j, const arch_desc *a, char *err) {
    c->dim = jint(j, "hidden_size", 0);
    c->n_layers = jint2(j, "num_hidden_layers", "n_layer", 0);
    c->n_heads = jint2(j, "num_attention_heads", "n_head", 0);
    bool new_arch = jbool(j, "new_decoder_architecture", false);
    c->n_kv_heads = new_arch ? jint2(j, "num_kv_heads", "n_head_kv", c->n_heads)
                             : jbool(j, "multi_query", true) ? 1 : c->n_heads;
    c->head_dim = c->n_heads ? c->dim / c->n_heads : 0;
    c->ffn_dim = jint(j, "ffn_hidden_size", 4 * c->dim);
    c->ctx_len = jint(j, "max_position_embeddings", 2048);
    c->norm_eps = jnum(j, "layer_norm_epsilon", a->default_eps);
    c->rope_theta = jnum(j, "rope_theta", a->default_theta);
    if (jbool(j, "alibi", false)) return refuse(err, "alibi", "true (Falcon-RW)");
    if (!jbool(j, "parallel_attn", true)) return refuse(err, "parallel_attn", "false");
    if (!gelu_kind_of(c, "activation", jstr(j, "activation", "gelu"), err)) return false;
    return read_rope_scaling(c, json_object_get(j, "rope_scaling"), err);
}

static bool read_mpt(model_config *c, json_t *j, const arch_desc *a, char *err) {
    json_t *att = json_object_get(j, "attn_config");
    c->dim = jint(j, "d_model", 0);
    c->n_layers = jint(j, "n_layers", 0);
    c->n_heads = c->n_kv_heads = jint(j, "n_heads", 0);
    c->head_dim = c->n_heads ? c->dim / c->n_heads : 0;
    c->ffn_dim = (int)(jnum(j, "expansion_ratio", 4.0f) * (float)c->dim);
    c->ctx_len = jint(j, "max_seq_len", 2048);
    c->norm_eps = jnum(j, "layer_norm_epsilon", a->default_eps);
    c->gelu = GELU_ERF; /* MptMLP: nn.GELU(approximate="none") */
    c->tied_output = true; /* MPT has no lm_head */
    if (!jbool(att, "alibi", true)) return refuse(err, "attn_config.alibi", "false");
    if (jbool(att, "qk_ln", false)) return refuse(err, "attn_config.qk_ln", "true");
    const char *type = jstr(att, "attn_type", "multihead_attention");
    if (strcmp(type, "multihead_attention") != 0) return refuse(err, "attn_config.attn_type", type);
    c->alibi_max_bias = jnum(att, "alibi_bias_max", 8.0f);
    c->clamp_qkv = jnum(att, "clip_qkv", 0.0f);
    c->attn_scale = jnum(att, "softmax_scale", c->attn_scale);
    if (json_is_number(json_object_get(j, "logit_scale"))) return refuse(err, "logit_scale", "a value");
    return true;
}

static bool read_bloom(model_config *c, json_t *j, const arch_desc *a, char *err) {
    c->dim = jint2(j, "hidden_size", "n_embed", 0);
    c->n_layers = jint2(j, "n_layer", "num_hidden_layers", 0);
    c->n_heads = c->n_kv_heads = jint2(j, "n_head", "num_attention_heads", 0);
    c->head_dim = c->n_heads ? c->dim / c->n_heads : 0;
    c->ffn_dim = 4 * c->dim;
    c->ctx_len = jint(j, "seq_length", 2048);
    c->norm_eps = jnum(j, "layer_norm_epsilon", a->default_eps);
    if (jbool(j, "apply_residual_connection_post_layernorm", false))
        return refuse(err, "apply_residual_connection_post_layernorm", "true");
    return true;
}

/* T5's feed_forward_proj ("[gated-]ACT", transformers' T5Config): gated
 * GELU ("gated-gelu" is the tanh form, gelu_new), gated SiLU, or a plain
 * ReLU / GELU MLP. */
static bool t5_ffn(model_config *c, const char *proj, char *err) {
    bool gated = !strncmp(proj, "gated-", 6);
    const char *act = gated ? proj + 6 : proj;
    if (!strcmp(act, "relu") && !gated) {
        c->ffn = FFN_RELU;
        return true;
    }
    if (!strcmp(act, "silu") && gated) {
        c->ffn = FFN_SWIGLU;
        return true;
    }
    char e[CT_ERRLEN];
    if (strchr(act, '-') || !gelu_kind_of(c, "feed_forward_proj", gated && !strcmp(act, "gelu") ? "gelu_new" : act, e))
        return ct_err(err, "config.json: feed_forward_proj '%s' is not supported (relu, gelu, gated-gelu, "
                      "gated-silu, [gated-]gelu_new)", proj);
    c->ffn = gated ? FFN_GEGLU : FFN_GELU;
    return true;
}

/* t5, mt5, umt5 (transformers' T5Config).  The decoder starts from
 * decoder_start_token_id, else the pad id (what generate() falls back to). */
static bool read_t5(model_config *c, json_t *j, const arch_desc *a, char *err) {
    c->dim = jint(j, "d_model", 0);
    c->head_dim = jint(j, "d_kv", 64);
    c->ffn_dim = jint(j, "d_ff", 0);
    c->n_enc_layers = jint(j, "num_layers", 0);
    c->n_layers = jint(j, "num_decoder_layers", c->n_enc_layers);
    c->n_heads = c->n_kv_heads = jint(j, "num_heads", 0);
    c->ctx_len = jint(j, "n_positions", 512);
    c->norm_eps = jnum(j, "layer_norm_epsilon", a->default_eps);
    c->rel_buckets = jint(j, "relative_attention_num_buckets", 32);
    c->rel_max_distance = jint(j, "relative_attention_max_distance", 128);
    c->dec_start_id = jint(j, "decoder_start_token_id", jint(j, "pad_token_id", 0));
    c->attn_scale = 1.0f; /* T5 folds the scale into its q weights */
    if (json_is_false(json_object_get(j, "is_encoder_decoder"))) return refuse(err, "is_encoder_decoder", "false");
    if (c->rel_buckets < 4 || c->rel_buckets > 1024 || c->rel_buckets % 4 != 0)
        return ct_err(err, "config.json: relative_attention_num_buckets %d is not supported (a multiple of 4 in "
                      "[4, 1024])", c->rel_buckets);
    if (c->rel_max_distance <= c->rel_buckets / 2 || c->rel_max_distance > 1 << 16)
        return ct_err(err, "config.json: relative_attention_max_distance %d is not supported (more than half the %d "
                      "buckets, at most 65536)", c->rel_max_distance, c->rel_buckets);
    return t5_ffn(c, jstr(j, "feed_forward_proj", "relu"), err);
}

bool hf_read_config(model_config *c, json_t *j, const arch_desc *a, char *err) {
    arch_apply(a, c);
    c->vocab = jint(j, "vocab_size", 0);
    bool ok;
    switch (a->id) {
    case ARCH_GPT2:
    case ARCH_STARCODER: ok = read_gpt2(c, j, a, err); break;
    case ARCH_GPTNEOX: ok = read_neox(c, j, a, err); break;
    case ARCH_FALCON: ok = read_falcon(c, j, a, err); break;
    case ARCH_MPT: ok = read_mpt(c, j, a, err); break;
    case ARCH_BLOOM: ok = read_bloom(c, j, a, err); break;
    case ARCH_T5: ok = read_t5(c, j, a, err); break;
    default: ok = read_llama_like(c, j, a, err); break;
    }
    if (!ok) return false;
    if (c->n_rot == 0) c->n_rot = c->head_dim;
    if (c->attn_scale == 0 && c->head_dim > 0) c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    if (a->embd_scale_sqrt_dim) c->embd_scale = sqrtf((float)c->dim);
    if (a->id != ARCH_MPT) c->tied_output = jbool(j, "tie_word_embeddings", a->hf_tied_default);
    /* T5ForConditionalGeneration scales the decoder's output by dim^-0.5 before a tied head */
    if (a->encdec && c->tied_output && c->dim > 0) c->output_scale = 1.0f / sqrtf((float)c->dim);
    return true;
}

/* What config.json does not hold: BLOOM's MLP is 4 * hidden_size by
 * definition, but the first dense_h_to_4h says what the file has. */
void hf_config_from_tensors(model_config *c, const st_model *st) {
    if (c->arch != ARCH_BLOOM) return;
    const st_tensor *t = st_find(st, "transformer.h.0.mlp.dense_h_to_4h.weight");
    if (!t) t = st_find(st, "h.0.mlp.dense_h_to_4h.weight");
    if (t && t->n_dims == 2 && t->shape[0] > 0 && t->shape[0] <= (1u << 20)) c->ffn_dim = (int)t->shape[0];
}

bool hf_falcon_40b(const st_model *st) {
    return st_find(st, "transformer.h.0.ln_attn.weight") != NULL || st_find(st, "h.0.ln_attn.weight") != NULL;
}
