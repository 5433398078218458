/*
 * matmul.c — y = x . w^T (+ bias) with one fixed reduction order per output
 * element, w in the packed panel layout (see matmul.h for the order, the
 * layout and why they matter; matmul_pack.c makes the layout).
 *
 * Two implementations of the same arithmetic:
 *   - AVX2 + FMA (x86-64 with -march=native on anything since Haswell/Zen):
 *     a __m256 accumulator holds the 8 lanes of one output; chunks of 8 are
 *     one vfmadd each; the zero-padded last chunk is a masked load; the
 *     horizontal tree is two hadds and one 128-bit add.
 *   - portable C: the same lanes in a float[8], fmaf in the same order, the
 *     same tree.  fmaf is exact-then-round-once like vfmadd, so both paths
 *     give the same bits.
 *
 * The AVX2 path has two shapes of work, picked by M alone (so a given M
 * always takes the same path; the result would be the same on any path):
 *   - one x row (decode): stream_panels() reads 4 panels (12 outputs) side
 *     by side, each one sequential run front to back with prefetch;
 *   - more rows: row_block() on groups of MM_GROUP panels (48 w rows).  x
 *     is cut into blocks of MM_ROWBLOCK rows and K into blocks of
 *     MM_KBLOCK; in each K block every group of 4 x rows runs over the
 *     group's panels in register tiles of 4 x rows by one panel's 3 w rows
 *     (12 accumulators + 3 w vectors + 1 x vector = the 16 ymm registers).
 *     A tile's w is one contiguous run (a panel is exactly a tile wide), so
 *     it streams from L2 without the L1 set conflicts of w rows 8 KiB apart
 *     and without sharing cache lines between tiles; x is read in place (a
 *     4 KiB slice per row covers the L1 sets evenly).  The 8 lanes of every
 *     output of the block are saved between K blocks and picked up again.
 * Edge tiles (fewer rows or columns) run the same per-output code with
 * fewer accumulators.  Neither tiling, panels nor K blocks change any
 * output's arithmetic: each output owns its 8 lanes from k = 0 to K in
 * order (a saved and reloaded vector is the same vector), and K is never
 * split between outputs.
 *
 * Measured on Zen 3 (2 threads, M = 512, the bench models' shapes): ~80%
 * of OpenBLAS sgemm, from ~70% with row-major w (and its panels of 48
 * strided rows).  The sizes below were tuned there.
 */
#include "matmul.h"
#include "wmat.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the portable reference ------------------------------------------------- */

/* The fixed horizontal tree over the 8 lanes. */
static float lanes_sum(const float l[8]) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

float mm_dot_ref(const float *x, const float *w, int K) {
    float lane[8] = {0};
    int k = 0;
    for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; j++) lane[j] = fmaf(x[k + j], w[k + j], lane[j]);
    if (k < K) /* the zero-padded last chunk, exactly as a masked vector load */
        for (int j = 0; j < 8; j++) {
            float a = k + j < K ? x[k + j] : 0.0f, b = k + j < K ? w[k + j] : 0.0f;
            lane[j] = fmaf(a, b, lane[j]);
        }
    return lanes_sum(lane);
}

/* Panels per pass of a row block: x is read from L3 once per group. */
#define MM_GROUP 16

/* One panel: its columns [c0, c1) (of W), as the product sees them. */
typedef struct {
    const float *w;    /* the packed panel (W x Kp floats) */
    int W, c0, c1;
    const float *bias; /* (N) or NULL */
    int n0;            /* output column of the panel's column 0 */
} panel;

#if defined(__x86_64__)
#include <immintrin.h>

/* The AVX2 + FMA functions are compiled for those extensions whatever the
 * build's -march, and run only where wm_kernels() says the CPU has them. */
#define MM_AVX2 __attribute__((target("avx2,fma")))

/* Rows of x and of w per register tile (a panel is one tile wide). */
#define MM_TILE_R 4
#define MM_TILE_C MM_PANEL
/* x rows per row block; the carried lanes of one block are MM_ROWBLOCK x
 * MM_GROUP x MM_PANEL x 32 bytes (96 KiB, in L2). */
