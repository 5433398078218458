/*
 * cli_generate.c — `ctgi generate`: load a model, run one prompt, stream the
 * text to stdout (or print one JSON object with --json).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "generate.h"

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
    "  --json                    print one JSON object: prompt_ids, ids, text, logprobs,\n"
    "                            finish_reason, tokens (with top alternatives), seed, timings\n";

#define MAX_STOPS 16
#define MAX_BIAS 256

typedef struct {
    const char *model, *prompt, *prompt_ids;
    gen_params gp;
    const char *stops[MAX_STOPS];
    sampler_bias bias[MAX_BIAS];
    long threads;
    bool json, no_bos, seed_given, sample_opt;
} gen_args;

static bool parse_bias(cli_opts *o, gen_args *a) {
    const char *v = cli_value(o);
    int id;
    float b;
    char tail;
    if (!v) return false;
    if (a->gp.sp.n_logit_bias >= MAX_BIAS || sscanf(v, "%d:%f%c", &id, &b, &tail) != 2) {
        cli_fail(o, "--logit-bias expects ID:BIAS, got '%s'", v);
        return false;
    }
    a->bias[a->gp.sp.n_logit_bias++] = (sampler_bias){id, b};
    return true;
}

static void parse_sampling(cli_opts *o, gen_args *a) {
    sampler_params *sp = &a->gp.sp;
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
        else if (cli_is(&o, "max-new-tokens") && cli_int(&o, 0, 1 << 24, &l)) a->gp.max_new_tokens = (int)l;
        else if (cli_is(&o, "threads")) cli_int(&o, 1, 1024, &a->threads);
        else if (cli_is(&o, "ignore-eos")) a->gp.ignore_eos = true;
        else if (cli_is(&o, "no-bos")) a->no_bos = true;
        else if (cli_is(&o, "matmul")) {
            const char *v = cli_value(&o);
            if (v && strcmp(v, "blas") != 0 && strcmp(v, "invariant") != 0)
                cli_fail(&o, "--matmul must be 'invariant' or 'blas', not '%s'", v);
            a->gp.blas_matmul = v && strcmp(v, "blas") == 0;
        }
        else if (cli_is(&o, "json")) a->json = true;
        else if (cli_is(&o, "stop")) {
            const char *v = cli_value(&o);
            if (v && a->gp.n_stops < MAX_STOPS) a->stops[a->gp.n_stops++] = v;
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

static void print_piece(void *ud, const gen_token *t) {
    if (*(bool *)ud) return; /* --json prints at the end */
    fputs(t->text, stdout);
    fflush(stdout);
}

static json_t *token_json(const gen_token *t) {
    json_t *top = json_array();
    for (int i = 0; i < t->n_top; i++)
        json_array_append_new(top, json_pack("{s:i, s:f}", "id", t->top[i].id, "logprob", t->top[i].logprob));
    return json_pack("{s:i, s:s, s:f, s:b, s:o}", "id", t->id, "text", t->text, "logprob", t->logprob,
                     "special", t->special, "top", top);
}

static void print_json(const gen_args *a, const int32_t *prompt, int n_prompt, const gen_result *r) {
    json_t *pids = json_array(), *ids = json_array(), *lps = json_array(), *toks = json_array();
    for (int i = 0; i < n_prompt; i++) json_array_append_new(pids, json_integer(prompt[i]));
    for (int i = 0; i < r->n_tokens; i++) {
        json_array_append_new(ids, json_integer(r->tokens[i].id));
        json_array_append_new(lps, json_real(r->tokens[i].logprob));
        json_array_append_new(toks, token_json(&r->tokens[i]));
    }
    json_t *o = json_pack("{s:o, s:o, s:s%, s:o, s:s, s:o, s:I, s:f, s:f}", "prompt_ids", pids, "ids", ids,
                          "text", r->text, r->text_len, "logprobs", lps, "finish_reason",
                          gen_finish_name(r->finish), "tokens", toks, "seed", (json_int_t)a->gp.sp.seed,
                          "prefill_seconds", r->prefill_seconds, "decode_seconds", r->decode_seconds);
    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    putchar('\n');
    json_decref(o);
}

int cli_generate(int argc, char **argv) {
    gen_args a = {.gp = {.sp = sampler_params_default(), .max_new_tokens = 128}};
    if (!parse_args(argc, argv, &a)) return 2;
    a.gp.stops = a.stops;
    a.gp.sp.logit_bias = a.bias;
    if (a.sample_opt && a.gp.sp.temperature > 0) a.gp.sp.do_sample = true;
    if (!a.seed_given) a.gp.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    char err[CT_ERRLEN];
    model *m = model_load(a.model, err);
    if (!m) { fprintf(stderr, "ctgi generate: %s\n", err); return 1; }
    int32_t *prompt = NULL;
    int n_prompt = a.prompt_ids ? parse_ids(a.prompt_ids, &prompt)
                                : tok_encode(m->tok, a.prompt, strlen(a.prompt), !a.no_bos, false, &prompt, err);
    int rc = 1;
    if (n_prompt < 0) {
        fprintf(stderr, "ctgi generate: %s\n", a.prompt_ids ? "--prompt-ids: expected comma-separated token ids" : err);
        rc = 2;
    } else if (!sampler_params_validate(&a.gp.sp, m->cfg.vocab, err)) {
        fprintf(stderr, "ctgi generate: %s\n", err);
        rc = 2;
    } else {
        long nt = a.threads ? a.threads : sysconf(_SC_NPROCESSORS_ONLN);
        pool *p = pool_create(nt > 0 ? (int)nt : 1, 0);
        gen_result r;
        if (!gen_run(m, p, prompt, n_prompt, &a.gp, print_piece, &a.json, &r, err)) {
            fprintf(stderr, "ctgi generate: %s\n", err);
        } else {
            rc = 0;
            if (a.json) {
                print_json(&a, prompt, n_prompt, &r);
            } else {
                printf("\n");
                fprintf(stderr, "[%d prompt tokens in %.3f s, %d generated in %.3f s (%.1f tokens/s), finish: %s]\n",
                        n_prompt, r.prefill_seconds, r.n_tokens, r.decode_seconds,
                        r.decode_seconds > 0 ? r.n_tokens / r.decode_seconds : 0.0, gen_finish_name(r.finish));
            }
            gen_result_free(&r);
        }
        pool_free(p);
    }
    free(prompt);
    model_free(m);
    return rc;
}
