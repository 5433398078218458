/*
 * sampler_params.h — what a request asks of the sampler: the parameters,
 * their ranges, and the shape of a reported alternative.  Public: server/
 * and proto/ fill these from the wire (docs/ARCHITECTURE.md, "public
 * headers"); the sampler that applies them (sampler.h, which documents the
 * processing order and the logprob rules) stays inside engine/.
 */
#ifndef CTGI_SAMPLER_PARAMS_H
#define CTGI_SAMPLER_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

/* Most alternatives a request may ask for (OpenAI's top_logprobs maximum). */
#define SAMPLER_MAX_TOP_N 20
/* A temperature below this is greedy decoding (dividing by it would
 * overflow the logits to inf). */
#define SAMPLER_GREEDY_EPS 1e-5f

typedef struct {
    int32_t id;
    float bias; /* added to the logit; finite or -INFINITY */
} sampler_bias;

typedef struct {
    bool do_sample;           /* false => greedy argmax, warpers ignored */
    float temperature;        /* >= 0; < SAMPLER_GREEDY_EPS => greedy */
    int32_t top_k;            /* >= 0; 0 = off */
    float top_p;              /* (0, 1]; 1 = off */
    float typical_p;          /* (0, 1]; 1 = off */
    float min_p;              /* [0, 1]; 0 = off */
    float repetition_penalty; /* > 0; 1 = off */
    float frequency_penalty;  /* [-2, 2]; 0 = off */
    float presence_penalty;   /* [-2, 2]; 0 = off */
    const sampler_bias *logit_bias; /* borrowed; sampler_create copies it */
    int n_logit_bias;
    uint64_t seed;
    int top_n;                /* alternatives to report, 0..SAMPLER_MAX_TOP_N */
    bool no_logprob;          /* nobody reads the chosen token's logprob (it is NaN):
                                 with top_n 0, greedy is one argmax pass per token */
} sampler_params;

typedef struct {
    int32_t id;
    float logprob;
} sampler_token;

/* Greedy and neutral: do_sample false, temperature 1, top_k 0, top_p 1,
 * typical_p 1, min_p 0, repetition_penalty 1, no additive penalties, no
 * bias, seed 0, top_n 0, logprobs computed (no_logprob false). */
sampler_params sampler_params_default(void);

/* Check every field against the ranges above; on failure write a
 * TGI-style message naming the field ("`top_p` must be > 0.0 and <= 1.0")
 * into err and return false. */
bool sampler_params_validate(const sampler_params *p, int n_vocab, char *err);

#endif
