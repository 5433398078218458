/*
 * bench_engine.c — engine benchmarks against the machine's own limits
 * (built as build/tools/bench_engine; driven by scripts/bench.sh / `make bench`).
 *
 *   bench_engine [--threads N] [--models small|large|all] [--quick]
 *                [--cache-dir DIR] [--gen-only] [--no-micro]
 *
 * It generates each bench model (a seeded random Llama, F32 GGUF, written by
 * tests/support/synth_model) into the cache directory (default bench-models/,
 * relative to the current directory) unless a file with the same config
 * stamp is there, then:
 *   1. machine: memory bandwidth as a multi-threaded read of a buffer far
 *      larger than the last-level cache, on the engine's pool;
 *   2. per model: the read rate over the model's own weights; the weight
 *      products at M=1 and M=512 on the model's real weights, split over the
 *      pool by output columns exactly as forward.c does (same grouping:
 *      q|k|v, o, gate|up, down, output head), with both of forward.c's
 *      kernels: the batch-invariant mm_packed (matmul.h) on the packed
 *      weights and BLAS (sgemv at M=1, sgemm at M=512) on a row-major copy;
 *   3. the engine through model_load/fwd_eval, once per matmul mode
 *      (FWD_MM_INVARIANT, FWD_MM_BLAS): prefill = one fwd_eval over a
 *      512-token prompt (logits for the last row), best of a few runs, each
 *      preceded by one M=512 sweep of the mode's kernel (and of sgemm, the
 *      ceiling); decode = tokens one at a time after a
 *      16-token prompt, in rounds of DECODE_ROUND with a bandwidth sample
 *      between rounds.  The host's bandwidth (and to a lesser degree its
 *      compute) drifts by tens of percent, so every ceiling is sampled in the
 *      same time window as the engine number it is compared with;
 *   4. the tables, one row per model and mode: decode against bandwidth /
 *      bytes read per token, prefill against the sgemm rate, plus how much
 *      CPU other processes used.
 *
 * Nothing here asserts a time: the tables are for people.
 */
#include <cblas.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "engine.h"
#include "model/dtype.h"
#include "model/forward.h"
#include "kv.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "pool.h"
#include "support/bench_bw.h"
#include "support/bench_models.h"
#include "support/bench_util.h"
#include "support/synth_model.h"
#include "support/testutil.h"

/* ---- configuration ------------------------------------------------------------ */

/* the models: tests/support/bench_models.h */
#define PREFILL_T 512
#define DECODE_PROMPT 16
/* The KV cache's element type: the engine's default (engine.h). */
#define BENCH_KV ((kv_dtype)engine_config_default().kv_dtype)

typedef struct {
    int threads;
    bool want[BENCH_N_SPECS];
    bool quick;
    bool gen_only;
    bool micro; /* sgemm/sgemv microbenchmarks */
    const char *cache_dir;
} options;

/* ---- small helpers -------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rng_float(void) { return (float)((rng_next() >> 40) * (1.0 / (1 << 24))) * 2.0f - 1.0f; }

static void *xaligned(size_t bytes) {
    size_t al = 2u << 20;
    void *p = aligned_alloc(al, (bytes + al - 1) / al * al);
    if (!p) bench_die("out of memory (%zu bytes)", bytes);
    return p;
}

/* ---- 1. model generation (tests/support/bench_models.c) ------------------------ */

static char *ensure_model(const bench_spec *s, const options *o) {
    char err[CT_ERRLEN] = "";
    char *path = bench_model_ensure(s, o->cache_dir, err);
    if (!path) bench_die("%s", err);
    return path;
}

/* ---- machine noise: CPU used by other processes and stolen by the host --------- */

typedef struct {
    unsigned long long busy, total, steal; /* jiffies, all CPUs */
    double own;                            /* seconds of this process's CPU */
} cpu_snap;

static cpu_snap cpu_now(void) {
    cpu_snap s = {0};
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
            s.total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
            s.busy = s.total - v[3] - v[4];
            s.steal = v[7];
        }
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s.own = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    return s;
}

/* Share of the machine's CPU time used by others (and stolen) since `a`. */
static void cpu_noise(cpu_snap a, double *other_pct, double *steal_pct) {
    cpu_snap b = cpu_now();
    double hz = (double)sysconf(_SC_CLK_TCK), total = (double)(b.total - a.total);
    *other_pct = *steal_pct = 0;
    if (total <= 0) return;
    double other = (double)(b.busy - a.busy) - (b.own - a.own) * hz - (double)(b.steal - a.steal);
    *other_pct = other > 0 ? 100 * other / total : 0;
    *steal_pct = 100 * (double)(b.steal - a.steal) / total;
}

