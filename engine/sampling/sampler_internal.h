/*
 * sampler_internal.h — what the sampler's three files share (and the tests
 * call directly): sampler.c drives one call, sampler_vocab.c makes the
 * passes over the whole vocabulary, sampler_select.c narrows a candidate
 * set (top-k, top-p, typical-p, min-p) and draws from it.
 *
 * Every function here gives the same bits with or without AVX2: the vector
 * loops only compare, select and copy, or run vm_expf8, whose lanes equal
 * vm_expf; sums go to 8 lanes indexed by token id mod 8, added in a fixed
 * tree.  So a seed and a logits row determine the token on every build.
 */
#ifndef CTGI_SAMPLER_INTERNAL_H
#define CTGI_SAMPLER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/vmath.h"
#include "sampling/sampler.h"

/* A token's weight e^x, x = logit - max logit <= 0, is 0 below x = -86
 * (p < 5e-38 of the best token's: no double sum or 53-bit draw can see
 * it).  Not computing e^x there keeps every product of vm_expf normal:
 * results below FLT_MIN (x < -87.3, a spread that temperature, biases and
 * -inf bans make common) take a microcode assist on x86 that made the
 * exp-sum pass 15-20 times slower. */
#define SMP_EXP_FLOOR (-86.0f)

static inline float smp_expf(float x) { return x >= SMP_EXP_FLOOR ? vm_expf(x) : 0.0f; }

/* A sampling candidate.  `key` orders candidates ascending (ties: lower
 * id first): -logit for top-k/top-p, |-log p - H| for typical-p.  `w` is
 * smp_expf(logit - max logit): the unnormalised probability, never 0. */
typedef struct {
    float key;
    float w;
    int32_t id;
} smp_cand;

static inline bool smp_before(const smp_cand *a, const smp_cand *b) {
    return a->key < b->key || (a->key == b->key && a->id < b->id);
}

/* splitmix64: seeds the request's generator (sampler.c) and picks the
 * quickselect pivots (sampler_select.c) from a stream of its own. */
static inline uint64_t smp_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- sampler_vocab.c: passes over all n logits -------------------------- */

/* Divide by temperature (1 = leave alone), map NaN to -inf and +inf to
 * FLT_MAX, in place; return the argmax (lowest id on ties), -1 if every
 * logit is -inf.  One pass; no exp. */
int32_t smp_prepare(float *l, int n, float temperature);

/* sum of smp_expf(l[i] - mx) in double, lane i % 8 then a fixed tree;
 * the terms are also stored in w when w is not NULL. */
double smp_exp_sum(const float *l, float *w, int n, float mx);

/* The first index j in [i, n) with x[j] > t (n if none); NaN is never
 * above.  The scans of the vocabulary for a few large values are loops
 * over this: most of the row is skipped 8 values per compare. */
int smp_next_above(const float *x, int i, int n, float t);

/* Bit j set when x[j] > t, j < 8: for scans that keep many values. */
unsigned smp_above8(const float *x, float t);

/* ---- sampler_select.c: candidate sets ----------------------------------- */

/* The k first tokens in candidate order (largest logit, then lowest id)
 * among those with a non-zero weight smp_expf(l - mx); fewer if fewer have
 * one.  Returns how many were written to c (unordered). */
int smp_gather_top_k(const float *l, int n, float mx, int k, smp_cand *c);

/* Every token with logit >= lo and a non-zero weight w[id] (smp_exp_sum's),
 * in id order; *mass gets their weight. */
int smp_gather_from(const float *l, const float *w, int n, float lo, smp_cand *c, double *mass);

/* Every token with w[id] > 0 (w from smp_exp_sum), in id order. */
int smp_gather_weights(const float *l, const float *w, int n, smp_cand *c);

/* Warpers on c[0, n): each rearranges c so that the survivors come first
 * and returns how many survive (sampler.h gives the rules). */
int smp_mass_prefix(smp_cand *c, int n, double target, bool keep_ties);
int smp_top_p_cut(smp_cand *c, int n, float top_p);
/* top_k then top_p (steps 5-6) straight from the processed row l[0, n)
 * whose max is mx and whose weights sum to z (smp_exp_sum): the survivors
 * in c, their count returned; -1 when neither is on (every token is a
 * candidate).  Without top_k, w[n] must hold the weights (smp_exp_sum's
 * store); top_k computes the few it needs. */
int smp_rank_cut(const float *l, const float *w, int n, float mx, double z, int top_k, float top_p, smp_cand *c);
int smp_typical_cut(smp_cand *c, int n, const float *logits, float mx, float mass);
int smp_min_p_cut(smp_cand *c, int n, float min_p);

/* Inverse-CDF draws, u in [0, 1): from the candidates in their order, or
 * straight from the weights w[0, n) in id order against total z. */
int32_t smp_draw(const smp_cand *c, int n, double u);
int32_t smp_draw_weights(const float *w, int n, double z, double u);

#endif