#define MM_ROWBLOCK 64
/* K block (floats): a group of 4 x rows, 16 KiB, stays in L1 while the
 * panels' slices (12 KiB each) stream past; fewer, longer tiles cost less
 * in saved and reloaded lanes than shorter ones that fit L1 together. */
#define MM_KBLOCK 1024
/* Lines of the next row group's x slice prefetched after each tile: the
 * 4 x MM_KBLOCK slice (256 lines) arrives over the group's 16 tiles. */
#define MM_PREFETCH_X 16
/* How far ahead (floats) the one-row kernel prefetches each panel run. */
#define MM_PREFETCH 2048

/* Totals of four 8-lane accumulators, each by the tree of lanes_sum():
 * hadd pairs lanes (0+1, 2+3 | 4+5, 6+7), the second hadd adds those pairs,
 * and the final add joins the 128-bit halves. */
static inline MM_AVX2 __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b);      /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    __m256 cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd); /* a0123 b0123 c0123 d0123 | a4567 ... */
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* Lanes [0, K % 8) of the last chunk are loaded, the rest read as 0. */
static MM_AVX2 __m256i tail_mask(int K) {
    int r = K % 8;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Writes the totals of up to 4 outputs (n = n0 + c, c < C) of one row. */
static inline MM_AVX2 void store_totals(__m128 s, int C, const float *bias, int n0, float *y) {
    float t[4];
    _mm_storeu_ps(t, s);
    for (int c = 0; c < C; c++) y[c] = bias ? t[c] + bias[n0 + c] : t[c];
}

/* Keeps a loaded vector in a register.  Without it gcc folds the loads into
 * the FMAs as memory operands, so each w vector is loaded once per x row
 * (16 loads per 12 FMAs instead of 7) and the tile becomes load-bound. */
static inline __attribute__((always_inline)) MM_AVX2 void pin_register(__m256 *v) { __asm__("" : "+x"(*v)); }

/* One register tile's work for one K block. */
typedef struct {
    const float *x;    /* row 0 of x at the block's first k */
    const float *w;    /* the panel at the block's first chunk, column 0 of the tile */
    size_t ldx;        /* x row stride */
    size_t wk;         /* panel width W: chunk k/8 of column c is at w + k * wk + c * 8 */
    int len;           /* k values in this block (only the last block may
                          have len % 8 != 0) */
    int first, last;   /* the block starts at k = 0 / ends at k = K */
    __m256 *state;     /* lanes carried between K blocks: state[c * MM_TILE_R + r] */
    const float *bias; /* (N) or NULL */
    int n0;            /* output column of the tile's column 0 */
    float *y;          /* &y[row 0][n0] */
    int ldy;
} tile_args;

/* One register tile: rows [0, R) of x by columns [0, C) of the panel (R, C
 * <= 4) over one K block.  The lanes start at 0 (first block) or from the
 * state saved by the previous block, and are either saved again or, after
 * the last block, reduced and written out.  Saving and reloading a vector
 * is exact, so K blocks do not change any output's arithmetic.  Always
 * inlined with constant R and C, so the accumulators live in registers. */
static inline __attribute__((always_inline)) MM_AVX2 void tile(const tile_args *t, int R, int C) {
    const float *x = t->x, *w = t->w;
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) acc[r][c] = t->first ? _mm256_setzero_ps() : t->state[c * MM_TILE_R + r];
    int k = 0;
    for (; k + 8 <= t->len; k += 8) {
        __m256 wv[4];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            wv[c] = _mm256_loadu_ps(w + k * t->wk + c * 8);
            pin_register(&wv[c]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256 xv = _mm256_loadu_ps(x + r * t->ldx + k);
            pin_register(&xv);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
        }
    }
    if (k < t->len) { /* the zero-padded last chunk (the mask is made here,
                       * not held in a register through the main loop) */
        __m256i tail = tail_mask(t->len);
        __m256 wv[4];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) wv[c] = _mm256_maskload_ps(w + k * t->wk + c * 8, tail);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256 xv = _mm256_maskload_ps(x + r * t->ldx + k, tail);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
        }
    }
    if (!t->last) {
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) t->state[c * MM_TILE_R + r] = acc[r][c];
        return;
    }
    /* hsum4 always reduces 4 vectors; for C < 4 the last column fills the
     * unused slots (their totals are dropped).  A zero there instead would
     * be hoisted into a register for the whole loop and spill an
     * accumulator. */
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        __m256 a1 = acc[r][C > 1 ? 1 : 0], a2 = acc[r][C > 2 ? 2 : C - 1], a3 = acc[r][C > 3 ? 3 : C - 1];
        store_totals(hsum4(acc[r][0], a1, a2, a3), C, t->bias, t->n0, t->y + (size_t)r * t->ldy);
    }
}