/* ---- the model's weights, grouped as forward.c multiplies them ----------------- */

typedef struct {
    const float *w; /* (N, K) packed, as the engine holds F32 weights (matmul.h) */
    int N, K;
    float *rm;      /* the same matrix row-major, for the BLAS microbenchmark */
} fmat;

enum { G_QKV, G_O, G_GATE_UP, G_DOWN, G_OUT, N_GROUPS };
static const char *GROUP_NAME[N_GROUPS] = {"q|k|v", "o", "gate|up", "down", "output"};

typedef struct {
    int group;
    int n;
    fmat m[3];
} wstep;

typedef struct {
    wstep *steps;
    int n_steps;
    double matmul_params_layers; /* all layers' matmul weights */
    double bytes_per_token;      /* decode weight bytes (no KV) */
} wplan;

/* The packed floats of an F32 matrix (the bench models are F32). */
static const float *f32_panels(wmat w) {
    if (w.type != DT_F32) bench_die("bench_engine measures F32 models (matmul.h); this matrix is %s", dt_name(w.type));
    return (const float *)w.data;
}

static wplan make_plan(const model *m) {
    const model_config *c = &m->cfg;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    wplan pl = {0};
    pl.steps = calloc((size_t)c->n_layers * 4 + 1, sizeof(wstep));
    if (!pl.steps) bench_die("out of memory");
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        pl.steps[pl.n_steps++] =
            (wstep){G_QKV, 3, {{f32_panels(w->wq), qd, c->dim, NULL}, {f32_panels(w->wk), kvd, c->dim, NULL}, {f32_panels(w->wv), kvd, c->dim, NULL}}};
        pl.steps[pl.n_steps++] = (wstep){G_O, 1, {{f32_panels(w->wo), c->dim, qd, NULL}}};
        pl.steps[pl.n_steps++] =
            (wstep){G_GATE_UP, 2, {{f32_panels(w->w_gate), c->ffn_dim, c->dim, NULL}, {f32_panels(w->w_up), c->ffn_dim, c->dim, NULL}}};
        pl.steps[pl.n_steps++] = (wstep){G_DOWN, 1, {{f32_panels(w->w_down), c->dim, c->ffn_dim, NULL}}};
    }
    pl.steps[pl.n_steps++] = (wstep){G_OUT, 1, {{f32_panels(m->output), c->vocab, c->dim, NULL}}};
    /* sgemm/sgemv want row-major weights: a copy for the microbenchmark
     * (the engine's BLAS mode unpacks chunks per call instead) */
    for (int i = 0; i < pl.n_steps; i++)
        for (int k = 0; k < pl.steps[i].n; k++) {
            fmat *w = &pl.steps[i].m[k];
            if (!(w->rm = malloc((size_t)w->N * w->K * sizeof(float)))) bench_die("out of memory");
            mm_unpack_rows(w->w, w->N, w->K, 0, w->N, w->rm);
        }
    double per_layer = (double)qd * c->dim * 2 + 2.0 * kvd * c->dim + 3.0 * c->ffn_dim * c->dim;
    pl.matmul_params_layers = per_layer * c->n_layers;
    /* decode reads: every matrix, the two norms per layer, final norm, output
     * head, one embedding row (biases: none in llama) */
    pl.bytes_per_token = 4.0 * (pl.matmul_params_layers + 2.0 * c->dim * c->n_layers + c->dim +
                                (double)c->vocab * c->dim + c->dim);
    return pl;
}

/* ---- 3. the weight products on the model's shapes, split like forward.c --------- */

/* forward.c's rule: rows at or below this go through sgemv per row. */
#define GEMV_MAX_ROWS 2

typedef struct {
    const wstep *s;
    const float *in; /* (T, K) */
    float *out;      /* (T, N) of matrix i at out + i * out_stride */
    size_t out_stride;
    int T;
    fwd_matmul mode; /* mm_packed, or BLAS sgemm/sgemv on the row-major copy */
} mm_job;

static void mm_task(void *arg, int ith, int nth) {
    const mm_job *j = arg;
    for (int i = 0; i < j->s->n; i++) {
        const fmat *m = &j->s->m[i];
        float *out = j->out + (size_t)i * j->out_stride;
        int b, e;
        pool_range((m->N + MM_PANEL - 1) / MM_PANEL, ith, nth, &b, &e); /* whole panels, as forward.c */
        b *= MM_PANEL;
        e = e * MM_PANEL < m->N ? e * MM_PANEL : m->N;
        if (b >= e) continue;
        if (j->mode == FWD_MM_INVARIANT) {
            mm_packed(j->in, j->T, m->K, m->w, m->N, b, e, NULL, out, m->N);
            continue;
        }
        const float *w = m->rm + (size_t)b * m->K;
        if (j->T <= GEMV_MAX_ROWS) {
            for (int t = 0; t < j->T; t++)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, e - b, m->K, 1.0f, w, m->K, j->in + (size_t)t * m->K, 1,
                            0.0f, out + (size_t)t * m->N + b, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, e - b, m->K, 1.0f, j->in, m->K, w, m->K, 0.0f,
                        out + b, m->N);
        }
    }
}

