/*
 * synth_model.c — seeded random decoder models written as GGUF files or
 * Hugging Face directories (synth_model.h).  Owns: the PRNG, the tensor
 * plan of an architecture (names, shapes, init scales), the HF -> GGUF q/k
 * row permutation, the llama3 rope_freqs table, GGUF metadata (including
 * the copy of a vocab file's tokenizer keys), and the streaming writers.
 *
 * Every tensor has its own PRNG stream, seeded from (seed, GGUF name), so
 * its values do not depend on the order tensors are written in.  Writers
 * lay out the file's header first, then generate, encode and write one
 * tensor at a time: a 4.4 GB model needs one tensor's memory, not two
 * copies of the model.  The GGUF header (metadata + tensor infos with
 * precomputed offsets) comes from gguf_write.h's gw_serialize over
 * data-less gw_add_tensor_raw infos; the data section is streamed here.
 * Also: synth_gguf_rewrite, a GGUF copy with one edit (broken-file tests).
 * Quantizers live in synth_quant.c.
 */
#include "synth_model.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/dtype.h"
#include "model/gguf.h"
#include "gguf_write.h"
#include "model/model.h"

enum { GGUF_ALIGN = 32 };

synth_config synth_default(void) {
    return (synth_config){
        .arch = "llama", .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
        .head_dim = 16, .ffn_dim = 128, .ctx_len = 512, .rope_theta = 10000.0f,
        .norm_eps = 1e-5f, .tied = false, .rope_scaling = NULL, .rope_factor = 1.0f,
        .rope_low_freq_factor = 1.0f, .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 8192,
        .weight_type = DT_F32, .seed = 1,
    };
}

/* ---- PRNG: splitmix64 seeding, xoshiro256**, polar Box-Muller ------- */

typedef struct {
    uint64_t s[4];
    bool has_spare;
    double spare;
} rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, const char *stream) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the stream name */
    for (const char *p = stream; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    uint64_t x = seed ^ h;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = false;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Marsaglia's polar form of Box-Muller: two normals per accepted point. */
static double rng_normal(rng *r) {
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u, v, s;
    do {
        u = (rng_next(r) >> 11) * 0x1.0p-52 - 1.0; /* [-1, 1) */
        v = (rng_next(r) >> 11) * 0x1.0p-52 - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double k = sqrt(-2.0 * log(s) / s);
    r->spare = v * k;
    r->has_spare = true;
    return u * k;
}

/* ---- the tensor plan ---------------------------------------------------- */

typedef struct {
    char gguf[64], hf[96];
    uint64_t rows, cols; /* rows 0: a vector of cols */
    float mean, std;
    int perm_heads;      /* q/k: heads whose rows GGUF llama interleaves */
    bool matrix;         /* 2-D: stored in weight_type (GGUF 1-D stays F32) */
    bool rope_freqs;     /* GGUF-only llama3 factor table */
} tspec;

typedef struct {
    const synth_config *c;
    const arch_desc *a;
    int head_dim;
    int vocab;
    int32_t bos, eos;    /* -1 if the vocab has none */
    tspec *t;
    int n;
} plan;

static void plan_free(plan *p) { free(p->t); }

static bool check_config(const synth_config *c, const arch_desc **a, char *err) {
    if (!c->arch || !(*a = arch_find_gguf(c->arch)))
        return ct_err(err, "synth: unsupported arch '%s'", c->arch ? c->arch : "(null)");
    if ((*a)->pos != POS_ROPE || (*a)->norm != NORM_RMS || (*a)->ffn != FFN_SWIGLU || (*a)->id == ARCH_PHI3)
        return ct_err(err, "synth: arch '%s' is not written here (llama-shaped decoders only)", c->arch);
    if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->ffn_dim <= 0 || c->ctx_len <= 0 || c->head_dim < 0 || c->n_heads % c->n_kv_heads)
        return ct_err(err, "synth: invalid dimensions");
    int hd = c->head_dim ? c->head_dim : c->dim / c->n_heads;
    if (hd <= 0 || hd % 2) return ct_err(err, "synth: head_dim %d must be even and > 0", hd);
    if (!(c->rope_theta > 0) || !(c->norm_eps > 0)) return ct_err(err, "synth: bad rope_theta/norm_eps");
    if (c->rope_scaling && strcmp(c->rope_scaling, "linear") && strcmp(c->rope_scaling, "llama3"))
        return ct_err(err, "synth: unknown rope_scaling '%s'", c->rope_scaling);
    if (c->rope_scaling && !(c->rope_factor > 0)) return ct_err(err, "synth: rope_factor must be > 0");
    if (c->rope_scaling && !strcmp(c->rope_scaling, "llama3") &&
        (c->rope_orig_ctx <= 0 || !(c->rope_high_freq_factor > c->rope_low_freq_factor)))
        return ct_err(err, "synth: llama3 scaling needs orig_ctx > 0 and high > low freq factor");
    uint32_t wt = c->weight_type;
    if (!synth_can_quantize(wt))
        return ct_err(err, "synth: unsupported weight type %s", dt_name(c->weight_type));
    if (!c->vocab_gguf) return ct_err(err, "synth: vocab_gguf is required");
    return true;
}

static tspec *add(plan *p, const char *gguf, const char *hf, uint64_t rows, uint64_t cols,
                  float mean, float std) {
    tspec *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->gguf, sizeof t->gguf, "%s", gguf);
    snprintf(t->hf, sizeof t->hf, "%s", hf);
    t->rows = rows;
    t->cols = cols;
    t->mean = mean;
    t->std = std;
    t->matrix = rows > 0;
    return t;
}

