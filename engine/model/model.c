/*
 * model.c — loading a model, independent of the file format: dispatch on
 * the path, sanity limits on the hyper-parameters, shape and type checks,
 * the weights in their file's type, the RoPE frequency table, and freeing.
 *
 * Weights stay what the file holds (wmat.h): each F16/BF16/quantized
 * matrix is repacked once into the group layout of the products (the same
 * bytes, reordered; q/k rows of interleaved-RoPE files are moved whole
 * into the rotate-half order on the way), all of them into one arena (2 MiB
 * aligned, huge pages requested: mm_alloc; packed on several threads), and
 * its pages of the read-only file
 * mapping are then dropped (madvise DONTNEED: they leave the resident set;
 * the page cache may keep the file, reclaimable).  So resident memory is
 * one copy of the weights at the file's size.  F32 matrices are converted
 * into matmul.h's packed panels the same way.  The token embedding is read
 * a row at a time straight from the mapping (only the rows of tokens seen
 * become resident); a tied output head is a packed copy of it.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"
#include "gguf.h"
#include "kernels/matmul.h"
#include "kernels/wmat.h"
#include "model_load.h"
#include "safetensors.h"
#include "tokenizer/tok_load.h"

/* ---- ownership ---------------------------------------------------------- */

void *model_own(model *m, void *buf) {
    if (!buf) return NULL;
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **n = realloc(m->owned, (size_t)cap * sizeof *n);
        if (!n) { free(buf); return NULL; }
        m->owned = n;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = buf;
    return buf;
}

void model_free(model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m->rope_inv_freq);
    tok_free(m->tok);
    free(m->eos_ids);
    free(m->chat_template);
    free(m->name);
    free(m->path);
    free(m->format);
    free(m->dtype);
    if (m->gguf) gguf_close(m->gguf);
    if (m->st) st_close(m->st);
    free(m);
}

/* ---- hyper-parameters ---------------------------------------------------- */

/* Limits far above any real model; they exist so that a corrupt file fails
 * here with a clear message instead of asking malloc for exabytes. */