typedef struct {
    double t[N_GROUPS];     /* seconds per full sweep, by group */
    double flops[N_GROUPS];
    double bytes[N_GROUPS];
    double total;           /* seconds, all groups */
} mm_result;

/* Sweeps every step of the plan `reps` times at T rows (the output head at
 * out_T rows) with the mode's kernel; keeps the best sweep. */
static mm_result measure_matmuls(pool *p, const wplan *pl, int T, int out_T, int reps, fwd_matmul mode) {
    int maxK = 0;
    size_t stride = 0; /* the largest output of one product */
    for (int i = 0; i < pl->n_steps; i++)
        for (int k = 0; k < pl->steps[i].n; k++) {
            size_t rows = pl->steps[i].group == G_OUT ? (size_t)out_T : (size_t)T;
            if (pl->steps[i].m[k].K > maxK) maxK = pl->steps[i].m[k].K;
            if (rows * pl->steps[i].m[k].N > stride) stride = rows * pl->steps[i].m[k].N;
        }
    float *in = xaligned((size_t)T * maxK * sizeof(float));
    float *out = xaligned(3 * stride * sizeof(float));
    for (size_t i = 0; i < (size_t)T * maxK; i++) in[i] = rng_float();
    memset(out, 0, 3 * stride * sizeof(float));

    mm_result best = {.total = 1e30};
    for (int r = 0; r < reps; r++) {
        mm_result cur = {0};
        for (int i = 0; i < pl->n_steps; i++) {
            const wstep *s = &pl->steps[i];
            int rows = s->group == G_OUT ? out_T : T;
            mm_job j = {s, in, out, stride, rows, mode};
            double t0 = ct_now();
            pool_run(p, mm_task, &j);
            double t = ct_now() - t0;
            cur.t[s->group] += t;
            cur.total += t;
            for (int k = 0; k < s->n; k++) {
                cur.flops[s->group] += 2.0 * rows * s->m[k].N * (double)s->m[k].K;
                cur.bytes[s->group] += 4.0 * s->m[k].N * (double)s->m[k].K;
            }
        }
        if (cur.total < best.total) best = cur;
    }
    free(in);
    free(out);
    return best;
}

/* Read bandwidth over the model's weight matrices (as they sit in memory:
 * file-backed pages for mapped F32 tensors). */
static double measure_weight_read(pool *p, const wplan *pl, int reps) {
    double best = 1e30, bytes = 0;
    read_job *j = calloc(1, sizeof *j);
    if (!j) bench_die("out of memory");
    for (int r = 0; r < reps; r++) {
        double t0 = ct_now();
        bytes = 0;
        for (int i = 0; i < pl->n_steps; i++)
            for (int k = 0; k < pl->steps[i].n; k++) {
                j->p = pl->steps[i].m[k].w;
                j->n = (size_t)pl->steps[i].m[k].N * pl->steps[i].m[k].K;
                pool_run(p, bw_read_task, j);
                bytes += 4.0 * (double)j->n;
            }
        double t = ct_now() - t0;
        if (t < best) best = t;
    }
    free(j);
    return bytes / best / 1e9;
}

/* ---- 4. prefill and decode through the engine ----------------------------------- */

#define DECODE_ROUND 8 /* decode tokens between two bandwidth samples */

typedef struct {
    double prefill_s;      /* best fwd_eval of PREFILL_T tokens */
    double prefill_worst;
    int prefill_runs;
    double decode_s;       /* all decode steps of all runs */
    int decode_tokens;
    double decode_step_median;
    double bw_median, bw_min, bw_max; /* bandwidth samples taken between decode rounds */
    int bw_samples;
} engine_result;

static int32_t argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* One sequence's batch b (positions ascending) through the paged cache:
 * reserve its blocks, run, mark computed.  ids = the sequence's tokens. */
static void eval_or_die(fwd_ctx *f, kv_pool *kv, kv_seq *s, const int32_t *ids, fwd_batch *b, float *logits,
                        const char *what) {
    const kv_seq *seqs[1] = {s};
    int end = b->pos[b->n - 1] + 1;
    b->seqs = seqs;
    if (!kv_seq_reserve(kv, s, end) || !fwd_eval(f, kv_pool_store(kv), b, logits)) bench_die("fwd_eval failed (%s)", what);
    kv_seq_commit(kv, s, ids, end);
    b->seqs = NULL;
}