static void add_layer(plan *p, int l) {
    const synth_config *c = p->c;
    uint64_t q = (uint64_t)c->n_heads * p->head_dim, kv = (uint64_t)c->n_kv_heads * p->head_dim;
    float s_dim = (float)sqrt(1.0 / c->dim), s_ffn = (float)sqrt(1.0 / c->ffn_dim);
    const struct { const char *g, *h; uint64_t rows, cols; float mean, std; int perm; bool bias; } L[] = {
        {"attn_norm.weight", "input_layernorm.weight", 0, c->dim, 1, 0.1f, 0, false},
        {"attn_q.weight", "self_attn.q_proj.weight", q, c->dim, 0, s_dim, c->n_heads, false},
        {"attn_k.weight", "self_attn.k_proj.weight", kv, c->dim, 0, s_dim, c->n_kv_heads, false},
        {"attn_v.weight", "self_attn.v_proj.weight", kv, c->dim, 0, s_dim, 0, false},
        {"attn_q.bias", "self_attn.q_proj.bias", 0, q, 0, 0.5f, c->n_heads, true},
        {"attn_k.bias", "self_attn.k_proj.bias", 0, kv, 0, 0.5f, c->n_kv_heads, true},
        {"attn_v.bias", "self_attn.v_proj.bias", 0, kv, 0, 0.5f, 0, true},
        {"attn_output.weight", "self_attn.o_proj.weight", c->dim, q, 0, s_dim, 0, false},
        {"ffn_norm.weight", "post_attention_layernorm.weight", 0, c->dim, 1, 0.1f, 0, false},
        {"ffn_gate.weight", "mlp.gate_proj.weight", c->ffn_dim, c->dim, 0, s_dim, 0, false},
        {"ffn_up.weight", "mlp.up_proj.weight", c->ffn_dim, c->dim, 0, s_dim, 0, false},
        {"ffn_down.weight", "mlp.down_proj.weight", c->dim, c->ffn_dim, 0, s_ffn, 0, false},
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        if (L[i].bias && !p->a->qkv_bias) continue;
        char g[64], h[96];
        snprintf(g, sizeof g, "blk.%d.%s", l, L[i].g);
        snprintf(h, sizeof h, "model.layers.%d.%s", l, L[i].h);
        tspec *t = add(p, g, h, L[i].rows, L[i].cols, L[i].mean, L[i].std);
        if (p->a->gguf_qk_permuted) t->perm_heads = L[i].perm;
        if (p->a->qk_norm && !strcmp(L[i].g, "attn_k.weight")) { /* qwen3's per-head gains, after q and k */
            const char *names[2][2] = {{"attn_q_norm.weight", "self_attn.q_norm.weight"},
                                       {"attn_k_norm.weight", "self_attn.k_norm.weight"}};
            for (int k = 0; k < 2; k++) {
                snprintf(g, sizeof g, "blk.%d.%s", l, names[k][0]);
                snprintf(h, sizeof h, "model.layers.%d.%s", l, names[k][1]);
                add(p, g, h, 0, (uint64_t)p->head_dim, 1, 0.3f);
            }
        }
    }
}

/* Vocabulary size and BOS/EOS ids from the vocab GGUF. */
static bool read_vocab(plan *p, char *err) {
    gguf_file *f = gguf_open(p->c->vocab_gguf, err);
    if (!f) return false;
    gguf_type ty = GGUF_T_UINT8;
    uint64_t n = 0;
    uint32_t v;
    bool ok = gguf_get_arr(f, "tokenizer.ggml.tokens", &ty, &n) && ty == GGUF_T_STRING && n > 0 &&
              n < (1u << 30);
    if (!ok) ct_err(err, "%s: no tokenizer.ggml.tokens string array", p->c->vocab_gguf);
    p->vocab = (int)n;
    p->bos = gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &v) ? (int32_t)v : -1;
    p->eos = gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &v) ? (int32_t)v : -1;
    gguf_close(f);
    return ok;
}

