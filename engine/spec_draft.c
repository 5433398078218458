/*
 * spec_draft.c — the draft model's side of speculative decoding (see
 * spec_draft.h): vocabulary check, catching sequences up, k greedy steps
 * batched over the step's sequences.
 */
#include "spec_draft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

struct spec_drafter {
    const model *m;
    kv_pool *kv;
    fwd_ctx *fwd;
    int max_seqs, max_rows;
    int32_t *b_tok;        /* (max_rows) */
    int *b_pos, *b_seq;    /* (max_rows) */
    bool *want;            /* (max_rows) */
    const kv_seq **b_seqs; /* (max_seqs) */
    int *job_of;           /* (max_seqs) the job of each logits row */
    float *logits;         /* (max_seqs, vocab) */
};

bool spec_draft_vocab_check(const model *target, const model *draft, char *err) {
    const tokenizer *a = model_tokenizer(target), *b = model_tokenizer(draft);
    int na = tok_n_vocab(a), nb = tok_n_vocab(b);
    if (na != nb || target->cfg.vocab != draft->cfg.vocab)
        return ct_err(err, "the draft model's vocabulary (%d tokens, %d logits) is not the model's (%d tokens, %d logits)",
                      nb, draft->cfg.vocab, na, target->cfg.vocab);
    for (int32_t i = 0; i < na; i++) {
        const char *pa = tok_piece(a, i), *pb = tok_piece(b, i);
        if (strcmp(pa ? pa : "", pb ? pb : "") != 0 || tok_is_special(a, i) != tok_is_special(b, i))
            return ct_err(err, "the draft model's vocabulary differs from the model's at token %d ('%.40s' vs '%.40s')", i,
                          pb ? pb : "", pa ? pa : "");
    }
    return true;
}

spec_drafter *spec_drafter_create(const model *draft, pool *p, int n_blocks, int block_size, int max_seqs,
                                  char *err) {
    spec_drafter *d = calloc(1, sizeof *d);
    if (!d) {
        ct_err(err, "out of memory (draft model)");
        return NULL;
    }
    const model_config *c = &draft->cfg;
    d->m = draft;
    d->max_seqs = max_seqs;
    d->max_rows = SPEC_DRAFT_CATCHUP + max_seqs;
    size_t R = (size_t)d->max_rows, S = (size_t)max_seqs;
    d->kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, block_size, n_blocks, KV_F16, false);
    d->fwd = fwd_create(draft, p, d->max_rows);
    d->b_tok = malloc(R * sizeof *d->b_tok);
    d->b_pos = malloc(R * sizeof *d->b_pos);
    d->b_seq = malloc(R * sizeof *d->b_seq);
    d->want = malloc(R * sizeof *d->want);
    d->b_seqs = malloc(S * sizeof *d->b_seqs);
    d->job_of = malloc(S * sizeof *d->job_of);
    d->logits = malloc(S * (size_t)c->vocab * sizeof *d->logits);
    if (!d->kv || !d->fwd || !d->b_tok || !d->b_pos || !d->b_seq || !d->want || !d->b_seqs || !d->job_of ||
        !d->logits) {
        ct_err(err, "out of memory (draft model: KV cache of %d blocks x %d positions)", n_blocks, block_size);
        spec_drafter_free(d);
        return NULL;
    }
    return d;
}

