/*
 * bench_models.h — the seeded random models the benchmarks run on (a
 * ~110M and a TinyLlama-shaped 1.1B llama, F32 GGUF, llama-spm vocab),
 * generated once into a cache directory by synth_model and reused while
 * their config stamp matches.  Shared by scripts/bench_engine.c and
 * scripts/bench_serving.c.
 */
#ifndef CTGI_BENCH_MODELS_H
#define CTGI_BENCH_MODELS_H

#include <stdint.h>

#include "common.h"
#include "support/synth_model.h"

typedef struct {
    const char *key;   /* --models selector: "small" | "large" */
    const char *file;  /* file name in the cache directory */
    const char *label; /* "110M" | "1.1B" */
    int dim, n_layers, n_heads, n_kv_heads, ffn_dim;
} bench_spec;

#define BENCH_N_SPECS 2
#define BENCH_SEED 0x5eed2024u
#define BENCH_CTX 2048
#define BENCH_VOCAB_REL "vocab/ggml-vocab-llama-spm.gguf"

extern const bench_spec bench_specs[BENCH_N_SPECS];

/* The spec with this key, or NULL. */
const bench_spec *bench_spec_find(const char *key);

/* Path (malloc'd) of spec s's model in cache_dir, generating it (with a
 * progress line on stdout) if it is missing or its stamp is stale.  The
 * vocabulary comes from the shared models (tu_model_path).  NULL + err. */
char *bench_model_ensure(const bench_spec *s, const char *cache_dir, char *err);

/* The same model with its matrices in `type` (dt_type), each chosen as
 * llama-quantize would for that type (Q4_K: the Q4_K_M mix), in
 * ctgi-bench-<label>-<TYPE>.gguf.  DT_F32 is bench_model_ensure's file. */
char *bench_model_ensure_type(const bench_spec *s, uint32_t type, const char *cache_dir, char *err);

/* The synth_model configuration of spec s's F32 file (vocab: the path of
 * its GGUF vocabulary): what seeded adapters for it (lora_write.h) are
 * shaped by. */
synth_config bench_synth_config(const bench_spec *s, const char *vocab);

/* "f16", "Q8_0", "q4_k_m" (= Q4_K, the mix) ... -> a type wmat or matmul
 * computes with; false for others.  bench_type_label: "Q4_K_M" for Q4_K. */
bool bench_type_parse(const char *name, uint32_t *type);
const char *bench_type_label(uint32_t type);

#endif
