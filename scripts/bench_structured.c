/*
 * bench_structured.c — structured output (JSON Schema constraints) end to
 * end: what compiling a schema costs, and what constraining half or all of
 * 16 concurrent streams costs the engine's aggregate throughput (built as
 * build/tools/bench_structured; run by scripts/bench.sh / `make bench`).
 *
 *   bench_structured [--quick] [--threads N] [--cache-dir DIR] [--model small|large]
 *                    [--type f32|f16|bf16|q8_0|q4_k_m|...] [--gen N] [--prompt N]
 *                    [--reps N] [--vocab PATH]... [--no-compile] [--no-engine]
 *
 * Table 1 (schema compile, one thread): for a nested schema (objects in
 * objects, an array of objects, enums, integer ranges, string patterns
 * and lengths, a $ref) and a generated 50-property schema (mixed types,
 * every other property required), on the 32000-token Llama SentencePiece
 * vocabulary and a byte-level BPE one (DeepSeek LLM's 102k, else GPT-2's;
 * --vocab replaces the list): js_schema_to_regex time and the regex's
 * length, NFA states, cons_compile time without the token index (over one
 * built beforehand, as the engine's grammar cache does for every grammar
 * after its tokenizer's first) and with it (a cold cons_compile), the
 * first request's mask in the start state (the trie scan) and the same
 * mask once cached, and their sum for a request bringing a schema never
 * seen (to regex + compile over the index + first mask).  Median of
 * several compiles.
 *
 * Table 2 (the engine, `make bench`'s acceptance workload): a seeded
 * random-weight bench model (tests/support/bench_models.h: the "small" one
 * is 134M parameters with its 32000-token Llama vocabulary, so masks are
 * the real vocabulary's), 16 requests submitted at once with distinct
 * random prompts, temperature 1, fixed seeds, `gen` new tokens each (free
 * ones ignore EOS so they all run to the limit; constrained ones end at
 * the limit or when the JSON is complete, and their actual tokens are
 * counted — the nested schema allows long texts: up to 20 orders of five
 * fields).  Runs: (a) 16 free, (b) 8 free + 8 under the nested schema,
 * (c) 16 under it; (b) and (c) with a cold grammar (compiled for that
 * engine just before the requests: every mask is made on first visit,
 * inside the steps) and a warm one (a grammar that already served a (c)
 * run with other seeds, as the engine's grammar cache keeps it).  A
 * warm-up (a) runs first.  The configurations run in turn, `reps` rounds
 * (default 3, --quick 1), so a stretch of load from other jobs hits them
 * all alike.  Columns: aggregate generated tokens/s (all tokens / wall
 * time from submit to the last FINAL) of the median run and of the best
 * run, each with its ratio to (a)'s; tokens per CPU second of the process
 * (median); and, of the median run, the mean engine step time (engine
 * stats), the inter-token latency p50/p99 (gaps between a request's
 * tokens, i.e. the step time as a client sees it) and the time the step
 * spends choosing tokens (engine stats' sample time: masks + samplers, on
 * the pool); then every run's tokens/s.
 *
 * Table 3 (the constraint's own per-step cost): the token paths the
 * constrained requests of the median warm (c) run generated, replayed on one
 * thread through a matcher (cons_mask_logits on a fresh logits row +
 * cons_accept per token) — once on a newly compiled grammar (cold: the
 * first visits make masks) and once more on it (warm) — per step and
 * sequence, and for 8 and 16 sequences against the mean step time of (a).
 *
 * Nothing is asserted: the tables are for people (the target is
 * (b)/(a) >= 0.9).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "constraint/constraint_internal.h"
#include "constraint/json_schema.h"
#include "engine.h"
#include "model/dtype.h"
#include "model/model_info.h"
#include "support/bench_models.h"
#include "support/bench_util.h"
#include "support/testutil.h"

#define N_STREAMS 16

typedef struct {
    bool quick, compile, engine;
    int threads, gen, prompt, reps;
    const char *cache_dir, *model_key;
    uint32_t type;
    const char *vocab[8];
    int n_vocab;
} options;

/* ---- the schemas ------------------------------------------------------------------- */

/* Nested: objects in objects, an array of objects with an array inside,
 * enums, integer ranges, string patterns and lengths, a $ref.  Long texts
 * are possible (up to 20 orders), so a random model runs to the token
 * limit; strings are short enough (at most 64 characters) that the paths
 * keep crossing structure rather than staying in one string. */
