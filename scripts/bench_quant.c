/*
 * bench_quant.c — the engine on weights in their file's type, against the
 * machine's memory bandwidth and against llama.cpp on the same files
 * (built as build/tools/bench_quant; run by scripts/bench.sh / `make bench`).
 *
 *   bench_quant [--threads N] [--models small|large|all] [--types LIST]
 *               [--quick] [--cache-dir DIR] [--llama-bench PATH] [--gen-only]
 *
 * For each bench model (tests/support/bench_models.h: the 134M and the
 * TinyLlama-shaped 1.1B llama) and type (default F16, BF16, Q8_0, Q4_K_M,
 * Q4_0; the files are written once by synth_model into the cache, each
 * matrix in the type llama-quantize would choose), in a child process of
 * its own so that its memory is its own:
 *   - load time and resident memory after the load (file-backed + anonymous);
 *   - decode, one stream: tokens one at a time after a 16-token prompt,
 *     against the bandwidth limit = bandwidth / bytes of weights per token
 *     (the file minus the embedding, of which one row is read).  Rounds of
 *     decode, each between two bandwidth probes: the % is each round's
 *     against the bandwidth of its own moment (on a shared host the
 *     bandwidth moves by 10-20 % from minute to minute), the median round;
 *   - prefill: one forward pass over 512 tokens (logits for the last);
 *   - aggregate decode: 4, 16, 64 sequences advancing one token per step.
 * With --llama-bench (or CTGI_LLAMA_BENCH) it runs llama.cpp's llama-bench
 * on the same file and threads (-p 512 -n 64) and prints the ratios.
 * Nothing is asserted: the tables are for people.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "kernels/wmat.h"
#include "kv.h"
#include "model/dtype.h"
#include "model/forward.h"
#include "model/model.h"
#include "pool.h"
#include "support/bench_bw.h"
#include "support/bench_models.h"
#include "support/bench_rig.h"
#include "support/bench_util.h"

#define PROMPT 16
#define PREFILL 512

static const int AGG[] = {4, 16, 64};
enum { N_AGG = sizeof AGG / sizeof AGG[0] };

typedef struct {
    int threads;
    const char *models; /* small | large | all */
    uint32_t types[8];
    int n_types;
    bool quick, gen_only;
    const char *cache_dir;
    const char *llama_bench;
} options;

/* One (model, type) measurement; the child writes it into a pipe. */
typedef struct {
    bool ok;
    char err[CT_ERRLEN];
    double file_gb, embd_gb; /* whole file; its token embedding (one row is read per token) */
    double load_s, rss_gb, rss_anon_gb, rss_file_gb;
    double decode_tps, decode_pct, decode_bw, prefill_tps, agg_tps[N_AGG]; /* medians of the decode rounds */
    double lc_decode, lc_prefill; /* llama.cpp, 0 = not run */
} result;

/* ---- resident memory ---------------------------------------------------------- */

static double status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = atof(line + n + 1);
    if (f) fclose(f);
    return v;
}

/* ---- the engine ------------------------------------------------------------------ */

typedef struct {
    const char *path;
    const options *o;
} job;

static double file_gb(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size / 1e9 : 0;
}

/* Decode rounds, each between two probes of the bandwidth: the medians of
 * tok/s, of the bandwidth and of each round's % of its bandwidth limit
 * (`bytes` of weights per token). */
static void decode_rounds(bench_rig *r, const options *o, double bytes, result *res) {
    enum { MAX_ROUNDS = 9 };
    int rounds = o->quick ? 7 : MAX_ROUNDS, steps = o->quick ? 32 : 64;
    double tps[MAX_ROUNDS], gbs[MAX_ROUNDS], pct[MAX_ROUNDS];
    bw_buffer bw = bw_create(r->pool, (size_t)1 << 30);
    for (int i = 0; i < rounds; i++) {
        double b0 = bw_sample(r->pool, &bw, false);
        tps[i] = bench_decode_one(r, PROMPT, steps);
        gbs[i] = (b0 + bw_sample(r->pool, &bw, false)) / 2;
        pct[i] = 100 * tps[i] * bytes / (gbs[i] * 1e9);
    }
    bw_free(&bw);
    res->decode_tps = bench_percentile(tps, rounds, 0.5);
    res->decode_bw = bench_percentile(gbs, rounds, 0.5);
    res->decode_pct = bench_percentile(pct, rounds, 0.5);
}

