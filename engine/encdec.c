/*
 * encdec.c — an encoder-decoder request's encoder input and cross-
 * attention block table, its submit-time checks, and the scheduler's
 * encoder pass over the prompts admitted in a step.  See encdec.h.
 */
#include "encdec.h"

#include <stdlib.h>
#include <string.h>

bool ed_check(const model *m, const engine_request *r, int block_size, int kv_positions, int max_encode, char *err) {
    if (!model_is_encdec(&m->cfg) || r->n_prompt < 1) return true; /* an empty prompt: req_create says so */
    if (r->prompt_logprobs)
        return ct_err(err, "prompt logprobs (decoder_input_details, echo with logprobs) are not available for an "
                      "encoder-decoder model: its prompt is the encoder's input, which the decoder does not score");
    if (r->n_prompt > max_encode)
        return ct_err(err, "the prompt has %d tokens, but an encoder-decoder model encodes a prompt in one pass of "
                      "at most max_batch_prefill_tokens (%d) tokens", r->n_prompt, max_encode);
    /* the encoder's positions in whole blocks of their own table, then the
     * decoder's: the start token and every generated token but the last */
    long enc = ((long)r->n_prompt + block_size - 1) / block_size * block_size, dec = r->max_new_tokens;
    if (enc + dec > kv_positions)
        return ct_err(err,
                      "the prompt has %d tokens and max_new_tokens is %d: the encoder's output (%ld positions in "
                      "whole blocks) and the decoder's %ld positions need %ld KV positions, more than the whole KV "
                      "cache holds (%d = max_batch_total_tokens)",
                      r->n_prompt, r->max_new_tokens, enc, dec, enc + dec, kv_positions);
    return true;
}

ed_state *ed_create(const int32_t *ids, int n) {
    ed_state *e = calloc(1, sizeof *e);
    if (!e || !(e->tokens = malloc((size_t)n * sizeof *e->tokens))) {
        free(e);
        return NULL;
    }
    memcpy(e->tokens, ids, (size_t)n * sizeof *ids);
    e->n = n;
    kv_seq_init(&e->cross);
    return e;
}

void ed_free(ed_state *e) {
    if (!e) return;
    free(e->tokens);
    free(e->cross.table);
    free(e);
}

bool ed_encode(fwd_ctx *fwd, kv_pool *kv, ed_state *const *seqs, int n, int32_t *tok, int *pos, int *seq,
               const kv_seq **tables) {
    int t = 0;
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < seqs[i]->n; p++, t++) {
            tok[t] = seqs[i]->tokens[p];
            pos[t] = p;
            seq[t] = i;
        }
        tables[i] = &seqs[i]->cross;
    }
    fwd_batch b = {.tokens = tok, .pos = pos, .seq = seq, .seqs = tables, .n = t};
    if (!fwd_encode(fwd, kv_pool_store(kv), &b)) return false;
    for (int i = 0; i < n; i++) kv_seq_commit_private(kv, &seqs[i]->cross, seqs[i]->n);
    return true;
}
