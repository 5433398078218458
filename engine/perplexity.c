/*
 * perplexity.c — chunked perplexity (see perplexity.h for the method).
 */
#include "perplexity.h"

#include <math.h>
#include <stdlib.h>

/* log(sum(exp(logits))) - logits[target], in double for stability. */
static double token_nll(const float *logits, int vocab, int32_t target) {
    float mx = logits[0];
    for (int i = 1; i < vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) + mx - logits[target];
}

bool ppl_compute(const model *m, pool *p, const int32_t *tokens, int n_tokens, int n_ctx,
                 int32_t bos, ppl_result *out, ppl_progress_fn progress, void *ud, char *err) {
    int vocab = m->cfg.vocab;
    if (n_ctx < 4 || n_ctx % 2) return ct_err(err, "context %d must be an even number >= 4", n_ctx);
    if (n_ctx > m->cfg.ctx_len)
        return ct_err(err, "context %d exceeds the model's context length %d", n_ctx, m->cfg.ctx_len);
    int n_chunks = n_tokens / n_ctx;
    if (n_chunks < 1)
        return ct_err(err, "need at least %d tokens for one chunk, the text has %d", n_ctx, n_tokens);
    fwd_ctx *f = fwd_create(m, p, n_ctx);
    /* one sequence per chunk, blocks of 16 positions, no prefix caching */
    kv_pool *kv = kv_pool_create(m->cfg.n_layers, m->cfg.n_kv_heads * m->cfg.head_dim, 16, (n_ctx + 15) / 16, false);
    kv_seq ks;
    kv_seq_init(&ks);
    const kv_seq *seqs[1] = {&ks};
    float *logits = malloc((size_t)n_ctx * vocab * sizeof(float));
    int32_t *chunk = malloc((size_t)n_ctx * sizeof(int32_t));
    int *pos = malloc((size_t)n_ctx * sizeof(int)), *seq = calloc((size_t)n_ctx, sizeof(int));
    bool ok = f && kv && logits && chunk && pos && seq;
    if (!ok) ct_err(err, "out of memory");
    double t0 = ct_now(), nll = 0;
    int scored = 0, first = n_ctx / 2;
    for (int c = 0; ok && c < n_chunks; c++) {
        for (int i = 0; i < n_ctx; i++) {
            chunk[i] = tokens[(size_t)c * n_ctx + i];
            pos[i] = i;
        }
        if (bos >= 0) chunk[0] = bos;
        fwd_batch b = {.tokens = chunk, .pos = pos, .seq = seq, .seqs = seqs, .n = n_ctx};
        if (!kv_seq_reserve(kv, &ks, n_ctx) || !fwd_eval(f, kv_pool_store(kv), &b, logits)) {
            ok = ct_err(err, "forward pass failed");
            break;
        }
        kv_seq_commit(kv, &ks, chunk, n_ctx);
        kv_seq_release(kv, &ks); /* the next chunk starts over at position 0 */
        for (int i = first; i < n_ctx - 1; i++) {
            nll += token_nll(logits + (size_t)i * vocab, vocab, chunk[i + 1]);
            scored++;
        }
        if (progress) progress(ud, c, n_chunks, exp(nll / scored));
    }
    if (ok) {
        *out = (ppl_result){n_tokens, n_chunks, scored, nll, nll / scored, exp(nll / scored),
                            ct_now() - t0};
    }
    fwd_free(f);
    if (kv) kv_seq_release(kv, &ks);
    kv_pool_free(kv);
    free(logits);
    free(chunk);
    free(pos);
    free(seq);
    return ok;
}
