/*
 * forward_attn.c — attention for the forward pass, on tiles of (token,
 * head) rows in parallel: a decoder's causal self-attention over the
 * sequence's paged KV cache (with ALiBi slopes, soft-capping, sliding
 * windows, T5's relative bias), an encoder-decoder's cross-attention over
 * the sequence's cross K/V (also paged), and an encoder's bidirectional
 * attention over the batch's own rows.  One routine serves the three: they
 * differ only in where a row's keys are and which of them it sees
 * (forward_internal.h: att_kind).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "kernels/matmul.h"
#include "kernels/vmath.h"

/* ATT_BATCH's keys are read in runs of this many rows, as the cache's are
 * in blocks (the order of a row's arithmetic does not depend on it). */
#define FWD_KEY_RUN 16

/* Where a tile's keys and values are: a sequence's blocks in the KV pool
 * (sq), or ATT_BATCH's flat f32 rows (k, v; read in runs of FWD_KEY_RUN). */
typedef struct {
    const kv_store *kv;
    const kv_seq *sq; /* NULL: flat rows */
    int layer;
    const uint8_t *k, *v;
    size_t ld;        /* bytes from one key row to the next */
    kv_dtype dt;
    int bs;           /* rows per block */
} key_src;

static const uint8_t *key_rows(const key_src *s, int p0, bool values) {
    if (!s->sq) return (values ? s->v : s->k) + (size_t)p0 * s->ld;
    return values ? kv_v(s->kv, s->sq, s->layer, p0) : kv_k(s->kv, s->sq, s->layer, p0);
}

static key_src source(const fwd_ctx *f, const layer_task_arg *a, const att_tile *tl) {
    const fwd_batch *b = a->b;
    const kv_store *kv = a->kv;
    int s = b->seq[tl->t0];
    switch (a->att->kind) {
    case ATT_CROSS: return (key_src){kv, b->cross[s], a->layer, NULL, NULL, kv->row_bytes, kv->dtype, kv->block_size};
    case ATT_BATCH: { /* in runs of FWD_KEY_RUN rows: a run's keys stay in L1 while every row of the tile reads them */
        size_t kvd = (size_t)f->m->cfg.n_kv_heads * f->m->cfg.head_dim;
        return (key_src){NULL, NULL, 0, (const uint8_t *)(f->k + (size_t)tl->key0 * kvd),
                         (const uint8_t *)(f->v + (size_t)tl->key0 * kvd), kvd * sizeof(float), KV_F32, FWD_KEY_RUN};
    }
    default: return (key_src){kv, b->seqs[s], a->layer, NULL, NULL, kv->row_bytes, kv->dtype, kv->block_size};
    }
}

/* Attention for the rows of one tile: each row is one (token, head) and
 * gets softmax(scores) . v over the keys [lo, hi) it sees — causal: lo..pos
 * of its sequence's cache (lo = pos - window + 1 in a layer with a sliding
 * window, else 0); otherwise every key [0, n_keys).  A score is
 * q.k * attn_scale, soft-capped (gemma2), plus ALiBi's slope * (j - pos),
 * plus T5's bias of the bucket of j - pos.  The tile's rows share the
 * sequence and the kv head, so each block of keys (then values) is read
 * once and serves every row while it sits in L1.  Keys go block by block:
 * one table lookup per block, then the block's rows at stride ld; blocks
 * wholly before every row's window are never read.  A row's arithmetic has
 * one order that depends on its keys and values only (not on the tile, the
 * block size, the batch or the thread): each score is one mm_dots dot, the
 * max is exact, the denominator is vm_exp_sum's lane order from lo, and
 * each output element sums its keys in increasing order (mm_wsum).  Cached
 * rows are read in the cache's own type (mm_dots_kv / mm_wsum_kv widen each
 * element exactly in registers), so an f16 cache changes the keys and
 * values attention sees, not this order. */
