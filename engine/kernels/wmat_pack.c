/*
 * wmat_pack.c — the group layout of wmat.h (see wmat_layout.h for where
 * each field goes): from a file's row-major blocks to group blocks of 16
 * rows.  Bytes move; the only change of representation is that the high
 * bits of Q5/Q3 quants are regrouped into masks (of the same size).  No
 * value is rounded, and a group block has the file's bytes for its rows.
 */
#include <stdlib.h>
#include <string.h>

#include "wmat.h"
#include "wmat_layout.h"

bool wmat_supported(uint32_t type) { return wl_type(type).qk > 0; }

bool wmat_quantized(uint32_t type) { return wl_type(type).qk > 1; }

size_t wmat_bytes(uint32_t type, int N, int K) {
    wl_info t = wl_type(type);
    if (!t.qk || N <= 0 || K <= 0 || K % t.qk || (t.qk > 1 && K % WM_QB)) return 0;
    return (size_t)wm_groups(N) * (size_t)(K / t.qk) * (size_t)t.gbytes;
}

/* ---- field movers ------------------------------------------------------------- */

/* n dwords starting at byte `off` of each row's block -> n vectors; x is
 * XORed into every byte (0x80 turns Q8_0's int8 into offset u8). */
static void put_vectors(const uint8_t *const blk[WM_GROUP], int off, int n, uint8_t *dst, uint8_t x) {
    uint32_t x4 = x * 0x01010101u;
    for (int r = 0; r < WM_GROUP; r++)
        for (int v = 0; v < n; v++) {
            uint32_t d;
            memcpy(&d, blk[r] + off + 4 * v, 4);
            d ^= x4;
            memcpy(dst + v * 64 + r * 4, &d, 4);
        }
}

/* A u16 (f16 scale) at byte `off` of each row's block -> 16 side by side. */
static void put_halves(const uint8_t *const blk[WM_GROUP], int off, uint8_t *dst) {
    for (int r = 0; r < WM_GROUP; r++) memcpy(dst + 2 * r, blk[r] + off, 2);
}

/* n_sets x 8 masks of high bits: bit 4r+i of mask (s, j) is
 * hbit(row r's block, s, 4j + i), the high bit of element 4j+i of set s
 * (a 32-element sub-block) of row r. */
typedef int (*hbit_fn)(const uint8_t *blk, int s, int l);

static void put_masks(const uint8_t *const blk[WM_GROUP], int n_sets, hbit_fn hbit, uint8_t *dst) {
    for (int s = 0; s < n_sets; s++)
        for (int j = 0; j < 8; j++) {
            uint64_t m = 0;
            for (int r = 0; r < WM_GROUP; r++)
                for (int i = 0; i < 4; i++) m |= (uint64_t)hbit(blk[r], s, 4 * j + i) << (4 * r + i);
            memcpy(dst + 8 * (s * 8 + j), &m, 8);
        }
}

/* Q5_0/Q5_1: bit l of the u32 qh at `off`; one set (s = 0). */
static int hbit_q5_0(const uint8_t *blk, int s, int l) { return (blk[2 + l / 8] >> (l % 8)) & 1; }
static int hbit_q5_1(const uint8_t *blk, int s, int l) { return (blk[4 + l / 8] >> (l % 8)) & 1; }
/* Q5_K: bit s of qh[l] (qh at 16). */
static int hbit_q5_k(const uint8_t *blk, int s, int l) { return (blk[16 + l] >> s) & 1; }
/* Q3_K: bit g of hmask[l] (hmask at 0). */
static int hbit_q3_k(const uint8_t *blk, int g, int l) { return (blk[l] >> g) & 1; }

/* ---- one group block per type ------------------------------------------------- */

/* The 12 packed 6-bit scale bytes at `off` of each row's block -> 12
 * planes (wmat_layout.h). */
static void put_planes(const uint8_t *const blk[WM_GROUP], int off, uint8_t *dst) {
    for (int k = 0; k < 12; k++)
        for (int r = 0; r < WM_GROUP; r++) dst[16 * k + r] = blk[r][off + k];
}