void spec_drafter_free(spec_drafter *d) {
    if (!d) return;
    kv_pool_free(d->kv);
    fwd_free(d->fwd);
    free(d->b_tok);
    free(d->b_pos);
    free(d->b_seq);
    free(d->want);
    free(d->b_seqs);
    free(d->job_of);
    free(d->logits);
    free(d);
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* One forward pass over the n rows composed, logits of the wanted ones;
 * each wanted row's argmax goes to its job's out[step]. */
static bool pass(spec_drafter *d, spec_draft_job *jobs, int n_rows, int n_seqs, int step) {
    fwd_batch b = {.tokens = d->b_tok, .pos = d->b_pos, .seq = d->b_seq, .seqs = d->b_seqs, .n = n_rows, .want_logits = d->want};
    if (!fwd_eval(d->fwd, kv_pool_store(d->kv), &b, d->logits)) return false;
    int r = 0, V = d->m->cfg.vocab;
    for (int t = 0; t < n_rows; t++)
        if (d->want[t]) {
            spec_draft_job *j = &jobs[d->job_of[r]];
            j->out[step] = argmax(d->logits + (size_t)r * V, V);
            r++;
        }
    (void)n_seqs;
    return true;
}

void spec_drafter_run(spec_drafter *d, spec_draft_job *jobs, int n) {
    /* pass 0: what each sequence has not fed the draft model yet; the last
     * row of a sequence fed to its end gives its first draft */
    int rows = 0, seqs = 0, wanted = 0, max_k = 0;
    if (n > d->max_seqs) n = d->max_seqs;
    for (int i = 0; i < n; i++) {
        spec_draft_job *j = &jobs[i];
        kv_seq *ds = j->dseq;
        int start = ds->n_computed, feed = j->n_tokens - start;
        if (j->n_tokens + j->k - 1 > d->m->cfg.ctx_len) j->k = d->m->cfg.ctx_len - j->n_tokens + 1;
        if (feed > d->max_rows - rows) { /* catching up: part of it now, drafts later */
            feed = d->max_rows - rows - (n - i);
            j->k = 0;
        }
        if (feed <= 0 || j->k <= 0 || !kv_seq_reserve(d->kv, ds, start + feed + j->k - 1)) {
            j->k = 0;
            if (feed <= 0 || !kv_seq_reserve(d->kv, ds, start + feed)) continue;
        }
        for (int t = 0; t < feed; t++, rows++) {
            d->b_tok[rows] = j->tokens[start + t];
            d->b_pos[rows] = start + t;
            d->b_seq[rows] = seqs;
            d->want[rows] = j->k > 0 && t == feed - 1;
        }
        d->b_seqs[seqs++] = ds;
        if (j->k > 0) d->job_of[wanted++] = i;
        if (j->k > max_k) max_k = j->k;
        kv_seq_commit(d->kv, ds, j->tokens, start + feed);
    }
    if (rows == 0) return;
    if (!pass(d, jobs, rows, seqs, 0)) {
        for (int i = 0; i < n; i++) jobs[i].k = 0;
        return;
    }
    /* passes 1..k-1: one row per sequence still drafting, its last draft */
    for (int step = 1; step < max_k; step++) {
        rows = seqs = wanted = 0;
        for (int i = 0; i < n; i++) {
            spec_draft_job *j = &jobs[i];
            if (j->k <= step) continue;
            d->b_tok[rows] = j->out[step - 1];
            d->b_pos[rows] = j->n_tokens + step - 1;
            d->b_seq[rows] = seqs;
            d->want[rows++] = true;
            d->b_seqs[seqs++] = j->dseq;
            d->job_of[wanted++] = i;
        }
        if (!pass(d, jobs, rows, seqs, step)) {
            for (int i = 0; i < n; i++)
                if (jobs[i].k > step) jobs[i].k = step;
            break;
        }
        for (int i = 0; i < n; i++) /* the rows just computed are in the draft's cache */
            if (jobs[i].k > step) kv_seq_commit(d->kv, jobs[i].dseq, jobs[i].tokens, jobs[i].n_tokens + step);
    }
}

void spec_drafter_keep(spec_drafter *d, kv_seq *dseq, const int32_t *tokens, int n_valid) {
    if (dseq->n_computed > n_valid) kv_seq_commit(d->kv, dseq, tokens, n_valid);
}

void spec_drafter_release(spec_drafter *d, kv_seq *dseq) { kv_seq_release(d->kv, dseq); }
