/*
 * cli_generate.c — `ctgi generate`: load a model, run one prompt, stream the
 * text to stdout (or print one JSON object with --json).
 *
 * It is a client of the engine like the server: one engine sized for this
 * one request (KV for prompt + new tokens, no prefix cache), one
 * engine_submit, then the request's events until its FINAL.  Sampling,
 * detokenisation and the stop rules are the engine's (engine.h), so the
 * command line and the HTTP routes cannot drift apart.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"

static const char USAGE[] =
    "usage: ctgi generate --model PATH (--prompt TEXT | --prompt-ids 1,2,3) [options]\n"
    "  --max-new-tokens N        tokens to generate (default 128)\n"
    "  --temperature T           sampling temperature; 0 = greedy (default: greedy)\n"
    "  --top-k K  --top-p P  --typical-p P  --min-p P   truncation (any of them enables sampling)\n"
    "  --repetition-penalty R    multiplicative, over prompt and output (TGI semantics)\n"
    "  --frequency-penalty F  --presence-penalty P      additive over output (OpenAI semantics)\n"
    "  --logit-bias ID:BIAS      add BIAS to token ID's logit (repeatable)\n"
    "  --seed S                  RNG seed (default: random, reported with --json)\n"
    "  --stop TEXT               stop when TEXT is generated (repeatable; kept in the text)\n"
    "  --top-n N                 report N alternatives per token (--json)\n"
    "  --ignore-eos              do not stop at end-of-sequence tokens\n"
    "  --no-bos                  do not add BOS to a --prompt text\n"
    "  --threads N               compute threads (default: all cores)\n"
    "  --matmul invariant|blas   weight products: ctgi's fixed-order kernel (default) or OpenBLAS\n"
    "                            sgemm (faster prefill; rounding then depends on the batch)\n"
    "  --kv-cache-dtype T        KV cache element type: f32, f16 (default), bf16 or q8_0\n"
    "  --lora PATH               generate through a LoRA adapter: a PEFT folder or a GGUF LoRA file\n"
    "  --speculate N             speculative decoding by prompt lookup: draft up to N tokens per\n"
    "                            step from the text's own n-grams (default 4; 0 = off)\n"
    "  --draft-model PATH        draft the --speculate tokens with this smaller model (same\n"
    "                            vocabulary) instead of prompt lookup\n"
    "  --json                    print one JSON object: prompt_ids, ids, text, logprobs,\n"
    "                            finish_reason, tokens (with top alternatives), seed, timings\n";

#define MAX_STOPS 16
/* --speculate when not given (as ctgi serve's, README: measured on the bench models) */
#define GEN_SPECULATE_DEFAULT 4
#define MAX_BIAS 256
/* Prompt tokens fed per engine step (the forward pass's scratch is sized
 * for this many rows). */
#define GEN_PREFILL_CHUNK 512

typedef struct {
    const char *model, *prompt, *prompt_ids, *draft_model;
    const char *lora;    /* --lora PATH or NULL */
    sampler_params sp;
    int max_new_tokens;
    bool ignore_eos, blas_matmul;
    engine_kv_dtype kv_dtype;
    const char *stops[MAX_STOPS];
    int n_stops;
    sampler_bias bias[MAX_BIAS];
    long threads;
    long speculate;               /* prompt-lookup drafts per step, at most (0: off) */
    bool json, no_bos, seed_given, sample_opt;
} gen_args;

static bool parse_bias(cli_opts *o, gen_args *a) {
    const char *v = cli_value(o);
    int id;
    float b;
    char tail;
    if (!v) return false;
    if (a->sp.n_logit_bias >= MAX_BIAS || sscanf(v, "%d:%f%c", &id, &b, &tail) != 2) {
        cli_fail(o, "--logit-bias expects ID:BIAS, got '%s'", v);
        return false;
    }
    a->bias[a->sp.n_logit_bias++] = (sampler_bias){id, b};
    return true;
}