/* The tile shapes that occur: full tiles (R rows by MM_TILE_C columns) and
 * the column remainder (R rows by 1 column), for R = 1..4 rows of x. */
static MM_AVX2 void tile_rows(int R, int C, const tile_args *t) {
    if (C == MM_TILE_C) {
        switch (R) {
        case 4: tile(t, 4, MM_TILE_C); break;
        case 3: tile(t, 3, MM_TILE_C); break;
        case 2: tile(t, 2, MM_TILE_C); break;
        default: tile(t, 1, MM_TILE_C); break;
        }
        return;
    }
    for (int c = 0; c < C; c++) { /* column remainder: one column at a time */
        tile_args one = *t;
        one.w = t->w + c * 8;
        one.state = t->state + c * MM_TILE_R;
        one.n0 = t->n0 + c;
        one.y = t->y + c;
        switch (R) {
        case 4: tile(&one, 4, 1); break;
        case 3: tile(&one, 3, 1); break;
        case 2: tile(&one, 2, 1); break;
        default: tile(&one, 1, 1); break;
        }
    }
}

/* Where the prefetch of the next group of x rows has got to: `count`
 * 64-byte lines at a time of rows [0, R) x [0, len) (row stride ld),
 * row by row.  (A cursor, not a line number: a division per line cost as
 * much as a tile's FMAs.) */
typedef struct {
    const float *x;
    size_t ld;
    int R, len, row, col;
} x_prefetch;

static MM_AVX2 void prefetch_lines(x_prefetch *p, int count) {
    for (int i = 0; i < count && p->row < p->R; i++) {
        _mm_prefetch((const char *)(p->x + (size_t)p->row * p->ld + p->col), _MM_HINT_T0);
        if ((p->col += 16) >= p->len) {
            p->col = 0;
            p->row++;
        }
    }
}


/* Rows [m0, m1) of x (at most MM_ROWBLOCK) against np (<= MM_GROUP)
 * consecutive panels.  K is walked in blocks of MM_KBLOCK: in each block
 * every group of 4 x rows (in L1, the next group prefetched meanwhile)
 * passes over the panels' slices (streamed from L2), one register tile per
 * panel; the lanes of the block's outputs wait in `state` between K
 * blocks. */
static MM_AVX2 void row_block(const float *x, int m0, int m1, int K, const panel *pn, int np, float *y, int ldy) {
    __m256 state[MM_ROWBLOCK * MM_PANEL * MM_GROUP];
    for (int k0 = 0; k0 < K; k0 += MM_KBLOCK) {
        int len = K - k0 < MM_KBLOCK ? K - k0 : MM_KBLOCK;
        tile_args t = {NULL, NULL, (size_t)K, 0, len, k0 == 0, k0 + len == K, NULL, pn->bias, 0, NULL, ldy};
        for (int m = m0; m < m1; m += MM_TILE_R) {
            int R = m1 - m < MM_TILE_R ? m1 - m : MM_TILE_R;
            t.x = x + (size_t)m * K + k0;
            /* the next group's x slice comes in MM_PREFETCH_X lines per tile */
            int next = m + MM_TILE_R < m1 ? m1 - m - MM_TILE_R : 0;
            x_prefetch pf = {next ? x + (size_t)(m + MM_TILE_R) * K + k0 : x, (size_t)K,
                             next < MM_TILE_R ? next : MM_TILE_R, len, 0, 0};
            __m256 *st = state + (size_t)(m - m0) / MM_TILE_R * MM_PANEL * MM_GROUP * MM_TILE_R;
            for (int p = 0; p < np; p++)
                for (int c = pn[p].c0; c < pn[p].c1; c += MM_TILE_C, st += MM_TILE_C * MM_TILE_R) {
                    t.w = pn[p].w + (size_t)k0 * pn[p].W + c * 8;
                    t.wk = (size_t)pn[p].W;
                    t.state = st;
                    t.n0 = pn[p].n0 + c;
                    t.y = y + (size_t)m * ldy + pn[p].n0 + c;
                    tile_rows(R, pn[p].c1 - c < MM_TILE_C ? pn[p].c1 - c : MM_TILE_C, &t);
                    prefetch_lines(&pf, MM_PREFETCH_X);
                }
        }
    }
}