/* Prefill: PREFILL_T tokens in one call (logits for the last row), best of
 * prefill_runs, each run preceded by before_prefill (if any: the sgemm sweep,
 * so the ceiling is sampled in the same time window as the engine).
 * Decode: decode_runs x (a DECODE_PROMPT-token prompt, then decode_steps
 * greedy tokens one call each), in rounds of DECODE_ROUND tokens with a
 * bandwidth sample before the first round and after every round. */
static engine_result run_engine(const model *m, fwd_matmul mode, pool *p, bw_buffer *bw, int prefill_runs,
                                int decode_steps, int decode_runs, void (*before_prefill)(void *), void *hook_arg) {
    const model_config *c = &m->cfg;
    engine_result r = {.prefill_s = 1e30, .prefill_runs = prefill_runs};
    int cap = PREFILL_T > DECODE_PROMPT + decode_steps ? PREFILL_T : DECODE_PROMPT + decode_steps;
    /* blocks of 16 positions for one sequence of cap positions, no prefix
     * caching, the engine's default KV type */
    kv_pool *kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, 16, (cap + 15) / 16, BENCH_KV, false);
    kv_seq ks;
    kv_seq_init(&ks);
    fwd_ctx *f = fwd_create(m, p, PREFILL_T);
    if (!kv || !f) bench_die("out of memory creating the kv cache / forward context");
    fwd_set_matmul(f, mode);
    float *logits = malloc((size_t)c->vocab * sizeof(float));
    int32_t *tok = malloc((size_t)cap * sizeof(int32_t));
    int *pos = malloc(PREFILL_T * sizeof(int)), *seq = calloc(PREFILL_T, sizeof(int));
    bool *want = calloc(PREFILL_T, sizeof(bool));
    double *steps = malloc((size_t)decode_steps * decode_runs * sizeof(double));
    double *bws = malloc(((size_t)decode_steps / DECODE_ROUND + 2) * decode_runs * sizeof(double));
    if (!bws || !logits || !tok || !pos || !seq || !want || !steps) bench_die("out of memory");
    for (int t = 0; t < PREFILL_T; t++) {
        tok[t] = 3 + (int32_t)(rng_next() % (uint64_t)(c->vocab - 3));
        pos[t] = t;
    }

    want[PREFILL_T - 1] = true;
    fwd_batch b = {.tokens = tok, .pos = pos, .seq = seq, .n = PREFILL_T, .want_logits = want};
    for (int i = 0; i < prefill_runs; i++) {
        if (before_prefill) before_prefill(hook_arg);
        double t0 = ct_now();
        eval_or_die(f, kv, &ks, tok, &b, logits, "prefill");
        double t = ct_now() - t0;
        if (t < r.prefill_s) r.prefill_s = t;
        if (t > r.prefill_worst) r.prefill_worst = t;
    }

    for (int run = 0; run < decode_runs; run++) {
        memset(want, 0, PREFILL_T * sizeof(bool));
        want[DECODE_PROMPT - 1] = true;
        fwd_batch pb = {.tokens = tok, .pos = pos, .seq = seq, .n = DECODE_PROMPT, .want_logits = want};
        eval_or_die(f, kv, &ks, tok, &pb, logits, "decode prompt");
        for (int s = 0; s < decode_steps; s++) {
            if (s % DECODE_ROUND == 0) bws[r.bw_samples++] = bw_sample(p, bw, false);
            int32_t next = argmax(logits, c->vocab);
            int ps = DECODE_PROMPT + s, sq = 0;
            tok[ps] = next; /* past the decode prompt: the prefill tokens are not reused */
            fwd_batch db = {.tokens = &next, .pos = &ps, .seq = &sq, .n = 1};
            double t0 = ct_now();
            eval_or_die(f, kv, &ks, tok, &db, logits, "decode");
            double t = ct_now() - t0;
            r.decode_s += t;
            steps[r.decode_tokens++] = t;
        }
    }
    bws[r.bw_samples++] = bw_sample(p, bw, false);
    r.bw_median = bench_percentile(bws, r.bw_samples, 0.5); /* sorts bws */
    r.bw_min = bws[0];
    r.bw_max = bws[r.bw_samples - 1];
    r.decode_step_median = bench_percentile(steps, r.decode_tokens, 0.5);

    free(steps);
    free(bws);
    free(logits);
    free(tok);
    free(pos);
    free(seq);
    free(want);
    fwd_free(f);
    kv_seq_release(kv, &ks);
    kv_pool_free(kv);
    return r;
}

