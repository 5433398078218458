/*
 * wmat_internal.h — what the kernel sets of wmat.h share inside
 * engine/kernels: the portable reading of one row's block (the contract's
 * terms, wmat_ref.c) and each set's entry points.
 */
#ifndef CTGI_WMAT_INTERNAL_H
#define CTGI_WMAT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/dtype.h"
#include "wmat.h"

/* One row's 32-element block as the contract's terms (wmat.h). */
typedef struct {
    uint8_t u[32]; /* unsigned quants */
    int c[2];      /* integer scale of each 16-element half */
    int m[2];      /* integer min of each half (types with a min) */
    float ws, wm;  /* float scale and min */
} wl_block;

/* The type's quant offset o, and whether it has a min term (wmat_ref.c
 * has the table).  Inline: the kernels fold them for a constant type. */
static inline int wl_offset(uint32_t type) {
    switch (type) {
    case DT_Q8_0: case DT_IQ4_NL: return 128;
    case DT_Q4_0: return 8;
    case DT_Q5_0: return 16;
    case DT_Q3_K: return 4;
    case DT_Q6_K: return 32;
    default: return 0;
    }
}

static inline bool wl_has_min(uint32_t type) {
    return type == DT_Q4_1 || type == DT_Q5_1 || type == DT_Q2_K || type == DT_Q4_K || type == DT_Q5_K;
}

/* Whether the type's two 16-element halves of a block have their own
 * integer scale (c_0 != c_1 in the contract): their dots are kept apart. */
static inline bool wl_halves(uint32_t type) { return type == DT_Q2_K || type == DT_Q3_K || type == DT_Q6_K; }
/* Row r of group block g (one file block of 16 rows), its 32-element
 * block b (0 for 32-element types, 0..7 for K-quants). */
void wl_block_read(uint32_t type, const uint8_t *g, int r, int b, wl_block *o);
/* acc after one block: the contract's step. */
float wl_block_step(const wl_block *w, int o, bool has_min, const int8_t *a, float da, const int16_t *s, float acc);

/* Rows of group g that exist (16, fewer in the last group). */
static inline int wl_group_rows(const wmat *w, int g) {
    int left = w->rows - g * WM_GROUP;
    return left < WM_GROUP ? left : WM_GROUP;
}

/* Bytes ahead of the weights being read that the vector sets' decode
 * prefetches into L2, for weights of `type`: chosen once per process for
 * the CPU (wmat.c).  0: none. */
int wm_prefetch_bytes(uint32_t type);

/* Kernel sets (y without bias). */
void wm_matmul_portable(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y, int ldy);
void wm_matmul_avx2(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y, int ldy);
void wm_matmul_avx512(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y, int ldy);
/* AMX tiles for the block types at M >= WM_AMX_MIN_ROWS, else the AVX-512 set. */
#define WM_AMX_MIN_ROWS 4
void wm_matmul_amx(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y, int ldy);
void wm_act_quantize_portable(wm_act *a, const float *x, int m0, int m1);
void wm_act_quantize_avx512(wm_act *a, const float *x, int m0, int m1);

#endif