static void measure(const void *arg, void *out) {
    const job *jb = arg;
    const char *path = jb->path;
    const options *o = jb->o;
    result *res = out;
    char err[CT_ERRLEN];
    double t0 = ct_now();
    model *m = model_load(path, err);
    if (!m) {
        snprintf(res->err, sizeof res->err, "%s", err);
        return;
    }
    res->load_s = ct_now() - t0;
    res->rss_anon_gb = status_kb("RssAnon") / 1048576.0;
    res->rss_file_gb = status_kb("RssFile") / 1048576.0;
    res->rss_gb = status_kb("VmRSS") / 1048576.0;
    res->embd_gb = (double)m->tok_embd_row_bytes * m->cfg.vocab / 1e9;
    res->file_gb = file_gb(path);
    int positions = (PROMPT + (o->quick ? 16 : 64)) * BENCH_MAX_SEQS + PREFILL + BENCH_KV_BLOCK * BENCH_MAX_SEQS;
    bench_rig r;
    bench_rig_open(&r, m, o->threads, PREFILL, positions);
    bench_decode_one(&r, PROMPT, 4); /* warm-up: pages, caches, frequency */
    decode_rounds(&r, o, (res->file_gb - res->embd_gb) * 1e9, res);
    res->prefill_tps = bench_prefill(&r, PREFILL, o->quick ? 1 : 2);
    for (int i = 0; i < N_AGG; i++) res->agg_tps[i] = bench_decode_many(&r, AGG[i], PROMPT, o->quick ? 8 : 32);
    bench_rig_close(&r);
    model_free(m);
    res->ok = true;
}

/* ---- llama.cpp ------------------------------------------------------------------- */

/* llama-bench's mean t/s of test `name` ("pp512", "tg64") from its
 * markdown table; 0 if absent. */
static double llama_rate(const char *out, const char *name) {
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *t = strstr(l, name), *e = strchr(l, '\n');
        if (!t || (e && t > e)) continue;
        const char *bar = strchr(t, '|');
        if (bar) return atof(bar + 1);
    }
    return 0;
}

static void run_llama(const char *path, const options *o, result *res) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -t %d -p %d -n %d -r %d -o md 2>/dev/null", o->llama_bench, path,
             o->threads, PREFILL, o->quick ? 16 : 64, o->quick ? 1 : 3);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    pclose(f);
    char pp[16], tg[16];
    snprintf(pp, sizeof pp, "pp%d", PREFILL);
    snprintf(tg, sizeof tg, "tg%d", o->quick ? 16 : 64);
    res->lc_prefill = llama_rate(buf, pp);
    res->lc_decode = llama_rate(buf, tg);
}

/* ---- one (model, type) in a child ---------------------------------------------- */

static result bench_file(const char *path, const options *o) {
    result res = {0};
    job jb = {path, o};
    if (!bench_in_child(measure, &jb, &res, sizeof res)) snprintf(res.err, sizeof res.err, "the measuring process died");
    res.file_gb = file_gb(path);
    if (o->llama_bench && res.ok) run_llama(path, o, &res);
    return res;
}


/* ---- tables ------------------------------------------------------------------------ */

