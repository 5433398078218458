/*
 * kv.c — contiguous per-sequence key/value slabs (see kv.h for the seam the
 * paged cache will replace).
 */
#include "kv.h"

#include <stdint.h>
#include <stdlib.h>

kv_cache *kv_create(int n_layers, int kv_dim, int capacity, int n_seqs) {
    kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->n_layers = n_layers;
    kv->kv_dim = kv_dim;
    kv->capacity = capacity;
    kv->n_seqs = n_seqs;
    size_t n = (size_t)n_seqs * n_layers * capacity * kv_dim;
    if (n > SIZE_MAX / sizeof(float)) { free(kv); return NULL; }
    kv->k = malloc(n * sizeof(float));
    kv->v = malloc(n * sizeof(float));
    if (!kv->k || !kv->v) { kv_free(kv); return NULL; }
    return kv;
}

void kv_free(kv_cache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

size_t kv_bytes(const kv_cache *kv) {
    return 2 * (size_t)kv->n_seqs * kv->n_layers * kv->capacity * kv->kv_dim * sizeof(float);
}