static const char nested_schema[] =
    "{\"$defs\": {\"address\": {\"type\": \"object\", \"properties\": {"
    "  \"street\": {\"type\": \"string\", \"maxLength\": 40},"
    "  \"city\": {\"type\": \"string\", \"maxLength\": 24},"
    "  \"zip\": {\"type\": \"string\", \"pattern\": \"^[0-9]{5}(-[0-9]{4})?$\"},"
    "  \"country\": {\"enum\": [\"US\", \"CA\", \"MX\", \"FR\", \"DE\", \"JP\"]}},"
    "  \"required\": [\"street\", \"city\", \"zip\"]}},"
    " \"type\": \"object\", \"properties\": {"
    "  \"id\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 999999},"
    "  \"name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 40},"
    "  \"status\": {\"enum\": [\"active\", \"inactive\", \"pending\", \"banned\"]},"
    "  \"score\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 100},"
    "  \"address\": {\"$ref\": \"#/$defs/address\"},"
    "  \"contact\": {\"type\": \"object\", \"properties\": {"
    "    \"email\": {\"type\": \"string\", \"format\": \"email\"},"
    "    \"phone\": {\"type\": \"string\", \"pattern\": \"^\\\\+?[0-9]{7,15}$\"},"
    "    \"verified\": {\"type\": \"boolean\"}}, \"required\": [\"email\", \"verified\"]},"
    "  \"orders\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 20, \"items\": {"
    "    \"type\": \"object\", \"properties\": {"
    "      \"sku\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{3}-[0-9]{4}$\"},"
    "      \"qty\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100},"
    "      \"ship_to\": {\"$ref\": \"#/$defs/address\"},"
    "      \"note\": {\"type\": \"string\", \"maxLength\": 64},"
    "      \"tags\": {\"type\": \"array\", \"maxItems\": 5, \"items\": {\"type\": \"string\", \"maxLength\": 12}}},"
    "    \"required\": [\"sku\", \"qty\", \"note\"]}}},"
    " \"required\": [\"id\", \"name\", \"status\", \"address\", \"orders\"]}";

/* 50 properties p00..p49 cycling through ten kinds; every even one required. */
static json_t *schema_50(void) {
    json_t *props = json_object(), *req = json_array();
    for (int i = 0; i < 50; i++) {
        json_t *p;
        switch (i % 10) {
        case 0: p = json_pack("{s:s, s:i}", "type", "string", "maxLength", 40); break;
        case 1: p = json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 0, "maximum", 10000); break;
        case 2: p = json_pack("{s:s}", "type", "number"); break;
        case 3: p = json_pack("{s:s}", "type", "boolean"); break;
        case 4: p = json_pack("{s:[s,s,s,s]}", "enum", "red", "green", "blue", "none"); break;
        case 5: p = json_pack("{s:s, s:s}", "type", "string", "pattern", "^[a-z]{2,8}_[0-9]{1,4}$"); break;
        case 6: p = json_pack("{s:s, s:{s:s}, s:i}", "type", "array", "items", "type", "integer", "maxItems", 5); break;
        case 7:
            p = json_pack("{s:s, s:{s:{s:s, s:i}, s:{s:s}}, s:[s]}", "type", "object", "properties", "a", "type",
                          "string", "maxLength", 16, "b", "type", "integer", "required", "a");
            break;
        case 8: p = json_pack("{s:s, s:s}", "type", "string", "format", "date"); break;
        default: p = json_pack("{s:[s,s]}", "type", "string", "null"); break;
        }
        if (!p) bench_die("json_pack failed");
        char key[16];
        snprintf(key, sizeof key, "p%02d", i);
        json_object_set_new(props, key, p);
        if (i % 2 == 0) json_array_append_new(req, json_string(key));
    }
    return json_pack("{s:s, s:o, s:o}", "type", "object", "properties", props, "required", req);
}

static json_t *schema_nested(void) {
    json_error_t je;
    json_t *s = json_loads(nested_schema, 0, &je);
    if (!s) bench_die("nested schema: %s at line %d", je.text, je.line);
    return s;
}

static char *to_regex(const json_t *schema, double *seconds) {
    char err[CT_ERRLEN];
    js_opts o = js_opts_default();
    double t0 = ct_now();
    char *re = js_schema_to_regex(schema, &o, err);
    if (seconds) *seconds = ct_now() - t0;
    if (!re) bench_die("js_schema_to_regex: %s", err);
    return re;
}

