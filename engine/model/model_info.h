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

/* ---- LoRA adapters (lora.c) ----
 * An adapter adds scale * B (A x) to some of the q, k, v, o, gate, up and
 * down products of every (or some) layer.  Adapters are loaded into the
 * model after model_load and before anyone else shares it (the model stays
 * read-only while an engine serves it); a request selects one by its
 * 1-based index (engine_request.adapter; 0 = the base model alone).
 *
 * path is either a PEFT adapter folder (adapter_config.json: r,
 * lora_alpha, use_rslora, target_modules among q_proj k_proj v_proj o_proj
 * gate_proj up_proj down_proj; adapter_model.safetensors with F32/F16/BF16
 * base_model.model.model.layers.N.{self_attn,mlp}.X.lora_{A,B}.weight;
 * scale lora_alpha / r, or / sqrt(r) with use_rslora) or a llama.cpp GGUF
 * LoRA (general.type "adapter", adapter.type "lora", adapter.lora.alpha,
 * blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight
 * .lora_a / .lora_b; scale alpha / r, 1 without alpha, as llama.cpp; q/k
 * rows stored for interleaved RoPE where the architecture's GGUF files
 * are).  Every pair is checked against the base's matrix (shape, rank) and
 * kept in f32.
 * Returns the new adapter's index (>= 1), or 0 + err naming the file and
 * the tensor or key at fault.  A name already taken, empty, or with a
 * ',' or '=' is refused. */
int model_lora_load(model *m, const char *name, const char *path, char *err);

typedef struct {
    const char *name, *path;
    const char *format;  /* "peft" | "gguf" */
    int rank;            /* the largest r of its pairs */
    float alpha;
    int n_layers;        /* layers it adapts */
    char targets[64];    /* "q,k,v,o,gate,up,down" (those it adapts) */
} model_lora_info;

int model_lora_count(const model *m);
/* id in [1, model_lora_count]. */
model_lora_info model_lora_get(const model *m, int id);
/* The index of the adapter named name, 0 if there is none. */
int model_lora_find(const model *m, const char *name);

#endif