bool model_check_config(const model_config *c, char *err) {
    struct { const char *name; long v, lo, hi; } lim[] = {
        {"hidden size", c->dim, 1, 1 << 16},
        {"layer count", c->n_layers, 1, 1024},
        {"attention head count", c->n_heads, 1, 1024},
        {"key/value head count", c->n_kv_heads, 1, 1024},
        {"head dimension", c->head_dim, 2, 1024},
        {"feed-forward size", c->ffn_dim, 1, 1 << 20},
        {"vocabulary size", c->vocab, 1, 1 << 22},
        {"context length", c->ctx_len, 1, 1 << 24},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        if (lim[i].v < lim[i].lo || lim[i].v > lim[i].hi)
            return ct_err(err, "%s %ld is out of range [%ld, %ld]", lim[i].name, lim[i].v,
                          lim[i].lo, lim[i].hi);
    if (c->n_heads % c->n_kv_heads != 0)
        return ct_err(err, "attention head count %d is not a multiple of key/value head count %d",
                      c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0) return ct_err(err, "head dimension %d is odd", c->head_dim);
    if (!(c->norm_eps > 0 && c->norm_eps < 1))
        return ct_err(err, "RMSNorm epsilon %g is out of range", (double)c->norm_eps);
    if (!(c->rope_theta > 0 && isfinite(c->rope_theta)))
        return ct_err(err, "RoPE theta %g is invalid", (double)c->rope_theta);
    /* A zero or NaN factor would turn every rotated position into NaN. */
    if (c->rope_scaling != ROPE_SCALING_NONE && !(c->rope_factor > 0 && isfinite(c->rope_factor)))
        return ct_err(err, "RoPE scaling factor %g is invalid (must be a positive number)",
                      (double)c->rope_factor);
    if (c->rope_scaling == ROPE_SCALING_LLAMA3 &&
        !(c->rope_orig_ctx > 0 && c->rope_low_freq_factor > 0 &&
          c->rope_high_freq_factor > c->rope_low_freq_factor))
        return ct_err(err, "Llama-3 RoPE scaling needs original context > 0 and "
                      "0 < low_freq_factor < high_freq_factor (got %d, %g, %g)", c->rope_orig_ctx,
                      (double)c->rope_low_freq_factor, (double)c->rope_high_freq_factor);
    return true;
}

/* inv_freq[i] = theta^(-2i/d), then the scaling rule:
 *   linear: every frequency divided by the factor (positions interpolated);
 *   llama3: long wavelengths divided by the factor, short ones kept, a
 *           smooth blend between (Llama 3.1's published rule);
 *   freq_factors (GGUF rope_freqs.weight): per-frequency divisors. */
void model_init_rope(model *m, const float *freq_factors) {
    const model_config *c = &m->cfg;
    int half = c->head_dim / 2;
    m->rope_inv_freq = malloc((size_t)half * sizeof(float));
    if (!m->rope_inv_freq) return;
    for (int i = 0; i < half; i++) {
        double f = pow((double)c->rope_theta, -2.0 * i / c->head_dim);
        if (freq_factors) {
            f /= freq_factors[i];
        } else if (c->rope_scaling == ROPE_SCALING_LINEAR) {
            f /= c->rope_factor;
        } else if (c->rope_scaling == ROPE_SCALING_LLAMA3) {
            double low_wavelen = c->rope_orig_ctx / c->rope_low_freq_factor;
            double high_wavelen = c->rope_orig_ctx / c->rope_high_freq_factor;
            double wavelen = 2 * M_PI / f;
            if (wavelen > low_wavelen) {
                f /= c->rope_factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (c->rope_orig_ctx / wavelen - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (1 - smooth) * f / c->rope_factor + smooth * f;
            }
        }
        m->rope_inv_freq[i] = (float)f;
    }
}

/* ---- weights ------------------------------------------------------------- */

/* Undoing GGUF's interleaved-RoPE row order of a head-major q/k matrix or
 * bias: row n (Hugging Face order) is file row map[n] — file row 2j+t of a
 * head holds row t*(hd/2)+j.  Rows move whole, so quantized rows need no
 * conversion (wmat_pack takes the map) and f32 ones are gathered. */
static int *unpermute_map(int N, int n_heads) {
    int *map = malloc((size_t)N * sizeof *map), hd = N / n_heads, half = hd / 2;
    if (!map) return NULL;
    for (int h = 0; h < n_heads; h++)
        for (int j = 0; j < half; j++)
            for (int t = 0; t < 2; t++) map[h * hd + t * half + j] = h * hd + 2 * j + t;
    return map;
}

/* dst row n = src row map[n] (map NULL: n), for n rows of row_bytes. */
static void gather_rows(const void *src, size_t row_bytes, const int *map, int n, void *dst) {
    for (int i = 0; i < n; i++)
        memcpy((uint8_t *)dst + (size_t)i * row_bytes, (const uint8_t *)src + (size_t)(map ? map[i] : i) * row_bytes,
               row_bytes);
}

/* One typed matrix to repack (wmat_pack), its destination already
 * allocated: the packing of all of them runs on several threads at the end
 * of the load (pack_all). */
typedef struct {
    uint32_t type;
    int N, K;
    const uint8_t *src; /* the file's rows */
    size_t src_bytes;
    int *map;           /* row permutation (owned) or NULL */
    size_t offset;      /* of the packed matrix in the weight arena */
    wmat *out;          /* where the model holds it */
    bool keep_mapping;  /* the file rows are read again (a tied embedding) */
} pack_job;

typedef struct {
    model *m;
    const weight_source *src;
    char *err;
    uint64_t type_params[DT_COUNT]; /* matrix parameters by type (m->dtype) */
    pack_job *jobs;
    int n_jobs, cap_jobs;
    size_t arena_bytes; /* the typed matrices together, each 64-byte aligned */
} loader;

/* Looks tensor `name` up and checks its shape (rows, cols) — rows = 0 for
 * a vector.  False if absent (err set unless optional) or misshapen. */
static bool find_tensor(loader *L, const char *name, uint64_t rows, uint64_t cols, bool optional, wsrc *w,
                        bool *present) {
    memset(w, 0, sizeof *w);
    if (present) *present = false;
    if (!L->src->find(L->src->ctx, name, w)) {
        /* the source names the tensor in its own convention when it can */
        if (!optional) ct_err(L->err, "%s: missing tensor '%s'", L->m->path, w->name[0] ? w->name : name);
        return false;
    }
    if (present) *present = true;
    uint64_t n = 1;
    for (uint32_t i = 0; i < w->n_dims; i++) n *= w->ne[i];
    bool shape_ok = rows ? (w->n_dims == 2 && w->ne[0] == cols && w->ne[1] == rows) : (n == cols && w->ne[0] == cols);
    if (!shape_ok)
        return ct_err(L->err, "tensor '%s' has shape [%llu, %llu], expected [%llu, %llu]", w->name,
                      (unsigned long long)(w->n_dims > 1 ? w->ne[1] : 1), (unsigned long long)w->ne[0],
                      (unsigned long long)(rows ? rows : 1), (unsigned long long)cols);
    return true;
}

/* Fetch vector `name` (cols values) as f32.  permute_heads > 0: a q/k bias
 * to un-permute (that many heads). */
static float *load_vector(loader *L, const char *name, uint64_t cols, int permute_heads) {
    wsrc w;
    if (!find_tensor(L, name, 0, cols, false, &w, NULL)) return NULL;
    if (!dt_convertible(w.type)) {
        ct_err(L->err, "tensor '%s' has unsupported type %s", w.name, dt_name(w.type));
        return NULL;
    }
    L->m->n_params += cols;
    float *buf = model_own(L->m, malloc(cols * sizeof(float)));
    if (!buf) { ct_err(L->err, "out of memory converting '%s'", w.name); return NULL; }
    if (!dt_to_f32(w.type, w.data, buf, cols)) {
        ct_err(L->err, "tensor '%s': conversion from %s failed", w.name, dt_name(w.type));
        return NULL;
    }
    if (permute_heads > 0 && L->src->qk_interleaved) {
        float *out = model_own(L->m, malloc(cols * sizeof(float)));
        int *map = unpermute_map((int)cols, permute_heads);
        if (!out || !map) { free(map); ct_err(L->err, "out of memory"); return NULL; }
        gather_rows(buf, sizeof(float), map, (int)cols, out);
        free(map);
        buf = out;
    }
    return buf;
}

/* Drops the pages wholly inside [p, p + bytes) of a read-only file mapping
 * from the resident set (the data was copied; nothing reads it again). */
static void release_mapped(const void *p, size_t bytes) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p, e = a + bytes;
    uintptr_t lo = (a + page - 1) / page * page, hi = e / page * page;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failure only costs memory */
}

/* F32: the file's rows (un-permuted, copied out of a mapping of any
 * alignment) packed into matmul.h's panels. */
static bool load_f32_matrix(loader *L, const wsrc *w, int N, int K, int permute_heads, wmat *out) {
    float *rows = malloc((size_t)N * K * sizeof(float));
    float *packed = model_own(L->m, mm_alloc(mm_packed_size(N, K) * sizeof(float)));
    bool permute = permute_heads > 0 && L->src->qk_interleaved;
    int *map = permute ? unpermute_map(N, permute_heads) : NULL;
    if (!rows || !packed || (permute && !map)) {
        free(rows);
        free(map);
        return ct_err(L->err, "out of memory loading '%s'", w->name);
    }
    gather_rows(w->data, (size_t)K * sizeof(float), map, N, rows);
    free(map);
    mm_pack(rows, N, K, packed);
    free(rows);
    *out = (wmat){DT_F32, N, K, (const uint8_t *)packed};
    return true;
}

static bool add_job(loader *L) {
    if (L->n_jobs < L->cap_jobs) return true;
    int cap = L->cap_jobs ? 2 * L->cap_jobs : 64;
    pack_job *j = realloc(L->jobs, (size_t)cap * sizeof *j);
    if (!j) return false;
    L->jobs = j;
    L->cap_jobs = cap;
    return true;
}

typedef struct {
    loader *L;
    atomic_int next;
} pack_run;

/* Takes jobs until none is left: pack, then drop the file's pages. */
static void *pack_worker(void *arg) {
    pack_run *r = arg;
    for (int i; (i = atomic_fetch_add(&r->next, 1)) < r->L->n_jobs;) {
        const pack_job *j = &r->L->jobs[i];
        wmat_pack(j->type, j->N, j->K, j->src, j->map, (uint8_t *)j->out->data);
        if (!j->keep_mapping) release_mapped(j->src, j->src_bytes);
    }
    return NULL;
}

/* Packs every queued matrix into one arena, on up to one thread per core (8 at most): the
 * load is bound by moving the bytes and by the kernel zeroing the new
 * pages, which both scale with threads (a 1.1 GB Q8_0 file: 3.7 s on one
 * thread).  Threads that cannot start leave their share to the others. */
static bool pack_all(loader *L) {
    if (!L->n_jobs) return true;
    /* one allocation for all of them: huge pages round it up once, not
     * once per matrix (~150 MB on a 22-layer model) */
    uint8_t *arena = model_own(L->m, mm_alloc(L->arena_bytes));
    if (!arena) return ct_err(L->err, "out of memory: %.2f GB of weights", L->arena_bytes / 1e9);
    for (int i = 0; i < L->n_jobs; i++) L->jobs[i].out->data = arena + L->jobs[i].offset;
    pack_run r = {L, 0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cpus < 1 ? 1 : cpus > 8 ? 8 : cpus);
    if (n > L->n_jobs) n = L->n_jobs;
    pthread_t t[8];
    int started = 0;
    for (int i = 1; i < n; i++)
        if (pthread_create(&t[started], NULL, pack_worker, &r) == 0) started++;
    pack_worker(&r);
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    return true;
}

static void loader_free(loader *L) {
    for (int i = 0; i < L->n_jobs; i++) free(L->jobs[i].map);
    free(L->jobs);
}

/* Matrix `name` (rows, cols) in its file's type.  keep_mapping: its file
 * pages are still read afterwards (the embedding of a tied head). */
static bool load_matrix(loader *L, const char *name, int N, int K, int permute_heads, bool optional,
                        bool keep_mapping, wmat *out, bool *present) {
    wsrc w;
    if (!find_tensor(L, name, (uint64_t)N, (uint64_t)K, optional, &w, present)) return false;
    L->m->n_params += (uint64_t)N * K;
    if (w.type < DT_COUNT) L->type_params[w.type] += (uint64_t)N * K;
    uint64_t row_bytes = 0;
    if (!dt_bytes(w.type, (uint64_t)K, &row_bytes))
        return ct_err(L->err, "tensor '%s': type %s cannot hold rows of %d values (block size %u)", w.name,
                      dt_name(w.type), K, dt_block_elems(w.type));
    if (w.type == DT_F32) {
        if (!load_f32_matrix(L, &w, N, K, permute_heads, out)) return false;
    } else if (wmat_supported(w.type)) {
        size_t bytes = wmat_bytes(w.type, N, K);
        if (!bytes)
            return ct_err(L->err, "tensor '%s': rows of %d values of type %s are not a multiple of %d", w.name, K,
                          dt_name(w.type), WM_QB);
        int *map = permute_heads > 0 && L->src->qk_interleaved ? unpermute_map(N, permute_heads) : NULL;
        if ((permute_heads > 0 && L->src->qk_interleaved && !map) || !add_job(L)) {
            free(map);
            return ct_err(L->err, "out of memory loading '%s'", w.name);
        }
        L->jobs[L->n_jobs++] =
            (pack_job){w.type, N, K, w.data, (size_t)row_bytes * N, map, L->arena_bytes, out, keep_mapping};
        L->arena_bytes += (bytes + 63) / 64 * 64;
        *out = (wmat){w.type, N, K, NULL}; /* data: pack_all */
        return true;
    } else {
        return ct_err(L->err, "tensor '%s' has type %s, which ctgi does not compute with (supported: F32 F16 "
                      "BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL)", w.name, dt_name(w.type));
    }
    if (!keep_mapping) release_mapped(w.data, (size_t)row_bytes * N);
    return true;
}

static bool load_layer(loader *L, int l, layer_weights *w) {
    const model_config *c = &L->m->cfg;
    bool bias = arch_get(c->arch)->qkv_bias;
    int q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    /* perm: heads to un-permute for RoPE */
    const struct { wmat *dst; const char *suffix; int rows, cols, perm; } mats[] = {
        {&w->wq, "attn_q.weight", q, c->dim, c->n_heads},
        {&w->wk, "attn_k.weight", kv, c->dim, c->n_kv_heads},
        {&w->wv, "attn_v.weight", kv, c->dim, 0},
        {&w->wo, "attn_output.weight", c->dim, q, 0},
        {&w->w_gate, "ffn_gate.weight", c->ffn_dim, c->dim, 0},
        {&w->w_up, "ffn_up.weight", c->ffn_dim, c->dim, 0},
        {&w->w_down, "ffn_down.weight", c->dim, c->ffn_dim, 0},
    };
    const struct { float **dst; const char *suffix; int n, perm; bool want; } vecs[] = {
        {&w->attn_norm, "attn_norm.weight", c->dim, 0, true},
        {&w->ffn_norm, "ffn_norm.weight", c->dim, 0, true},
        {&w->bq, "attn_q.bias", q, c->n_heads, bias},
        {&w->bk, "attn_k.bias", kv, c->n_kv_heads, bias},
        {&w->bv, "attn_v.bias", kv, 0, bias},
    };
    char name[96];
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        snprintf(name, sizeof name, "blk.%d.%s", l, mats[i].suffix);
        if (!load_matrix(L, name, mats[i].rows, mats[i].cols, mats[i].perm, false, false, mats[i].dst, NULL))
            return false;
    }
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        if (!vecs[i].want) continue;
        snprintf(name, sizeof name, "blk.%d.%s", l, vecs[i].suffix);
        if (!(*vecs[i].dst = load_vector(L, name, (uint64_t)vecs[i].n, vecs[i].perm))) return false;
    }
    return true;
}