/* ---- small helpers ----------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double median(double *v, int n) { return bench_percentile(v, n, 0.5); }

/* A row of random logits like a model's (the mask's cost does not depend on them). */
static void random_row(float *row, int V, uint64_t seed) {
    uint64_t s = seed | 1;
    for (int i = 0; i < V; i++) row[i] = (float)(rnd(&s) >> 40) * 0x1.0p-24f * 8.0f - 4.0f;
}

/* "1.23 0.98 0.87" (the machine's load average), or "?". */
static const char *loadavg(char *buf, size_t cap) {
    FILE *f = fopen("/proc/loadavg", "r");
    float a = 0, b = 0, c = 0;
    bool ok = f && fscanf(f, "%f %f %f", &a, &b, &c) == 3;
    if (f) fclose(f);
    snprintf(buf, cap, ok ? "%.2f %.2f %.2f" : "?", (double)a, (double)b, (double)c);
    return buf;
}

/* ---- table 1: compiling a schema ---------------------------------------------------------- */

typedef struct {
    const char *name;
    json_t *schema;
} named_schema;

static void compile_table(const options *o) {
    named_schema schemas[2] = {{"nested", schema_nested()}, {"50-property", schema_50()}};
    char *paths[8];
    int n_paths = 0;
    if (o->n_vocab) {
        for (int i = 0; i < o->n_vocab; i++) paths[n_paths++] = strdup(o->vocab[i]);
    } else {
        paths[n_paths++] = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
        char *bpe = tu_model_path("vocab/ggml-vocab-deepseek-llm.gguf");
        if (access(bpe, R_OK) != 0) {
            free(bpe);
            bpe = tu_model_path("vocab/ggml-vocab-gpt-2.gguf");
        }
        paths[n_paths++] = bpe;
    }
    int reps = o->quick ? 3 : 7;
    printf("\n== schema compile (one thread, median of %d): JSON Schema -> regex -> grammar -> the start state's mask\n",
           reps);
    printf("%-12s %-20s %8s %8s %8s %9s %9s %9s %8s %9s\n", "schema", "vocabulary", "to regex", "regex", "NFA",
           "compile", "compile", "1st mask", "cached", "1st req");
    printf("%-12s %-20s %8s %8s %8s %9s %9s %9s %8s %9s\n", "", "", "ms", "bytes", "states", "-index ms", "+index ms",
           "ms", "mask us", "ms");
    for (int v = 0; v < n_paths; v++) {
        char err[CT_ERRLEN];
        tokenizer *t = model_load_tokenizer(paths[v], err);
        if (!t) bench_die("%s: %s", paths[v], err);
        int V = tok_n_vocab(t);
        int32_t eos = tok_eos(t);
        int n_eos = eos >= 0 ? 1 : 0;
        ti_index *ti = ti_build(t, &eos, n_eos, err);
        if (!ti) bench_die("%s", err);
        float *row0 = malloc((size_t)V * sizeof *row0), *row = malloc((size_t)V * sizeof *row);
        if (!row0 || !row) bench_die("out of memory");
        random_row(row0, V, 77);
        const char *base = strrchr(paths[v], '/') ? strrchr(paths[v], '/') + 1 : paths[v];
        if (!strncmp(base, "ggml-vocab-", 11)) base += 11;
        size_t bl = strlen(base);
        if (bl > 5 && !strcmp(base + bl - 5, ".gguf")) bl -= 5;
        char vname[64];
        snprintf(vname, sizeof vname, "%.*s (%dk)", (int)(bl < 18 ? bl : 18), base, (V + 500) / 1000);
        for (int s = 0; s < 2; s++) {
            double t_re[16], t_ex[16], t_in[16], t_mask[16], t_cached[16];
            size_t re_len = 0;
            cons_stats st = {0};
            for (int r = 0; r < reps; r++) {
                char *re = to_regex(schemas[s].schema, &t_re[r]);
                re_len = strlen(re);
                double t0 = ct_now();
                cons_grammar *g = cons_compile_index(re, re_len, ti, CONS_MAX_DFA_STATES, err);
                t_ex[r] = ct_now() - t0;
                if (!g) bench_die("%s: %s", schemas[s].name, err);
                t0 = ct_now();
                cons_grammar *g2 = cons_compile(re, re_len, t, &eos, n_eos, err);
                t_in[r] = ct_now() - t0;
                if (!g2) bench_die("%s: %s", schemas[s].name, err);
                cons_grammar_unref(g2);
                for (int k = 0; k < 2; k++) { /* the first request's mask, then a later request's */
                    cons_matcher *m = cons_matcher_new(g);
                    if (!m) bench_die("out of memory");
                    memcpy(row, row0, (size_t)V * sizeof *row);
                    t0 = ct_now();
                    int n = cons_mask_logits(m, row, V);
                    (k ? t_cached : t_mask)[r] = ct_now() - t0;
                    if (n <= 0) bench_die("%s: the start state allows nothing", schemas[s].name);
                    cons_matcher_free(m);
                }
                cons_grammar_stats(g, &st);
                cons_grammar_unref(g);
                free(re);
            }
            double m_re = median(t_re, reps), m_ex = median(t_ex, reps), m_mask = median(t_mask, reps);
            printf("%-12s %-20s %8.2f %8zu %8d %9.2f %9.2f %9.3f %8.1f %9.2f\n", schemas[s].name, vname, 1e3 * m_re,
                   re_len, st.nfa_states, 1e3 * m_ex, 1e3 * median(t_in, reps), 1e3 * m_mask,
                   1e6 * median(t_cached, reps), 1e3 * (m_re + m_ex + m_mask));
        }
        free(row0);
        free(row);
        ti_unref(ti);
        tok_free(t);
    }
    printf("  to regex: js_schema_to_regex; compile -index: cons_compile over a token index built before (the\n"
           "  engine's cache builds one per tokenizer); +index: cons_compile building its own (the first grammar\n"
           "  of a tokenizer); 1st mask: a new grammar's first cons_mask_logits (start state, trie scan);\n"
           "  cached mask: the same call for a second request; 1st req: to regex + compile -index + 1st mask,\n"
           "  what a request with a schema never seen before waits for (besides its prefill).\n");
    for (int i = 0; i < n_paths; i++) free(paths[i]);
    for (int s = 0; s < 2; s++) json_decref(schemas[s].schema);
}

