/*
 * arch.c — the table of supported architectures.  Each row says how an
 * architecture differs from the plain Llama decoder; forward.c and model.c
 * read these flags instead of switching on names.
 */
#include <string.h>

#include "model.h"

static const arch_desc ARCHES[ARCH_COUNT] = {
    [ARCH_LLAMA] = {
        .id = ARCH_LLAMA,
        .name = "llama",
        .hf_class = "LlamaForCausalLM",
        .hf_model_type = "llama",
        .qkv_bias = false,
        .gguf_qk_permuted = true, /* convert_hf_to_gguf permutes q/k for interleaved RoPE */
        .default_eps = 1e-5f,
        .default_theta = 10000.0f,
    },
    [ARCH_QWEN2] = {
        .id = ARCH_QWEN2,
        .name = "qwen2",
        .hf_class = "Qwen2ForCausalLM",
        .hf_model_type = "qwen2",
        .qkv_bias = true,
        .gguf_qk_permuted = false, /* llama.cpp runs qwen2 with NEOX (rotate-half) RoPE */
        .default_eps = 1e-6f,
        .default_theta = 1000000.0f,
    },
};

/* Hugging Face model_type values that are the llama decoder under another name. */
static const struct { const char *model_type; arch_id arch; } HF_ALIASES[] = {
    {"mistral", ARCH_LLAMA},
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