static void parse_sampling(cli_opts *o, gen_args *a) {
    sampler_params *sp = &a->sp;
    long l;
    double d;
    if (cli_is(o, "temperature") && cli_float(o, 0, 100, &d)) { sp->temperature = (float)d; sp->do_sample = d > 0; }
    else if (cli_is(o, "top-k") && cli_int(o, 0, 1 << 30, &l)) { sp->top_k = (int32_t)l; a->sample_opt = true; }
    else if (cli_is(o, "top-p") && cli_float(o, 0, 1, &d)) { sp->top_p = (float)d; a->sample_opt = true; }
    else if (cli_is(o, "typical-p") && cli_float(o, 0, 1, &d)) { sp->typical_p = (float)d; a->sample_opt = true; }
    else if (cli_is(o, "min-p") && cli_float(o, 0, 1, &d)) { sp->min_p = (float)d; a->sample_opt = true; }
    else if (cli_is(o, "repetition-penalty") && cli_float(o, 0, 100, &d)) sp->repetition_penalty = (float)d;
    else if (cli_is(o, "frequency-penalty") && cli_float(o, -2, 2, &d)) sp->frequency_penalty = (float)d;
    else if (cli_is(o, "presence-penalty") && cli_float(o, -2, 2, &d)) sp->presence_penalty = (float)d;
    else if (cli_is(o, "seed")) a->seed_given = cli_u64(o, &sp->seed);
    else if (cli_is(o, "top-n") && cli_int(o, 0, SAMPLER_MAX_TOP_N, &l)) sp->top_n = (int)l;
    else if (cli_is(o, "logit-bias")) parse_bias(o, a);
    else if (!o->error) cli_unknown(o);
}

static bool parse_args(int argc, char **argv, gen_args *a) {
    cli_opts o;
    long l;
    cli_opts_init(&o, "generate", argc, argv);
    while (cli_next(&o)) {
        if (cli_is(&o, "help")) { fputs(USAGE, stdout); exit(0); }
        else if (cli_is(&o, "model")) a->model = cli_value(&o);
        else if (cli_is(&o, "prompt")) a->prompt = cli_value(&o);
        else if (cli_is(&o, "prompt-ids")) a->prompt_ids = cli_value(&o);
        else if (cli_is(&o, "max-new-tokens") && cli_int(&o, 0, 1 << 24, &l)) a->max_new_tokens = (int)l;
        else if (cli_is(&o, "threads")) cli_int(&o, 1, 1024, &a->threads);
        else if (cli_is(&o, "speculate")) cli_int(&o, 0, ENGINE_SPECULATE_MAX, &a->speculate);
        else if (cli_is(&o, "draft-model")) a->draft_model = cli_value(&o);
        else if (cli_is(&o, "ignore-eos")) a->ignore_eos = true;
        else if (cli_is(&o, "no-bos")) a->no_bos = true;
        else if (cli_is(&o, "matmul")) {
            const char *v = cli_value(&o);
            if (v && strcmp(v, "blas") != 0 && strcmp(v, "invariant") != 0)
                cli_fail(&o, "--matmul must be 'invariant' or 'blas', not '%s'", v);
            a->blas_matmul = v && strcmp(v, "blas") == 0;
        }
        else if (cli_is(&o, "kv-cache-dtype")) {
            const char *v = cli_value(&o);
            if (v && !engine_kv_dtype_parse(v, &a->kv_dtype))
                cli_fail(&o, "--kv-cache-dtype must be f32, f16, bf16 or q8_0, not '%s'", v);
        }
        else if (cli_is(&o, "json")) a->json = true;
        else if (cli_is(&o, "lora")) a->lora = cli_value(&o);
        else if (cli_is(&o, "stop")) {
            const char *v = cli_value(&o);
            if (v && a->n_stops < MAX_STOPS) a->stops[a->n_stops++] = v;
            else if (v) cli_fail(&o, "at most %d --stop strings", MAX_STOPS);
        } else if (!o.error) parse_sampling(&o, a);
    }
    if (o.error) return false;
    if (!a->model || (!a->prompt == !a->prompt_ids)) {
        fputs(USAGE, stderr);
        return false;
    }
    return true;
}

/* "1,2,3" -> ids; false with a message on a bad list. */
static int parse_ids(const char *s, int32_t **out) {
    int n = 0, cap = 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    while (ids && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || (*end && *end != ',')) { free(ids); return -1; }
        if (n == cap) {
            int32_t *nb = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!nb) { free(ids); return -1; }
            ids = nb;
        }
        ids[n++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    *out = ids;
    return ids ? n : -1;
}

/* ---- one run: the request's events, collected ------------------------------------ */

typedef struct {
    engine_token *tokens; /* (n_tokens) the TOKEN events, texts owned */
    int n_tokens, cap_tokens;
    engine_final fin;     /* the FINAL (text owned) */
} gen_run;

static void gen_run_free(gen_run *r) {
    for (int i = 0; i < r->n_tokens; i++) free(r->tokens[i].text);
    free(r->tokens);
    free(r->fin.text);
    free(r->fin.prompt);
}