/* ---- table 2: the engine under 16 streams --------------------------------------------------- */

typedef struct {
    int32_t *v;
    int n, cap;
} ids;

static void ids_push(ids *l, int32_t id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        if (!(l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v))) bench_die("out of memory");
    }
    l->v[l->n++] = id;
}

typedef struct {
    engine_req *h;
    bool done, constrained;
    int n_tokens;
    double t_last;
    engine_finish reason;
    ids toks;
    char *text; /* the FINAL's text (constrained requests) */
} client;

typedef struct {
    double wall, tps, step_mean, itl_p50, itl_p99, sample_per_step;
    double cpu, cpu_tps; /* the process's CPU seconds over the run; tokens per CPU second */
    long generated;
    int n_complete; /* constrained requests that ended with their JSON complete */
    uint64_t steps;
    ids paths[N_STREAMS]; /* the constrained requests' tokens */
    int n_paths;
    char *text;           /* the first constrained request's text */
} run_result;

static void run_result_free(run_result *r) {
    for (int i = 0; i < r->n_paths; i++) free(r->paths[i].v);
    r->n_paths = 0;
    free(r->text);
    r->text = NULL;
}

typedef struct {
    const model *m;
    engine_config cfg;
    int32_t *prompts[N_STREAMS];
    int n_prompt, gen;
    const char *re;
} workload;

/* CPU seconds of every thread of the process (the engine's and its pool's;
 * the client mostly sleeps): unlike wall time, not inflated by other
 * processes taking the cores. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool drain(client *c, double *gaps, long *n_gaps) {
    engine_event ev;
    while (engine_next_event(c->h, &ev, false)) {
        double now = ct_now();
        if (ev.kind == ENGINE_EVENT_TOKEN) {
            if (c->n_tokens++ > 0) gaps[(*n_gaps)++] = now - c->t_last;
            c->t_last = now;
            if (c->constrained) ids_push(&c->toks, ev.token.id);
        } else {
            if (ev.kind == ENGINE_EVENT_ERROR) bench_die("request failed: %s", ev.error.message);
            c->reason = ev.final.reason;
            c->done = true;
            if (c->constrained) {
                c->text = ev.final.text; /* taken */
                ev.final.text = NULL;
            }
        }
        engine_event_clear(&ev);
    }
    return c->done;
}

