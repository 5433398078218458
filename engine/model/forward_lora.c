/*
 * forward_lora.c — the LoRA term of the forward pass: units (one adapted
 * product of one row), groups (runs of units of one adapter's target),
 * the two pool passes and their fixed-order kernels (forward_lora.h).
 */
#include "forward_lora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dtype.h"
#include "kernels/wmat.h"

/* The AVX2 path needs F16C too (F16 matrices); without them, the portable
 * twin computes the same bits. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define LORA_SIMD 1
#include <immintrin.h>
#else
#define LORA_SIMD 0
#endif

/* ---- typed loads: every value widened to f32 exactly ---------------------------------- */

/* Element i of a matrix held in `type` (model.h lora_pair). */
static inline float lora_at(uint32_t type, const void *p, size_t i) {
    if (type == DT_F16) return dt_f16_to_f32(((const uint16_t *)p)[i]);
    if (type == DT_BF16) return dt_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

#if LORA_SIMD
/* Elements [i, i + 8) of a matrix held in `type`. */
static inline __attribute__((always_inline)) __m256 lora_load8(uint32_t type, const void *p, size_t i) {
    if (type == DT_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    if (type == DT_BF16)
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i))), 16));
    return _mm256_loadu_ps((const float *)p + i);
}
#endif

/* a . b over n in one fixed order: 32 lanes, each an fma chain over i in
 * order (AVX2: four registers, so the chains do not wait on each other;
 * the portable twin does the same fmaf one lane at a time), a fixed add
 * tree over the lanes, then the tail.  The same bits on either path, for
 * a row whatever the batch, the thread or the split.  Written once for
 * every type: each caller below passes a constant one. */
