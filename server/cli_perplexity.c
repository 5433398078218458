/*
 * cli_perplexity.c — `ctgi perplexity`: the evaluation metric over a text
 * file, computed the way llama.cpp's llama-perplexity does (perplexity.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine.h"
#include "perplexity.h"

static const char USAGE[] =
    "usage: ctgi perplexity --model PATH --file F [--ctx N] [--threads N] [--kv-cache-dtype T] [--json]\n"
    "  Tokenizes F (one trailing newline removed, BOS per the vocab), splits it\n"
    "  into chunks of N tokens (default 512, capped at the model's context),\n"
    "  scores the second half of each chunk and prints the mean cross-entropy\n"
    "  (nats per token) and the perplexity.  --kv-cache-dtype: f32, f16 (default,\n"
    "  as llama-perplexity's), bf16 or q8_0.\n";

/* Chunks submitted ahead: enough to fill a step's batch on a few cores. */
#define PPL_IN_FLIGHT 4

static void progress(void *ud, int chunk, int n_chunks, double running) {
    if (!*(bool *)ud) fprintf(stderr, "[%d/%d] %.4f\n", chunk + 1, n_chunks, running);
}

int cli_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL;
    long ctx = 0, threads = 0;
    bool json = false;
    engine_kv_dtype kv_dtype = engine_config_default().kv_dtype;
    cli_opts o;
    cli_opts_init(&o, "perplexity", argc, argv);
    while (cli_next(&o)) {
        if (cli_is(&o, "help")) { fputs(USAGE, stdout); return 0; }
        else if (cli_is(&o, "model")) model_path = cli_value(&o);
        else if (cli_is(&o, "file")) file = cli_value(&o);
        else if (cli_is(&o, "ctx")) cli_int(&o, 4, 1 << 20, &ctx);
        else if (cli_is(&o, "threads")) cli_int(&o, 1, 1024, &threads);
        else if (cli_is(&o, "kv-cache-dtype")) {
            const char *v = cli_value(&o);
            if (v && !engine_kv_dtype_parse(v, &kv_dtype))
                cli_fail(&o, "--kv-cache-dtype must be f32, f16, bf16 or q8_0, not '%s'", v);
        }
        else if (cli_is(&o, "json")) json = true;
        else cli_unknown(&o);
    }
    if (o.error) return 2;
    if (!model_path || !file) { fputs(USAGE, stderr); return 2; }

    char err[CT_ERRLEN];
    size_t len;
    char *text = ct_read_file(file, &len, err);
    if (!text) { fprintf(stderr, "ctgi perplexity: %s\n", err); return 1; }
    if (len > 0 && text[len - 1] == '\n') text[--len] = '\0';
    model *m = model_load(model_path, err);
    if (!m) { fprintf(stderr, "ctgi perplexity: %s\n", err); free(text); return 1; }
    model_info mi = model_get_info(m);
    if (ctx == 0) ctx = mi.ctx_len < 512 ? mi.ctx_len : 512;
    int32_t *ids = NULL;
    const tokenizer *tok = model_tokenizer(m);
    int n = tok_encode(tok, text, len, true, false, &ids, err);
    int rc = 1;
    engine_config ec = ppl_engine_config((int)ctx, PPL_IN_FLIGHT);
    ec.n_threads = (int)threads;
    ec.kv_dtype = kv_dtype;
    engine *e = NULL;
    ppl_result r;
    if (n < 0 || !(e = engine_create(m, &ec, err))) {
        fprintf(stderr, "ctgi perplexity: %s\n", err);
    } else if (!ppl_compute(e, ids, n, (int)ctx, tok_add_bos(tok) ? tok_bos(tok) : -1, PPL_IN_FLIGHT, &r,
                            progress, &json, err)) {
        fprintf(stderr, "ctgi perplexity: %s\n", err);
    } else {
        rc = 0;
        if (json)
            printf("{\"tokens\":%d,\"ctx\":%ld,\"chunks\":%d,\"scored\":%d,\"mean_nll\":%.9f,"
                   "\"ppl\":%.9e,\"seconds\":%.3f,\"kv_cache_dtype\":\"%s\"}\n",
                   r.n_tokens, ctx, r.n_chunks, r.n_scored, r.mean_nll, r.ppl, r.seconds,
                   engine_kv_dtype_name(kv_dtype));
        else
            printf("tokens %d, ctx %ld, chunks %d, scored %d, KV cache %s\nmean cross-entropy %.6f nats/token\n"
                   "Final estimate: PPL = %.4f\n", r.n_tokens, ctx, r.n_chunks, r.n_scored,
                   engine_kv_dtype_name(kv_dtype), r.mean_nll, r.ppl);
    }
    engine_free(e);
    free(ids);
    model_free(m);
    free(text);
    return rc;
}