static bool plan_init(plan *p, const synth_config *c, char *err) {
    memset(p, 0, sizeof *p);
    p->c = c;
    if (!check_config(c, &p->a, err)) return false;
    p->head_dim = c->head_dim ? c->head_dim : c->dim / c->n_heads;
    if (!read_vocab(p, err)) return false;
    p->t = calloc((size_t)c->n_layers * 14 + 4, sizeof *p->t);
    if (!p->t) return ct_err(err, "synth: out of memory");
    add(p, "token_embd.weight", "model.embed_tokens.weight", p->vocab, c->dim, 0, 1);
    if (c->rope_scaling && !strcmp(c->rope_scaling, "llama3"))
        add(p, "rope_freqs.weight", "", 0, p->head_dim / 2, 0, 0)->rope_freqs = true;
    for (int l = 0; l < c->n_layers; l++) add_layer(p, l);
    add(p, "output_norm.weight", "model.norm.weight", 0, c->dim, 1, 0.1f);
    if (!c->tied) add(p, "output.weight", "lm_head.weight", p->vocab, c->dim, 0, 1.5f);
    return true;
}

static uint64_t n_elems(const tspec *t) { return t->rows ? t->rows * t->cols : t->cols; }

/* ---- tensor values ------------------------------------------------------- */

/* llama.cpp's convert_hf_to_gguf llama3 rule: per frequency, the divisor
 * `factor` for long wavelengths, 1 for short, a smooth blend between. */
static void llama3_factors(const plan *p, float *out) {
    const synth_config *c = p->c;
    double low_wl = c->rope_orig_ctx / c->rope_low_freq_factor;
    double high_wl = c->rope_orig_ctx / c->rope_high_freq_factor;
    for (int i = 0; i < p->head_dim / 2; i++) {
        double freq = 1.0 / pow((double)c->rope_theta, 2.0 * i / p->head_dim);
        double wl = 2 * M_PI / freq;
        if (wl < high_wl) {
            out[i] = 1.0f;
        } else if (wl > low_wl) {
            out[i] = c->rope_factor;
        } else {
            double smooth = (c->rope_orig_ctx / wl - c->rope_low_freq_factor) /
                            (c->rope_high_freq_factor - c->rope_low_freq_factor);
            out[i] = (float)(1.0 / ((1 - smooth) / c->rope_factor + smooth));
        }
    }
}

/* HF rotate-half rows -> GGUF interleaved rows, per head:
 * GGUF row 2j+t = HF row t*(hd/2)+j  (W.reshape(h, 2, hd/2, in).swapaxes(1, 2)). */
static void permute_rows(const float *in, float *out, int heads, uint64_t rows, uint64_t cols) {
    uint64_t hd = rows / (uint64_t)heads, half = hd / 2;
    for (uint64_t h = 0; h < (uint64_t)heads; h++)
        for (uint64_t j = 0; j < half; j++)
            for (uint64_t t = 0; t < 2; t++)
                memcpy(out + (h * hd + 2 * j + t) * cols, in + (h * hd + t * half + j) * cols,
                       cols * sizeof(float));
}

/* The tensor's f32 values (malloc'd), in GGUF row order if gguf. */
static float *gen_values(const plan *p, const tspec *t, bool gguf) {
    uint64_t n = n_elems(t);
    float *x = malloc(n * sizeof(float));
    if (!x) return NULL;
    if (t->rope_freqs) {
        llama3_factors(p, x);
        return x;
    }
    rng r;
    rng_seed(&r, p->c->seed, t->gguf);
    for (uint64_t i = 0; i < n; i++) x[i] = (float)(t->mean + t->std * rng_normal(&r));
    if (gguf && t->perm_heads > 0) {
        float *y = malloc(n * sizeof(float));
        if (!y) { free(x); return NULL; }
        permute_rows(x, y, t->perm_heads, t->rows ? t->rows : t->cols, t->rows ? t->cols : 1);
        free(x);
        x = y;
    }
    return x;
}

/* llama.cpp's use_more_bits: the layers whose attn_v / ffn_down its *_K_M
 * mixes keep at Q6_K (the first and last eighth, every third between). */
static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The type llama-quantize would give a GGUF matrix for weight_type (the
 * *_K_M mixes for Q4_K / Q5_K; Q6_K output for the 4- and 5-bit types). */
static uint32_t mix_type(const synth_config *c, const char *name) {
    uint32_t wt = c->weight_type;
    bool low = wt == DT_Q4_0 || wt == DT_Q4_1 || wt == DT_Q5_0 || wt == DT_Q5_1 || wt == DT_Q4_K ||
               wt == DT_Q5_K || wt == DT_IQ4_NL;
    if (low && !strcmp(name, "output.weight")) return DT_Q6_K;
    int l;
    char rest[64];
    if ((wt == DT_Q4_K || wt == DT_Q5_K) && sscanf(name, "blk.%d.%63s", &l, rest) == 2 &&
        (!strcmp(rest, "attn_v.weight") || !strcmp(rest, "ffn_down.weight")) && more_bits(l, c->n_layers))
        return DT_Q6_K;
    return wt;
}