/* One x row against 4 whole consecutive panels (12 outputs): each panel is
 * one sequential run of 3 x Kp floats, read once front to back with
 * prefetch, the 12 outputs' lanes in registers; each chunk is still one FMA
 * per output into its own lanes, the order of tile(). */
static MM_AVX2 void stream_panels(const float *x, int K, const panel *pn, float *y) {
    const float *w0 = pn[0].w, *w1 = pn[1].w, *w2 = pn[2].w, *w3 = pn[3].w;
    __m256 a[4][MM_PANEL];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
        for (int c = 0; c < MM_PANEL; c++) a[j][c] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        size_t o = (size_t)k * MM_PANEL;
        /* a chunk of a panel is 1.5 lines: two prefetches per stream, so
         * no line is left to the hardware prefetcher alone */
        _mm_prefetch((const char *)(w0 + o + MM_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + o + MM_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w2 + o + MM_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w3 + o + MM_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w0 + o + MM_PREFETCH + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + o + MM_PREFETCH + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(w2 + o + MM_PREFETCH + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(w3 + o + MM_PREFETCH + 16), _MM_HINT_T0);
        __m256 xv = _mm256_loadu_ps(x + k);
#pragma GCC unroll 4
        for (int c = 0; c < MM_PANEL; c++) {
            a[0][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w0 + o + c * 8), a[0][c]);
            a[1][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w1 + o + c * 8), a[1][c]);
            a[2][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w2 + o + c * 8), a[2][c]);
            a[3][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w3 + o + c * 8), a[3][c]);
        }
    }
    if (k < K) { /* the zero-padded last chunk (the panel's padding is 0 too) */
        size_t o = (size_t)k * MM_PANEL;
        __m256 xv = _mm256_maskload_ps(x + k, tail_mask(K));
#pragma GCC unroll 4
        for (int c = 0; c < MM_PANEL; c++) {
            a[0][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w0 + o + c * 8), a[0][c]);
            a[1][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w1 + o + c * 8), a[1][c]);
            a[2][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w2 + o + c * 8), a[2][c]);
            a[3][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w3 + o + c * 8), a[3][c]);
        }
    }
    /* the 12 totals in column order: panel j's columns are n0 + 3j + c */
    float *yo = y + pn[0].n0;
    const float *bias = pn[0].bias;
    store_totals(hsum4(a[0][0], a[0][1], a[0][2], a[1][0]), 4, bias, pn[0].n0, yo);
    store_totals(hsum4(a[1][1], a[1][2], a[2][0], a[2][1]), 4, bias, pn[0].n0 + 4, yo + 4);
    store_totals(hsum4(a[2][2], a[3][0], a[3][1], a[3][2]), 4, bias, pn[0].n0 + 8, yo + 8);
}

/* The product on np (<= MM_GROUP) consecutive panels: one row streams
 * them one by one; more rows go in row blocks over all of them. */
static MM_AVX2 void panel_product_avx2(const float *x, int M, int K, const panel *pn, int np, float *y, int ldy) {
    if (M == 1) { /* whole panels 4 at a time; the rest one by one */
        int p = 0;
        for (; p + 4 <= np; p += 4) {
            bool whole = true;
            for (int j = 0; j < 4; j++) whole &= pn[p + j].W == MM_PANEL && pn[p + j].c0 == 0 && pn[p + j].c1 == MM_PANEL;
            if (!whole) break;
            stream_panels(x, K, &pn[p], y);
        }
        for (; p < np; p++) row_block(x, 0, 1, K, &pn[p], 1, y, ldy);
        return;
    }
    for (int m0 = 0; m0 < M; m0 += MM_ROWBLOCK)
        row_block(x, m0, m0 + MM_ROWBLOCK < M ? m0 + MM_ROWBLOCK : M, K, pn, np, y, ldy);
}