/* One run on a fresh engine: the last n_cons of the 16 requests under the
 * schema (grammar g, or a cold one compiled by this engine when g is NULL
 * and n_cons > 0).  Seeds are seed_base + request number. */
static run_result run(const workload *w, int n_cons, cons_grammar *g, uint64_t seed_base) {
    char err[CT_ERRLEN] = "";
    engine *e = engine_create(w->m, &w->cfg, err);
    if (!e) bench_die("engine_create: %s", err);
    cons_grammar *own = NULL;
    if (n_cons > 0 && !g) {
        if (!(own = engine_constraint(e, w->re, strlen(w->re), err))) bench_die("engine_constraint: %s", err);
        g = own;
    }
    bench_waker wk = BENCH_WAKER_INIT;
    client cs[N_STREAMS] = {0};
    long max_gaps = (long)N_STREAMS * w->gen;
    double *gaps = malloc((size_t)max_gaps * sizeof *gaps);
    long n_gaps = 0;
    double t0 = ct_now(), c0 = cpu_now();
    for (int i = 0; i < N_STREAMS; i++) {
        engine_request r = engine_request_default();
        r.prompt = w->prompts[i];
        r.n_prompt = w->n_prompt;
        r.max_new_tokens = w->gen;
        r.ignore_eos = true;
        r.sampling.do_sample = true;
        r.sampling.temperature = 1.0f;
        r.sampling.seed = seed_base + (uint64_t)i;
        cs[i].constrained = i >= N_STREAMS - n_cons;
        r.constraint = cs[i].constrained ? g : NULL;
        r.notify = bench_wake;
        r.ud = &wk;
        if (!(cs[i].h = engine_submit(e, &r, err))) bench_die("engine_submit: %s", err);
    }
    cons_grammar_unref(own); /* the requests hold theirs */
    for (int done = 0; done < N_STREAMS;) {
        bench_wait(&wk);
        for (int i = 0; i < N_STREAMS; i++) {
            if (cs[i].done || !drain(&cs[i], gaps, &n_gaps)) continue;
            done++;
        }
    }
    run_result res = {.wall = ct_now() - t0, .cpu = cpu_now() - c0};
    engine_stats st = engine_get_stats(e);
    for (int i = 0; i < N_STREAMS; i++) {
        engine_release(cs[i].h);
        res.generated += cs[i].n_tokens;
        if (cs[i].constrained) {
            if (cs[i].reason == ENGINE_FINISH_EOS) res.n_complete++;
            res.paths[res.n_paths++] = cs[i].toks;
            if (!res.text) res.text = cs[i].text;
            else free(cs[i].text);
        }
    }
    engine_free(e);
    res.tps = (double)res.generated / res.wall;
    res.cpu_tps = (double)res.generated / res.cpu;
    res.steps = st.steps;
    res.step_mean = st.mean_step_seconds;
    res.sample_per_step = st.steps ? st.sample_seconds_total / (double)st.steps : 0;
    res.itl_p50 = bench_percentile(gaps, n_gaps, 0.5);
    res.itl_p99 = bench_percentile(gaps, n_gaps, 0.99);
    free(gaps);
    return res;
}

/* ---- table 3: the constraint's cost per step, replayed -------------------------------------------- */

typedef struct {
    double mean, p50, p99, first_mean;
    long steps, first;
} replay_result;

/* Every path through a matcher of g, one thread: per token the mask on a
 * fresh row plus the accept (the row's refill not timed). */
