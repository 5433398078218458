/*
 * bench_arch.c — one row per architecture: decode and prefill speed on a
 * seeded ~110-140M-parameter model of that family's shape (built as
 * build/tools/bench_arch; run by scripts/bench.sh / `make bench`), so that
 * no family is left on a slow path.
 *
 *   bench_arch [--threads N] [--arches gpt2,falcon,...] [--quick] [--cache-dir DIR] [--keep]
 *
 * The models: dim 768, 12 layers, 12 heads of 64, the llama-spm 32000-token
 * vocabulary, F16 matrices; each family's own traits (kv heads, MLP kind and
 * width, biases, norms, positions) from its template in
 * ../shared/models/synth/arch/ (tests/support/synth_arch.h), llama / qwen3 /
 * mistral from synth_model.  Each is written into the cache, measured in a
 * child process (its memory its own) and deleted again unless --keep.
 * Decode: one stream, tokens one at a time after a 16-token prompt (64
 * steps; --quick 16); prefill: one pass over 512 tokens (best of 2); KV cache
 * F16 (the engine's default).  T5 (encoder-decoder) has 6 encoder + 6
 * decoder layers (t5-base's widths, flan-t5's gated MLP of 2048): its
 * decode is the decoder's steps (self- and cross-attention) after the
 * prompt went through the encoder, its prefill the encoder pass over 512
 * tokens with every decoder layer's cross K/V of it.  The ratio columns
 * compare with llama of the same size.  Nothing is asserted: the table is
 * for people.
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
#include "support/bench_rig.h"
#include "support/bench_util.h"
#include "support/synth_arch.h"
#include "support/synth_model.h"
#include "support/testutil.h"

#define PROMPT 16
#define PREFILL 512
#define DIM 768
#define LAYERS 12
#define HEADS 12
#define HEAD_DIM 64

/* One family: its template (NULL: synth_model's llama-shaped arch), kv
 * heads, MLP width, sliding window, what distinguishes it, layers (0:
 * LAYERS; T5: per stack). */
typedef struct {
    const char *name, *tmpl, *synth_arch;
    int kv_heads, ffn, window;
    const char *traits;
    int layers;
} family;

static const family FAMILIES[] = {
    {"llama", NULL, "llama", 4, 2048, 0, "RMSNorm, SwiGLU, RoPE, GQA", 0},
    {"mistral", NULL, "llama", 4, 2048, 256, "llama + sliding window 256", 0},
    {"qwen3", NULL, "qwen3", 4, 2048, 0, "QK RMSNorm", 0},
    {"phi3", "phi3", NULL, 12, 2048, 2047, "fused qkv and gate_up, window 2047", 0},
    {"gemma", "gemma", NULL, 1, 2048, 0, "GeGLU, MQA, embedding scale", 0},
    {"gemma2", "gemma2", NULL, 4, 2048, 256, "soft-caps, post norms, window 256 on even layers", 0},
    {"gpt2", "gpt2", NULL, 12, 3072, 0, "LayerNorm, GELU, learned positions, biases", 0},
    {"starcoder", "starcoder", NULL, 1, 3072, 0, "gpt2 + MQA", 0},
    {"gptneox", "gptneox", NULL, 12, 3072, 0, "parallel residual, rotary 25%", 0},
    {"falcon", "falcon", NULL, 1, 3072, 0, "MQA, one norm for both branches", 0},
    {"falcon-gqa", "falcon-gqa", NULL, 4, 3072, 0, "40B layout: GQA, two norms", 0},
    {"mpt", "mpt", NULL, 12, 3072, 0, "ALiBi, qkv clamp", 0},
    {"bloom", "bloom", NULL, 12, 3072, 0, "ALiBi, embedding norm, biases", 0},
    {"t5", "t5", NULL, 12, 2048, 0, "encoder-decoder 6+6, cross-attention, relative buckets; prefill = encode", 6},
};
enum { N_FAMILIES = sizeof FAMILIES / sizeof FAMILIES[0] };

typedef struct {
    int threads;
    bool quick, keep;
    const char *cache_dir;
    char arches[512];
} options;

typedef struct {
    bool ok;
    char err[CT_ERRLEN];
    double params_m, decode_tps, prefill_tps;
} result;

/* ---- the models -------------------------------------------------------------------- */