#endif

/* ---- portable: the same arithmetic, one output at a time ---------------------- */

/* mm_dot_ref's order with w read from a panel column. */
static float panel_dot(const float *x, int K, const float *w, int W, int c) {
    float lane[8] = {0};
    for (int k = 0; k < K; k += 8)
        for (int j = 0; j < 8; j++) {
            float a = k + j < K ? x[k + j] : 0.0f; /* the panel's padding is 0 */
            lane[j] = fmaf(a, w[(size_t)k * W + c * 8 + j], lane[j]);
        }
    return lanes_sum(lane);
}

static void panel_product_portable(const float *x, int M, int K, const panel *pn, int np, float *y, int ldy) {
    for (int p = 0; p < np; p++)
        for (int m = 0; m < M; m++)
            for (int c = pn[p].c0; c < pn[p].c1; c++) {
                float s = panel_dot(x + (size_t)m * K, K, pn[p].w, pn[p].W, c);
                y[(size_t)m * ldy + pn[p].n0 + c] = pn[p].bias ? s + pn[p].bias[pn[p].n0 + c] : s;
            }
}


/* The AVX2 kernels where the CPU runs them (the same bits either way). */
static void panel_product(const float *x, int M, int K, const panel *pn, int np, float *y, int ldy) {
#if defined(__x86_64__)
    if (wm_kernels() >= WM_AVX2) {
        panel_product_avx2(x, M, K, pn, np, y, ldy);
        return;
    }
#endif
    panel_product_portable(x, M, K, pn, np, y, ldy);
}

/* Consecutive panels of [n0, n1), MM_GROUP at a time. */
void mm_packed(const float *x, int M, int K, const float *wp, int N, int n0, int n1, const float *bias, float *y,
               int ldy) {
    if (M <= 0 || n0 >= n1) return;
    size_t Kp = ((size_t)K + 7) / 8 * 8;
    panel pn[MM_GROUP];
    int np = 0;
    for (int p0 = n0 / MM_PANEL * MM_PANEL; p0 < n1; p0 += MM_PANEL) {
        int W = N - p0 < MM_PANEL ? N - p0 : MM_PANEL;
        pn[np++] = (panel){wp + (size_t)p0 * Kp, W, n0 > p0 ? n0 - p0 : 0, n1 < p0 + W ? n1 - p0 : W, bias, p0};
        if (np == MM_GROUP || p0 + MM_PANEL >= n1) {
            panel_product(x, M, K, pn, np, y, ldy);
            np = 0;
        }
    }
}

/* Packs each group of panels of row-major w into a buffer and runs it; if
 * the buffer cannot be had, the scalar reference (the same bits, slowly). */
void mm_rows(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias, float *y, int ldy) {
    if (M <= 0 || n0 >= n1) return;
    size_t Kp = ((size_t)K + 7) / 8 * 8;
    float *buf = malloc((size_t)MM_GROUP * MM_PANEL * Kp * sizeof(float));
    panel pn[MM_GROUP];
    int np = 0;
    for (int p0 = n0 / MM_PANEL * MM_PANEL; p0 < n1; p0 += MM_PANEL) {
        int W = n1 - p0 < MM_PANEL ? n1 - p0 : MM_PANEL, c0 = n0 > p0 ? n0 - p0 : 0;
        if (!buf) {
            for (int m = 0; m < M; m++)
                for (int n = p0 + c0; n < p0 + W; n++) {
                    float s = mm_dot_ref(x + (size_t)m * K, w + (size_t)n * K, K);
                    y[(size_t)m * ldy + n] = bias ? s + bias[n] : s;
                }
            continue;
        }
        float *dst = buf + (size_t)np * MM_PANEL * Kp;
        mm_pack(w + (size_t)p0 * K, W, K, dst);
        pn[np++] = (panel){dst, W, c0, W, bias, p0};
        if (np == MM_GROUP || p0 + MM_PANEL >= n1) {
            panel_product(x, M, K, pn, np, y, ldy);
            np = 0;
        }
    }
    free(buf);
}