/* Storage type of a tensor; false + err if its rows do not fit the blocks. */
static bool tensor_type(const plan *p, const tspec *t, bool gguf, uint32_t *type, uint64_t *nbytes,
                        char *err) {
    *type = (t->matrix || !gguf) ? p->c->weight_type : DT_F32;
    if (gguf && t->matrix && p->c->llama_mix) *type = mix_type(p->c, t->gguf);
    uint32_t be = dt_block_elems(*type);
    if (t->cols % be != 0)
        return ct_err(err, "synth: tensor '%s': row length %llu is not a multiple of the %s block "
                      "size %u", gguf ? t->gguf : t->hf, (unsigned long long)t->cols, dt_name(*type), be);
    return dt_bytes(*type, n_elems(t), nbytes) ? true : ct_err(err, "synth: size overflow");
}

static bool write_zeros(FILE *f, uint64_t n) {
    static const char zeros[64];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k) return false;
        n -= k;
    }
    return true;
}

/* Generate, encode and append one tensor's data. */
static bool write_tensor(FILE *f, const plan *p, const tspec *t, bool gguf, const char *path,
                         char *err) {
    uint32_t type;
    uint64_t nbytes;
    if (!tensor_type(p, t, gguf, &type, &nbytes, err)) return false;
    float *x = gen_values(p, t, gguf);
    void *enc = type == DT_F32 ? (void *)x : malloc(nbytes ? nbytes : 1);
    bool ok = x && enc;
    if (ok && type != DT_F32) ok = synth_quantize(type, x, enc, n_elems(t));
    if (!ok) ct_err(err, "synth: out of memory generating '%s'", t->gguf);
    if (ok && fwrite(enc, 1, nbytes, f) != nbytes) ok = ct_err(err, "%s: write failed: %s", path, strerror(errno));
    if (enc != x) free(enc);
    free(x);
    return ok;
}

/* ---- GGUF metadata -------------------------------------------------------- */

static bool copy_scalar(gw_writer *w, const char *key, const gguf_kv *kv) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; float f32; double f64; } v;
    memset(&v, 0, sizeof v);
    switch (kv->type) {
    case GGUF_T_UINT8: memcpy(&v.u8, kv->data, 1); return gw_add_u8(w, key, v.u8);
    case GGUF_T_INT8: memcpy(&v.i8, kv->data, 1); return gw_add_i8(w, key, v.i8);
    case GGUF_T_BOOL: memcpy(&v.u8, kv->data, 1); return gw_add_bool(w, key, v.u8 != 0);
    case GGUF_T_UINT16: memcpy(&v.u16, kv->data, 2); return gw_add_u16(w, key, v.u16);
    case GGUF_T_INT16: memcpy(&v.i16, kv->data, 2); return gw_add_i16(w, key, v.i16);
    case GGUF_T_UINT32: memcpy(&v.u32, kv->data, 4); return gw_add_u32(w, key, v.u32);
    case GGUF_T_INT32: memcpy(&v.i32, kv->data, 4); return gw_add_i32(w, key, v.i32);
    case GGUF_T_FLOAT32: memcpy(&v.f32, kv->data, 4); return gw_add_f32(w, key, v.f32);
    case GGUF_T_UINT64: memcpy(&v.u64, kv->data, 8); return gw_add_u64(w, key, v.u64);
    case GGUF_T_INT64: memcpy(&v.i64, kv->data, 8); return gw_add_i64(w, key, v.i64);
    case GGUF_T_FLOAT64: memcpy(&v.f64, kv->data, 8); return gw_add_f64(w, key, v.f64);
    default: return false;
    }
}

static bool copy_str_array(gw_writer *w, const gguf_file *f, const char *key, uint64_t n, char *err) {
    char **s = calloc(n ? n : 1, sizeof *s);
    bool ok = s != NULL;
    for (uint64_t i = 0; ok && i < n; i++) {
        gguf_str g;
        ok = gguf_arr_str(f, key, i, &g) && !memchr(g.ptr, 0, g.len); /* (writer takes C strings) */
        ok = ok && (s[i] = strndup(g.ptr, g.len)) != NULL;
    }
    ok = ok && gw_add_arr_str(w, key, (const char *const *)s, n);
    for (uint64_t i = 0; s && i < n; i++) free(s[i]);
    free(s);
    return ok ? true : ct_err(err, "synth: cannot copy '%s' (out of memory or a string with a NUL byte)", key);
}