/* ---- 5. report -------------------------------------------------------------------- */

/* Both of forward.c's matmul modes, indexed by fwd_matmul. */
enum { N_MODES = 2 };
static const char *MODE_NAME[N_MODES] = {"inv", "blas"};

typedef struct {
    engine_result er;
    double decode_tps, decode_roof, prefill_tps;
    mm_result m512, m1;   /* best M=512 / M=1 sweeps of the mode's kernel */
    double kernel_gflops; /* the M=512 sweep's layer products */
    double kernel_tps;    /* tok/s if a token cost only the M=1 sweep */
} mode_report;

typedef struct {
    const bench_spec *spec;
    double params, bytes_tok, kv_bytes_tok, weight_read_gbs;
    double attn_flops_tok, mm_flops_tok;
    double prefill_ceiling; /* from sgemm's rate: mode[FWD_MM_BLAS].kernel_gflops */
    mode_report mode[N_MODES];
    bool micro;
    double other_pct, steal_pct;
} model_report;

static void print_group_table(const model_report *r) {
    const mode_report *iv = &r->mode[FWD_MM_INVARIANT], *bl = &r->mode[FWD_MM_BLAS];
    printf("  matmul microbenchmark (the model's weights, split by N over the pool as forward.c does;\n"
           "  M=512: best sweep, one before each prefill run (sgemm: of both modes); M=1: best of a few sweeps;\n"
           "  inv = mm_packed, blas = sgemm at M=512 / sgemv at M=1 on a row-major copy):\n");
    printf("    %-8s | %8s %7s %8s %7s | %7s %6s %7s %6s\n", "group", "inv ms", "GF/s", "blas ms", "GF/s", "inv ms",
           "GB/s", "blas ms", "GB/s");
    printf("    %-8s | %8s %7s %8s %7s | %7s %6s %7s %6s\n", "", "M=512", "", "M=512", "", "M=1", "", "M=1", "");
    for (int g = 0; g < N_GROUPS; g++) {
        char big[64] = "   (M=1: prefill wants one row)";
        if (g != G_OUT)
            snprintf(big, sizeof big, "%8.1f %7.1f %8.1f %7.1f", iv->m512.t[g] * 1e3,
                     iv->m512.flops[g] / iv->m512.t[g] / 1e9, bl->m512.t[g] * 1e3,
                     bl->m512.flops[g] / bl->m512.t[g] / 1e9);
        printf("    %-8s | %-33s | %7.2f %6.1f %7.2f %6.1f\n", GROUP_NAME[g], big, iv->m1.t[g] * 1e3,
               iv->m1.bytes[g] / iv->m1.t[g] / 1e9, bl->m1.t[g] * 1e3, bl->m1.bytes[g] / bl->m1.t[g] / 1e9);
    }
    printf("    %-8s | %8.1f %7.1f %8.1f %7.1f | %7.2f %6.1f %7.2f %6.1f\n", "all", iv->m512.total * 1e3,
           iv->kernel_gflops, bl->m512.total * 1e3, bl->kernel_gflops, iv->m1.total * 1e3,
           r->bytes_tok / iv->m1.total / 1e9, bl->m1.total * 1e3, r->bytes_tok / bl->m1.total / 1e9);
}

typedef struct {
    model_report *r;
    pool *p;
    const wplan *pl;
    fwd_matmul mode;
} gemm_hook;

/* One M=PREFILL_T sweep of the model's products with kernel `mode`; keeps
 * the fastest. */
static void sweep_into(gemm_hook *h, fwd_matmul mode) {
    mode_report *mr = &h->r->mode[mode];
    mm_result cur = measure_matmuls(h->p, h->pl, PREFILL_T, 1, 1, mode);
    if (mr->m512.total == 0 || cur.total < mr->m512.total) mr->m512 = cur;
}

/* Before each prefill run: a sweep with the mode's kernel, and in
 * INVARIANT mode one of sgemm too, so the sgemm ceiling is also sampled in
 * the invariant runs' time window (the host drifts). */
static void gemm_sweep(void *arg) {
    gemm_hook *h = arg;
    sweep_into(h, h->mode);
    if (h->mode != FWD_MM_BLAS) sweep_into(h, FWD_MM_BLAS);
}

/* The engine in one matmul mode: kernel sweeps, prefill, decode, and the
 * numbers derived from them. */
