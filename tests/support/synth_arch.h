/*
 * synth_arch.h — seeded random models of any architecture ctgi loads from
 * GGUF, at any size: a small llama.cpp-layout file of that architecture
 * (../shared/models/synth/arch/<name>.gguf) is the template for the
 * tensor names, their roles and the architecture's keys; this writes the
 * same tensors at new dimensions, with fresh seeded values, and the
 * tokenizer of another vocab GGUF.  For benchmarks (scripts/bench_arch.c:
 * a 134M-class model of each shape) and shape tests.  T5's two stacks
 * (enc.blk.N, dec.blk.N) get n_layers layers each, the relative bias
 * table (buckets x heads) only in their layer 0, as the template has it.
 *
 * Values: matrices N(0, 1/fan_in), norm gains 1 + N(0, 0.01), biases
 * N(0, 0.01), embeddings N(0, 1); matrices in `type` (F32/F16/BF16 or a
 * block type the row length fits), vectors F32.  Keys the template has
 * are rewritten for the new shape (embedding_length, block_count,
 * feed_forward_length, head counts, key/value_length, context_length,
 * rope.dimension_count in the template's proportion, sliding_window if
 * sliding_window > 0); the others are copied.
 */
#ifndef CTGI_SYNTH_ARCH_H
#define CTGI_SYNTH_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

typedef struct {
    const char *template_gguf; /* e.g. $CTGI_MODELS/synth/arch/gpt2.gguf */
    const char *vocab_gguf;    /* tokenizer.* keys and the vocabulary size */
    int dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, ctx_len;
    int sliding_window;        /* > 0: replaces the template's window (if it has one) */
    uint32_t type;             /* dt_type of the 2-D weights */
    uint64_t seed;
} synth_arch_config;

bool synth_arch_write(const synth_arch_config *c, const char *path, char *err);

#endif
