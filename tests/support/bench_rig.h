/*
 * bench_rig.h — the forward pass driven directly (no scheduler) for the
 * kernel benchmarks (scripts/bench_quant.c, scripts/bench_arch.c): a model
 * with its pool, forward context, KV pool and logits; seeded token ids;
 * one stream's decode, a long prefill and many sequences decoding in
 * lockstep, each timed; and running a measurement in a child process so
 * that each model's memory is its own.  An encoder-decoder model (T5)
 * encodes the prompt (its cross K/V in `cross`) and decodes from its start
 * token; its prefill is the encoder pass.
 */
#ifndef CTGI_BENCH_RIG_H
#define CTGI_BENCH_RIG_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"
#include "model/forward.h"
#include "model/model.h"
#include "pool.h"

enum { BENCH_KV_BLOCK = 16, BENCH_MAX_SEQS = 64 };

typedef struct {
    const model *m;
    pool *pool;
    fwd_ctx *fwd;
    kv_pool *kv;   /* f16, blocks of BENCH_KV_BLOCK, no prefix caching */
    float *logits; /* (BENCH_MAX_SEQS, vocab) */
    int max_tokens;
    kv_seq cross;  /* encoder-decoder: the last encoded prompt's cross K/V */
    const int *adapter; /* bench_decode_many: sequence i's LoRA adapter (fwd_batch.adapter), or NULL */
} bench_rig;

/* A rig for m on `threads` threads: batches of up to max_tokens tokens and
 * kv_positions cached positions in all.  Exits (bench_die) when out of memory. */
void bench_rig_open(bench_rig *r, const model *m, int threads, int max_tokens, int kv_positions);
void bench_rig_close(bench_rig *r); /* not the model */

/* The i-th token of the benchmarks' prompts and continuations: ordinary ids past the control and byte tokens. */
int32_t bench_token(int i, int vocab);

/* One stream: a `prompt`-token prompt, then `steps` tokens one at a time;
 * the decode's tokens per second.  Encoder-decoder: the prompt through the
 * encoder, then the start token, then the steps. */
double bench_decode_one(bench_rig *r, int prompt, int steps);
/* One pass over n tokens (n <= max_tokens), best of `runs`; tokens per
 * second.  Encoder-decoder: the encoder pass (and its cross K/V). */
double bench_prefill(bench_rig *r, int n, int runs);
/* n sequences (<= BENCH_MAX_SEQS) advancing one token per step after
 * `prompt` steps; aggregate tokens per second of the `steps` timed ones
 * (encoder-decoder: all reading one encoded `prompt`-token input). */
double bench_decode_many(bench_rig *r, int n, int prompt, int steps);

/* fn(arg, out) in a child process, its `size`-byte result copied into out;
 * false when the child died before writing it. */
bool bench_in_child(void (*fn)(const void *arg, void *out), const void *arg, void *out, size_t size);

#endif