static void bench_mode(model_report *r, const model *m, const wplan *pl, fwd_matmul mode, pool *p, bw_buffer *bw,
                       const options *o) {
    const model_config *c = &m->cfg;
    mode_report *mr = &r->mode[mode];
    if (o->micro) mr->m1 = measure_matmuls(p, pl, 1, 1, o->quick ? 2 : 4, mode);
    int dsteps = o->quick ? 16 : 64, druns = o->quick ? 1 : 2;
    gemm_hook hook = {r, p, pl, mode};
    mr->er = run_engine(m, mode, p, bw, o->quick ? 1 : 3, dsteps, druns, o->micro ? gemm_sweep : NULL, &hook);
    if (o->micro) mr->kernel_tps = 1.0 / mr->m1.total;
    const engine_result *er = &mr->er;
    mr->prefill_tps = PREFILL_T / er->prefill_s;
    mr->decode_tps = er->decode_tokens / er->decode_s;
    /* KV read per decode token: k and v rows of positions 0..pos in every
     * layer, mean over the steps (positions DECODE_PROMPT .. +dsteps-1) */
    r->kv_bytes_tok = (double)kv_position_bytes(c->n_layers, c->n_kv_heads * c->head_dim, BENCH_KV) *
                      (DECODE_PROMPT + (dsteps + 1) / 2.0);
    mr->decode_roof = er->bw_median * 1e9 / (r->bytes_tok + r->kv_bytes_tok);
    printf("  %-4s prefill %d tokens in one call: best %.0f ms, worst %.0f ms of %d\n", MODE_NAME[mode], PREFILL_T,
           er->prefill_s * 1e3, er->prefill_worst * 1e3, er->prefill_runs);
    printf("  %-4s decode  %d x %d tokens after a %d-token prompt: %.1f ms/token mean, %.1f median; bandwidth "
           "between rounds %.1f GB/s median (%.1f-%.1f, %d samples)\n",
           MODE_NAME[mode], druns, dsteps, DECODE_PROMPT, er->decode_s * 1e3 / er->decode_tokens,
           er->decode_step_median * 1e3, er->bw_median, er->bw_min, er->bw_max, er->bw_samples);
}

static void bench_model(model_report *r, const bench_spec *spec, const char *path, pool *p, bw_buffer *bw,
                        const options *o) {
    r->spec = spec;
    r->micro = o->micro;
    printf("\n== %s: %s\n", spec->label, path);
    cpu_snap snap = cpu_now();
    char err[CT_ERRLEN] = "";
    double t0 = ct_now();
    model *m = model_load(path, err);
    if (!m) bench_die("model_load: %s", err);
    const model_config *c = &m->cfg;
    printf("  loaded in %.2f s: dim %d, %d layers, %d heads, %d kv heads, head_dim %d, ffn %d, vocab %d\n",
           ct_now() - t0, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn_dim, c->vocab);
    wplan pl = make_plan(m);
    int qd = c->n_heads * c->head_dim;
    /* counted from the shapes (model->n_params counts converted tensors only) */
    r->params = pl.matmul_params_layers + (c->tied_output ? 1.0 : 2.0) * c->vocab * c->dim +
                (2.0 * c->n_layers + 1) * c->dim;
    r->bytes_tok = pl.bytes_per_token;

    /* first touch of the mapped weights, then their read rate */
    measure_weight_read(p, &pl, 1);
    r->weight_read_gbs = measure_weight_read(p, &pl, o->quick ? 2 : 3);
    printf("  weight read  %.1f GB/s over the model's %.2f GB of matrices (pages as loaded)\n", r->weight_read_gbs,
           (pl.matmul_params_layers + (double)c->vocab * c->dim) * 4 / 1e9);

    /* matmul FLOPs per prefill token: every layer matrix, plus the output
     * head once per prompt (only the last row wants logits) */
    r->mm_flops_tok = 2.0 * pl.matmul_params_layers + 2.0 * c->vocab * c->dim / PREFILL_T;
    /* causal attention: the token at position p does q.k and w.v over p+1
     * positions per head, 4 * qd * (p+1) FLOPs per layer; mean p+1 = (T+1)/2 */
    r->attn_flops_tok = 2.0 * qd * (PREFILL_T + 1) * c->n_layers;

    bench_mode(r, m, &pl, FWD_MM_INVARIANT, p, bw, o);
    bench_mode(r, m, &pl, FWD_MM_BLAS, p, bw, o);
    for (int md = 0; md < N_MODES && o->micro; md++) { /* the layers' products of the best M=512 sweep */
        const mm_result *s = &r->mode[md].m512;
        double layer_f = 0;
        for (int g = 0; g < G_OUT; g++) layer_f += s->flops[g];
        r->mode[md].kernel_gflops = layer_f / (s->total - s->t[G_OUT]) / 1e9;
    }
    if (o->micro) {
        r->prefill_ceiling = r->mode[FWD_MM_BLAS].kernel_gflops * 1e9 / (r->mm_flops_tok + r->attn_flops_tok);
        print_group_table(r);
    }
    cpu_noise(snap, &r->other_pct, &r->steal_pct);
    printf("  noise        other processes used %.1f%% of the CPUs, host steal %.1f%%%s\n", r->other_pct, r->steal_pct,
           r->other_pct + r->steal_pct > 5 ? "  (WARNING: numbers disturbed)" : "");
    for (int i = 0; i < pl.n_steps; i++)
        for (int k = 0; k < pl.steps[i].n; k++) free(pl.steps[i].m[k].rm);
    free(pl.steps);
    model_free(m);
}