static replay_result replay(cons_grammar *g, const run_result *r, int V) {
    float *row0 = malloc((size_t)V * sizeof *row0), *row = malloc((size_t)V * sizeof *row);
    long total = 0;
    for (int p = 0; p < r->n_paths; p++) total += r->paths[p].n;
    double *t = malloc((size_t)(total ? total : 1) * sizeof *t), first_sum = 0;
    if (!row0 || !row || !t) bench_die("out of memory");
    random_row(row0, V, 99);
    replay_result out = {0};
    for (int p = 0; p < r->n_paths; p++) {
        cons_matcher *m = cons_matcher_new(g);
        if (!m) bench_die("out of memory");
        cons_matcher_allow_eos(m, false);
        for (int k = 0; k < r->paths[p].n; k++) {
            memcpy(row, row0, (size_t)V * sizeof *row);
            cons_stats before, after;
            cons_grammar_stats(g, &before);
            double t0 = ct_now();
            int n = cons_mask_logits(m, row, V);
            bool ok = n > 0 && cons_accept(m, r->paths[p].v[k]);
            double dt = ct_now() - t0;
            if (!ok) bench_die("replay: token %d of path %d refused", k, p);
            cons_grammar_stats(g, &after);
            if (after.masks_made > before.masks_made) {
                out.first++;
                first_sum += dt;
            }
            t[out.steps++] = dt;
        }
        cons_matcher_free(m);
    }
    double sum = 0;
    for (long i = 0; i < out.steps; i++) sum += t[i];
    out.mean = out.steps ? sum / (double)out.steps : 0;
    out.first_mean = out.first ? first_sum / (double)out.first : 0;
    out.p50 = bench_percentile(t, out.steps, 0.5);
    out.p99 = bench_percentile(t, out.steps, 0.99);
    free(t);
    free(row0);
    free(row);
    return out;
}

/* ---- the engine tables -------------------------------------------------------------------------------- */

typedef struct {
    const char *label, *grammar;
    int n_cons;
    bool warm;
    run_result runs[16];
    int n;
    const run_result *med, *best; /* the median run by tokens/s (the upper one of two), the best */
    double cpu_med;               /* median tokens per CPU second */
} config_row;

static int cmp_run_tps(const void *a, const void *b) {
    const run_result *x = *(const run_result *const *)a, *y = *(const run_result *const *)b;
    return (x->tps > y->tps) - (x->tps < y->tps);
}

static void summarize(config_row *c) {
    const run_result *by[16];
    double cpu[16];
    for (int i = 0; i < c->n; i++) by[i] = &c->runs[i], cpu[i] = c->runs[i].cpu_tps;
    qsort(by, (size_t)c->n, sizeof *by, cmp_run_tps);
    c->med = by[c->n / 2];
    c->best = by[c->n - 1];
    c->cpu_med = median(cpu, c->n);
}

