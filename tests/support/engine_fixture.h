/*
 * engine_fixture.h — what the engine tests (engine_test, sched_test,
 * engine_prompt_test) share: the models they run on, a request with its
 * own prompt storage, the outcome of a request (its events read back and
 * checked for order and consistency), engines in small configurations,
 * running requests alone or together, and comparing two outcomes bit for
 * bit.  Each test file keeps only its own scenarios.
 *
 * The helpers assert with cmocka (a failed check fails the running test),
 * so this file is linked into the test binaries only, not the tools
 * (Makefile: TOOL_SUPPORT_OBJ).
 */
#ifndef CTGI_ENGINE_FIXTURE_H
#define CTGI_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "model/model.h"
#include "pool.h"

enum {
    EF_MAX_PROMPT = 320,   /* prompt tokens an ef_job holds */
    EF_MAX_TOKENS = 420,   /* generated tokens an ef_outcome holds */
    EF_MAX_TEXT = 16384,   /* generated text bytes an ef_outcome holds */
};

/* ---- models ---------------------------------------------------------------------- */

typedef struct {
    model *m;       /* seeded random llama (synth_default: dim 64, 2 layers) with
                       stories260K's 512-token vocabulary */
    model *stories; /* stories260K.gguf: real text */
    pool *pool;     /* one thread (the caller), for code driven on the test's thread */
} ef_fixture;

/* For a cmocka group setup: the synthetic model drawn from `seed` (written
 * to a scratch file, loaded, the file removed), stories260K and the pool.
 * NULL, with the reason printed, if a model cannot be written or loaded. */
ef_fixture *ef_fixture_create(uint64_t seed);
void ef_fixture_free(ef_fixture *fx);

/* The fixture's kind of synthetic model (stories260K's vocabulary) drawn
 * from seed, with head_dim hd (32: every KV cache type applies, q8_0
 * included).  NULL, with the reason printed, on failure. */
model *ef_synth_model(uint64_t seed, int head_dim);

/* ids of text in m's vocabulary (BOS first); fails the test if none. The
 * caller frees them. */
int32_t *ef_encode(const model *m, const char *text, int *n);

/* ---- requests and what they produce ------------------------------------------------ */

/* A request that owns its prompt: r.prompt points at prompt, so a job is
 * not copied by value (copy r and re-point it instead). */
typedef struct {
    int32_t prompt[EF_MAX_PROMPT];
    engine_request r;
} ef_job;

/* Zero j; r = engine_request_default() with n_prompt ids drawn from *rnd,
 * each in [3, 512) (the synthetic vocabulary past its control tokens). */
void ef_job_random(ef_job *j, uint64_t *rnd, int n_prompt);

/* What a request produced, as its events said it. */
typedef struct {
    int32_t ids[EF_MAX_TOKENS];
    float logprob[EF_MAX_TOKENS];
    int n_top[EF_MAX_TOKENS];
    sampler_token top[EF_MAX_TOKENS][2]; /* the first two alternatives */
    size_t end[EF_MAX_TOKENS];           /* text offset after each token */
    char text[EF_MAX_TEXT];              /* the tokens' texts joined (may hold NUL bytes) */
    size_t text_len;
    int n;
    bool ended;      /* its FINAL or ERROR came */
    bool failed;     /* ... and it was an ERROR */
    bool cancelled;  /* ... with `cancelled` set */
    engine_final fin; /* the FINAL; text not kept (it is `text`); prompt owned here */
} ef_outcome;

/* Free the prompt logprobs an outcome holds (safe twice, and on a zeroed
 * outcome).  Nothing else in an outcome is allocated. */
void ef_outcome_free(ef_outcome *o);

/* Take h's events into o (which the caller zeroed, or filled with h's
 * earlier events), checking that nothing follows the FINAL/ERROR, that the
 * FINAL agrees with the tokens (count, text) and that each token's text is
 * NUL-terminated.  block: until the stream ends (and assert it did);
 * otherwise only the events queued now.  An ERROR that is not a
 * cancellation is printed as a `# ERROR` diagnostic. */
void ef_drain(engine_req *h, ef_outcome *o, bool block);

/* Same tokens, bit-identical logprobs, same text and finish reason, and the
 * same prompt logprobs (value and alternatives at every position, or none
 * on both sides); i names the request in the failure message. */
void ef_assert_same(const ef_outcome *a, const ef_outcome *b, int i);

/* ---- engines -------------------------------------------------------------------------- */

/* engine_config_default() on one thread (the suite shares two cores with
 * other tests: a pool barrier under load is slow) with this step token
 * budget, batch size, KV capacity in tokens and prefix caching. */
engine_config ef_config(int budget, int batch, int kv_tokens, bool prefix);
/* engine_create / engine_submit that fail the test with the message. */
engine *ef_engine(const model *m, const engine_config *c);
engine_req *ef_submit(engine *e, const engine_request *r);

/* Submit reqs[0..n) at once and read each to its end; out[i] is zeroed
 * first and must not be an ERROR. */
void ef_run_batch(engine *e, const engine_request *reqs, int n, ef_outcome *out);
/* The reference outcome: r alone on a fresh engine without prefix caching
 * (512-token steps, 8 sequences, 4096 KV tokens, the default KV type). */
void ef_run_alone(const model *m, const engine_request *r, ef_outcome *o);
/* The same with a KV cache of type t. */
void ef_run_alone_kv(const model *m, const engine_request *r, engine_kv_dtype t, ef_outcome *o);

/* The stats once the engine has gone idle (a snapshot is published after
 * each step, so it can trail the events by one step); waits up to ~10 s. */
engine_stats ef_settle(engine *e);

/* engine_submit must refuse r with a message containing every one of the
 * NULL-terminated needles. */
void ef_expect_refusal(engine *e, const engine_request *r, const char *const *needles);

#endif
