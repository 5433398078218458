/*
 * model.c — loading a model, independent of the file format: dispatch on
 * the path, sanity limits on the hyper-parameters, the RoPE frequency,
 * ALiBi slope and T5 relative-bucket tables, and freeing.  The weights themselves are assembled
 * by model_assemble.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
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
    free(m->enc_layers);
    lora_free_all(m);
    free(m->rope_inv_freq);
    free(m->alibi_slopes);
    free(m->rel_bucket_enc);
    free(m->rel_bucket_dec);
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
        return ct_err(err, "%s epsilon %g is out of range", c->norm == NORM_RMS ? "RMSNorm" : "LayerNorm",
                      (double)c->norm_eps);
    if (c->pos == POS_ROPE && (c->n_rot < 2 || c->n_rot > c->head_dim || c->n_rot % 2 != 0))
        return ct_err(err, "RoPE dimension count %d must be even and in [2, head dimension %d]", c->n_rot,
                      c->head_dim);
    if (c->pos == POS_ALIBI && !(c->alibi_max_bias > 0 && c->alibi_max_bias < 1e4))
        return ct_err(err, "ALiBi max bias %g is invalid (must be a positive number)", (double)c->alibi_max_bias);
    struct { const char *name; float v; } pos[] = {
        {"attention scale", c->attn_scale}, {"embedding scale", c->embd_scale},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (!(pos[i].v > 0 && isfinite(pos[i].v)))
            return ct_err(err, "%s %g is invalid (must be a positive number)", pos[i].name, (double)pos[i].v);
    struct { const char *name; float v; } nonneg[] = {
        {"attention logit soft-capping", c->attn_softcap}, {"final logit soft-capping", c->final_softcap},
        {"qkv clamp", c->clamp_qkv},
    };
    for (size_t i = 0; i < sizeof nonneg / sizeof nonneg[0]; i++)
        if (!(nonneg[i].v >= 0 && isfinite(nonneg[i].v)))
            return ct_err(err, "%s %g is invalid (must be 0 (off) or a positive number)", nonneg[i].name,
                          (double)nonneg[i].v);
    if (c->sliding_window < 0 || c->swa_dense_every < 0)
        return ct_err(err, "sliding window %d (every %d-th layer full) is invalid", c->sliding_window,
                      c->swa_dense_every);
    if (c->n_enc_layers < 0 || c->n_enc_layers > 1024)
        return ct_err(err, "encoder layer count %d is out of range [0, 1024]", c->n_enc_layers);
    /* T5's buckets: half for each sign in the encoder, half of those exact;
     * past max_distance every offset shares the last bucket */
    if (c->pos == POS_RELATIVE &&
        (c->rel_buckets < 4 || c->rel_buckets > 1024 || c->rel_buckets % 4 != 0 ||
         c->rel_max_distance <= c->rel_buckets / 2 || c->rel_max_distance > 1 << 16))
        return ct_err(err, "relative attention: %d buckets (a multiple of 4 in [4, 1024]) up to distance %d "
                      "(in (buckets / 2, 65536]) is not supported", c->rel_buckets, c->rel_max_distance);
    if (c->n_enc_layers > 0 && (c->dec_start_id < 0 || c->dec_start_id >= c->vocab))
        return ct_err(err, "decoder start token id %d is outside the vocabulary [0, %d)", (int)c->dec_start_id,
                      c->vocab);
    if (!(c->output_scale > 0 && isfinite(c->output_scale)))
        return ct_err(err, "output scale %g is invalid (must be a positive number)", (double)c->output_scale);
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

/* inv_freq[i] = theta^(-2i/d) over the d = n_rot rotated dims of a head,
 * then the scaling rule:
 *   linear: every frequency divided by the factor (positions interpolated);
 *   llama3: long wavelengths divided by the factor, short ones kept, a
 *           smooth blend between (Llama 3.1's published rule);
 *   freq_factors (GGUF rope_freqs.weight): per-frequency divisors. */
