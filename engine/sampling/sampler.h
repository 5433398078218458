/*
 * sampler.h — per-request choice of the next token from a logits vector.
 *
 * Owns: the sampling parameters of one request, its penalty history (which
 * ids the prompt and the generated text contain, and how often each was
 * generated), its private random number generator, and the logprobs /
 * top-n alternatives reported for every chosen token.
 *
 * Processing order (the HF/TGI logits-processor chain, min_p appended last):
 *
 *   1. repetition_penalty (multiplicative, HF/TGI/CTRL): for every distinct
 *      id present in prompt + generated so far,
 *          l = l > 0 ? l / rp : l * rp
 *   2. frequency_penalty / presence_penalty (additive, OpenAI/vLLM), counted
 *      over GENERATED tokens only:  l -= count*fp + (count > 0)*pp
 *   3. logit_bias: l[id] += bias  (bias may be -inf to ban a token)
 *   4. greedy decision: if !do_sample or temperature < SAMPLER_GREEDY_EPS,
 *      pick argmax (lowest id on ties) and skip everything below;
 *      otherwise temperature: l /= T
 *   --- logprobs are taken here (see below) ---
 *   5. top_k   (0 = off): keep exactly the k best; ties at the k-th logit are
 *      broken towards the lower id (HF keeps every tie — we keep exactly k
 *      so that top_k = 1 is the same as greedy).
 *   6. top_p   (1 = off): keep the smallest prefix of the descending order
 *      (ties: lower id first) whose cumulative probability is >= top_p.
 *   7. typical_p (1 = off, HF TypicalLogitsWarper): with H the entropy of
 *      the surviving distribution and s_i = |-log p_i - H|, sort by s
 *      ascending, find the first index j whose cumulative probability
 *      reaches typical_p, and keep every token with s_i <= s_j.
 *   8. min_p   (0 = off): keep tokens with p_i >= min_p * max_j p_j.
 *   9. draw one token from the survivors, renormalised.
 *   Each warper (5-8) sees the distribution left by the previous ones,
 *   renormalised, exactly as chained HF warpers do.
 *
 * Logprobs: sample_result.logprob and the top-n alternatives are
 *   log_softmax(l) of the logits after steps 1-4 (penalties, bias and, when
 *   sampling, temperature) and BEFORE the truncation warpers 5-8, over the
 *   whole vocabulary.  So a greedy request reports log_softmax of the
 *   penalised logits, and every alternative has a finite logprob even when
 *   top_k/top_p would have cut it.  (TGI takes them after its warpers, which
 *   makes cut tokens -inf, unrepresentable in JSON.)  Tokens whose processed
 *   logit is -inf are never listed as alternatives.
 *
 * NaN logits are treated as banned (-inf); a logit that is or overflows to
 * +inf saturates at FLT_MAX.  A token whose processed logit lies more than
 * 86 below the best (p < 5e-38 of the best token's) has weight 0: it is
 * never drawn, and adds nothing to the logprobs' normaliser.
 * Same seed + same logits => same tokens, on every build (the AVX2 passes
 * and their portable twins give the same bits): the generator is
 * xoshiro256** seeded through splitmix64, one per sampler, no global state.
 * A sampler is used by one thread at a time; different samplers share
 * nothing, so the samplers of one engine step run on the pool at once.
 *
 * Cost: greedy without logprobs is one vectorized pass over the row; the
 * logprob adds an exp-sum pass, top_n a threshold scan; sampling adds only
 * what its warpers need (sampler.c, sampler_select.c).
 */
#ifndef CTGI_SAMPLER_H
#define CTGI_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "sampling/sampler_params.h"

typedef struct {
    int32_t id;      /* the chosen token, -1 if no token was possible */
    float logprob;   /* its logprob (see "Logprobs" above) */
    int n_top;       /* <= top_n (fewer if fewer tokens have finite logits) */
    sampler_token top[SAMPLER_MAX_TOP_N]; /* by logprob descending, ties by id */
} sample_result;

typedef struct sampler sampler;

/* A sampler for one request.  prompt (n_prompt ids, may be NULL when 0)
 * seeds the repetition-penalty history and is not retained.  Returns NULL
 * if the params do not validate (call sampler_params_validate for the
 * message), a prompt id is outside [0, n_vocab), or memory runs out. */
sampler *sampler_create(const sampler_params *p, int n_vocab, const int32_t *prompt,
                        int n_prompt);
void sampler_free(sampler *s);

/* Record a generated token in the penalty history (sampler_sample does not
 * do this itself, so the caller may also record forced tokens).  Returns
 * false for an id outside [0, n_vocab) or on allocation failure. */
bool sampler_accept(sampler *s, int32_t id);

/* Choose the next token.  logits[n_vocab] is modified in place: on return
 * it holds the processed logits of steps 1-4 (NaN as -inf, +inf as FLT_MAX).
 * out may be NULL, which skips computing logprobs and alternatives.
 * With params.no_logprob and top_n 0, out gets only the id (logprob NaN).
 * Returns the token id, or -1 if every logit is -inf/NaN (all banned). */
int32_t sampler_sample(sampler *s, float *logits, sample_result *out);

/* Speculative decoding: choose the next token as sampler_sample does, at
 * a position for which the token `draft` (in [0, n_vocab)) was proposed
 * with certainty (prompt lookup).  Greedy: the argmax, exactly
 * sampler_sample's (same bits, same logprobs); *accepted = it is draft.
 * Sampling: rejection sampling against the point mass on draft — accept
 * it with probability p(draft), else draw from p with draft taken out — so
 * the token is distributed exactly as sampler_sample's draw (p = the
 * warped distribution of steps 5-8), *accepted = draft was taken.  One or
 * two uniform draws are used (sampler_sample: one), so a seeded request's
 * tokens differ from those it has without speculation, not their law.
 * A draft outside the vocabulary makes it sampler_sample. */
int32_t sampler_sample_draft(sampler *s, float *logits, int32_t draft, sample_result *out, bool *accepted);

/* Clean logits[n_vocab] in place as sampler_sample does (NaN -> -inf,
 * +inf -> FLT_MAX) and return their log-sum-exp, -inf if every logit is
 * -inf: log_softmax's normaliser, for prompt logprobs.  The same two
 * vectorized passes (argmax, exp-sum in double) sampler_sample makes. */
double sampler_log_sum_exp(float *logits, int n_vocab);

/* The k (capped at SAMPLER_MAX_TOP_N) largest logits[0, n_vocab) as
 * logprobs logit - lse, by logprob descending, ties by lower id (one pass
 * with a small insertion-sorted buffer; scanning ids ascending with a
 * strict comparison keeps equal logits in ascending id order).  -inf and
 * NaN logits are never listed.  Returns how many were written to top. */
int sampler_top_logprobs(const float *logits, int n_vocab, double lse, int k, sampler_token *top);

#endif