static void engine_tables(const options *o) {
    const bench_spec *spec = bench_spec_find(o->model_key);
    if (!spec) bench_die("unknown model %s", o->model_key);
    char err[CT_ERRLEN] = "";
    char *path = bench_model_ensure_type(spec, o->type, o->cache_dir, err);
    if (!path) bench_die("%s", err);
    model *m = model_load(path, err);
    if (!m) bench_die("model_load %s: %s", path, err);
    model_info mi = model_get_info(m);
    char la[64];
    json_t *schema = schema_nested();
    char *re = to_regex(schema, NULL);
    json_decref(schema);

    workload w = {.m = m, .cfg = engine_config_default(), .n_prompt = o->prompt, .gen = o->gen, .re = re};
    w.cfg.n_threads = o->threads;
    w.cfg.max_batch_total_tokens = N_STREAMS * (o->prompt + o->gen + 32);
    uint64_t s = 0xbe7c4;
    for (int i = 0; i < N_STREAMS; i++) {
        if (!(w.prompts[i] = malloc((size_t)o->prompt * sizeof *w.prompts[i]))) bench_die("out of memory");
        for (int k = 0; k < o->prompt; k++) w.prompts[i][k] = (int32_t)(3 + rnd(&s) % (uint64_t)(mi.vocab - 3));
    }
    printf("\n== structured output under load: model %s %s (%.0fM parameters, vocab %d), %d concurrent requests,\n"
           "   %d-token prompts, %d new tokens, temperature 1, threads %d, nested schema regex %zu bytes; rounds: %d\n"
           "   (load average %s)\n",
           spec->label, bench_type_label(o->type), (double)mi.n_params / 1e6, mi.vocab, N_STREAMS, o->prompt, o->gen,
           o->threads, strlen(re), o->reps, loadavg(la, sizeof la));
    fflush(stdout);

    const uint64_t seeds = 1000, warm_seeds = 5000;
    run_result r = run(&w, 0, NULL, seeds); /* warm-up: pages the weights in */
    run_result_free(&r);
    /* the warm grammar: compiled once, then used by a (c) run on other seeds */
    cons_grammar *gw = cons_compile(re, strlen(re), model_tokenizer(m), mi.eos_ids, mi.n_eos, err);
    if (!gw) bench_die("cons_compile: %s", err);
    r = run(&w, N_STREAMS, gw, warm_seeds);
    run_result_free(&r);

    config_row rows[] = {
        {.label = "(a) 16 free", .grammar = "-"},
        {.label = "(b) 8 free + 8 JSON", .grammar = "cold", .n_cons = N_STREAMS / 2},
        {.label = "(b) 8 free + 8 JSON", .grammar = "warm", .n_cons = N_STREAMS / 2, .warm = true},
        {.label = "(c) 16 JSON", .grammar = "cold", .n_cons = N_STREAMS},
        {.label = "(c) 16 JSON", .grammar = "warm", .n_cons = N_STREAMS, .warm = true},
    };
    enum { N_ROWS = sizeof rows / sizeof rows[0] };
    for (int rep = 0; rep < o->reps; rep++)
        for (int k = 0; k < N_ROWS; k++) {
            config_row *c = &rows[k];
            c->runs[c->n++] = run(&w, c->n_cons, c->warm ? gw : NULL, seeds);
        }
    for (int k = 0; k < N_ROWS; k++) summarize(&rows[k]);

    printf("%-20s %5s %6s | %8s %6s | %8s %6s | %8s %6s | %7s %7s %7s | %7s | %s\n", "run", "masks", "tokens",
           "tok/s", "x (a)", "tok/s", "x (a)", "tok/CPUs", "x (a)", "step ms", "ITL p50", "ITL p99", "sample",
           "tok/s of each run");
    printf("%-20s %5s %6s | %8s %6s | %8s %6s | %8s %6s | %7s %7s %7s | %7s |\n", "", "", "", "median", "", "best", "",
           "median", "", "mean", "ms", "ms", "ms/step");
    const config_row *a0 = &rows[0];
    for (int k = 0; k < N_ROWS; k++) {
        const config_row *c = &rows[k];
        const run_result *md = c->med;
        printf("%-20s %5s %6ld | %8.1f %6.3f | %8.1f %6.3f | %8.1f %6.3f | %7.1f %7.1f %7.1f | %7.2f |", c->label,
               c->grammar, md->generated, md->tps, md->tps / a0->med->tps, c->best->tps, c->best->tps / a0->best->tps,
               c->cpu_med, c->cpu_med / a0->cpu_med, 1e3 * md->step_mean, 1e3 * md->itl_p50, 1e3 * md->itl_p99,
               1e3 * md->sample_per_step);
        for (int i = 0; i < c->n; i++) printf(" %.1f", c->runs[i].tps);
        if (c->n_cons) printf("  (%d/%d JSON complete)", md->n_complete, c->n_cons);
        printf("\n");
    }
    printf("  masks: cold = a grammar compiled for that run's engine (masks made on first visit, in the steps);\n"
           "  warm = one that served a (c) run with other seeds before.  tok/s: generated tokens / wall time\n"
           "  (submit -> last FINAL, prefill included), the median run's and the best run's, each against\n"
           "  (a)'s same; tok/CPUs: tokens / the process's CPU time, median.  tokens, step (engine stats' mean\n"
           "  step), ITL (gaps between a request's tokens) and sample (the step's token choice: masks +\n"
           "  samplers, on the pool) are the median run's.  On cores other jobs share, one run another job\n"
           "  slowed (or one lucky run) moves the best column: read the median and each run.\n");
    printf("  median (b)/(a) = %.3f cold, %.3f warm; (c)/(a) = %.3f cold, %.3f warm (target: (b)/(a) >= 0.9);\n"
           "  by CPU time (b)/(a) = %.3f cold, %.3f warm; (c)/(a) = %.3f cold, %.3f warm; load average %s\n",
           rows[1].med->tps / a0->med->tps, rows[2].med->tps / a0->med->tps, rows[3].med->tps / a0->med->tps,
           rows[4].med->tps / a0->med->tps, rows[1].cpu_med / a0->cpu_med, rows[2].cpu_med / a0->cpu_med,
           rows[3].cpu_med / a0->cpu_med, rows[4].cpu_med / a0->cpu_med, loadavg(la, sizeof la));
    const char *txt = rows[4].med->text ? rows[4].med->text : "";
    printf("  a constrained text (warm (c), first request, %zu bytes): %.300s%s\n", strlen(txt), txt,
           strlen(txt) > 300 ? "..." : "");

    /* table 3: the median warm (c) run's paths, replayed cold then warm on a new grammar */
    const run_result *c = rows[4].med;
    cons_grammar *g = cons_compile(re, strlen(re), model_tokenizer(m), mi.eos_ids, mi.n_eos, err);
    if (!g) bench_die("cons_compile: %s", err);
    replay_result cold = replay(g, c, mi.vocab), warm = replay(g, c, mi.vocab);
    cons_stats st;
    cons_grammar_stats(g, &st);
    double step = a0->med->step_mean;
    printf("\n== the constraint's own cost per decode step (the (c) paths, %ld tokens, replayed on one thread:\n"
           "   cons_mask_logits on a %d-logit row + cons_accept; %d DFA states, %.1f MB of masks after)\n",
           warm.steps, mi.vocab, st.dfa_states, (double)st.mask_bytes / 1048576.0);
    printf("%-6s %9s %9s %9s %12s %14s %17s %17s\n", "masks", "us mean", "us p50", "us p99", "first visits",
           "first us mean", "8 seqs/step", "16 seqs/step");
    const replay_result *rr[2] = {&cold, &warm};
    for (int i = 0; i < 2; i++)
        printf("%-6s %9.1f %9.1f %9.1f %12ld %14.1f %8.3f ms %4.1f%% %8.3f ms %4.1f%%\n", i ? "warm" : "cold",
               1e6 * rr[i]->mean, 1e6 * rr[i]->p50, 1e6 * rr[i]->p99, rr[i]->first, 1e6 * rr[i]->first_mean,
               8e3 * rr[i]->mean,
               100 * 8 * rr[i]->mean / step, 16e3 * rr[i]->mean, 100 * 16 * rr[i]->mean / step);
    printf("  per sequence and step; n seqs/step: n x the mean, and its share of (a)'s mean step (%.1f ms).  In the\n"
           "  engine the rows are masked on the pool's %d threads in parallel (first visits take the grammar's lock).\n",
           1e3 * step, o->threads);
    cons_grammar_unref(g);
    cons_grammar_unref(gw);
    for (int k = 0; k < N_ROWS; k++)
        for (int i = 0; i < rows[k].n; i++) run_result_free(&rows[k].runs[i]);
    for (int i = 0; i < N_STREAMS; i++) free(w.prompts[i]);
    free(re);
    model_free(m);
    free(path);
}

