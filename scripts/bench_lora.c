/*
 * bench_lora.c — what serving LoRA adapters costs beside the base model
 * (built as build/tools/bench_lora; run by scripts/bench.sh / `make bench`).
 *
 *   bench_lora [--threads N] [--models small|large|all] [--type q4_k_m] [--rank R]
 *              [--adapter-type F16|BF16|F32] [--steps N] [--rounds R] [--quick] [--cache-dir DIR]
 *
 * On a bench model (bench_models.h: the 110M and the TinyLlama-shaped 1.1B
 * llama, default in Q4_K_M) with three seeded adapters of rank R (default
 * 16, F16 tensors as convert_lora_to_gguf.py writes by default) on all seven projections (q k v o gate up down, as PEFT's
 * "all-linear" adapts a llama), written as GGUF LoRA files and loaded as
 * `ctgi serve --lora-adapters` loads them, the forward pass is driven
 * directly (bench_rig.h) and timed for:
 *   - one stream: the base alone, then through one adapter;
 *   - 16 streams decoding in lockstep: all on the base; all on one
 *     adapter; 4 on each of three adapters and 4 on the base (the mixed
 *     batch TGI's multi-LoRA serving is about).
 * Each row runs `rounds` times, alternating with the base row, and the
 * table gives the median tokens per second and the ratio to the base, next
 * to the bytes an adapted step reads beyond the base's weights (the
 * adapters' pairs, held in their file's type) as a share of the base's: the floor of what an
 * adapter costs when decode is bound by reading weights.  Nothing is
 * asserted: the table is for people.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "model/dtype.h"
#include "kernels/wmat.h"
#include "model/model.h"
#include "pool.h"
#include "support/bench_models.h"
#include "support/bench_rig.h"
#include "support/bench_util.h"
#include "support/lora_write.h"
#include "support/testutil.h"

#define PROMPT 16
#define N_ADAPTERS 3
#define STREAMS 16

typedef struct {
    int threads, rank, steps, rounds;
    const char *models; /* small | large | all */
    uint32_t type;
    const char *adapter_type; /* the adapters' tensors: F16 (convert_lora_to_gguf.py's default), BF16 or F32 */
    const char *cache_dir;
} options;

static void usage(void) {
    fprintf(stderr, "usage: bench_lora [--threads N] [--models small|large|all] [--type T] [--rank R] "
                    "[--adapter-type F16|BF16|F32] [--steps N] [--rounds R] [--quick] [--cache-dir DIR]\n");
    exit(2);
}

static options parse(int argc, char **argv) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {(int)(cores > 0 ? cores : 1), 16, 32, 5, "large", DT_Q4_K, "F16", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            o.steps = 16;
            o.rounds = 3;
            o.models = "small";
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--threads")) o.threads = atoi(v);
        else if (!strcmp(a, "--rank")) o.rank = atoi(v);
        else if (!strcmp(a, "--steps")) o.steps = atoi(v);
        else if (!strcmp(a, "--rounds")) o.rounds = atoi(v);
        else if (!strcmp(a, "--models")) o.models = v;
        else if (!strcmp(a, "--cache-dir")) o.cache_dir = v;
        else if (!strcmp(a, "--adapter-type")) {
            if (strcmp(v, "F16") && strcmp(v, "BF16") && strcmp(v, "F32")) bench_die("--adapter-type: F16, BF16 or F32");
            o.adapter_type = v;
        }
        else if (!strcmp(a, "--type")) {
            if (!bench_type_parse(v, &o.type)) bench_die("--type %s: not a bench type", v);
        } else usage();
    }
    if (o.threads < 1 || o.rank < 1 || o.steps < 1 || o.rounds < 1) usage();
    return o;
}

/* The adapters' files for spec s in the cache (written once per rank). */
static void ensure_adapters(const bench_spec *s, const options *o, const char *dir, char paths[][4096]) {
    char *vocab = tu_model_path(BENCH_VOCAB_REL);
    synth_config base = bench_synth_config(s, vocab);
    for (int k = 0; k < N_ADAPTERS; k++) {
        snprintf(paths[k], 4096, "%s/ctgi-bench-%s-lora-r%d-%s-%d.gguf", dir, s->label, o->rank, o->adapter_type, k);
        struct stat st;
        if (stat(paths[k], &st) == 0) continue;
        lw_config c = {LW_ALL, o->rank, 2.0f * (float)o->rank, false, o->adapter_type, 0x10a0u + (uint64_t)k, 0.02f};
        lw_adapter *a = lw_make(&base, &c);
        char err[CT_ERRLEN], tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", paths[k]);
        printf("  %s: writing adapter %d (rank %d, all projections) ...\n", s->label, k, o->rank);
        fflush(stdout);
        if (!a || !lw_write_gguf(a, tmp, err) || rename(tmp, paths[k]) != 0)
            bench_die("adapter %s: %s", paths[k], a ? err : "out of memory");
        lw_free(a);
    }
    free(vocab);
}

/* Rows of the table: which adapter each of n streams decodes through. */
typedef struct {
    int n;
    int adapter[STREAMS];
} row_cfg;

static double run_row(bench_rig *r, const row_cfg *c, int steps) {
    r->adapter = c->adapter;
    double tps = bench_decode_many(r, c->n, PROMPT, steps);
    r->adapter = NULL;
    return tps;
}