enum { LORA_LANES = 32 };
static inline __attribute__((always_inline)) float dot_typed(uint32_t type, const void *a, const float *b, int n) {
    float acc[LORA_LANES] = {0};
    int i = 0;
#if LORA_SIMD
    __m256 v[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (; i + LORA_LANES <= n; i += LORA_LANES)
        for (int q = 0; q < 4; q++)
            v[q] = _mm256_fmadd_ps(lora_load8(type, a, (size_t)i + 8 * q), _mm256_loadu_ps(b + i + 8 * q), v[q]);
    for (int q = 0; q < 4; q++) _mm256_storeu_ps(acc + 8 * q, v[q]);
#else
    for (; i + LORA_LANES <= n; i += LORA_LANES)
        for (int j = 0; j < LORA_LANES; j++) acc[j] = fmaf(lora_at(type, a, (size_t)i + j), b[i + j], acc[j]);
#endif
    for (int w = LORA_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    float s = acc[0];
    for (; i < n; i++) s = fmaf(lora_at(type, a, (size_t)i), b[i], s);
    return s;
}

static float lora_dot(uint32_t type, const void *a, const float *b, int n) {
    if (type == DT_F16) return dot_typed(DT_F16, a, b, n);
    if (type == DT_BF16) return dot_typed(DT_BF16, a, b, n);
    return dot_typed(DT_F32, a, b, n);
}

/* y_q[n0, n1) += Bt^T t_q for m <= 4 rows q of one pair: each output one
 * fma chain over k = 0..r-1 (from 0), then added to the base output.
 * Outputs are independent, so eight run side by side in a register (AVX2)
 * with the bits of the portable loop, and each chunk of Bt is read once
 * for the m rows. */
static inline __attribute__((always_inline)) void bt_typed(uint32_t type, const void *bt, int rows, int r,
                                                            const float *const *t, float *const *y, int m, int n0,
                                                            int n1) {
    int n = n0;
#if LORA_SIMD
    for (; n + 8 <= n1; n += 8) {
        __m256 acc[FWD_LORA_ROWS];
        for (int q = 0; q < FWD_LORA_ROWS; q++) acc[q] = _mm256_setzero_ps();
        for (int k = 0; k < r; k++) {
            __m256 bv = lora_load8(type, bt, (size_t)k * rows + n);
            for (int q = 0; q < m; q++) acc[q] = _mm256_fmadd_ps(bv, _mm256_set1_ps(t[q][k]), acc[q]);
        }
        for (int q = 0; q < m; q++) _mm256_storeu_ps(y[q] + n, _mm256_add_ps(_mm256_loadu_ps(y[q] + n), acc[q]));
    }
#endif
    for (; n < n1; n++)
        for (int q = 0; q < m; q++) {
            float acc = 0;
            for (int k = 0; k < r; k++) acc = fmaf(lora_at(type, bt, (size_t)k * rows + n), t[q][k], acc);
            y[q][n] += acc;
        }
}

static void lora_bt(uint32_t type, const void *bt, int rows, int r, const float *const *t, float *const *y, int m,
                    int n0, int n1) {
    if (type == DT_F16) bt_typed(DT_F16, bt, rows, r, t, y, m, n0, n1);
    else if (type == DT_BF16) bt_typed(DT_BF16, bt, rows, r, t, y, m, n0, n1);
    else bt_typed(DT_F32, bt, rows, r, t, y, m, n0, n1);
}

/* One adapted product of one row: scale * A x into tmp (phase 1, r dots
 * of length cols), then y += B tmp (phase 2, rows dots of length r).  The
 * dots of a step are split evenly between the threads (a decode step of
 * one adapted row still uses every thread); which thread computes a dot
 * changes none of its bits. */
struct fwd_lora_unit {
    const lora_pair *p;
    const float *x; /* (cols) the product's input row */
    float *y;       /* (rows) its output row, the base product's already */
    float *tmp;     /* (r) */
    int cols, rows;
    int r0;         /* phase 1 dots of the units before it */
};

/* Consecutive units of one pair (one adapter's target, several rows):
 * phase 2 reads the pair's Bt once for up to FWD_LORA_ROWS of them. */
struct fwd_lora_group {
    int u0, nu;     /* its units */
    int n0;         /* phase 2 outputs of the groups before it */
};

/* The unit (phase 1) or group (phase 2) holding item g. */
static int lora_find(const fwd_lora *r, int g, bool phase2) {
    int lo = 0, hi = (phase2 ? r->n_groups : r->n_units) - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2, at = phase2 ? r->groups[mid].n0 : r->units[mid].r0;
        if (at <= g) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

void fwd_lora_a(const fwd_lora *r, int ith, int nth) {
    int s, e;
    pool_range(r->total_r, ith, nth, &s, &e);
    for (int g = s, i = s < e ? lora_find(r, s, false) : 0; g < e; g++) {
        while (g >= r->units[i].r0 + r->units[i].p->r) i++;
        const fwd_lora_unit *u = &r->units[i];
        int k = g - u->r0;
        size_t esz = u->p->a_type == DT_F32 ? sizeof(float) : sizeof(uint16_t);
        const void *row = (const char *)u->p->a + (size_t)k * u->cols * esz;
        u->tmp[k] = lora_dot(u->p->a_type, row, u->x, u->cols) * u->p->scale;
    }
}

static void lora_b_task(void *arg, int ith, int nth) {
    const fwd_lora *r = arg;
    int s, e;
    pool_range(r->total_n, ith, nth, &s, &e);
    for (int i = s < e ? lora_find(r, s, true) : r->n_groups; i < r->n_groups && r->groups[i].n0 < e; i++) {
        const fwd_lora_group *g = &r->groups[i];
        const fwd_lora_unit *u = &r->units[g->u0];
        int lo = s > g->n0 ? s - g->n0 : 0, hi = e - g->n0 < u->rows ? e - g->n0 : u->rows;
        for (int q0 = 0; q0 < g->nu; q0 += FWD_LORA_ROWS) {
            int m = g->nu - q0 < FWD_LORA_ROWS ? g->nu - q0 : FWD_LORA_ROWS;
            const float *t[FWD_LORA_ROWS];
            float *y[FWD_LORA_ROWS];
            for (int q = 0; q < m; q++) t[q] = u[q0 + q].tmp, y[q] = u[q0 + q].y;
            lora_bt(u->p->bt_type, u->p->bt, u->rows, u->p->r, t, y, m, lo, hi);
        }
    }
}

bool fwd_lora_prepare(fwd_lora *L, const model *m, int layer, int n, const lora_target *targets,
                      const float *const *in, float *const *out) {
    L->n_units = L->n_groups = L->total_r = L->total_n = 0;
    if (L->n_rows == 0) return false;
    const layer_weights *lw = &m->layers[layer];
    const wmat *all[LORA_N_TARGETS] = {&lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down};
    float *tmp = L->tmp;
    /* target by target, rows in L->rows' order: a group is a run of rows of one adapter */
    for (int j = 0; j < n; j++)
        for (int i = 0; i < L->n_rows; i++) {
            int t = L->rows[i];
            const lora_pair *pr = &m->loras[L->adapter[t] - 1].w[layer * LORA_N_TARGETS + targets[j]];
            if (!pr->a) continue;
            int cols = all[targets[j]]->cols, rows = all[targets[j]]->rows;
            if (L->n_units == 0 || L->units[L->n_units - 1].p != pr) {
                L->groups[L->n_groups++] = (fwd_lora_group){L->n_units, 0, L->total_n};
                L->total_n += rows;
            }
            L->groups[L->n_groups - 1].nu++;
            L->units[L->n_units++] =
                (fwd_lora_unit){pr, in[j] + (size_t)t * cols, out[j] + (size_t)t * rows, tmp, cols, rows, L->total_r};
            tmp += pr->r;
            L->total_r += pr->r;
        }
    return L->n_units > 0;
}

void fwd_lora_b(fwd_lora *L, pool *p) {
    if (L->n_units > 0) pool_run(p, lora_b_task, L);
    L->n_units = L->n_groups = L->total_r = L->total_n = 0;
}

bool fwd_lora_init(fwd_lora *L, int max_tokens) {
    memset(L, 0, sizeof *L);
    L->max_tokens = max_tokens;
    return (L->rows = malloc((size_t)max_tokens * sizeof *L->rows)) != NULL;
}

void fwd_lora_free(fwd_lora *L) {
    free(L->rows);
    free(L->units);
    free(L->groups);
    free(L->tmp);
    memset(L, 0, sizeof *L);
}

/* Scratch for the units of one call (three products at most): rank values
 * of 3 x the rank of each adapted row. */
bool fwd_lora_plan(fwd_lora *L, const model *m, const int *adapter, int n) {
    L->adapter = adapter;
    L->n_rows = 0;
    if (!adapter) return true;
    size_t need = 0;
    for (int t = 0; t < n; t++)
        if (adapter[t] < 0 || adapter[t] > m->n_loras) return false;
    for (int k = 1; k <= m->n_loras; k++)
        for (int t = 0; t < n; t++)
            if (adapter[t] == k) {
                L->rows[L->n_rows++] = t;
                need += 3 * (size_t)m->loras[k - 1].rank;
            }
    size_t nu = (size_t)L->max_tokens * 3;
    if (!L->units && !(L->units = malloc(nu * sizeof *L->units))) return false;
    if (!L->groups && !(L->groups = malloc(nu * sizeof *L->groups))) return false;
    if (need <= L->cap) return true;
    float *tmp = realloc(L->tmp, need * sizeof *tmp);
    if (!tmp) return false;
    L->tmp = tmp;
    L->cap = need;
    return true;
}