/* ---- main ---------------------------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: bench_structured [--quick] [--threads N] [--cache-dir DIR] [--model small|large]\n"
            "                        [--type f32|f16|bf16|q8_0|q4_k_m|...] [--gen N] [--prompt N] [--reps N]\n"
            "                        [--vocab PATH]... [--no-compile] [--no-engine]\n"
            "  defaults: all cores, bench-models, small (134M), f32, 128 new tokens, 32-token prompts, 3 reps;\n"
            "  --quick: 32 new tokens, 1 rep, fewer compiles\n");
    exit(2);
}

int main(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {.compile = true, .engine = true, .threads = ncpu > 0 ? (int)ncpu : 1, .gen = 128, .prompt = 32,
                 .reps = 3, .cache_dir = "bench-models", .model_key = "small", .type = DT_F32};
    int gen = 0, reps = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) o.quick = true;
        else if (!strcmp(a, "--no-compile")) o.compile = false;
        else if (!strcmp(a, "--no-engine")) o.engine = false;
        else if (!v) usage();
        else if (i++, !strcmp(a, "--threads")) o.threads = atoi(v);
        else if (!strcmp(a, "--cache-dir")) o.cache_dir = v;
        else if (!strcmp(a, "--model")) o.model_key = v;
        else if (!strcmp(a, "--type")) {
            if (!bench_type_parse(v, &o.type)) usage();
        } else if (!strcmp(a, "--gen")) gen = atoi(v);
        else if (!strcmp(a, "--prompt")) o.prompt = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--vocab") && o.n_vocab < 8) o.vocab[o.n_vocab++] = v;
        else usage();
    }
    if (o.quick) o.gen = 32, o.reps = 1;
    if (gen) o.gen = gen;
    if (reps) o.reps = reps;
    if (o.threads < 1 || o.gen < 1 || o.prompt < 1 || o.reps < 1 || o.reps > 16) usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("== bench_structured: JSON Schema constraints, compile and throughput (cache: %s)\n", o.cache_dir);
    if (o.compile) compile_table(&o);
    if (o.engine) engine_tables(&o);
    return 0;
}