bool synth_gguf_copy_kv(gw_writer *w, const gguf_file *f, uint64_t i, char *err) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    if (!kv) return ct_err(err, "synth: no metadata entry %llu", (unsigned long long)i);
    char *key = strndup(kv->key.ptr, kv->key.len);
    if (!key) return ct_err(err, "synth: out of memory");
    bool ok;
    if (kv->type == GGUF_T_ARRAY && kv->arr_type == GGUF_T_STRING) {
        ok = copy_str_array(w, f, key, kv->arr_n, err);
    } else if (kv->type == GGUF_T_ARRAY) {
        ok = gw_add_arr(w, key, kv->arr_type, kv->data, kv->arr_n) || ct_err(err, "synth: out of memory");
    } else if (kv->type == GGUF_T_STRING) {
        uint64_t len;
        memcpy(&len, kv->data, 8);
        ok = gw_add_strn(w, key, (const char *)kv->data + 8, len) || ct_err(err, "synth: out of memory");
    } else {
        ok = copy_scalar(w, key, kv) || ct_err(err, "synth: cannot copy '%s'", key);
    }
    free(key);
    return ok;
}

static bool key_u32(gw_writer *w, const char *an, const char *key, uint32_t v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", an, key);
    return gw_add_u32(w, k, v);
}

static bool key_f32(gw_writer *w, const char *an, const char *key, float v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", an, key);
    return gw_add_f32(w, k, v);
}

/* llama.cpp's general.file_type (LLAMA_FTYPE_*) for a weight type. */
static uint32_t file_type(uint32_t t) {
    switch (t) {
    case DT_F16: return 1;
    case DT_Q4_0: return 2;
    case DT_Q4_1: return 3;
    case DT_Q8_0: return 7;
    case DT_Q5_0: return 8;
    case DT_Q5_1: return 9;
    case DT_Q2_K: return 10;
    case DT_Q3_K: return 12; /* MOSTLY_Q3_K_M */
    case DT_Q4_K: return 15; /* MOSTLY_Q4_K_M */
    case DT_Q5_K: return 17; /* MOSTLY_Q5_K_M */
    case DT_Q6_K: return 18;
    case DT_IQ4_NL: return 25;
    case DT_IQ4_XS: return 30;
    case DT_BF16: return 32;
    default: return 0; /* ALL_F32 */
    }
}

/* general.* and <arch>.* keys as llama.cpp's converter writes them. */
static bool add_arch_keys(gw_writer *w, const plan *p) {
    const synth_config *c = p->c;
    const char *an = p->a->name;
    char k[128], name[64];
    snprintf(name, sizeof name, "synth-%s", an);
    bool ok = gw_add_str(w, "general.architecture", an) && gw_add_str(w, "general.name", name) &&
              key_u32(w, an, "vocab_size", (uint32_t)p->vocab) &&
              key_u32(w, an, "context_length", (uint32_t)c->ctx_len) &&
              key_u32(w, an, "embedding_length", (uint32_t)c->dim) &&
              key_u32(w, an, "block_count", (uint32_t)c->n_layers) &&
              key_u32(w, an, "feed_forward_length", (uint32_t)c->ffn_dim) &&
              key_u32(w, an, "attention.head_count", (uint32_t)c->n_heads) &&
              key_u32(w, an, "attention.head_count_kv", (uint32_t)c->n_kv_heads) &&
              key_f32(w, an, "attention.layer_norm_rms_epsilon", c->norm_eps) &&
              key_f32(w, an, "rope.freq_base", c->rope_theta) &&
              key_u32(w, an, "rope.dimension_count", (uint32_t)p->head_dim) &&
              gw_add_u32(w, "general.file_type", file_type(c->weight_type));
    if (ok && p->head_dim != c->dim / c->n_heads)
        ok = key_u32(w, an, "attention.key_length", (uint32_t)p->head_dim) &&
             key_u32(w, an, "attention.value_length", (uint32_t)p->head_dim);
    if (ok && c->sliding_window > 0) ok = key_u32(w, an, "attention.sliding_window", (uint32_t)c->sliding_window);
    if (ok && c->rope_scaling && !strcmp(c->rope_scaling, "linear")) {
        snprintf(k, sizeof k, "%s.rope.scaling.type", an);
        ok = gw_add_str(w, k, "linear") && key_f32(w, an, "rope.scaling.factor", c->rope_factor);
    }
    return ok;
}

/* Metadata: arch keys, then every tokenizer.* key of the vocab file. */
static bool add_metadata(gw_writer *w, const plan *p, char *err) {
    if (!add_arch_keys(w, p)) return ct_err(err, "synth: out of memory");
    gguf_file *f = gguf_open(p->c->vocab_gguf, err);
    if (!f) return false;
    bool ok = true;
    for (uint64_t i = 0; ok && i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (kv->key.len >= 10 && !memcmp(kv->key.ptr, "tokenizer.", 10))
            ok = synth_gguf_copy_kv(w, f, i, err);
    }
    gguf_close(f);
    return ok;
}

