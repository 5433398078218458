/*
 * spec_draft.h — speculative decoding with a draft model (internal to
 * engine/): a second, smaller model with the same vocabulary proposes k
 * tokens per sequence and step, greedily, with its own KV pool and forward
 * pass; the target model verifies them exactly as it verifies prompt
 * lookup's drafts (spec.h, scheduler.c).
 *
 * A greedy draft is a deterministic proposal: given the context, the draft
 * distribution q is a point mass on the draft model's argmax.  So the
 * target's rejection sampling is the one prompt lookup uses (accept with
 * probability p(draft), else draw from p without it), and the target's
 * law is kept whatever the draft model is.
 *
 * Owns: the drafter's KV pool (as many positions as the target's, its own
 * element type F16), forward-pass scratch and logits.  Each request holds
 * its draft KV sequence (engine_req.dseq); the drafter feeds it the
 * request's tokens it has not seen (catching up the prompt over as many
 * steps as it takes, within SPEC_DRAFT_CATCHUP rows a step), then k
 * greedy steps, all sequences of a step batched together.
 */
#ifndef CTGI_SPEC_DRAFT_H
#define CTGI_SPEC_DRAFT_H

#include <stdbool.h>
#include <stdint.h>

#include "kv.h"
#include "model/model.h"
#include "pool.h"

#define SPEC_DRAFT_CATCHUP 512 /* draft-model rows a step feeds to catch sequences up, at most */

typedef struct spec_drafter spec_drafter;

/* One sequence's share of a drafting round. */
typedef struct {
    const int32_t *tokens; /* (n_tokens) the sequence so far, its last sampled token included */
    int n_tokens;
    kv_seq *dseq;          /* its KV in the drafter's pool */
    int k;                 /* in: tokens wanted (>= 1); out: tokens drafted (0: none this step) */
    int32_t *out;          /* (k) the drafted tokens */
} spec_draft_job;

/* The draft model's vocabulary must be the target's: same size, and every
 * token the same text and kind.  false + err naming the first difference. */
bool spec_draft_vocab_check(const model *target, const model *draft, char *err);

/* A drafter for at most max_seqs sequences of a step, a pool of n_blocks
 * blocks of block_size positions.  NULL + err on out of memory. */
spec_drafter *spec_drafter_create(const model *draft, pool *p, int n_blocks, int block_size, int max_seqs,
                                  char *err);
void spec_drafter_free(spec_drafter *d);

/* Draft for jobs[0, n) (each sequence once); sets each job's k to what it
 * drafted.  A sequence still catching up, or that cannot get draft KV
 * blocks, drafts nothing this step. */
void spec_drafter_run(spec_drafter *d, spec_draft_job *jobs, int n);

/* After verification: only tokens[0, n_valid) of the sequence are what the
 * draft saw; its draft KV past them is dropped. */
void spec_drafter_keep(spec_drafter *d, kv_seq *dseq, const int32_t *tokens, int n_valid);

/* The sequence leaves (or is preempted): its draft KV goes back. */
void spec_drafter_release(spec_drafter *d, kv_seq *dseq);

#endif
