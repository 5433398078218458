/*
 * arch.c — the table of supported architectures.  Each row says how an
 * architecture differs from the plain Llama decoder (RMSNorm, RoPE,
 * SwiGLU, sequential residual; T5 adds an encoder); the loaders copy these traits into
 * model_config and forward.c reads them there, never the names.  What a
 * file can still change (partial rotary, gptneox's parallel residual,
 * falcon's norm layout, sliding windows, ALiBi's bias...) is read by the
 * loaders from the file's keys.
 */
#include <stdio.h>
#include <string.h>

#include "model.h"

static const arch_desc ARCHES[ARCH_COUNT] = {
    [ARCH_LLAMA] = {
        .id = ARCH_LLAMA, .name = "llama", .hf_class = "LlamaForCausalLM", .hf_model_type = "llama",
        .gguf_qk_permuted = true, /* convert_hf_to_gguf permutes q/k for interleaved RoPE */
        .default_eps = 1e-5f, .default_theta = 10000.0f,
    },
    [ARCH_QWEN2] = {
        .id = ARCH_QWEN2, .name = "qwen2", .hf_class = "Qwen2ForCausalLM", .hf_model_type = "qwen2",
        .qkv_bias = true,
        .gguf_qk_permuted = false, /* llama.cpp runs qwen2 with NEOX (rotate-half) RoPE */
        .default_eps = 1e-6f, .default_theta = 1000000.0f,
    },
    [ARCH_QWEN3] = {
        .id = ARCH_QWEN3, .name = "qwen3", .hf_class = "Qwen3ForCausalLM", .hf_model_type = "qwen3",
        .default_eps = 1e-6f, .default_theta = 1000000.0f, .qk_norm = true,
    },
    [ARCH_PHI3] = { /* fused qkv and gate_up (split at load) */
        .id = ARCH_PHI3, .name = "phi3", .hf_class = "Phi3ForCausalLM", .hf_model_type = "phi3",
        .default_eps = 1e-5f, .default_theta = 10000.0f,
    },
    [ARCH_GEMMA] = {
        .id = ARCH_GEMMA, .name = "gemma", .hf_class = "GemmaForCausalLM", .hf_model_type = "gemma",
        .default_eps = 1e-6f, .default_theta = 10000.0f, .ffn = FFN_GEGLU, .embd_scale_sqrt_dim = true,
        .hf_norm_plus_one = true, .hf_tied_default = true,
    },
    [ARCH_GEMMA2] = {
        .id = ARCH_GEMMA2, .name = "gemma2", .hf_class = "Gemma2ForCausalLM", .hf_model_type = "gemma2",
        .default_eps = 1e-6f, .default_theta = 10000.0f, .ffn = FFN_GEGLU, .embd_scale_sqrt_dim = true,
        .post_norms = true, .softcaps = true, .swa_dense_every = 2, .hf_norm_plus_one = true,
        .hf_tied_default = true,
    },
    [ARCH_GPT2] = {
        .id = ARCH_GPT2, .name = "gpt2", .hf_class = "GPT2LMHeadModel", .hf_model_type = "gpt2",
        .default_eps = 1e-5f, .default_theta = 10000.0f, .norm = NORM_LAYER, .ffn = FFN_GELU,
        .pos = POS_LEARNED, .hf_tied_default = true,
    },
    [ARCH_STARCODER] = { /* HF gpt_bigcode: gpt2 with MQA */
        .id = ARCH_STARCODER, .name = "starcoder", .hf_class = "GPTBigCodeForCausalLM",
        .hf_model_type = "gpt_bigcode", .default_eps = 1e-5f, .default_theta = 10000.0f,
        .norm = NORM_LAYER, .ffn = FFN_GELU, .pos = POS_LEARNED, .hf_tied_default = true,
    },
    [ARCH_GPTNEOX] = {
        .id = ARCH_GPTNEOX, .name = "gptneox", .hf_class = "GPTNeoXForCausalLM", .hf_model_type = "gpt_neox",
        .default_eps = 1e-5f, .default_theta = 10000.0f, .norm = NORM_LAYER, .ffn = FFN_GELU,
        .parallel_residual = true,
    },
    [ARCH_FALCON] = { /* parallel attention; 40B layout: attn_norm_2 */
        .id = ARCH_FALCON, .name = "falcon", .hf_class = "FalconForCausalLM", .hf_model_type = "falcon",
        .default_eps = 1e-5f, .default_theta = 10000.0f, .norm = NORM_LAYER, .ffn = FFN_GELU,
        .parallel_residual = true, .attn_norm_2 = true, .hf_tied_default = true,
    },
    [ARCH_MPT] = {
        .id = ARCH_MPT, .name = "mpt", .hf_class = "MptForCausalLM", .hf_model_type = "mpt",
        .default_eps = 1e-5f, .default_theta = 10000.0f, .norm = NORM_LAYER, .ffn = FFN_GELU, .pos = POS_ALIBI,
        .hf_tied_default = true,
    },
    [ARCH_BLOOM] = {
        .id = ARCH_BLOOM, .name = "bloom", .hf_class = "BloomForCausalLM", .hf_model_type = "bloom",
        .default_eps = 1e-5f, .default_theta = 10000.0f, .norm = NORM_LAYER, .ffn = FFN_GELU, .pos = POS_ALIBI,
        .embd_norm = true, .hf_tied_default = true,
    },
    [ARCH_T5] = { /* encoder-decoder; flan-t5's gated GELU, original t5's ReLU MLP (the file says) */
        .id = ARCH_T5, .name = "t5", .hf_class = "T5ForConditionalGeneration", .hf_model_type = "t5",
        .default_eps = 1e-6f, .default_theta = 10000.0f, .ffn = FFN_GEGLU, .pos = POS_RELATIVE,
        .hf_tied_default = true, .encdec = true,
    },
};