/* Header bytes (metadata + tensor infos, padded to the data section). */
static uint8_t *gguf_header(const plan *p, size_t *len, uint64_t *offsets, char *err) {
    gw_writer *w = gw_new();
    if (!w) { ct_err(err, "synth: out of memory"); return NULL; }
    bool ok = add_metadata(w, p, err);
    uint64_t off = 0;
    for (int i = 0; ok && i < p->n; i++) {
        const tspec *t = &p->t[i];
        uint32_t type;
        uint64_t nbytes, ne[2] = {t->cols, t->rows};
        ok = tensor_type(p, t, true, &type, &nbytes, err);
        off = (off + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
        offsets[i] = off;
        off += nbytes;
        ok = ok && (gw_add_tensor_raw(w, t->gguf, t->rows ? 2 : 1, ne, type, offsets[i]) ||
                    ct_err(err, "synth: out of memory"));
    }
    uint8_t *hdr = ok ? gw_serialize(w, len) : NULL;
    if (ok && !hdr) ct_err(err, "synth: out of memory");
    gw_free(w);
    return hdr;
}

bool synth_write_gguf(const synth_config *c, const char *path, char *err) {
    plan p;
    if (!plan_init(&p, c, err)) { plan_free(&p); return false; }
    uint64_t *offsets = calloc((size_t)p.n, sizeof *offsets);
    size_t hlen = 0;
    uint8_t *hdr = offsets ? gguf_header(&p, &hlen, offsets, err) : NULL;
    if (!offsets) ct_err(err, "synth: out of memory");
    FILE *f = hdr ? fopen(path, "wb") : NULL;
    bool ok = f != NULL;
    if (hdr && !f) ct_err(err, "%s: %s", path, strerror(errno));
    if (ok && fwrite(hdr, 1, hlen, f) != hlen) ok = ct_err(err, "%s: write failed", path);
    uint64_t pos = 0; /* within the data section */
    for (int i = 0; ok && i < p.n; i++) {
        uint32_t type;
        uint64_t nbytes;
        ok = write_zeros(f, offsets[i] - pos) || ct_err(err, "%s: write failed", path);
        ok = ok && tensor_type(&p, &p.t[i], true, &type, &nbytes, err) &&
             write_tensor(f, &p, &p.t[i], true, path, err);
        pos = offsets[i] + nbytes;
    }
    if (f && fclose(f) != 0 && ok) ok = ct_err(err, "%s: write failed", path);
    free(hdr);
    free(offsets);
    plan_free(&p);
    return ok;
}

/* ---- rewriting a GGUF file with one edit ------------------------------------ */

static bool key_is(const gguf_kv *kv, const char *key) {
    return key && kv->key.len == strlen(key) && !memcmp(kv->key.ptr, key, kv->key.len);
}

static bool copy_edited_kv(gw_writer *w, const gguf_file *f, uint64_t i, const synth_gguf_edit *e,
                           char *err) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    if (key_is(kv, e->drop_kv)) return true;
    bool ok = key_is(kv, e->u32_key)   ? gw_add_u32(w, e->u32_key, e->u32)
              : key_is(kv, e->f32_key) ? gw_add_f32(w, e->f32_key, e->f32)
              : key_is(kv, e->str_key) ? gw_add_str(w, e->str_key, e->str)
                                       : synth_gguf_copy_kv(w, f, i, err);
    return ok || ct_err(err, "synth: cannot copy metadata entry %llu", (unsigned long long)i);
}

/* Data of tensor t under the edit (copy=true: the writer keeps a copy). */
static bool copy_edited_tensor(gw_writer *w, const gguf_tensor *t, const synth_gguf_edit *e) {
    bool target = e->tensor && !strcmp(t->name, e->tensor);
    if (e->to_f32) {
        float *x = malloc(t->n_elems * sizeof(float));
        bool ok = x && dt_to_f32(t->type, t->data, x, t->n_elems) &&
                  gw_add_tensor(w, t->name, t->n_dims, t->ne, DT_F32, x, t->n_elems * 4, true);
        free(x);
        return ok;
    }
    if (!target) return gw_add_tensor(w, t->name, t->n_dims, t->ne, t->type, t->data, t->nbytes, false);
    if (e->drop) return true;
    uint32_t nd = e->n_dims ? e->n_dims : t->n_dims, type = e->retype ? e->type : t->type;
    const uint64_t *ne = e->n_dims ? e->ne : t->ne;
    if (e->raw) return gw_add_tensor_raw(w, t->name, nd, ne, type, e->offset);
    uint64_t n = 1, nbytes;
    for (uint32_t d = 0; d < nd; d++) n *= ne[d];
    void *zeros = dt_bytes(type, n, &nbytes) ? calloc(1, nbytes ? nbytes : 1) : NULL;
    bool ok = zeros && gw_add_tensor(w, t->name, nd, ne, type, zeros, nbytes, true);
    free(zeros);
    return ok;
}