static bool write_model(const family *f, const char *path, char *err) {
    char *vocab = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    bool ok;
    if (f->synth_arch) {
        synth_config c = synth_default();
        c.arch = f->synth_arch;
        c.dim = DIM;
        c.n_layers = LAYERS;
        c.n_heads = HEADS;
        c.n_kv_heads = f->kv_heads;
        c.head_dim = HEAD_DIM;
        c.ffn_dim = f->ffn;
        c.ctx_len = 2048;
        c.sliding_window = f->window;
        c.weight_type = DT_F16;
        c.seed = 0xa2c4u;
        c.vocab_gguf = vocab;
        ok = synth_write_gguf(&c, path, err);
    } else {
        char rel[128];
        snprintf(rel, sizeof rel, "synth/arch/%s.gguf", f->tmpl);
        char *tmpl = tu_model_path(rel);
        synth_arch_config c = {.template_gguf = tmpl, .vocab_gguf = vocab, .dim = DIM,
                               .n_layers = f->layers ? f->layers : LAYERS,
                               .n_heads = HEADS, .n_kv_heads = f->kv_heads, .head_dim = HEAD_DIM, .ffn_dim = f->ffn,
                               .ctx_len = 2048, .sliding_window = f->window, .type = DT_F16, .seed = 0xa2c4u};
        ok = synth_arch_write(&c, path, err);
        free(tmpl);
    }
    free(vocab);
    return ok;
}

/* ---- measuring ------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    const options *o;
} job;

static void measure(const void *arg, void *out) {
    const job *jb = arg;
    const char *path = jb->path;
    const options *o = jb->o;
    result *res = out;
    char err[CT_ERRLEN];
    model *m = model_load(path, err);
    if (!m) {
        snprintf(res->err, sizeof res->err, "%s", err);
        return;
    }
    bench_rig r;
    bench_rig_open(&r, m, o->threads, PREFILL, PREFILL + PROMPT + 64 + 2 * BENCH_KV_BLOCK);
    bench_decode_one(&r, PROMPT, 4); /* warm-up */
    res->decode_tps = bench_decode_one(&r, PROMPT, o->quick ? 16 : 64);
    res->prefill_tps = bench_prefill(&r, PREFILL, o->quick ? 1 : 2);
    res->params_m = m->n_params / 1e6;
    bench_rig_close(&r);
    model_free(m);
    res->ok = true;
}

/* In a child process, so each model's memory is its own. */
static result bench_file(const char *path, const options *o) {
    result res = {0};
    job jb = {path, o};
    if (!bench_in_child(measure, &jb, &res, sizeof res)) snprintf(res.err, sizeof res.err, "the measuring process died");
    return res;
}

/* ---- main ----------------------------------------------------------------------------- */

static bool wanted(const options *o, const char *name) {
    if (!o->arches[0]) return true;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", o->arches);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
        if (!strcmp(t, name)) return true;
    return false;
}

static options parse(int argc, char **argv) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {.threads = n > 0 ? (int)n : 1, .cache_dir = "bench-models"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--threads") && more) o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--arches") && more) snprintf(o.arches, sizeof o.arches, "%s", argv[++i]);
        else if (!strcmp(a, "--cache-dir") && more) o.cache_dir = argv[++i];
        else if (!strcmp(a, "--quick")) o.quick = true;
        else if (!strcmp(a, "--keep")) o.keep = true;
        else {
            fprintf(stderr, "usage: bench_arch [--threads N] [--arches a,b,...] [--quick] [--cache-dir DIR] [--keep]\n");
            exit(2);
        }
    }
    if (o.threads < 1) o.threads = 1;
    return o;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    mkdir(o.cache_dir, 0755);
    printf("bench_arch: one model per architecture, dim %d, %d layers, %d heads of %d, 32000-token vocabulary, F16 "
           "matrices; %d threads, %s kernels, KV cache f16\n",
           DIM, LAYERS, HEADS, HEAD_DIM, o.threads, wm_kernel_name(wm_kernels()));
    printf("| arch | kv heads | ffn | traits | params M | decode tok/s | vs llama | prefill %d tok/s | vs llama |\n",
           PREFILL);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    double base_dec = 0, base_pre = 0;
    for (int i = 0; i < N_FAMILIES; i++) {
        const family *f = &FAMILIES[i];
        if (!wanted(&o, f->name) && i != 0) continue; /* llama is the baseline of the ratios */
        char path[4096], err[CT_ERRLEN];
        snprintf(path, sizeof path, "%s/ctgi-bench-arch-%s-f16.gguf", o.cache_dir, f->name);
        struct stat st;
        if (stat(path, &st) != 0 && !write_model(f, path, err)) {
            printf("| %s | failed to write: %s |\n", f->name, err);
            continue;
        }
        result r = bench_file(path, &o);
        if (!o.keep) unlink(path);
        if (!r.ok) {
            printf("| %s | failed: %s |\n", f->name, r.err);
            continue;
        }
        if (i == 0) base_dec = r.decode_tps, base_pre = r.prefill_tps;
        printf("| %s | %d | %d | %s | %.0f | %.1f | %.2f | %.1f | %.2f |\n", f->name, f->kv_heads, f->ffn, f->traits,
               r.params_m, r.decode_tps, base_dec > 0 ? r.decode_tps / base_dec : 0, r.prefill_tps,
               base_pre > 0 ? r.prefill_tps / base_pre : 0);
        fflush(stdout);
    }
    printf("(decode: one stream after a %d-token prompt; prefill: one %d-token pass; files %s)\n", PROMPT, PREFILL,
           o.keep ? "kept in the cache" : "deleted after measuring (--keep keeps them)");
    return 0;
}
