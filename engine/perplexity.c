/*
 * perplexity.c — chunked perplexity through the engine (see perplexity.h
 * for the method): chunk c is submitted as a scoring request, and its FINAL
 * carries log p(token | before) for every position.
 */
#include "perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

engine_config ppl_engine_config(int n_ctx, int in_flight) {
    engine_config c = engine_config_default();
    c.max_batch_prefill_tokens = n_ctx;
    c.max_batch_total_tokens = n_ctx * (in_flight > 0 ? in_flight : 1);
    c.prefix_caching = false;
    return c;
}

/* Submit chunk c of n_ctx tokens (BOS-replaced) as a scoring request for
 * the tokens after position `first` (the ones ppl_compute scores). */
static engine_req *submit_chunk(engine *e, const int32_t *tokens, int c, int n_ctx, int first, int32_t bos,
                                int32_t *scratch, char *err) {
    memcpy(scratch, tokens + (size_t)c * n_ctx, (size_t)n_ctx * sizeof(int32_t));
    if (bos >= 0) scratch[0] = bos;
    engine_request r = engine_request_default();
    r.prompt = scratch; /* copied by engine_submit */
    r.n_prompt = n_ctx;
    r.max_new_tokens = 0;
    r.prompt_logprobs = true;
    r.prompt_logprobs_from = first + 1; /* the scored half only: its rows alone reach the output head */
    return engine_submit(e, &r, err);
}

/* Wait for h's FINAL; add the NLL of prompt tokens [first + 1, n_ctx):
 * the tokens predicted by rows first .. n_ctx - 2, as llama-perplexity
 * scores them. */
static bool collect_chunk(engine_req *h, int n_ctx, int first, double *nll, int *scored, char *err) {
    engine_event ev;
    bool ok = false;
    while (engine_next_event(h, &ev, true)) {
        if (ev.kind == ENGINE_EVENT_FINAL) {
            ok = ev.final.prompt != NULL && ev.final.n_prompt == n_ctx;
            if (!ok) ct_err(err, "the engine returned no prompt logprobs");
            for (int i = first + 1; ok && i < n_ctx; i++) {
                *nll -= (double)ev.final.prompt[i].logprob;
                (*scored)++;
            }
        } else if (ev.kind == ENGINE_EVENT_ERROR) {
            ct_err(err, "%s", ev.error.message);
        }
        engine_event_clear(&ev);
    }
    return ok;
}

bool ppl_compute(engine *e, const int32_t *tokens, int n_tokens, int n_ctx, int32_t bos, int in_flight,
                 ppl_result *out, ppl_progress_fn progress, void *ud, char *err) {
    model_info mi = model_get_info(engine_model(e));
    if (mi.encoder_decoder) /* the decoder never reads the text as tokens: nothing scores it */
        return ct_err(err, "perplexity needs a decoder-only model; %s is encoder-decoder (%s)", mi.name,
                      mi.architecture);
    if (n_ctx < 4 || n_ctx % 2) return ct_err(err, "context %d must be an even number >= 4", n_ctx);
    if (n_ctx > mi.ctx_len) return ct_err(err, "context %d exceeds the model's context length %d", n_ctx, mi.ctx_len);
    int n_chunks = n_tokens / n_ctx;
    if (n_chunks < 1) return ct_err(err, "need at least %d tokens for one chunk, the text has %d", n_ctx, n_tokens);
    if (in_flight < 1) in_flight = 1;
    if (in_flight > n_chunks) in_flight = n_chunks;

    engine_req **h = calloc((size_t)n_chunks, sizeof *h);
    int32_t *scratch = malloc((size_t)n_ctx * sizeof(int32_t));
    bool ok = h && scratch;
    if (!ok) ct_err(err, "out of memory");
    double t0 = ct_now(), nll = 0;
    int scored = 0, first = n_ctx / 2, next = 0;
    for (int c = 0; ok && c < n_chunks; c++) {
        /* keep in_flight chunks submitted ahead of the one being collected */
        for (; ok && next < n_chunks && next < c + in_flight; next++)
            ok = (h[next] = submit_chunk(e, tokens, next, n_ctx, first, bos, scratch, err)) != NULL;
        if (ok) ok = collect_chunk(h[c], n_ctx, first, &nll, &scored, err);
        if (ok && progress) progress(ud, c, n_chunks, exp(nll / scored));
    }
    for (int c = 0; h && c < n_chunks; c++)
        if (h[c]) engine_release(h[c]); /* cancels the ones still running after a failure */
    if (ok) *out = (ppl_result){n_tokens, n_chunks, scored, nll, nll / scored, exp(nll / scored), ct_now() - t0};
    free(h);
    free(scratch);
    return ok;
}