static void attend_tile(fwd_ctx *f, const layer_task_arg *a, const att_tile *tl, float *score) {
    const model_config *c = &f->m->cfg;
    const fwd_batch *b = a->b;
    const att_view *av = a->att;
    key_src ks = source(f, a, tl);
    bool causal = av->kind == ATT_CAUSAL;
    int hd = c->head_dim, bs = ks.bs, nh = tl->h1 - tl->h0, rows = (tl->t1 - tl->t0) * nh;
    int g = tl->h0 / (c->n_heads / c->n_kv_heads), stride = causal ? b->pos[tl->t1 - 1] + 1 : tl->n_keys;
    int win = causal ? model_layer_window(c, a->layer) : 0;
    /* the tile's first row has the smallest position, so the lowest lo */
    int first = win && b->pos[tl->t0] - win + 1 > 0 ? b->pos[tl->t0] - win + 1 : 0;
    size_t ld = ks.ld, head = kv_bytes(ks.dt, (size_t)g * hd); /* q8_0: hd % 32 == 0 */
    for (int p0 = first / bs * bs; p0 < stride; p0 += bs) { /* scores: row r is (t0 + r / nh, h0 + r % nh) */
        const uint8_t *k = key_rows(&ks, p0, false) + head;
        for (int r = 0; r < rows; r++) {
            int t = tl->t0 + r / nh, hi = causal ? b->pos[t] + 1 : tl->n_keys;
            int lo = win && b->pos[t] - win + 1 > p0 ? b->pos[t] - win + 1 : p0;
            int n = (hi < p0 + bs ? hi : p0 + bs) - lo;
            const float *q = f->q + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd;
            if (n > 0) mm_dots_kv(q, hd, k + (size_t)(lo - p0) * ld, ld, ks.dt, n, score + (size_t)r * stride + lo);
        }
    }
    float scale = c->attn_scale, inv[FWD_ATT_ROWS];
    int D = c->rel_max_distance;
    for (int r = 0; r < rows; r++) {
        int t = tl->t0 + r / nh, h = tl->h0 + r % nh, P = b->pos[t], hi = causal ? P + 1 : tl->n_keys;
        int lo = win && P - win + 1 > 0 ? P - win + 1 : 0;
        float *sr = score + (size_t)r * stride, mx = -INFINITY;
        for (int p = lo; p < hi; p++) sr[p] *= scale;
        if (c->attn_softcap > 0) vm_softcap(sr + lo, (size_t)(hi - lo), c->attn_softcap);
        if (f->m->alibi_slopes) {
            float slope = f->m->alibi_slopes[h];
            for (int p = lo; p < hi; p++) sr[p] += slope * (float)(p - P);
        }
        if (av->rel_bias) { /* keys past max_distance share the last bucket */
            const float *rb = av->rel_bias + h;
            for (int p = lo; p < hi; p++) {
                int d = p - P < -D ? -D : p - P > D ? D : p - P;
                sr[p] += rb[(size_t)av->bucket[d + D] * c->n_heads];
            }
        }
        for (int p = lo; p < hi; p++) mx = sr[p] > mx ? sr[p] : mx;
        inv[r] = 1.0f / vm_exp_sum(sr + lo, (size_t)(hi - lo), mx);
        memset(f->att + ((size_t)t * c->n_heads + h) * hd, 0, hd * sizeof(float));
    }
    for (int p0 = first / bs * bs; p0 < stride; p0 += bs) {
        const uint8_t *v = key_rows(&ks, p0, true) + head;
        for (int r = 0; r < rows; r++) {
            int t = tl->t0 + r / nh, hi = causal ? b->pos[t] + 1 : tl->n_keys;
            int lo = win && b->pos[t] - win + 1 > p0 ? b->pos[t] - win + 1 : p0;
            int n = (hi < p0 + bs ? hi : p0 + bs) - lo;
            float *out = f->att + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd;
            if (n > 0) mm_wsum_kv(score + (size_t)r * stride + lo, n, v + (size_t)(lo - p0) * ld, ld, ks.dt, hd, out);
        }
    }
    for (int r = 0; r < rows; r++) {
        float *out = f->att + ((size_t)(tl->t0 + r / nh) * c->n_heads + tl->h0 + r % nh) * hd;
        for (int i = 0; i < hd; i++) out[i] *= inv[r];
    }
}

