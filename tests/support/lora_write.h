/*
 * lora_write.h — seeded LoRA adapters for the synthetic models
 * (synth_model.h), written as a PEFT folder and as a llama.cpp GGUF LoRA,
 * and the oracle they are tested against: a copy of the base model with
 * the merged weights W + scale * B A (computed in double, stored F32).
 *
 * Layouts follow the writers the adapters come from, not ctgi's loader:
 * PEFT stores lora_A.weight (r, in) and lora_B.weight (out, r) in the
 * Hugging Face layout; convert_lora_to_gguf.py runs the base converter's
 * edits on (A, B), so for a llama the q/k rows of B are permuted for
 * interleaved RoPE exactly as convert_hf_to_gguf.py permutes the base's
 * q/k rows (w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2)), and a GGUF
 * tensor's ne is (cols, rows).  The merged GGUF model is the base file
 * with W_file + scale * P(B) A on the file's own rows (P: that same
 * permutation for llama q/k), the merged HF model the base directory with
 * W + scale * B A.  Only F32 bases are merged.
 */
#ifndef CTGI_LORA_WRITE_H
#define CTGI_LORA_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "support/synth_model.h"

/* Targets, in this order: q k v o gate up down (bit t of lw_config.targets). */
enum { LW_Q = 1, LW_K = 2, LW_V = 4, LW_O = 8, LW_GATE = 16, LW_UP = 32, LW_DOWN = 64, LW_ALL = 127 };

typedef struct {
    unsigned targets;   /* LW_* bits */
    int r;
    float alpha;
    bool rslora;        /* PEFT use_rslora: scale alpha / sqrt(r) */
    const char *dtype;  /* PEFT tensors: "F32" | "F16" | "BF16" (values rounded to it everywhere) */
    uint64_t seed;
    float amp;          /* A and B entries uniform in [-amp, amp] */
} lw_config;

typedef struct lw_adapter lw_adapter;

/* An adapter for the model synth_write_* makes from base. */
lw_adapter *lw_make(const synth_config *base, const lw_config *c);
void lw_free(lw_adapter *a);
/* alpha / r, or alpha / sqrt(r) with rslora. */
double lw_scale(const lw_adapter *a);

/* dir (created) with adapter_config.json + adapter_model.safetensors.
 * extra_json: more members for adapter_config.json ("\"use_dora\": true")
 * or NULL. */
bool lw_write_peft(const lw_adapter *a, const char *dir, const char *extra_json, char *err);
/* A llama.cpp GGUF LoRA; adapter.lora.alpha = alpha (GGUF scale alpha / r:
 * rslora adapters are refused here, the converter does not carry it). */
bool lw_write_gguf(const lw_adapter *a, const char *path, char *err);

/* The merged copies (see above) of a base written by synth_write_gguf /
 * synth_write_hf (+ tokenizer.json); out_dir is created. */
bool lw_merge_gguf(const lw_adapter *a, const char *base_gguf, const char *out_gguf, char *err);
bool lw_merge_hf(const lw_adapter *a, const char *base_dir, const char *out_dir, char *err);

#endif
