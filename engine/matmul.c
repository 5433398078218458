/*
 * matmul.c — y = x . w^T (+ bias) with one fixed reduction order per output
 * element (see matmul.h for the order and why it matters).
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
 * The AVX2 path has three shapes of work, picked by M alone (so a given M
 * always takes the same path; the result would be the same on any path):
 *   - one x row (decode): stream_rows() walks 4 w rows at a time with
 *     software prefetch, so the weights stream at memory bandwidth;
 *   - 2..32 rows (sequences decoding together): few_rows() streams w once,
 *     3 rows at a time with prefetch, each tile serving all the x rows;
 *   - more rows (prefill, big batches): panel_rows().  w is cut into panels
 *     of 48 rows, x into blocks of 64 rows, K into blocks of 512; in each K
 *     block every group of 4 x rows is copied together (in L1) and runs
 *     over the panel's slice of w (in L2) in register tiles of 4 x rows by
 *     3 w rows (12 accumulators + 3 w vectors + 1 x vector = the 16 ymm
 *     registers).  The 8 lanes of every output of the block are saved
 *     between K blocks (96 KiB of stack) and picked up again.
 * Edge tiles (fewer rows or columns) run the same per-output code with
 * fewer accumulators.  Neither tiling, panels nor K blocks change any
 * output's arithmetic: each output owns its 8 lanes from k = 0 to K in
 * order (a saved and reloaded vector is the same vector), and K is never
 * split between outputs.
 */
#include "matmul.h"

#include <math.h>
#include <stddef.h>
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

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* Rows of x and of w per register tile. */
#define MM_TILE_R 4
#define MM_TILE_C 3
/* w rows per panel (a multiple of MM_TILE_C) and x rows per row block; the
 * carried lanes of one block are MM_ROWBLOCK x MM_PANEL x 32 bytes. */
#define MM_PANEL 48
#define MM_ROWBLOCK 64
/* Lines of the next row group's x slice prefetched after each tile: the
 * 4 x MM_KBLOCK slice (128 lines) arrives over the panel's 16 tiles. */
#define MM_PREFETCH_X 8
/* K block (floats) for long rows: 4 rows of x x 2 KiB = 8 KiB of L1, and
 * the panel's slice of w, MM_PANEL x 2 KiB = 96 KiB, in L2. */
#define MM_KBLOCK 512
/* How far ahead (floats) the one-row kernel prefetches each w row. */
#define MM_PREFETCH 2048
/* Up to this many rows, w is streamed once in tiles that every row group
 * uses while they are in cache (few_rows); more rows take the blocked path.
 * Measured on the 2048 x 5632 and 5632 x 2048 shapes: streaming wins up to
 * 32 rows, the blocked path from 64. */
#define MM_FEW_ROWS 32

/* Totals of four 8-lane accumulators, each by the tree of lanes_sum():
 * hadd pairs lanes (0+1, 2+3 | 4+5, 6+7), the second hadd adds those pairs,
 * and the final add joins the 128-bit halves. */
static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b);      /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    __m256 cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd); /* a0123 b0123 c0123 d0123 | a4567 ... */
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* Lanes [0, K % 8) of the last chunk are loaded, the rest read as 0. */
static __m256i tail_mask(int K) {
    int r = K % 8;
    return _mm256_setr_epi32(0 < r ? -1 : 0, 1 < r ? -1 : 0, 2 < r ? -1 : 0, 3 < r ? -1 : 0, 4 < r ? -1 : 0,
                             5 < r ? -1 : 0, 6 < r ? -1 : 0, 7 < r ? -1 : 0);
}

/* Writes the totals of up to 4 outputs (n = n0 + c, c < C) of one row. */
static inline void store_totals(__m128 s, int C, const float *bias, int n0, float *y) {
    float t[4];
    _mm_storeu_ps(t, s);
    for (int c = 0; c < C; c++) y[c] = bias ? t[c] + bias[n0 + c] : t[c];
}

/* Keeps a loaded vector in a register.  Without it gcc folds the loads into
 * the FMAs as memory operands, so each w vector is loaded once per x row
 * (16 loads per 12 FMAs instead of 7) and the tile becomes load-bound. */
static inline __attribute__((always_inline)) void pin_register(__m256 *v) { __asm__("" : "+x"(*v)); }

/* One register tile's work for one K block. */
typedef struct {
    const float *x;    /* row 0 of x at the block's first k */
    const float *w;    /* row 0 of w at the block's first k */
    size_t ldx, ldw;   /* row strides */
    int len;           /* k values in this block (only the last block may
                          have len % 8 != 0) */
    int first, last;   /* the block starts at k = 0 / ends at k = K */
    int prefetch;      /* > 0: prefetch the w rows this many floats ahead */
    __m256 *state;     /* lanes carried between K blocks: state[c * 4 + r] */
    const float *bias; /* (N) or NULL */
    int n0;            /* output column of w row 0 */
    float *y;          /* &y[row 0][n0] */
    int ldy;
} tile_args;

