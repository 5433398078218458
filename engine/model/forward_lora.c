/*
 * forward_lora.c — the LoRA term of the forward pass: units (one adapted
 * product of one row), groups (runs of units of one adapter's target),
 * the two pool passes and their fixed-order kernels (forward_lora.h).
 */
#include "forward_lora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "kernels/wmat.h"

/* a . b over n in one fixed order: 32 lanes, each an fma chain over i in
 * order (AVX2: four registers, so the chains do not wait on each other;
 * the portable twin does the same fmaf one lane at a time), a fixed add
 * tree over the lanes, then the tail.  The same bits on either path, for
 * a row whatever the batch, the thread or the split. */
enum { LORA_LANES = 32 };
static float lora_dot(const float *a, const float *b, int n) {
    float acc[LORA_LANES] = {0};
    int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 v[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (; i + LORA_LANES <= n; i += LORA_LANES)
        for (int q = 0; q < 4; q++)
            v[q] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * q), _mm256_loadu_ps(b + i + 8 * q), v[q]);
    for (int q = 0; q < 4; q++) _mm256_storeu_ps(acc + 8 * q, v[q]);
#else
    for (; i + LORA_LANES <= n; i += LORA_LANES)
        for (int j = 0; j < LORA_LANES; j++) acc[j] = fmaf(a[i + j], b[i + j], acc[j]);
#endif
    for (int w = LORA_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    float s = acc[0];
    for (; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

/* y_q[n0, n1) += Bt^T t_q for m <= 4 rows q of one pair: each output one
 * fma chain over k = 0..r-1 (from 0), then added to the base output.
 * Outputs are independent, so eight run side by side in a register (AVX2)
 * with the bits of the portable loop, and each chunk of Bt is read once
 * for the m rows. */
static void lora_bt(const float *bt, int rows, int r, const float *const *t, float *const *y, int m, int n0,
                    int n1) {
    int n = n0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; n + 8 <= n1; n += 8) {
        __m256 acc[FWD_LORA_ROWS];
        for (int q = 0; q < FWD_LORA_ROWS; q++) acc[q] = _mm256_setzero_ps();
        for (int k = 0; k < r; k++) {
            __m256 bv = _mm256_loadu_ps(bt + (size_t)k * rows + n);
            for (int q = 0; q < m; q++) acc[q] = _mm256_fmadd_ps(bv, _mm256_set1_ps(t[q][k]), acc[q]);
        }
        for (int q = 0; q < m; q++) _mm256_storeu_ps(y[q] + n, _mm256_add_ps(_mm256_loadu_ps(y[q] + n), acc[q]));
    }
#endif
    for (; n < n1; n++)
        for (int q = 0; q < m; q++) {
            float acc = 0;
            for (int k = 0; k < r; k++) acc = fmaf(bt[(size_t)k * rows + n], t[q][k], acc);
            y[q][n] += acc;
        }
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

typedef struct {
    const fwd_lora_unit *u;
    const fwd_lora_group *g;
    int n_units, n_groups, total_r, total_n;
} lora_run;

/* The unit (phase 1) or group (phase 2) holding item g. */
static int lora_find(const lora_run *r, int g, bool phase2) {
    int lo = 0, hi = (phase2 ? r->n_groups : r->n_units) - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2, at = phase2 ? r->g[mid].n0 : r->u[mid].r0;
        if (at <= g) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static void lora_a_task(void *arg, int ith, int nth) {
    const lora_run *r = arg;
    int s, e;
    pool_range(r->total_r, ith, nth, &s, &e);
    for (int g = s, i = s < e ? lora_find(r, s, false) : 0; g < e; g++) {
        while (g >= r->u[i].r0 + r->u[i].p->r) i++;
        const fwd_lora_unit *u = &r->u[i];
        int k = g - u->r0;
        u->tmp[k] = lora_dot(u->p->a + (size_t)k * u->cols, u->x, u->cols) * u->p->scale;
    }
}

static void lora_b_task(void *arg, int ith, int nth) {
    const lora_run *r = arg;
    int s, e;
    pool_range(r->total_n, ith, nth, &s, &e);
    for (int i = s < e ? lora_find(r, s, true) : r->n_groups; i < r->n_groups && r->g[i].n0 < e; i++) {
        const fwd_lora_group *g = &r->g[i];
        const fwd_lora_unit *u = &r->u[g->u0];
        int lo = s > g->n0 ? s - g->n0 : 0, hi = e - g->n0 < u->rows ? e - g->n0 : u->rows;
        for (int q0 = 0; q0 < g->nu; q0 += FWD_LORA_ROWS) {
            int m = g->nu - q0 < FWD_LORA_ROWS ? g->nu - q0 : FWD_LORA_ROWS;
            const float *t[FWD_LORA_ROWS];
            float *y[FWD_LORA_ROWS];
            for (int q = 0; q < m; q++) t[q] = u[q0 + q].tmp, y[q] = u[q0 + q].y;
            lora_bt(u->p->bt, u->rows, u->p->r, t, y, m, lo, hi);
        }
    }
}

void fwd_lora_apply(fwd_lora *L, const model *m, pool *p, int layer, int n, const lora_target *targets,
                    const float *const *in, float *const *out) {
    if (L->n_rows == 0) return;
    const layer_weights *lw = &m->layers[layer];
    const wmat *all[LORA_N_TARGETS] = {&lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down};
    lora_run r = {L->units, L->groups, 0, 0, 0, 0};
    float *tmp = L->tmp;
    /* target by target, rows in L->rows' order: a group is a run of rows of one adapter */
    for (int j = 0; j < n; j++)
        for (int i = 0; i < L->n_rows; i++) {
            int t = L->rows[i];
            const lora_pair *pr = &m->loras[L->adapter[t] - 1].w[layer * LORA_N_TARGETS + targets[j]];
            if (!pr->a) continue;
            int cols = all[targets[j]]->cols, rows = all[targets[j]]->rows;
            if (r.n_units == 0 || L->units[r.n_units - 1].p != pr) {
                L->groups[r.n_groups++] = (fwd_lora_group){r.n_units, 0, r.total_n};
                r.total_n += rows;
            }
            L->groups[r.n_groups - 1].nu++;
            L->units[r.n_units++] =
                (fwd_lora_unit){pr, in[j] + (size_t)t * cols, out[j] + (size_t)t * rows, tmp, cols, rows, r.total_r};
            tmp += pr->r;
            r.total_r += pr->r;
        }
    if (r.n_units == 0) return;
    pool_run(p, lora_a_task, &r);
    pool_run(p, lora_b_task, &r);
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
