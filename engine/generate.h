/*
 * generate.h — one request, start to finish, on the calling thread: prefill
 * the prompt in one forward pass, then sample token by token until EOS, the
 * token limit or a stop string.  Used by `ctgi generate`; the batching
 * scheduler drives the same pieces (forward, sampler, stop, tok_stream)
 * for many sequences at once.
 */
#ifndef CTGI_GENERATE_H
#define CTGI_GENERATE_H

#include "forward.h"
#include "sampler.h"

typedef struct {
    sampler_params sp;
    int max_new_tokens;
    bool ignore_eos;
    const char *const *stops; /* borrowed */
    int n_stops;
    bool blas_matmul;         /* FWD_MM_BLAS (see engine_config.blas_matmul) */
} gen_params;

typedef enum { GEN_FINISH_LENGTH = 0, GEN_FINISH_EOS, GEN_FINISH_STOP } gen_finish;

const char *gen_finish_name(gen_finish f); /* "length" | "eos_token" | "stop_sequence" */

typedef struct {
    int32_t id;
    float logprob;
    bool special;
    char *text;  /* the UTF-8-complete text this token released (may be "") */
    int n_top;
    sampler_token top[SAMPLER_MAX_TOP_N];
} gen_token;

typedef struct {
    gen_token *tokens; /* (n_tokens), owned */
    int n_tokens;
    char *text;        /* all generated text (includes a matched stop string) */
    size_t text_len;
    gen_finish finish;
    int n_prompt;
    double prefill_seconds, decode_seconds;
} gen_result;

/* Called after each token, in order; may be NULL. */
typedef void (*gen_token_fn)(void *ud, const gen_token *t);

bool gen_run(const model *m, pool *p, const int32_t *prompt, int n_prompt, const gen_params *gp,
             gen_token_fn on_token, void *ud, gen_result *out, char *err);
void gen_result_free(gen_result *r);

#endif