/* The embedding is only read a row at a time: it stays in the file. */
static bool load_embedding(loader *L) {
    model *m = L->m;
    wsrc w;
    if (!find_tensor(L, "token_embd.weight", (uint64_t)m->cfg.vocab, (uint64_t)m->cfg.dim, false, &w, NULL))
        return false;
    uint64_t row_bytes = 0;
    if (!dt_bytes(w.type, (uint64_t)m->cfg.dim, &row_bytes))
        return ct_err(L->err, "tensor '%s': type %s cannot hold rows of %d values", w.name, dt_name(w.type),
                      m->cfg.dim);
    if (!dt_convertible(w.type))
        return ct_err(L->err, "tensor '%s' has unsupported type %s", w.name, dt_name(w.type));
    m->tok_embd = w.data;
    m->tok_embd_type = w.type;
    m->tok_embd_row_bytes = row_bytes;
    m->n_params += (uint64_t)m->cfg.vocab * m->cfg.dim;
    return true;
}

/* "Q4_K+Q6_K": the matrices' types, most parameters first. */
static char *type_summary(const loader *L) {
    char buf[128] = "";
    bool used[DT_COUNT] = {false};
    for (;;) {
        int best = -1;
        for (int t = 0; t < DT_COUNT; t++)
            if (!used[t] && L->type_params[t] && (best < 0 || L->type_params[t] > L->type_params[best])) best = t;
        if (best < 0) break;
        used[best] = true;
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s", len ? "+" : "", dt_name((uint32_t)best));
    }
    return strdup(buf[0] ? buf : "F32");
}