bool synth_gguf_rewrite(const char *src, const char *dst, const synth_gguf_edit *e, char *err) {
    gguf_file *f = gguf_open(src, err);
    if (!f) return false;
    gw_writer *w = gw_new();
    bool ok = w != NULL;
    for (uint64_t i = 0; ok && i < gguf_n_kv(f); i++) ok = copy_edited_kv(w, f, i, e, err);
    if (ok && e->add_key && !gw_add_str(w, e->add_key, e->add_str ? e->add_str : ""))
        ok = ct_err(err, "synth: cannot add metadata entry '%s'", e->add_key);
    for (uint64_t i = 0; ok && i < gguf_n_tensors(f); i++) {
        ok = copy_edited_tensor(w, gguf_tensor_at(f, i), e);
        if (!ok) ct_err(err, "synth: cannot copy tensor '%s'", gguf_tensor_at(f, i)->name);
    }
    ok = ok && gw_write(w, dst, err);
    gw_free(w);
    gguf_close(f);
    return ok;
}

/* ---- Hugging Face directory ------------------------------------------------- */

static const char *torch_dtype(uint32_t type) {
    return type == DT_F16 ? "float16" : type == DT_BF16 ? "bfloat16" : "float32";
}

static json_t *id_or_null(int32_t id) { return id >= 0 ? json_integer(id) : json_null(); }

static json_t *hf_rope_scaling(const synth_config *c) {
    if (!c->rope_scaling) return json_null();
    if (!strcmp(c->rope_scaling, "linear"))
        return json_pack("{s:s, s:f}", "rope_type", "linear", "factor", (double)c->rope_factor);
    return json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor", (double)c->rope_factor,
                     "low_freq_factor", (double)c->rope_low_freq_factor, "high_freq_factor",
                     (double)c->rope_high_freq_factor, "original_max_position_embeddings",
                     c->rope_orig_ctx);
}

static json_t *hf_config(const plan *p) {
    const synth_config *c = p->c;
    json_t *j = json_pack(
        "{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:f, s:f, s:o, s:i, s:i, s:b, s:s, s:o, s:o, s:b}",
        "architectures", p->a->hf_class, "model_type", p->a->hf_model_type, "hidden_size", c->dim,
        "intermediate_size", c->ffn_dim, "num_attention_heads", c->n_heads, "num_key_value_heads",
        c->n_kv_heads, "num_hidden_layers", c->n_layers, "head_dim", p->head_dim, "hidden_act", "silu",
        "rms_norm_eps", (double)c->norm_eps, "rope_theta", (double)c->rope_theta, "rope_scaling",
        hf_rope_scaling(c), "vocab_size", p->vocab, "max_position_embeddings", c->ctx_len,
        "tie_word_embeddings", (int)c->tied, "torch_dtype", torch_dtype(c->weight_type),
        "bos_token_id", id_or_null(p->bos), "eos_token_id", id_or_null(p->eos), "use_cache", 1);
    if (j && c->sliding_window > 0) {
        json_object_set_new(j, "sliding_window", json_integer(c->sliding_window));
        if (p->a->id == ARCH_LLAMA) { /* a llama with a window is published as Mistral */
            json_object_set_new(j, "model_type", json_string("mistral"));
            json_object_set_new(j, "architectures", json_pack("[s]", "MistralForCausalLM"));
        }
    }
    return j;
}

static bool write_json(const char *dir, const char *file, json_t *j, char *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    bool ok = j && json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0;
    json_decref(j);
    return ok ? true : ct_err(err, "%s: cannot write", path);
}