static void pack_group_block(uint32_t type, const uint8_t *const blk[WM_GROUP], uint8_t *g) {
    switch (type) {
    case DT_Q8_0: put_halves(blk, 0, g); put_vectors(blk, 2, 8, g + WL_Q8_0_QS, 0x80); break;
    case DT_Q4_0:
    case DT_IQ4_NL: put_halves(blk, 0, g); put_vectors(blk, 2, 4, g + WL_Q4_0_QS, 0); break;
    case DT_Q4_1:
        put_halves(blk, 0, g);
        put_halves(blk, 2, g + WL_Q4_1_M);
        put_vectors(blk, 4, 4, g + WL_Q4_1_QS, 0);
        break;
    case DT_Q5_0:
        put_halves(blk, 0, g);
        put_masks(blk, 1, hbit_q5_0, g + WL_Q5_0_QH);
        put_vectors(blk, 6, 4, g + WL_Q5_0_QS, 0);
        break;
    case DT_Q5_1:
        put_halves(blk, 0, g);
        put_halves(blk, 2, g + WL_Q5_1_M);
        put_masks(blk, 1, hbit_q5_1, g + WL_Q5_1_QH);
        put_vectors(blk, 8, 4, g + WL_Q5_1_QS, 0);
        break;
    case DT_Q2_K:
        put_halves(blk, 80, g);
        put_halves(blk, 82, g + WL_QK_DMIN);
        for (int s = 0; s < 16; s++)
            for (int r = 0; r < WM_GROUP; r++) g[WL_Q2_K_SC + s * 16 + r] = blk[r][s];
        put_vectors(blk, 16, 16, g + WL_Q2_K_QS, 0);
        break;
    case DT_Q3_K:
        put_halves(blk, 108, g);
        put_planes(blk, 96, g + WL_Q3_K_SC);
        put_vectors(blk, 32, 16, g + WL_Q3_K_QS, 0);
        put_masks(blk, 8, hbit_q3_k, g + WL_Q3_K_HM);
        break;
    case DT_Q4_K:
        put_halves(blk, 0, g);
        put_halves(blk, 2, g + WL_QK_DMIN);
        put_planes(blk, 4, g + WL_Q4_K_SC);
        put_vectors(blk, 16, 32, g + WL_Q4_K_QS, 0);
        break;
    case DT_Q5_K:
        put_halves(blk, 0, g);
        put_halves(blk, 2, g + WL_QK_DMIN);
        put_planes(blk, 4, g + WL_Q4_K_SC);
        put_masks(blk, 8, hbit_q5_k, g + WL_Q5_K_QH);
        put_vectors(blk, 48, 32, g + WL_Q5_K_QS, 0);
        break;
    case DT_Q6_K:
        put_halves(blk, 208, g);
        for (int s = 0; s < 16; s++)
            for (int r = 0; r < WM_GROUP; r++) g[WL_Q6_K_SC + s * 16 + r] = blk[r][192 + s];
        put_vectors(blk, 0, 32, g + WL_Q6_K_QL, 0);
        put_vectors(blk, 128, 16, g + WL_Q6_K_QH, 0);
        break;
    default: break;
    }
}

/* F16/BF16: a group block is one column's 16 values, so packing is a
 * transpose of 16 rows into K columns of 16.  Done in tiles of WP_TILE
 * columns (a 2 KiB destination, L1-resident) with the rows' addresses taken
 * once: the general path's per-element block gathering and call made a
 * 1.1B F16 file take 3.5 s to load. */
#define WP_TILE 64
static void pack_halves(int N, int K, const uint8_t *src, const int *row_map, uint8_t *dst) {
    static const uint8_t zero_row[2 * WP_TILE]; /* padding rows: zeros */
    size_t row_bytes = (size_t)K * 2;
    for (int g = 0; g < wm_groups(N); g++) {
        const uint8_t *row[WM_GROUP];
        for (int r = 0; r < WM_GROUP; r++) {
            int n = g * WM_GROUP + r;
            row[r] = n < N ? src + (size_t)(row_map ? row_map[n] : n) * row_bytes : NULL;
        }
        uint8_t *out = dst + (size_t)g * row_bytes * WM_GROUP;
        for (int k0 = 0; k0 < K; k0 += WP_TILE) {
            int nk = K - k0 < WP_TILE ? K - k0 : WP_TILE;
            for (int r = 0; r < WM_GROUP; r++) {
                /* bytes, not u16 loads: a safetensors tensor need not be 2-byte aligned */
                const uint8_t *in = row[r] ? row[r] + 2 * (size_t)k0 : zero_row;
                uint8_t *o = out + ((size_t)k0 * WM_GROUP + r) * 2;
                for (int j = 0; j < nk; j++) memcpy(o + (size_t)j * WM_GROUP * 2, in + 2 * j, 2);
            }
        }
    }
}

void wmat_pack(uint32_t type, int N, int K, const uint8_t *src, const int *row_map, uint8_t *dst) {
    wl_info t = wl_type(type);
    if (t.qk == 1) {
        pack_halves(N, K, src, row_map, dst);
        return;
    }
    size_t row_bytes = (size_t)(K / t.qk) * t.fbytes;
    int nb = K / t.qk;
    /* padding rows (past N) read a block of zeros: zero scales, zero quants */
    uint8_t zero[256] = {0};
    for (int g = 0; g < wm_groups(N); g++)
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk[WM_GROUP];
            for (int r = 0; r < WM_GROUP; r++) {
                int n = g * WM_GROUP + r;
                blk[r] = n < N ? src + (size_t)(row_map ? row_map[n] : n) * row_bytes + (size_t)b * t.fbytes : zero;
            }
            pack_group_block(type, blk, dst + ((size_t)g * nb + b) * t.gbytes);
        }
}
