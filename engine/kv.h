/*
 * kv.h — the key/value cache as the forward pass sees it.
 *
 * The math in forward.c touches the cache only through kv_k()/kv_v(): "the
 * row of keys (values) of layer l at position pos of sequence seq".  This
 * implementation is one contiguous slab per sequence slot; the paged cache
 * replaces the body of these functions (block table lookup), not the math.
 */
#ifndef CTGI_KV_H
#define CTGI_KV_H

#include <stddef.h>

typedef struct {
    int n_layers;
    int kv_dim;    /* n_kv_heads * head_dim */
    int capacity;  /* positions per sequence */
    int n_seqs;
    float *k;      /* (n_seqs, n_layers, capacity, kv_dim) */
    float *v;      /* (n_seqs, n_layers, capacity, kv_dim) */
} kv_cache;

/* NULL if the allocation fails. */
kv_cache *kv_create(int n_layers, int kv_dim, int capacity, int n_seqs);
void kv_free(kv_cache *kv);
size_t kv_bytes(const kv_cache *kv);

static inline float *kv_k(const kv_cache *kv, int seq, int layer, int pos) {
    size_t row = (((size_t)seq * kv->n_layers + layer) * kv->capacity + pos);
    return kv->k + row * kv->kv_dim;
}
static inline float *kv_v(const kv_cache *kv, int seq, int layer, int pos) {
    size_t row = (((size_t)seq * kv->n_layers + layer) * kv->capacity + pos);
    return kv->v + row * kv->kv_dim;
}

#endif