void model_init_rope(model *m, const float *freq_factors) {
    const model_config *c = &m->cfg;
    int half = c->n_rot / 2;
    m->rope_inv_freq = malloc((size_t)(half > 0 ? half : 1) * sizeof(float));
    if (!m->rope_inv_freq) return;
    for (int i = 0; i < half; i++) {
        double f = pow((double)c->rope_theta, -2.0 * i / c->n_rot);
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

/* ALiBi (Press et al.; llama.cpp's and HF bloom/mpt's rule): with n2 the
 * largest power of 2 <= n_heads, heads h < n2 get m0^(h+1), m0 =
 * 2^(-max_bias/n2), and the others the odd powers of m1 = 2^(-max_bias/2/n2):
 * m1^(2(h-n2)+1) (6 heads, bias 8: 2^-2, 2^-4, 2^-6, 2^-8, 2^-1, 2^-3). */
bool model_init_alibi(model *m) {
    const model_config *c = &m->cfg;
    if (c->pos != POS_ALIBI) return true;
    m->alibi_slopes = malloc((size_t)c->n_heads * sizeof(float));
    if (!m->alibi_slopes) return false;
    int n2 = 1;
    while (n2 * 2 <= c->n_heads) n2 *= 2;
    double m0 = pow(2.0, -(double)c->alibi_max_bias / n2), m1 = pow(2.0, -(double)c->alibi_max_bias / 2 / n2);
    for (int h = 0; h < c->n_heads; h++)
        m->alibi_slopes[h] = (float)(h < n2 ? pow(m0, h + 1) : pow(m1, 2 * (h - n2) + 1));
    return true;
}

/* transformers' _relative_position_bucket in double: |d| below half of a
 * side's buckets is its own bucket, the rest share logarithmic bins up to
 * max_distance (truncated toward zero, capped at the side's last bucket).
 * The float32 forms of transformers and llama.cpp give the same buckets
 * for T5's 32 buckets and distance 128 (tests/engine/model/t5_ref.py
 * checks the tables against its own float32 form). */
int32_t model_rel_bucket(int d, int n_buckets, int max_distance, bool bidirectional) {
    int base = 0, n = n_buckets, r;
    if (bidirectional) {
        n /= 2;
        if (d > 0) base = n;
        r = d < 0 ? -d : d;
    } else {
        r = d < 0 ? -d : 0;
    }
    int exact = n / 2;
    if (r < exact) return base + r;
    double large = exact + log((double)r / exact) / log((double)max_distance / exact) * (n - exact);
    int b = large < n - 1 ? (int)large : n - 1;
    return base + b;
}

/* The decoder's and the encoder's bucket of every offset in
 * [-max_distance, max_distance]. */
static bool init_rel_buckets(model *m) {
    const model_config *c = &m->cfg;
    if (c->pos != POS_RELATIVE) return true;
    int D = c->rel_max_distance;
    m->rel_bucket_enc = malloc((size_t)(2 * D + 1) * sizeof(int32_t));
    m->rel_bucket_dec = malloc((size_t)(2 * D + 1) * sizeof(int32_t));
    if (!m->rel_bucket_enc || !m->rel_bucket_dec) return false;
    for (int d = -D; d <= D; d++) {
        m->rel_bucket_enc[d + D] = model_rel_bucket(d, c->rel_buckets, D, true);
        m->rel_bucket_dec[d + D] = model_rel_bucket(d, c->rel_buckets, D, false);
    }
    return true;
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
    if (ok && (!m->rope_inv_freq || !model_init_alibi(m) || !init_rel_buckets(m))) ok = ct_err(err, "out of memory");
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
        .encoder_decoder = model_is_encdec(c),
        .n_enc_layers = c->n_enc_layers,
        .decoder_start_id = c->dec_start_id,
    };
}

const tokenizer *model_tokenizer(const model *m) { return m->tok; }

bool model_is_eos(const model *m, int32_t id) {
    for (int i = 0; i < m->n_eos; i++)
        if (m->eos_ids[i] == id) return true;
    return false;
}