/* Runs of consecutive tokens of one sequence times the query heads of one
 * kv head, at most FWD_ATT_ROWS rows.  A tile costs about rows x the keys
 * its last row reads.  ATT_BATCH: a sequence's tokens are consecutive in
 * the batch at positions 0..n-1, so its keys are the rows from t - pos[t]
 * on, as many as its last position + 1. */
int fwd_plan_tiles(const fwd_ctx *f, const fwd_batch *b, att_kind kind, att_tile *out) {
    const model_config *c = &f->m->cfg;
    int hpg = c->n_heads / c->n_kv_heads, hstep = hpg < FWD_ATT_ROWS ? hpg : FWD_ATT_ROWS;
    int tstep = FWD_ATT_ROWS / hstep, n = 0, run_end = 0;
    for (int t0 = 0, t1; t0 < b->n; t0 = t1) {
        for (t1 = t0 + 1; t1 < b->n && t1 - t0 < tstep && b->seq[t1] == b->seq[t0];) t1++;
        int n_keys = 0, key0 = 0;
        if (kind == ATT_CROSS) {
            n_keys = b->cross[b->seq[t0]]->n_computed;
        } else if (kind == ATT_BATCH) {
            if (run_end <= t0)
                for (run_end = t1; run_end < b->n && b->seq[run_end] == b->seq[t0];) run_end++;
            key0 = t0 - b->pos[t0];
            n_keys = b->pos[run_end - 1] + 1;
        }
        int keys = kind == ATT_CAUSAL ? b->pos[t1 - 1] + 1 : n_keys;
        for (int g = 0; g < c->n_kv_heads; g++)
            for (int h0 = g * hpg; h0 < (g + 1) * hpg; h0 += hstep) {
                int h1 = h0 + hstep < (g + 1) * hpg ? h0 + hstep : (g + 1) * hpg;
                int64_t cost = (int64_t)(t1 - t0) * (h1 - h0) * keys;
                out[n++] = (att_tile){t0, t1, h0, h1, n_keys, key0, cost};
            }
    }
    return n;
}

/* Causal cost grows with position, so an even split by count would leave
 * the thread holding the prompt's tail with ~3/4 of a 512-token prefill;
 * the tiles are split by cumulative cost instead.  A tile belongs to the
 * thread whose share [lo, hi) of the total holds its starting cost.  Which
 * thread computes a tile changes nothing in how it is computed. */
static void attention_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const att_view *av = a->att;
    int64_t total = 0, at = 0;
    for (int i = 0; i < av->n_tiles; i++) total += av->tiles[i].cost;
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth;
    float *score = f->score + (size_t)ith * f->score_cap;
    for (int i = 0; i < av->n_tiles && at < hi; at += av->tiles[i++].cost)
        if (at >= lo) attend_tile(f, a, &av->tiles[i], score);
}

void fwd_attention(fwd_ctx *f, layer_task_arg *a) { pool_run(f->pool, attention_task, a); }

/* Scores of one attention tile per thread: FWD_ATT_ROWS x keys. */
bool fwd_ensure_score(fwd_ctx *f, int keys) {
    if (keys < 1) keys = 1;
    if ((size_t)keys * FWD_ATT_ROWS <= f->score_cap) return true;
    float *s = realloc(f->score, (size_t)keys * FWD_ATT_ROWS * pool_size(f->pool) * sizeof(float));
    if (!s) return false;
    f->score = s;
    f->score_cap = (size_t)keys * FWD_ATT_ROWS;
    return true;
}