typedef struct {
    const bench_spec *s;
    const options *o;
    const char *model_path;
    char (*adapters)[4096];
} job;

enum { N_ROWS = 6 };
typedef struct {
    bool ok;
    double tps[N_ROWS], ratio[N_ROWS];
    double base_mb, adapter_mb;
} result;

static void measure(const void *arg, void *out) {
    const job *j = arg;
    result *res = out;
    memset(res, 0, sizeof *res);
    char err[CT_ERRLEN];
    model *m = model_load(j->model_path, err);
    if (!m) bench_die("%s: %s", j->model_path, err);
    char name[16];
    for (int k = 0; k < N_ADAPTERS; k++) {
        snprintf(name, sizeof name, "a%d", k);
        if (!model_lora_load(m, name, j->adapters[k], err)) bench_die("%s", err);
    }
    /* bytes: the base's matrices per token; an adapter's pairs (A and B in their held types) */
    size_t base = 0, extra = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        const wmat *all[] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
        for (int t = 0; t < 7; t++) {
            base += wmat_bytes(all[t]->type, all[t]->rows, all[t]->cols);
            const lora_pair *p = &m->loras[0].w[l * LORA_N_TARGETS + t];
            if (p->a)
                extra += (size_t)p->r * ((size_t)all[t]->cols * (p->a_type == DT_F32 ? 4 : 2) +
                                         (size_t)all[t]->rows * (p->bt_type == DT_F32 ? 4 : 2));
        }
    }
    res->base_mb = (double)base / 1e6;
    res->adapter_mb = (double)extra / 1e6;

    bench_rig r;
    /* each stream's positions in whole KV blocks */
    int blocks = (PROMPT + j->o->steps + BENCH_KV_BLOCK - 1) / BENCH_KV_BLOCK + 1;
    bench_rig_open(&r, m, j->o->threads, STREAMS, STREAMS * blocks * BENCH_KV_BLOCK);
    row_cfg rows[N_ROWS] = {{1, {0}}, {1, {1}}, {STREAMS, {0}}, {STREAMS, {0}}, {STREAMS, {0}}, {STREAMS, {0}}};
    for (int i = 0; i < STREAMS; i++) {
        rows[3].adapter[i] = 1;
        rows[4].adapter[i] = i % 4;           /* 0 = base, 1..3 = a0..a2 */
        rows[5].adapter[i] = 1 + i % N_ADAPTERS;
    }
    double *samples = malloc((size_t)j->o->rounds * 2 * sizeof *samples);
    if (!samples) bench_die("out of memory");
    run_row(&r, &rows[0], 4); /* warm-up */
    for (int k = 0; k < N_ROWS; k++) {
        /* each row against its base row (1 or 16 streams), alternating */
        const row_cfg *b = rows[k].n == 1 ? &rows[0] : &rows[2];
        double *t = samples, *tb = samples + j->o->rounds;
        for (int q = 0; q < j->o->rounds; q++) {
            t[q] = run_row(&r, &rows[k], j->o->steps);
            tb[q] = run_row(&r, b, j->o->steps);
        }
        res->tps[k] = bench_percentile(t, j->o->rounds, 0.5);
        res->ratio[k] = res->tps[k] / bench_percentile(tb, j->o->rounds, 0.5);
    }
    free(samples);
    bench_rig_close(&r);
    model_free(m);
    res->ok = true;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    const char *dir = o.cache_dir ? o.cache_dir : "bench-models";
    mkdir(dir, 0755);
    printf("## LoRA adapters: decode beside the base (rank %d %s on q k v o gate up down, %d threads, median of %d)\n\n",
           o.rank, o.adapter_type, o.threads, o.rounds);
    for (int si = 0; si < BENCH_N_SPECS; si++) {
        const bench_spec *s = &bench_specs[si];
        if (strcmp(o.models, "all") != 0 && strcmp(o.models, s->key) != 0) continue;
        char err[CT_ERRLEN];
        char *path = bench_model_ensure_type(s, o.type, dir, err);
        if (!path) bench_die("%s", err);
        char adapters[N_ADAPTERS][4096];
        ensure_adapters(s, &o, dir, adapters);
        job j = {s, &o, path, adapters};
        result res;
        if (!bench_in_child(measure, &j, &res, sizeof res) || !res.ok) bench_die("%s: the measurement died", s->label);
        static const char *labels[N_ROWS] = {"1 stream, base",
                                             "1 stream, one adapter",
                                             "16 streams, base",
                                             "16 streams, all on one adapter",
                                             "16 streams, 4 base + 4 on each of 3 adapters",
                                             "16 streams, all adapted, 3 adapters"};
        printf("%s %s: base matrices %.0f MB, one adapter's pairs %.1f MB (%.1f%% of the base)\n\n", s->label,
               bench_type_label(o.type), res.base_mb, res.adapter_mb, 100 * res.adapter_mb / res.base_mb);
        printf("| batch | tok/s | vs base |\n|---|---:|---:|\n");
        for (int k = 0; k < N_ROWS; k++) printf("| %s | %.1f | %.3f |\n", labels[k], res.tps[k], res.ratio[k]);
        printf("\n");
        free(path);
    }
    return 0;
}