static bool assemble(loader *L);

bool model_assemble(model *m, const weight_source *src, char *err) {
    loader L = {m, src, err, {0}, NULL, 0, 0, 0};
    bool ok = assemble(&L) && pack_all(&L);
    loader_free(&L);
    return ok;
}

/* Finds, checks and converts every tensor; typed matrices are queued. */
static bool assemble(loader *L) {
    model *m = L->m;
    model_config *c = &m->cfg;
    char *err = L->err;
    if (!load_embedding(L)) return false;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return ct_err(err, "out of memory");
    for (int l = 0; l < c->n_layers; l++)
        if (!load_layer(L, l, &m->layers[l])) return false;
    if (!(m->out_norm = load_vector(L, "output_norm.weight", (uint64_t)c->dim, 0))) return false;
    bool present = false;
    if (!c->tied_output && !load_matrix(L, "output.weight", c->vocab, c->dim, 0, true, false, &m->output, &present) &&
        present)
        return false;
    if (!present) {
        /* tied (declared, or no separate head stored): the head is a packed
         * copy of the embedding, whose file rows stay for lookups */
        if (!load_matrix(L, "token_embd.weight", c->vocab, c->dim, 0, false, true, &m->output, NULL)) return false;
        m->n_params -= (uint64_t)c->vocab * c->dim; /* counted once, as the embedding */
        c->tied_output = true;
    }
    free(m->dtype);
    m->dtype = type_summary(L);
    return m->dtype != NULL || ct_err(err, "out of memory");
}

