/*
 * spec.h — speculative decoding's drafting side (internal to engine/):
 * prompt lookup (n-gram drafts from a sequence's own tokens) and the
 * per-sequence controller that decides how many tokens to draft.
 *
 * Drafts are only proposals: the scheduler feeds the last sampled token
 * and the k drafted tokens of a sequence as k + 1 rows of the step's one
 * forward pass, and the request's normal sampling path then runs on each
 * row in order (request.h, req_sample with a draft to verify), stopping at
 * the first row whose token is not the draft.  So what a draft may cost is
 * only the extra rows' compute; the controller keeps that small for a
 * sequence whose drafts miss.
 *
 * Controller: k starts at 1, doubles (up to k_max) after a draft accepted
 * whole, becomes accepted + 1 after a partial hit, and 1 after a miss at
 * k > 1; a miss at k = 1 pauses drafting for `backoff` steps, a pause
 * that doubles with each further miss (1, 2, 4 ... SPEC_MAX_BACKOFF
 * steps) and halves on a hit.  A stream whose drafts always miss thus
 * pays one extra row every ~SPEC_MAX_BACKOFF steps.
 *
 * Cost: what the controller allows is then cut to the drafts whose
 * expected accepted tokens pay for their rows (spec_gate), rows priced by
 * the engine's measured step cost (spec_cost).  On a model bound by
 * reading its weights, rows are nearly free and the controller decides;
 * where rows cost a step's share (a tiny model, a large batch), a sequence
 * drafts only what it accepts often enough.
 */
#ifndef CTGI_SPEC_H
#define CTGI_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#define SPEC_MAX_K 16       /* drafted tokens per sequence and step, at most */
#define SPEC_NGRAM_MAX 3    /* prompt lookup tries n-grams of this many tokens first */
#define SPEC_NGRAM_MIN 1    /* ... down to this many */
#define SPEC_MAX_BACKOFF 16 /* steps without drafts after repeated misses, at most */

typedef struct {
    int k;        /* tokens to draft next time (1..k_max); 0 = not started */
    double hits;  /* drafts accepted, older verifications fading (spec_update) */
    double tries; /* drafts judged: accepted ones and the first refused one of each verification */
    int probe;    /* spec_gate: steps until a draft that does not pay is tried anyway */
    int wait;     /* steps left without drafting */
    int backoff;  /* the pause after the next miss at k = 1 */
    bool cold;    /* its last verification accepted nothing (scheduler.c: such a
                     sequence drafts in a batch only where the rows are free) */
} spec_state;

/* What a drafted row costs.  A step's seconds are fitted as a + b * rows
 * over the recent steps that only decoded (least squares, each step's
 * weight fading by SPEC_COST_FADE per step): a is what a step costs
 * whatever its rows (reading the weights once, the pool's round trips,
 * bookkeeping), b what each row adds (its compute, its sampling; with a
 * draft model, its drafting).  On a model bound by reading its weights b
 * is small against a; on a tiny model, or in a large batch, a row costs
 * about what it may save. */
#define SPEC_COST_FADE 0.99
typedef struct {
    double w, x, y, xx, xy; /* faded sums of 1, rows, seconds, rows^2, rows * seconds */
} spec_cost;

void spec_cost_add(spec_cost *c, int rows, double seconds);

/* The tokens a drafted row must bring, in expectation, for a step of
 * `rows` rows to yield more tokens per second with it than without:
 * rows * b / (a + b * rows) (< 1).  0 while the fit knows nothing (no
 * spread of rows seen yet): drafting is then left to the controller. */
double spec_cost_bar(const spec_cost *c, int rows);

/* k (the controller's wish) cut to the drafts that pay: the largest k' <= k
 * with (p + p^2 + ... + p^k') / k' >= bar, p being the sequence's
 * acceptance rate ((hits + 1) / (tries + 2)); 0 when not even one does,
 * except that every SPEC_MAX_BACKOFF-th such step drafts one token anyway,
 * so that a sequence that starts repeating itself is noticed. */
int spec_gate(spec_state *st, int k, double bar);

/* Prompt lookup: for n from SPEC_NGRAM_MAX down to SPEC_NGRAM_MIN, find
 * the most recent earlier occurrence of the last n tokens of t[0, n_t) and
 * propose the (at most k) tokens that followed it.  Returns how many were
 * written to out (0: no n-gram recurs). */
int spec_lookup(const int32_t *t, int n_t, int k, int32_t *out);

/* How many tokens to draft this step (0: pause), at most k_max; counts a
 * step of the pause down. */
int spec_want(spec_state *st, int k_max);

/* A verification drafted `drafted` (>= 1) tokens and accepted the first
 * `accepted` of them: adapt k and the pause. */
void spec_update(spec_state *st, int k_max, int drafted, int accepted);

#endif
