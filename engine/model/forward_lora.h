/*
 * forward_lora.h — the LoRA term of the forward pass (internal to
 * forward.c): for each row of a batch whose request chose an adapter,
 * out += scale * B (A in) after a shared base product.
 *
 * A batch may mix rows of several adapters and of none.  Every base
 * product runs once over all rows (forward.c's mm_lora); each adapted
 * row's low-rank term is then added in two passes over the pool: the rank
 * values scale * A x (inside the base products' own pass), then the
 * outputs, each split evenly by dots between the threads (a decode step
 * with one adapted row still uses every thread).  B is held transposed (model.h lora_pair.bt), so eight
 * outputs run side by side, and each chunk of it serves up to
 * FWD_LORA_ROWS rows of the same adapter.  Every value is one fma chain in
 * a fixed order (AVX2, with a portable twin of the same bits) added after
 * the base output, bias included: a row's bits depend on its adapter and
 * its own values only, never on its neighbours, the thread or the split.
 */
#ifndef CTGI_FORWARD_LORA_H
#define CTGI_FORWARD_LORA_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "pool.h"

enum { FWD_LORA_ROWS = 4 };

typedef struct fwd_lora_unit fwd_lora_unit;   /* one adapted product of one row */
typedef struct fwd_lora_group fwd_lora_group; /* consecutive units of one pair */

/* One batch's adapted rows and the scratch their terms are made in. */
typedef struct {
    int max_tokens;
    const int *adapter;     /* the batch's (n) adapter per row, or NULL */
    int *rows;              /* (max_tokens) rows with an adapter, by adapter then row */
    int n_rows;
    fwd_lora_unit *units;   /* (max_tokens * 3) made on first use */
    fwd_lora_group *groups; /* (max_tokens * 3) */
    float *tmp;             /* (cap) scale * A x of every unit */
    size_t cap;
    /* the products prepared by fwd_lora_prepare (0 units: none) */
    int n_units, n_groups;
    int total_r;            /* rank values (phase 1 dots) of the units */
    int total_n;            /* outputs (phase 2 dots) of the groups */
} fwd_lora;

/* false: out of memory.  fwd_lora_free is safe on a zeroed struct. */
bool fwd_lora_init(fwd_lora *L, int max_tokens);
void fwd_lora_free(fwd_lora *L);

/* The batch's adapters (NULL: all rows the base): its adapted rows grouped
 * by adapter, and scratch for them.  false: an adapter index outside
 * [0, model's adapters] or out of memory. */
bool fwd_lora_plan(fwd_lora *L, const model *m, const int *adapter, int n);

/* out[j][t] += scale * B (A in[j][t]) for every adapted row t of the
 * planned batch and each of the n <= 3 targets its adapter has in layer l
 * (in: (T, cols) inputs, out: (T, rows) outputs), in three calls:
 *   fwd_lora_prepare  lays out the units and groups; false: no row adapts
 *                     any of these targets (then nothing else to call);
 *   fwd_lora_a        this thread's share of the rank values scale * A x,
 *                     called by every pool thread inside the pool pass of
 *                     the base products (it reads only the inputs: no
 *                     round trip of its own);
 *   fwd_lora_b        after that pass: the outputs, one pool pass, added
 *                     to the base outputs; clears the preparation. */
bool fwd_lora_prepare(fwd_lora *L, const model *m, int layer, int n, const lora_target *targets,
                      const float *const *in, float *const *out);
void fwd_lora_a(const fwd_lora *L, int ith, int nth);
void fwd_lora_b(fwd_lora *L, pool *p);

#endif