/* ---- entry points --------------------------------------------------------- */

bool model_weights_fit(const char *path, uint64_t need, char *err) {
    uint64_t avail = ct_mem_available();
    if (avail == 0 || need <= avail) return true;
    char a[32], b[32];
    return ct_err(err, "%s: the model does not fit in memory: its weights take %s, only %s is available", path,
                  ct_fmt_bytes(need, a, sizeof a), ct_fmt_bytes(avail, b, sizeof b));
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

model *model_load(const char *path, char *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        ct_err(err, "%s: no such file or directory", path);
        return NULL;
    }
    model *m = calloc(1, sizeof *m);
    if (!m) { ct_err(err, "out of memory"); return NULL; }
    m->path = strdup(path);
    bool ok = is_dir(path) ? model_open_hf(m, path, err) : model_open_gguf(m, path, err);
    if (ok && !m->rope_inv_freq) model_init_rope(m, NULL);
    if (ok && !m->rope_inv_freq) ok = ct_err(err, "out of memory");
    /* Ids past the embedding rows would read outside the weights. (Fewer
     * tokens than rows is normal: vocabularies are padded to a multiple.) */
    if (ok && tok_n_vocab(m->tok) > m->cfg.vocab)
        ok = ct_err(err, "%s: the tokenizer has %d tokens, more than the model's vocabulary of %d "
                    "(embedding rows)", path, tok_n_vocab(m->tok), m->cfg.vocab);
    if (!ok) {
        model_free(m);
        return NULL;
    }
    return m;
}