static void print_table(const bench_spec *s, const options *o, const uint32_t *types, const result *r, int n,
                        double bw) {
    printf("\n%s (dim %d, %d layers, ffn %d), %d threads, %s kernels; bandwidth %.1f GB/s\n", s->label, s->dim,
           s->n_layers, s->ffn_dim, o->threads, wm_kernel_name(wm_kernels()), bw);
    printf("| type | file GB | load s | RSS GB (anon + file) | RSS / file | decode tok/s | BW GB/s | %% of BW limit |"
           " llama.cpp tg | ratio | prefill %d tok/s | llama.cpp pp | ratio |", PREFILL);
    for (int i = 0; i < N_AGG; i++) printf(" agg x%d tok/s |", AGG[i]);
    printf("\n|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (int i = 0; i < N_AGG; i++) printf("---|");
    printf("\n");
    for (int k = 0; k < n; k++) {
        const result *x = &r[k];
        const char *name = bench_type_label(types[k]);
        if (!x->ok) {
            printf("| %s | %.3f | failed: %s |\n", name, x->file_gb, x->err);
            continue;
        }
        printf("| %s | %.3f | %.2f | %.3f (%.3f + %.3f) | %.2f | %.1f | %.1f | %.0f%% |", name, x->file_gb, x->load_s,
               x->rss_gb, x->rss_anon_gb, x->rss_file_gb, x->rss_gb * 1.073741824 / x->file_gb, x->decode_tps,
               x->decode_bw, x->decode_pct);
        if (x->lc_decode > 0)
            printf(" %.1f | %.2fx |", x->lc_decode, x->decode_tps / x->lc_decode);
        else
            printf(" - | - |");
        printf(" %.1f |", x->prefill_tps);
        if (x->lc_prefill > 0)
            printf(" %.1f | %.2fx |", x->lc_prefill, x->prefill_tps / x->lc_prefill);
        else
            printf(" - | - |");
        for (int i = 0; i < N_AGG; i++) printf(" %.1f |", x->agg_tps[i]);
        printf("\n");
    }
    printf("(RSS after the load, before the KV pool and scratch; decode: the median of %d rounds, each between two "
           "bandwidth probes (BW GB/s, median); %% of BW limit = a round's decode x bytes of matrices per token / its "
           "bandwidth, the median round)\n", o->quick ? 7 : 9);
}

/* ---- options ------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr, "usage: bench_quant [--threads N] [--models small|large|all] [--types f16,bf16,q8_0,q4_k_m,q4_0]\n"
                    "                   [--quick] [--cache-dir DIR] [--llama-bench PATH] [--gen-only]\n");
    exit(2);
}


static options parse(int argc, char **argv) {
    options o = {.threads = 2, .models = "all", .cache_dir = "bench-models", .llama_bench = getenv("CTGI_LLAMA_BENCH")};
    const char *types = "f16,bf16,q8_0,q4_k_m,q4_0";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--threads") && more) o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--models") && more) o.models = argv[++i];
        else if (!strcmp(a, "--types") && more) types = argv[++i];
        else if (!strcmp(a, "--cache-dir") && more) o.cache_dir = argv[++i];
        else if (!strcmp(a, "--llama-bench") && more) o.llama_bench = argv[++i];
        else if (!strcmp(a, "--quick")) o.quick = true;
        else if (!strcmp(a, "--gen-only")) o.gen_only = true;
        else usage();
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", types);
    for (char *t = strtok(buf, ","); t && o.n_types < 8; t = strtok(NULL, ","))
        if (!bench_type_parse(t, &o.types[o.n_types++])) bench_die("unknown type '%s'", t);
    if (o.threads < 1) usage();
    if (o.llama_bench && !*o.llama_bench) o.llama_bench = NULL;
    return o;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    pool *p = pool_create(o.threads, 0);
    bw_buffer bw = bw_create(p, (size_t)1 << 30);
    double bw_med, bw_best;
    bw_stats(p, &bw, false, o.quick ? 3 : 7, &bw_med, &bw_best);
    bw_free(&bw);
    pool_free(p);
    printf("bench_quant: memory bandwidth %.1f GB/s (median; best %.1f) with %d threads; kernels %s%s%s\n", bw_med,
           bw_best, o.threads, wm_kernel_name(wm_kernels()), o.llama_bench ? "; llama.cpp: " : "",
           o.llama_bench ? o.llama_bench : "");
    for (int si = 0; si < BENCH_N_SPECS; si++) {
        const bench_spec *s = &bench_specs[si];
        if (strcmp(o.models, "all") && strcmp(o.models, s->key)) continue;
        result r[8];
        for (int k = 0; k < o.n_types; k++) {
            char err[CT_ERRLEN];
            char *path = bench_model_ensure_type(s, o.types[k], o.cache_dir, err);
            if (!path) bench_die("%s", err);
            if (o.gen_only) {
                free(path);
                continue;
            }
            r[k] = bench_file(path, &o);
            printf("  %s %s: decode %.1f tok/s, prefill %.1f tok/s%s\n", s->label,
                   bench_type_label(o.types[k]), r[k].decode_tps, r[k].prefill_tps,
                   r[k].ok ? "" : " (failed)");
            free(path);
        }
        if (!o.gen_only) print_table(s, &o, o.types, r, o.n_types, bw_med);
    }
    return 0;
}
