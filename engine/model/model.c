/*
 * model.c — loading a model, independent of the file format: dispatch on
 * the path, sanity limits on the hyper-parameters, shape checks, conversion
 * of every weight to row-major f32 (zero-copy for f32 tensors that need no
 * reordering), then of the matrices to matmul.h's packed panel layout, the
 * RoPE frequency table, and freeing.
 *
 * Memory of packing: each matrix is packed into a new buffer (2 MiB
 * aligned, huge pages requested: mm_alloc) that replaces it at once — a
 * converted matrix (F16, quantized, permuted) is freed; for a zero-copy
 * F32 matrix its pages of the file mapping are dropped (madvise DONTNEED:
 * they leave the process's resident set; the page cache may keep the file,
 * reclaimable).  So resident memory stays one copy of the weights (plus
 * one matrix during the load, and up to 2 MiB of huge-page rounding per
 * matrix), now anonymous memory instead of file-backed pages.  A load
 * copies every matrix once: the 1.1B F32 bench model went from 0.6 s to
 * 5-9 s, most of it the kernel zeroing 4.4 GB of fresh pages.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"
#include "gguf.h"
#include "kernels/matmul.h"
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

/* Undo GGUF's interleaved-RoPE row order for one head-major matrix:
 * file row 2j+t of a head holds Hugging Face row t*(hd/2)+j. */
static void unpermute_rows(const float *in, float *out, int n_heads, int head_dim, int cols) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++)
        for (int j = 0; j < half; j++)
            for (int t = 0; t < 2; t++) {
                const float *src = in + ((size_t)h * head_dim + 2 * j + t) * cols;
                float *dst = out + ((size_t)h * head_dim + t * half + j) * cols;
                memcpy(dst, src, (size_t)cols * sizeof(float));
            }
}

typedef struct {
    model *m;
    const weight_source *src;
    char *err;
} loader;

/* Fetch tensor `name` of shape (rows, cols) — rows = 0 for a vector — as f32.
 * permute_heads > 0: q/k matrix or bias to un-permute (that many heads). */
static float *load_tensor(loader *L, const char *name, uint64_t rows, uint64_t cols,
                          bool optional, int permute_heads, bool *present) {
    wsrc w = {0};
    if (present) *present = false;
    if (!L->src->find(L->src->ctx, name, &w)) {
        /* the source names the tensor in its own convention when it can */
        if (!optional)
            ct_err(L->err, "%s: missing tensor '%s'", L->m->path, w.name[0] ? w.name : name);
        return NULL;
    }
    if (present) *present = true;
    uint64_t want_n = rows ? rows * cols : cols;
    uint64_t n = 1;
    for (uint32_t i = 0; i < w.n_dims; i++) n *= w.ne[i];
    bool shape_ok = rows ? (w.n_dims == 2 && w.ne[0] == cols && w.ne[1] == rows)
                         : (n == cols && w.ne[0] == cols);
    if (!shape_ok || n != want_n) {
        ct_err(L->err, "tensor '%s' has shape [%llu, %llu], expected [%llu, %llu]", w.name,
               (unsigned long long)(w.n_dims > 1 ? w.ne[1] : 1), (unsigned long long)w.ne[0],
               (unsigned long long)(rows ? rows : 1), (unsigned long long)cols);
        return NULL;
    }
    if (!dt_convertible(w.type)) {
        ct_err(L->err, "tensor '%s' has unsupported type %s (supported: F32 F16 BF16 Q8_0 Q4_0 "
               "Q4_1 Q5_0 Q5_1 IQ4_NL Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS)", w.name, dt_name(w.type));
        return NULL;
    }
    bool need_perm = permute_heads > 0 && L->src->qk_interleaved;
    L->m->n_params += n;
    if (w.type == DT_F32 && !need_perm && ((uintptr_t)w.data % sizeof(float)) == 0)
        return (float *)w.data; /* zero-copy from the mapping */
    float *buf = malloc(n * sizeof(float));
    if (!buf) { ct_err(L->err, "out of memory converting '%s'", w.name); return NULL; }
    if (!dt_to_f32(w.type, w.data, buf, n)) {
        free(buf);
        ct_err(L->err, "tensor '%s': conversion from %s failed", w.name, dt_name(w.type));
        return NULL;
    }
    if (need_perm) {
        uint64_t c = rows ? cols : 1;
        uint64_t hd = (rows ? rows : cols) / (uint64_t)permute_heads;
        float *out = malloc(n * sizeof(float));
        if (!out) { free(buf); ct_err(L->err, "out of memory"); return NULL; }
        unpermute_rows(buf, out, permute_heads, (int)hd, (int)c);
        free(buf);
        buf = out;
    }
    if (!model_own(L->m, buf)) { ct_err(L->err, "out of memory"); return NULL; }
    return buf;
}