static bool copy_file(const char *from, const char *to, char *err) {
    size_t len = 0;
    char *data = ct_read_file(from, &len, err);
    if (!data) return false;
    FILE *f = fopen(to, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(data);
    return ok ? true : ct_err(err, "%s: cannot write", to);
}

/* tokenizer.json and, if present beside it, tokenizer_config.json. */
static bool copy_tokenizer(const synth_config *c, const char *dir, char *err) {
    if (!c->tokenizer_json) return true;
    char to[4096], from[4096];
    snprintf(to, sizeof to, "%s/tokenizer.json", dir);
    if (!copy_file(c->tokenizer_json, to, err)) return false;
    const char *slash = strrchr(c->tokenizer_json, '/');
    int dlen = slash ? (int)(slash - c->tokenizer_json) : 1;
    snprintf(from, sizeof from, "%.*s/tokenizer_config.json", dlen, slash ? c->tokenizer_json : ".");
    struct stat st;
    if (stat(from, &st) != 0) return true; /* optional */
    snprintf(to, sizeof to, "%s/tokenizer_config.json", dir);
    return copy_file(from, to, err);
}

/* Safetensors header (padded to a multiple of 8) for tensors [a, b). */
static char *st_header(const plan *p, int a, int b, uint64_t *hlen, char *err) {
    json_t *root = json_pack("{s:{s:s}}", "__metadata__", "format", "pt");
    uint64_t off = 0;
    for (int i = a; root && i < b; i++) {
        const tspec *t = &p->t[i];
        uint32_t type;
        uint64_t nbytes;
        if (!tensor_type(p, t, false, &type, &nbytes, err)) { json_decref(root); return NULL; }
        json_t *shape = t->rows ? json_pack("[I, I]", (json_int_t)t->rows, (json_int_t)t->cols)
                                : json_pack("[I]", (json_int_t)t->cols);
        json_object_set_new(root, t->hf, json_pack("{s:s, s:o, s:[I, I]}", "dtype", dt_name(type),
                                                   "shape", shape, "data_offsets", (json_int_t)off,
                                                   (json_int_t)(off + nbytes)));
        off += nbytes;
    }
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    char *padded = text ? malloc(strlen(text) + 8) : NULL;
    if (padded) {
        size_t n = strlen(text), pn = (n + 7) / 8 * 8;
        memcpy(padded, text, n);
        memset(padded + n, ' ', pn - n);
        padded[pn] = '\0';
        *hlen = pn;
    }
    free(text);
    if (!padded) ct_err(err, "synth: out of memory");
    return padded;
}

static bool write_st_file(const plan *p, int a, int b, const char *path, char *err) {
    uint64_t hlen = 0;
    char *hdr = st_header(p, a, b, &hlen, err);
    if (!hdr) return false;
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL || ct_err(err, "%s: %s", path, strerror(errno));
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hlen >> (8 * i));
    ok = ok && ((fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen) ||
                ct_err(err, "%s: write failed", path));
    for (int i = a; ok && i < b; i++) ok = write_tensor(f, p, &p->t[i], false, path, err);
    if (f && fclose(f) != 0 && ok) ok = ct_err(err, "%s: write failed", path);
    free(hdr);
    return ok;
}

/* Tensors split into n_shards contiguous runs + the index. */
static bool write_shards(const plan *p, int n_hf, const char *dir, int n_shards, char *err) {
    json_t *map = json_object();
    uint64_t total = 0;
    bool ok = map != NULL;
    for (int s = 0; ok && s < n_shards; s++) {
        int a = (int)((int64_t)n_hf * s / n_shards), b = (int)((int64_t)n_hf * (s + 1) / n_shards);
        char file[64], path[4096];
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        ok = write_st_file(p, a, b, path, err);
        for (int i = a; ok && i < b; i++) {
            uint32_t type;
            uint64_t nbytes;
            ok = tensor_type(p, &p->t[i], false, &type, &nbytes, err);
            total += nbytes;
            json_object_set_new(map, p->t[i].hf, json_string(file));
        }
    }
    if (!ok) { json_decref(map); return false; }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
    return write_json(dir, "model.safetensors.index.json", idx, err);
}

bool synth_write_hf(const synth_config *c, const char *dir, char *err) {
    if (c->weight_type != DT_F32 && c->weight_type != DT_F16 && c->weight_type != DT_BF16)
        return ct_err(err, "synth: safetensors supports F32, F16 and BF16, not %s", dt_name(c->weight_type));
    plan p;
    if (!plan_init(&p, c, err)) { plan_free(&p); return false; }
    /* the HF tensors: all but the GGUF-only rope_freqs */
    int n_hf = 0;
    for (int i = 0; i < p.n; i++)
        if (!p.t[i].rope_freqs) p.t[n_hf++] = p.t[i];
    bool ok = mkdir(dir, 0755) == 0 || errno == EEXIST || ct_err(err, "%s: %s", dir, strerror(errno));
    ok = ok && write_json(dir, "config.json", hf_config(&p), err);
    ok = ok && write_json(dir, "generation_config.json",
                          json_pack("{s:o, s:o, s:b}", "bos_token_id", id_or_null(p.bos), "eos_token_id",
                                    id_or_null(p.eos), "do_sample", 0), err);
    ok = ok && copy_tokenizer(c, dir, err);
    if (ok && c->hf_shards > 1) {
        ok = write_shards(&p, n_hf, dir, c->hf_shards, err);
    } else if (ok) {
        char path[4096];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        ok = write_st_file(&p, 0, n_hf, path, err);
    }
    plan_free(&p);
    return ok;
}
