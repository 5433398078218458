/*
 * bench_models.c — generation and caching of the benchmark models (see
 * bench_models.h).  Moved here from scripts/bench_engine.c so every bench
 * tool measures the same files.
 */
#include "bench_models.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/wmat.h"
#include "model/dtype.h"
#include "support/synth_model.h"
#include "support/testutil.h"

const bench_spec bench_specs[BENCH_N_SPECS] = {
    {"small", "ctgi-bench-110m-f32.gguf", "110M", 768, 12, 12, 12, 2048},
    {"large", "ctgi-bench-1.1b-f32.gguf", "1.1B", 2048, 22, 32, 4, 5632},
};

const bench_spec *bench_spec_find(const char *key) {
    for (int i = 0; i < BENCH_N_SPECS; i++)
        if (!strcmp(bench_specs[i].key, key)) return &bench_specs[i];
    return NULL;
}

static bool mkdir_p(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return false;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

synth_config bench_synth_config(const bench_spec *s, const char *vocab) {
    synth_config c = synth_default();
    c.arch = "llama";
    c.dim = s->dim;
    c.n_layers = s->n_layers;
    c.n_heads = s->n_heads;
    c.n_kv_heads = s->n_kv_heads;
    c.head_dim = s->dim / s->n_heads;
    c.ffn_dim = s->ffn_dim;
    c.ctx_len = BENCH_CTX;
    c.rope_theta = 10000.0f;
    c.norm_eps = 1e-5f;
    c.tied = false;
    c.rope_scaling = NULL;
    c.weight_type = DT_F32;
    c.seed = BENCH_SEED;
    c.vocab_gguf = vocab;
    c.tokenizer_json = NULL;
    return c;
}

/* One line describing everything the file depends on; the vocab file is named
 * by base name and size so a moved model directory does not force a rebuild. */
static void config_stamp(const synth_config *c, char *out, size_t cap) {
    struct stat st;
    long long vsize = stat(c->vocab_gguf, &st) == 0 ? (long long)st.st_size : -1;
    const char *base = strrchr(c->vocab_gguf, '/');
    base = base ? base + 1 : c->vocab_gguf;
    snprintf(out, cap,
             "ctgi-bench-model v1 arch=%s dim=%d layers=%d heads=%d kv_heads=%d head_dim=%d ffn=%d ctx=%d "
             "theta=%g eps=%g tied=%d type=%s%s seed=%llu vocab=%s:%lld\n",
             c->arch, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn_dim, c->ctx_len,
             (double)c->rope_theta, (double)c->norm_eps, (int)c->tied, dt_name(c->weight_type),
             c->llama_mix ? " llama-mix" : "",
             (unsigned long long)c->seed, base, vsize);
}

/* Write the model to tmp, then rename it into place and write its stamp. */
static bool generate(const bench_spec *s, const synth_config *c, const char *stamp, const char *path,
                     const char *stamp_path, const char *tmp, char *err) {
    printf("  %s: generating %s (dim %d, %d layers, %d/%d heads, ffn %d, %s%s, seed %#x) ...\n", s->label, path,
           s->dim, s->n_layers, s->n_heads, s->n_kv_heads, s->ffn_dim, dt_name(c->weight_type),
           c->llama_mix ? " as llama-quantize mixes it" : "", BENCH_SEED);
    fflush(stdout);
    unlink(stamp_path);
    double t0 = ct_now();
    if (!synth_write_gguf(c, tmp, err)) {
        unlink(tmp);
        return false;
    }
    if (rename(tmp, path) != 0) return ct_err(err, "rename %s: %s", tmp, strerror(errno));
    FILE *f = fopen(stamp_path, "w");
    bool ok = f && fputs(stamp, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) return ct_err(err, "cannot write %s", stamp_path);
    struct stat st = {0};
    stat(path, &st);
    printf("  %s: wrote %.2f GB in %.1f s\n", s->label, st.st_size / 1e9, ct_now() - t0);
    return true;
}

char *bench_model_ensure(const bench_spec *s, const char *cache_dir, char *err) {
    return bench_model_ensure_type(s, DT_F32, cache_dir, err);
}

char *bench_model_ensure_type(const bench_spec *s, uint32_t type, const char *cache_dir, char *err) {
    char *vocab = tu_model_path(BENCH_VOCAB_REL), *path = NULL, *stamp_path = NULL, *tmp = NULL;
    bool ok = false;
    if (access(vocab, R_OK) != 0) {
        ct_err(err, "vocab file %s not readable (set CTGI_MODELS)", vocab);
        goto done;
    }
    synth_config c = bench_synth_config(s, vocab);
    c.weight_type = type;
    c.llama_mix = type != DT_F32;
    char file[128];
    if (type == DT_F32)
        snprintf(file, sizeof file, "%s", s->file);
    else
        snprintf(file, sizeof file, "ctgi-bench-%s-%s.gguf", s->label, dt_name(type));
    char stamp[1024];
    config_stamp(&c, stamp, sizeof stamp);
    if (asprintf(&path, "%s/%s", cache_dir, file) < 0 || asprintf(&stamp_path, "%s/%s.config", cache_dir, file) < 0 ||
        asprintf(&tmp, "%s/%s.tmp", cache_dir, file) < 0) {
        ct_err(err, "out of memory");
        goto done;
    }
    size_t len;
    char rerr[CT_ERRLEN];
    char *have = ct_read_file(stamp_path, &len, rerr);
    bool fresh = have && strcmp(have, stamp) == 0 && access(path, R_OK) == 0;
    free(have);
    if (fresh) {
        printf("  %s: cached %s\n", s->label, path);
        ok = true;
    } else if (!mkdir_p(cache_dir)) {
        ct_err(err, "cannot create %s: %s", cache_dir, strerror(errno));
    } else {
        ok = generate(s, &c, stamp, path, stamp_path, tmp, err);
    }
done:
    free(vocab);
    free(stamp_path);
    free(tmp);
    if (!ok) {
        free(path);
        return NULL;
    }
    return path;
}

bool bench_type_parse(const char *name, uint32_t *type) {
    if (!strcasecmp(name, "q4_k_m")) {
        *type = DT_Q4_K;
        return true;
    }
    for (uint32_t i = 0; i < DT_COUNT; i++)
        if (dt_known(i) && !strcasecmp(name, dt_name(i)) && (i == DT_F32 || wmat_supported(i))) {
            *type = i;
            return true;
        }
    return false;
}

const char *bench_type_label(uint32_t type) { return type == DT_Q4_K ? "Q4_K_M" : dt_name(type); }