/* One register tile: rows [0, R) of x by rows [0, C) of w (R, C <= 4) over
 * one K block.  The lanes start at 0 (first block) or from the state saved
 * by the previous block, and are either saved again or, after the last
 * block, reduced and written out.  Saving and reloading a vector is exact,
 * so K blocks do not change any output's arithmetic.  Always inlined with
 * constant R and C, so the accumulators live in registers. */
static inline __attribute__((always_inline)) void tile(const tile_args *t, int R, int C) {
    const float *x = t->x, *w = t->w;
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) acc[r][c] = t->first ? _mm256_setzero_ps() : t->state[c * 4 + r];
    int k = 0;
    for (; k + 8 <= t->len; k += 8) {
        __m256 wv[4];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            wv[c] = _mm256_loadu_ps(w + c * t->ldw + k);
            pin_register(&wv[c]);
        }
        if (t->prefetch && k % 16 == 0) /* streaming w from memory: one prefetch per line */
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) _mm_prefetch((const char *)(w + c * t->ldw + k + t->prefetch), _MM_HINT_T0);
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
        for (int c = 0; c < C; c++) wv[c] = _mm256_maskload_ps(w + c * t->ldw + k, tail);
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
            for (int c = 0; c < C; c++) t->state[c * 4 + r] = acc[r][c];
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
static void tile_rows(int R, int C, const tile_args *t) {
    if (C == MM_TILE_C) {
        switch (R) {
        case 4: tile(t, 4, MM_TILE_C); break;
        case 3: tile(t, 3, MM_TILE_C); break;
        case 2: tile(t, 2, MM_TILE_C); break;
        default: tile(t, 1, MM_TILE_C); break;
        }
        return;
    }
    for (int c = 0; c < C; c++) { /* column remainder: one w row at a time */
        tile_args one = *t;
        one.w = t->w + c * t->ldw;
        one.state = t->state + c * 4;
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

/* Prefetches `count` 64-byte lines of rows [0, R) x [0, len) of x (row
 * stride K), starting at line number `line` of that slice (row-major);
 * returns the next line number. */
static int prefetch_lines(const float *x, int K, int R, int len, int line, int count) {
    int per_row = (len + 15) / 16;
    for (int i = 0; i < count && line < R * per_row; i++, line++)
        _mm_prefetch((const char *)(x + (size_t)(line / per_row) * K + (line % per_row) * 16), _MM_HINT_T0);
    return line;
}

/* Rows [m0, m1) of x (at most MM_ROWBLOCK) against w rows [p0, p1) (at most
 * MM_PANEL).  K is walked in blocks of MM_KBLOCK: in each block every group
 * of 4 x rows is copied next to each other (4 x MM_KBLOCK floats, in L1)
 * and passes over the panel's slice of w (in L2); the lanes of the block's
 * outputs wait in `state` between K blocks.  The copy matters when K * 4
 * bytes is a multiple of 4 KiB: rows of x and w then fall into the same L1
 * sets and evict each other. */
static void row_block(const float *x, int m0, int m1, int K, const float *w, int p0, int p1, const float *bias,
                      float *y, int ldy) {
    __m256 state[MM_ROWBLOCK * MM_PANEL];
    float xp[MM_TILE_R * MM_KBLOCK];
    for (int k0 = 0; k0 < K; k0 += MM_KBLOCK) {
        int len = K - k0 < MM_KBLOCK ? K - k0 : MM_KBLOCK;
        tile_args t = {xp, NULL, MM_KBLOCK, (size_t)K, len, k0 == 0, k0 + len == K, 0, NULL, bias, 0, NULL, ldy};
        for (int m = m0; m < m1; m += MM_TILE_R) {
            int R = m1 - m < MM_TILE_R ? m1 - m : MM_TILE_R;
            for (int r = 0; r < R; r++)
                memcpy(xp + r * MM_KBLOCK, x + (size_t)(m + r) * K + k0, (size_t)len * sizeof(float));
            /* the next group's x slice comes in MM_PREFETCH_X lines per tile */
            int next = m + MM_TILE_R < m1 ? m1 - m - MM_TILE_R : 0, line = 0;
            if (next > MM_TILE_R) next = MM_TILE_R;
            const float *xn = next ? x + (size_t)(m + MM_TILE_R) * K + k0 : x;
            for (int n = p0; n < p1; n += MM_TILE_C) {
                t.w = w + (size_t)n * K + k0;
                t.state = state + ((m - m0) / MM_TILE_R * MM_PANEL + (n - p0)) * MM_TILE_R;
                t.n0 = n;
                t.y = y + (size_t)m * ldy + n;
                tile_rows(R, p1 - n < MM_TILE_C ? p1 - n : MM_TILE_C, &t);
                line = prefetch_lines(xn, K, next, len, line, MM_PREFETCH_X);
            }
        }
    }
}

/* Several rows of x: w in panels of MM_PANEL rows, x in blocks of
 * MM_ROWBLOCK rows, each block over the whole K of the panel before the
 * next. */
static void panel_rows(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias, float *y,
                       int ldy) {
    for (int p0 = n0; p0 < n1; p0 += MM_PANEL) {
        int p1 = p0 + MM_PANEL < n1 ? p0 + MM_PANEL : n1;
        for (int m0 = 0; m0 < M; m0 += MM_ROWBLOCK)
            row_block(x, m0, m0 + MM_ROWBLOCK < M ? m0 + MM_ROWBLOCK : M, K, w, p0, p1, bias, y, ldy);
    }
}

/* One x row against 4 w rows, prefetching each w row MM_PREFETCH floats
 * ahead (one prefetch per 64-byte line: the loop takes two chunks per
 * step, each still a separate FMA into the same lane accumulator, so the
 * order is that of tile()). */
static void stream4(const float *x, const float *w, int K, __m256i tail, const float *bias, int n0, float *y) {
    const float *w0 = w, *w1 = w + K, *w2 = w + 2 * (size_t)K, *w3 = w + 3 * (size_t)K;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        _mm_prefetch((const char *)(w0 + k + MM_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + k + MM_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w2 + k + MM_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w3 + k + MM_PREFETCH), _MM_HINT_T0);
        __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w0 + k), a0);
        a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w1 + k), a1);
        a2 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w2 + k), a2);
        a3 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w3 + k), a3);
        a0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w0 + k + 8), a0);
        a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w1 + k + 8), a1);
        a2 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w2 + k + 8), a2);
        a3 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w3 + k + 8), a3);
    }
    if (k + 8 <= K) {
        __m256 x0 = _mm256_loadu_ps(x + k);
        a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w0 + k), a0);
        a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w1 + k), a1);
        a2 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w2 + k), a2);
        a3 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w3 + k), a3);
        k += 8;
    }
    if (k < K) { /* the zero-padded last chunk */
        __m256 x0 = _mm256_maskload_ps(x + k, tail);
        a0 = _mm256_fmadd_ps(x0, _mm256_maskload_ps(w0 + k, tail), a0);
        a1 = _mm256_fmadd_ps(x0, _mm256_maskload_ps(w1 + k, tail), a1);
        a2 = _mm256_fmadd_ps(x0, _mm256_maskload_ps(w2 + k, tail), a2);
        a3 = _mm256_fmadd_ps(x0, _mm256_maskload_ps(w3 + k, tail), a3);
    }
    store_totals(hsum4(a0, a1, a2, a3), 4, bias, n0, y);
}

