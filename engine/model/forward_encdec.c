/*
 * forward_encdec.c — the two pieces of an encoder-decoder model (T5) that
 * a decoder does not have:
 *
 *   fwd_encode            the encoder stack over whole prompts (T5:
 *                         RMSNorm, bidirectional attention with the
 *                         encoder's relative bias, the MLP, residuals),
 *                         then every decoder layer's cross-attention keys
 *                         and values of its normed output, written into
 *                         the sequence's cross table in the KV pool: the
 *                         encoder runs once per request and its output is
 *                         kept only in the form each decoder step reads;
 *   fwd_cross_attention   a decoder layer's block between self-attention
 *                         and the MLP: q from the decoder's rows, keys and
 *                         values from those cross tables, no mask, no bias.
 *
 * Both use forward.c's products and tasks and forward_attn.c's tiles, so
 * they keep the pass's rule: a row's result is the same bits whatever
 * batch it is in.
 */
#include "forward_internal.h"

/* a->layer's cross K/V rows (f->k, f->v) of each token into its
 * sequence's cross table at its position. */
static void cross_store_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    const fwd_ctx *f = a->f;
    int kvd = f->m->cfg.n_kv_heads * f->m->cfg.head_dim, s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) {
        const kv_seq *sq = a->b->seqs[a->b->seq[t]];
        kv_put(a->kv->dtype, f->k + (size_t)t * kvd, kv_k(a->kv, sq, a->layer, a->b->pos[t]), kvd);
        kv_put(a->kv->dtype, f->v + (size_t)t * kvd, kv_v(a->kv, sq, a->layer, a->b->pos[t]), kvd);
    }
}

/* Encoder layer l: x += attn(attn_norm x) over each sequence's own rows,
 * x += mlp(ffn_norm x); xb ends normed for the next layer (or by the
 * encoder's final norm). */
static void encoder_layer(fwd_ctx *f, int l, layer_task_arg *a) {
    const model *m = f->m;
    const layer_weights *w = &m->enc_layers[l];
    int T = a->b->n;
    att_view view = {ATT_BATCH, f->tiles, f->n_tiles, w->rel_bias, m->rel_bucket_enc};
    a->att = &view;
    matmul_batch qkv = {{fwd_job(f->xb, &w->wq, w->bq, f->q, T), fwd_job(f->xb, &w->wk, w->bk, f->k, T),
                         fwd_job(f->xb, &w->wv, w->bv, f->v, T)}, 3};
    fwd_mm(f, &qkv);
    fwd_attention(f, a);
    matmul_batch o = {{fwd_job(f->att, &w->wo, w->bo, f->proj, T)}, 1};
    fwd_mm(f, &o);
    a->norm = (norm_ref){w->ffn_norm, w->ffn_norm_b};
    pool_run(f->pool, fwd_residual_task, a);
    fwd_ffn(f, w, f->xb, f->proj, a);
    const layer_weights *next = l + 1 < m->cfg.n_enc_layers ? &m->enc_layers[l + 1] : NULL;
    a->norm = next ? (norm_ref){next->attn_norm, next->attn_norm_b} : (norm_ref){m->enc_out_norm, NULL};
    pool_run(f->pool, fwd_residual_task, a);
    a->att = NULL;
}

/* Whole prompts at positions 0..n-1, each in one run, runs of distinct
 * sequences in increasing order, every position with a block; *keys: the
 * longest prompt. */
static bool prompts_whole(const fwd_batch *b, const kv_store *kv, int *keys) {
    *keys = 1;
    for (int t = 0; t < b->n; t++) {
        bool cont = t > 0 && b->seq[t] == b->seq[t - 1];
        if (b->pos[t] != (cont ? b->pos[t - 1] + 1 : 0)) return false;
        if (t > 0 && !cont && b->seq[t] <= b->seq[t - 1]) return false;
        if (b->pos[t] >= b->seqs[b->seq[t]]->n_table * kv->block_size) return false;
        if (b->pos[t] + 1 > *keys) *keys = b->pos[t] + 1;
    }
    return true;
}

bool fwd_encode(fwd_ctx *f, const kv_store *kv, const fwd_batch *b) {
    const model *m = f->m;
    const model_config *c = &m->cfg;
    int keys;
    f->n_hidden = 0;
    if (!model_is_encdec(c) || b->n <= 0 || b->n > f->max_tokens) return false;
    if (c->head_dim % kv_dtype_align(kv->dtype) != 0 || !prompts_whole(b, kv, &keys)) return false;
    if (!fwd_ensure_score(f, keys) || !fwd_ensure_unpacked(f)) return false;
    fwd_embed(f, b);
    f->n_tiles = fwd_plan_tiles(f, b, ATT_BATCH, f->tiles);
    layer_task_arg a = {.f = f, .kv = kv, .b = b};
    a.norm = (norm_ref){m->enc_layers[0].attn_norm, m->enc_layers[0].attn_norm_b};
    pool_run(f->pool, fwd_norm_task, &a);
    for (int l = 0; l < c->n_enc_layers; l++) encoder_layer(f, l, &a);
    /* xb: the encoder's output, normed; each decoder layer's K/V of it */
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        matmul_batch kv_mm = {{fwd_job(f->xb, &w->wk_cross, NULL, f->k, b->n), fwd_job(f->xb, &w->wv_cross, NULL, f->v, b->n)},
                              2};
        fwd_mm(f, &kv_mm);
        a.layer = l;
        pool_run(f->pool, cross_store_task, &a);
    }
    return true;
}

void fwd_cross_attention(fwd_ctx *f, const fwd_batch *b, int l, layer_task_arg *a) {
    const layer_weights *w = &f->m->layers[l];
    int T = b->n;
    matmul_batch q = {{fwd_job(f->xb, &w->wq_cross, NULL, f->q, T)}, 1};
    fwd_mm(f, &q);
    att_view cross = {ATT_CROSS, f->xtiles, f->n_xtiles, NULL, NULL};
    const att_view *self = a->att;
    a->att = &cross;
    fwd_attention(f, a);
    a->att = self;
    matmul_batch o = {{fwd_job(f->att, &w->wo_cross, NULL, f->proj, T)}, 1};
    fwd_mm(f, &o);
}