static void print_decode_table(const model_report *rep, int threads) {
    printf("\n== decode, single stream, threads=%d: roofline = bandwidth / bytes read per token (target >= 85%%)\n",
           threads);
    printf("%-10s %7s %11s %8s | %8s %8s %10s %7s | %11s %7s\n", "model", "params", "weights/tk", "KV/tk", "BW GB/s",
           "tok/s", "roof tok/s", "% roof", "kernel-only", "% kern");
    for (int s = 0; s < BENCH_N_SPECS; s++) {
        const model_report *r = &rep[s];
        if (!r->spec) continue;
        for (int md = 0; md < N_MODES; md++) {
            const mode_report *mr = &r->mode[md];
            char label[32], kv[32] = "-", kvp[32] = "-";
            snprintf(label, sizeof label, "%s %s", r->spec->label, MODE_NAME[md]);
            if (r->micro) {
                snprintf(kv, sizeof kv, "%.2f", mr->kernel_tps);
                snprintf(kvp, sizeof kvp, "%.0f%%", 100 * mr->decode_tps / mr->kernel_tps);
            }
            printf("%-10s %6.0fM %8.1f MB %5.2f MB | %8.1f %8.2f %10.2f %6.1f%% | %11s %7s\n", label, r->params / 1e6,
                   r->bytes_tok / 1e6, r->kv_bytes_tok / 1e6, mr->er.bw_median, mr->decode_tps, mr->decode_roof,
                   100 * mr->decode_tps / mr->decode_roof, kv, kvp);
        }
    }
    printf("  inv: FWD_MM_INVARIANT (mm_packed, batch-invariant); blas: FWD_MM_BLAS (the packed kernel at 1-2 rows).\n"
           "  weights/tk: every matrix incl. output head, the embedding row and norms (F32); KV/tk: mean k+v read\n"
           "  (the engine's default KV type).\n"
           "  BW: median of read-bandwidth samples taken between that mode's decode rounds (the host drifts).\n"
           "  kernel-only: tok/s if a token cost only the mode's split M=1 matmul sweep over the same weights.\n");
}

static void print_prefill_table(const model_report *rep, int threads) {
    printf("\n== prefill, %d-token prompt in one fwd_eval, threads=%d: ceiling from the sgemm rate (target >= 70%%)\n",
           PREFILL_T, threads);
    printf("%-10s %9s %8s | %11s %10s | %8s %10s %7s | %10s %9s\n", "model", "GFLOP/tk", "attn/tk", "kernel GF/s",
           "sgemm GF/s", "tok/s", "ceil tok/s", "% ceil", "matmul ms", "other ms");
    for (int s = 0; s < BENCH_N_SPECS; s++) {
        const model_report *r = &rep[s];
        if (!r->spec) continue;
        for (int md = 0; md < N_MODES; md++) {
            const mode_report *mr = &r->mode[md];
            char label[32];
            snprintf(label, sizeof label, "%s %s", r->spec->label, MODE_NAME[md]);
            if (r->micro)
                printf("%-10s %9.3f %8.4f | %11.1f %10.1f | %8.1f %10.1f %6.1f%% | %10.0f %9.0f\n", label,
                       r->mm_flops_tok / 1e9, r->attn_flops_tok / 1e9, mr->kernel_gflops,
                       r->mode[FWD_MM_BLAS].kernel_gflops, mr->prefill_tps, r->prefill_ceiling,
                       100 * mr->prefill_tps / r->prefill_ceiling, mr->m512.total * 1e3,
                       mr->er.prefill_s * 1e3 - mr->m512.total * 1e3);
            else
                printf("%-10s %9.3f %8.4f | %11s %10s | %8.1f %10s %7s | %10s %9s\n", label, r->mm_flops_tok / 1e9,
                       r->attn_flops_tok / 1e9, "-", "-", mr->prefill_tps, "-", "-", "-", "-");
        }
    }
    printf("  GFLOP/tk: 2 x layer matmul params + output head / %d; attn/tk: causal q.k and w.v, mean over the\n"
           "  prompt.  kernel GF/s: the mode's M=%d sweep (mm_packed or sgemm) on the model's shapes, engine split.\n"
           "  ceiling = sgemm GFLOP/s / (GFLOP/tk + attn/tk), for both modes.\n"
           "  matmul ms: the prefill's products alone with the mode's kernel (microbenchmark); other ms =\n"
           "  prefill - matmul ms (attention, norms, RoPE, SwiGLU, pool hand-offs).\n",
           PREFILL_T, PREFILL_T);
}