/* Drops the pages wholly inside [p, p + bytes) of a read-only file mapping
 * from the resident set (the data was copied; nothing reads it again). */
static void release_mapped(const void *p, size_t bytes) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p, e = a + bytes;
    uintptr_t lo = (a + page - 1) / page * page, hi = e / page * page;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failure only costs memory */
}

/* Replaces *w, a row-major (N, K) matrix loaded by load_tensor (owned by the
 * model or mapped from the file), by its packed form (matmul.h) in a new
 * buffer (huge pages: mm_alloc); the old one is freed or its mapping
 * released at once, so at most one matrix is held twice, briefly. */
static bool pack_weight(loader *L, float **w, int N, int K, const char *what) {
    model *m = L->m;
    int owned = -1;
    for (int i = 0; i < m->n_owned && owned < 0; i++)
        if (m->owned[i] == *w) owned = i;
    float *buf = mm_alloc(mm_packed_size(N, K) * sizeof(float));
    if (!buf) return ct_err(L->err, "out of memory packing '%s'", what);
    mm_pack(*w, N, K, buf);
    if (owned >= 0) {
        free(*w);
        m->owned[owned] = buf;
    } else {
        release_mapped(*w, (size_t)N * K * sizeof(float));
        if (!model_own(m, buf)) return ct_err(L->err, "out of memory");
    }
    *w = buf;
    return true;
}

static bool load_layer(loader *L, int l, layer_weights *w) {
    const model_config *c = &L->m->cfg;
    bool bias = arch_get(c->arch)->qkv_bias;
    uint64_t q = (uint64_t)c->n_heads * c->head_dim, kv = (uint64_t)c->n_kv_heads * c->head_dim;
    /* rows = 0: a vector of `cols`; perm: heads to un-permute for RoPE */
    const struct { float **dst; const char *suffix; uint64_t rows, cols; int perm; bool want; } t[] = {
        {&w->attn_norm, "attn_norm.weight", 0, c->dim, 0, true},
        {&w->wq, "attn_q.weight", q, c->dim, c->n_heads, true},
        {&w->wk, "attn_k.weight", kv, c->dim, c->n_kv_heads, true},
        {&w->wv, "attn_v.weight", kv, c->dim, 0, true},
        {&w->wo, "attn_output.weight", c->dim, q, 0, true},
        {&w->ffn_norm, "ffn_norm.weight", 0, c->dim, 0, true},
        {&w->w_gate, "ffn_gate.weight", c->ffn_dim, c->dim, 0, true},
        {&w->w_up, "ffn_up.weight", c->ffn_dim, c->dim, 0, true},
        {&w->w_down, "ffn_down.weight", c->dim, c->ffn_dim, 0, true},
        {&w->bq, "attn_q.bias", 0, q, c->n_heads, bias},
        {&w->bk, "attn_k.bias", 0, kv, c->n_kv_heads, bias},
        {&w->bv, "attn_v.bias", 0, kv, 0, bias},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!t[i].want) continue;
        char name[96];
        snprintf(name, sizeof name, "blk.%d.%s", l, t[i].suffix);
        *t[i].dst = load_tensor(L, name, t[i].rows, t[i].cols, false, t[i].perm, NULL);
        if (!*t[i].dst) return false;
        if (t[i].rows && !pack_weight(L, t[i].dst, (int)t[i].rows, (int)t[i].cols, name)) return false;
    }
    return true;
}

bool model_assemble(model *m, const weight_source *src, char *err) {
    model_config *c = &m->cfg;
    loader L = {m, src, err};
    if (!(m->tok_embd = load_tensor(&L, "token_embd.weight", c->vocab, c->dim, false, 0, NULL)))
        return false;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return ct_err(err, "out of memory");
    for (int l = 0; l < c->n_layers; l++)
        if (!load_layer(&L, l, &m->layers[l])) return false;
    if (!(m->out_norm = load_tensor(&L, "output_norm.weight", 0, c->dim, false, 0, NULL)))
        return false;
    bool present = false;
    m->output = c->tied_output ? NULL
                               : load_tensor(&L, "output.weight", c->vocab, c->dim, true, 0, &present);
    if (present && !m->output) return false;
    if (present && !pack_weight(&L, &m->output, c->vocab, c->dim, "output.weight")) return false;
    if (!m->output) {
        /* tied (declared, or no separate head stored): the embedding is
         * packed for the head, and embedding rows are read out of it */
        if (!pack_weight(&L, &m->tok_embd, c->vocab, c->dim, "token_embd.weight")) return false;
        m->output = m->tok_embd;
        c->tied_output = true;
    }
    return true;
}

/* ---- entry points --------------------------------------------------------- */

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