/* Keep ev's token (taking its text); false when out of memory. */
static bool keep_token(gen_run *r, engine_event *ev) {
    if (r->n_tokens == r->cap_tokens) {
        int cap = r->cap_tokens ? r->cap_tokens * 2 : 64;
        engine_token *t = realloc(r->tokens, (size_t)cap * sizeof *t);
        if (!t) return false;
        r->tokens = t;
        r->cap_tokens = cap;
    }
    r->tokens[r->n_tokens++] = ev->token;
    ev->token.text = NULL;
    return true;
}

/* The engine request of the command line: the prompt, the sampling flags,
 * the stop strings, and max_new_tokens capped at the rest of the context
 * (a prompt that fills the context keeps the flag's value, so that the
 * engine's refusal names the numbers).  --max-new-tokens 0 is a scoring
 * request: the prompt is fed, nothing is generated. */
static engine_request make_request(const gen_args *a, const model_info *mi, const int32_t *prompt, int n) {
    engine_request r = engine_request_default();
    r.prompt = prompt;
    r.n_prompt = n;
    r.sampling = a->sp;
    r.max_new_tokens = a->max_new_tokens;
    if (n < mi->ctx_len && r.max_new_tokens > mi->ctx_len - n) r.max_new_tokens = mi->ctx_len - n;
    if (r.max_new_tokens == 0) { /* score nothing: no row goes through the output head */
        r.prompt_logprobs = true;
        r.prompt_logprobs_from = n;
    }
    r.ignore_eos = a->ignore_eos;
    r.stops = a->stops;
    r.n_stops = a->n_stops;
    r.adapter = a->lora ? 1 : 0; /* the one adapter cli_generate loaded */
    return r;
}

/* An engine for this one request: KV for all of it, no prefix cache. */
static engine *make_engine(const gen_args *a, const model *m, const model *draft, const engine_request *r,
                           char *err) {
    engine_config ec = engine_config_default();
    ec.n_threads = (int)a->threads; /* 0: every online core */
    ec.blas_matmul = a->blas_matmul;
    ec.kv_dtype = a->kv_dtype;
    ec.max_batch_size = 1;
    ec.prefix_caching = false;
    ec.max_batch_prefill_tokens = r->n_prompt < GEN_PREFILL_CHUNK ? r->n_prompt : GEN_PREFILL_CHUNK;
    ec.speculate = (int)a->speculate;
    ec.draft_model = draft;
    if (ec.max_batch_prefill_tokens < 1 + ec.speculate) ec.max_batch_prefill_tokens = 1 + ec.speculate;
    ec.max_batch_total_tokens = r->n_prompt + r->max_new_tokens; /* argv bounds the one, the flag the other */
    if (model_get_info(m).encoder_decoder) {
        /* the prompt is encoded in one pass; its cross K/V fill whole blocks
         * of their own beside the decoder's positions (engine.h) */
        ec.max_batch_prefill_tokens = r->n_prompt;
        ec.max_batch_total_tokens = (r->n_prompt + ec.block_size - 1) / ec.block_size * ec.block_size + r->max_new_tokens;
    }
    return engine_create(m, &ec, err);
}

/* Submit, then take events until the end: print each token's text as it
 * comes (unless --json), keep everything for the summary.  false + err
 * on a refusal or an ERROR event. */
static bool run(const gen_args *a, engine *e, const engine_request *req, gen_run *out, char *err) {
    engine_req *h = engine_submit(e, req, err);
    if (!h) return false;
    bool ok = false;
    engine_event ev;
    while (engine_next_event(h, &ev, true)) {
        if (ev.kind == ENGINE_EVENT_TOKEN) {
            if (!a->json) {
                fwrite(ev.token.text, 1, ev.token.text_len, stdout);
                fflush(stdout);
            }
            if (!keep_token(out, &ev)) ct_err(err, "out of memory");
        } else if (ev.kind == ENGINE_EVENT_FINAL) {
            out->fin = ev.final;
            ev.final.text = NULL;
            ev.final.prompt = NULL;
            ok = out->n_tokens == ev.final.n_generated; /* a token lost to memory fails the run */
        } else {
            ct_err(err, "%s", ev.error.message);
        }
        engine_event_clear(&ev);
    }
    engine_release(h);
    return ok;
}

/* ---- output ------------------------------------------------------------------------- */

static json_t *token_json(const engine_token *t) {
    json_t *top = json_array();
    for (int i = 0; i < t->n_top; i++)
        json_array_append_new(top, json_pack("{s:i, s:f}", "id", t->top[i].id, "logprob", t->top[i].logprob));
    return json_pack("{s:i, s:s%, s:f, s:b, s:o}", "id", t->id, "text", t->text, t->text_len, "logprob",
                     t->logprob, "special", t->special, "top", top);
}