static void print_tables(const model_report *rep, int threads) {
    print_decode_table(rep, threads);
    print_prefill_table(rep, threads);
    printf("\n  for orientation, llama.cpp (F32 TinyLlama shape, 2 cores ~27 GB/s): prefill ~78 tok/s, "
           "decode ~6.5 tok/s\n");
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_engine [--threads N] [--models small|large|all] [--quick]\n"
            "                    [--cache-dir DIR] [--gen-only] [--no-micro]\n"
            "  --threads N    pool threads (default: all online cores)\n"
            "  --models M     small (110M), large (1.1B TinyLlama shape) or all (default)\n"
            "  --quick        fewer repetitions, smaller bandwidth buffer, 16 decode steps\n"
            "  --cache-dir D  where generated models are kept (default bench-models)\n"
            "  --gen-only     only generate the models\n"
            "  --no-micro     skip the sgemm/sgemv microbenchmarks (no ceilings)\n");
    exit(2);
}

static options parse(int argc, char **argv) {
    options o = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = ncpu > 0 ? (int)ncpu : 1;
    o.cache_dir = "bench-models";
    o.micro = true;
    for (int i = 0; i < BENCH_N_SPECS; i++) o.want[i] = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--threads") && i + 1 < argc) {
            o.threads = atoi(argv[++i]);
            if (o.threads < 1) usage();
        } else if (!strcmp(a, "--models") && i + 1 < argc) {
            const char *v = argv[++i];
            bool all = !strcmp(v, "all"), any = all;
            for (int s = 0; s < BENCH_N_SPECS; s++) {
                o.want[s] = all || !strcmp(v, bench_specs[s].key);
                any |= o.want[s];
            }
            if (!any) usage();
        } else if (!strcmp(a, "--quick")) {
            o.quick = true;
        } else if (!strcmp(a, "--cache-dir") && i + 1 < argc) {
            o.cache_dir = argv[++i];
        } else if (!strcmp(a, "--gen-only")) {
            o.gen_only = true;
        } else if (!strcmp(a, "--no-micro")) {
            o.micro = false;
        } else {
            usage();
        }
    }
    return o;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* the pool owns the cores: BLAS runs single-threaded inside pool tasks */
    openblas_set_num_threads(1);

    printf("== models (cache: %s)\n", o.cache_dir);
    char *paths[BENCH_N_SPECS] = {0};
    for (int s = 0; s < BENCH_N_SPECS; s++)
        if (o.want[s]) paths[s] = ensure_model(&bench_specs[s], &o);
    if (o.gen_only) return 0;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("\n== machine\n");
    printf("  threads      %d (online cores %ld)%s\n", o.threads, ncpu,
           o.threads > ncpu ? "  WARNING: more threads than cores" : "");
    printf("  openblas     core %s; %s; parallel=%d (0 serial, 1 pthreads, 2 openmp), called 1-threaded\n",
           openblas_get_corename(), openblas_get_config(), openblas_get_parallel());
    pool *p = pool_create(o.threads, 0);
    if (!p) bench_die("pool_create failed");

    size_t bw_bytes = (o.quick ? (size_t)512 : (size_t)1024) << 20;
    int passes = o.quick ? 3 : 6;
    bw_buffer bw = bw_create(p, bw_bytes);
    double all_med, all_best, one_med, one_best;
    bw_stats(p, &bw, false, passes, &all_med, &all_best);
    bw_stats(p, &bw, true, (passes + 1) / 2, &one_med, &one_best);
    printf("  bandwidth    %.1f GB/s with %d threads (best %.1f), %.1f GB/s with 1 (best %.1f): median of %d reads of "
           "a %zu MiB buffer;\n               the decode rooflines use samples taken between decode rounds instead\n",
           all_med, pool_size(p), all_best, one_med, one_best, passes, bw_bytes >> 20);

    model_report rep[BENCH_N_SPECS];
    memset(rep, 0, sizeof rep);
    for (int s = 0; s < BENCH_N_SPECS; s++)
        if (o.want[s]) bench_model(&rep[s], &bench_specs[s], paths[s], p, &bw, &o);
    print_tables(rep, pool_size(p));

    for (int s = 0; s < BENCH_N_SPECS; s++) free(paths[s]);
    bw_free(&bw);
    pool_free(p);
    return 0;
}