/* Hugging Face model_type values that are a row above under another name. */
static const struct { const char *model_type; arch_id arch; } HF_ALIASES[] = {
    {"mistral", ARCH_LLAMA},
    {"RefinedWeb", ARCH_FALCON},      /* Falcon-40B's original remote code */
    {"RefinedWebModel", ARCH_FALCON}, /* Falcon-7B's */
    {"mt5", ARCH_T5},                 /* multilingual T5: the same network */
    {"umt5", ARCH_T5},                /* T5 with a relative bias in every layer (model_hf_arch.c) */
};

const arch_desc *arch_get(arch_id id) {
    return (id >= 0 && id < ARCH_COUNT) ? &ARCHES[id] : NULL;
}

const arch_desc *arch_find_gguf(const char *name) {
    for (int i = 0; i < ARCH_COUNT; i++)
        if (strcmp(ARCHES[i].name, name) == 0) return &ARCHES[i];
    return NULL;
}

const arch_desc *arch_find_hf(const char *model_type) {
    for (int i = 0; i < ARCH_COUNT; i++)
        if (strcmp(ARCHES[i].hf_model_type, model_type) == 0) return &ARCHES[i];
    for (size_t i = 0; i < sizeof HF_ALIASES / sizeof HF_ALIASES[0]; i++)
        if (strcmp(HF_ALIASES[i].model_type, model_type) == 0) return &ARCHES[HF_ALIASES[i].arch];
    return NULL;
}

void arch_list(char *out, size_t cap, bool hf) {
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < ARCH_COUNT && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", hf ? ARCHES[i].hf_model_type : ARCHES[i].name);
    if (hf && n < cap) snprintf(out + n, cap - n, ", mistral, mt5, umt5");
}

void arch_apply(const arch_desc *a, model_config *c) {
    c->arch = a->id;
    c->norm = a->norm;
    c->ffn = a->ffn;
    c->gelu = GELU_TANH;
    c->pos = a->pos;
    c->parallel_residual = a->parallel_residual;
    c->qk_norm = a->qk_norm;
    c->swa_dense_every = a->swa_dense_every;
    c->embd_scale = 1.0f;
    c->norm_eps = a->default_eps;
    c->rope_theta = a->default_theta;
    c->alibi_max_bias = a->pos == POS_ALIBI ? 8.0f : 0.0f; /* bloom's built-in value; mpt's default */
    c->output_scale = 1.0f;
    c->dec_start_id = -1;
    if (a->pos == POS_RELATIVE) c->rel_buckets = 32, c->rel_max_distance = 128; /* T5's values */
}