/* One x row (decode): w streamed 4 rows at a time. */
static void stream_rows(const float *x, int K, const float *w, int n0, int n1, const float *bias, float *y) {
    __m256i tail = tail_mask(K);
    int n = n0;
    for (; n + 4 <= n1; n += 4) stream4(x, w + (size_t)n * K, K, tail, bias, n, y + n);
    for (; n < n1; n++) {
        tile_args t = {x, w + (size_t)n * K, (size_t)K, (size_t)K, K, 1, 1, 0, NULL, bias, n, y + n, 0};
        tile(&t, 1, 1);
    }
}

/* 2..MM_FEW_ROWS rows of x (sequences decoding together): w is streamed
 * once, 3 rows at a time over the whole K with prefetch, and each such tile
 * serves every group of 4 x rows while it is in L1/L2; x (at most 32 rows)
 * stays in cache by itself, so no panels or K blocks. */
static void few_rows(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias, float *y,
                     int ldy) {
    tile_args t = {x, NULL, (size_t)K, (size_t)K, K, 1, 1, MM_PREFETCH, NULL, bias, 0, NULL, ldy};
    for (int n = n0; n < n1; n += MM_TILE_C) {
        t.w = w + (size_t)n * K;
        t.n0 = n;
        for (int m = 0; m < M; m += MM_TILE_R) {
            t.x = x + (size_t)m * K;
            t.y = y + (size_t)m * ldy + n;
            t.prefetch = m == 0 ? MM_PREFETCH : 0; /* later groups find w in cache */
            tile_rows(M - m < MM_TILE_R ? M - m : MM_TILE_R, n1 - n < MM_TILE_C ? n1 - n : MM_TILE_C, &t);
        }
    }
}

void mm_rows(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias, float *y, int ldy) {
    if (M <= 0 || n0 >= n1) return;
    if (M == 1)
        stream_rows(x, K, w, n0, n1, bias, y);
    else if (M <= MM_FEW_ROWS)
        few_rows(x, M, K, w, n0, n1, bias, y, ldy);
    else
        panel_rows(x, M, K, w, n0, n1, bias, y, ldy);
}

#else /* portable: the same arithmetic, one output at a time */

void mm_rows(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias, float *y, int ldy) {
    for (int m = 0; m < M; m++)
        for (int n = n0; n < n1; n++) {
            float s = mm_dot_ref(x + (size_t)m * K, w + (size_t)n * K, K);
            y[(size_t)m * ldy + n] = bias ? s + bias[n] : s;
        }
}

#endif