tokenizer *model_load_tokenizer(const char *path, char *err) {
    if (is_dir(path)) return tok_load_hf(path, err);
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return tok_load_hf(path, err);
    gguf_file *f = gguf_open(path, err);
    if (!f) return NULL;
    tokenizer *t = tok_load_gguf(f, err);
    gguf_close(f);
    return t;
}

model_info model_get_info(const model *m) {
    const model_config *c = &m->cfg;
    const arch_desc *a = arch_get(c->arch);
    return (model_info){
        .name = m->name,
        .path = m->path,
        .format = m->format,
        .architecture = a ? a->name : NULL,
        .hf_class = a ? a->hf_class : NULL,
        .weight_type = m->dtype,
        .kernels = wm_kernel_name(wm_kernels()),
        .ctx_len = c->ctx_len,
        .vocab = c->vocab,
        .dim = c->dim,
        .n_layers = c->n_layers,
        .n_heads = c->n_heads,
        .n_kv_heads = c->n_kv_heads,
        .head_dim = c->head_dim,
        .n_params = m->n_params,
        .bos_id = m->tok ? tok_bos(m->tok) : -1,
        .eos_id = m->tok ? tok_eos(m->tok) : -1,
        .eos_ids = m->eos_ids,
        .n_eos = m->n_eos,
    };
}

const tokenizer *model_tokenizer(const model *m) { return m->tok; }

bool model_is_eos(const model *m, int32_t id) {
    for (int i = 0; i < m->n_eos; i++)
        if (m->eos_ids[i] == id) return true;
    return false;
}