static void print_json(const gen_args *a, const int32_t *prompt, int n_prompt, const gen_run *r) {
    json_t *pids = json_array(), *ids = json_array(), *lps = json_array(), *toks = json_array();
    for (int i = 0; i < n_prompt; i++) json_array_append_new(pids, json_integer(prompt[i]));
    for (int i = 0; i < r->n_tokens; i++) {
        json_array_append_new(ids, json_integer(r->tokens[i].id));
        json_array_append_new(lps, json_real(r->tokens[i].logprob));
        json_array_append_new(toks, token_json(&r->tokens[i]));
    }
    const engine_final *f = &r->fin;
    json_t *o = json_pack("{s:o, s:o, s:s%, s:o, s:s, s:o, s:I, s:f, s:f}", "prompt_ids", pids, "ids", ids,
                          "text", f->text ? f->text : "", f->text_len, "logprobs", lps, "finish_reason",
                          engine_finish_name(f->reason), "tokens", toks, "seed", (json_int_t)a->sp.seed,
                          "prefill_seconds", f->prefill_seconds, "decode_seconds", f->decode_seconds);
    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    putchar('\n');
    json_decref(o);
}

static void print_summary(int n_prompt, const gen_run *r) {
    const engine_final *f = &r->fin;
    printf("\n");
    fprintf(stderr, "[%d prompt tokens in %.3f s, %d generated in %.3f s (%.1f tokens/s), finish: %s]\n",
            n_prompt, f->prefill_seconds, r->n_tokens, f->decode_seconds,
            f->decode_seconds > 0 ? r->n_tokens / f->decode_seconds : 0.0, engine_finish_name(f->reason));
}

/* Run the validated prompt through an engine of its own; the exit code. */
static int generate(const gen_args *a, const model *m, const model *draft, const int32_t *prompt, int n_prompt) {
    char err[CT_ERRLEN];
    model_info mi = model_get_info(m);
    engine_request req = make_request(a, &mi, prompt, n_prompt);
    gen_run r = {0};
    engine *e = make_engine(a, m, draft, &req, err);
    int rc = 1;
    if (!e || !run(a, e, &req, &r, err)) {
        fprintf(stderr, "%sctgi generate: %s\n", r.n_tokens > 0 && !a->json ? "\n" : "", err);
    } else {
        rc = 0;
        if (a->json) print_json(a, prompt, n_prompt, &r);
        else print_summary(n_prompt, &r);
    }
    gen_run_free(&r);
    engine_free(e);
    return rc;
}

int cli_generate(int argc, char **argv) {
    gen_args a = {.sp = sampler_params_default(), .max_new_tokens = 128, .kv_dtype = engine_config_default().kv_dtype,
                  .speculate = GEN_SPECULATE_DEFAULT};
    if (!parse_args(argc, argv, &a)) return 2;
    a.sp.logit_bias = a.bias;
    if (a.sample_opt && a.sp.temperature > 0) a.sp.do_sample = true;
    if (!a.seed_given) a.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    char err[CT_ERRLEN];
    model *m = model_load(a.model, err);
    if (!m) { fprintf(stderr, "ctgi generate: %s\n", err); return 1; }
    if (a.lora && !model_lora_load(m, "lora", a.lora, err)) {
        fprintf(stderr, "ctgi generate: --lora: %s\n", err);
        model_free(m);
        return 1;
    }
    model *draft = NULL;
    if (a.draft_model && !(draft = model_load(a.draft_model, err))) {
        fprintf(stderr, "ctgi generate: draft model: %s\n", err);
        model_free(m);
        return 1;
    }
    int32_t *prompt = NULL;
    int n_prompt = a.prompt_ids ? parse_ids(a.prompt_ids, &prompt)
                                : tok_encode(model_tokenizer(m), a.prompt, strlen(a.prompt), !a.no_bos, false,
                                             &prompt, err);
    int rc;
    if (n_prompt < 0) {
        fprintf(stderr, "ctgi generate: %s\n", a.prompt_ids ? "--prompt-ids: expected comma-separated token ids" : err);
        rc = 2;
    } else if (!sampler_params_validate(&a.sp, model_get_info(m).vocab, err)) {
        fprintf(stderr, "ctgi generate: %s\n", err);
        rc = 2;
    } else {
        rc = generate(&a, m, draft, prompt, n_prompt);
    }
    free(prompt);
    model_free(draft);
    model_free(m);
    return rc;
}
