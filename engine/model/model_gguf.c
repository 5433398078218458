/*
 * model_gguf.c — a model from one GGUF file: hyper-parameters from the
 * `<arch>.*` keys, the tokenizer from `tokenizer.ggml.*`, tensors by their
 * GGUF names (already the canonical names model.c asks for; T5's are
 * llama.cpp's enc.blk.N.* / dec.blk.N.* ones).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "gguf.h"
#include "model_load.h"
#include "tokenizer/tok_load.h"

static bool gguf_find_weight(void *ctx, const char *name, wsrc *out) {
    const gguf_tensor *t = gguf_find_tensor(ctx, name);
    if (!t) return false;
    snprintf(out->name, sizeof out->name, "%s", t->name);
    out->type = t->type;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->data = t->data;
    return true;
}

/* `<arch>.<key>` as u32; *ok cleared and err set if required and absent,
 * or present and not a count (negative, or past 2^30). */
static int arch_u32(const gguf_file *f, const char *arch, const char *key, int dflt,
                    bool required, bool *ok, char *err) {
    char full[128];
    uint32_t v;
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (gguf_get_u32(f, full, &v) && v <= (1u << 30)) return (int)v;
    if ((required || gguf_find(f, full)) && *ok)
        *ok = ct_err(err, "%s: missing or invalid metadata key '%s'", gguf_path(f), full);
    return dflt;
}

static float arch_f32(const gguf_file *f, const char *arch, const char *key, float dflt) {
    char full[128];
    float v;
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_get_f32(f, full, &v) ? v : dflt;
}

static bool arch_has(const gguf_file *f, const char *arch, const char *key) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_find(f, full) != NULL;
}

/* T5 (llama.cpp's converter): block_count encoder layers and as many
 * decoder layers (decoder_block_count when a newer converter wrote one),
 * relative_buckets_count buckets (max distance 128, as llama.cpp fixes
 * it), the decoder's start token (absent: BOS, model_open_gguf), the MLP
 * gated GELU when enc.blk.0.ffn_gate exists and ReLU otherwise (llama.cpp
 * decides so), q.k unscaled, a tied head scaled by dim^-0.5 (transformers'
 * T5ForConditionalGeneration; llama.cpp leaves it out). */
static bool read_t5(model_config *c, const gguf_file *f, const char *an, char *err) {
    bool ok = true;
    c->n_enc_layers = c->n_layers;
    c->n_layers = arch_u32(f, an, "decoder_block_count", c->n_enc_layers, false, &ok, err);
    c->rel_buckets = arch_u32(f, an, "attention.relative_buckets_count", 0, true, &ok, err);
    c->dec_start_id = arch_u32(f, an, "decoder_start_token_id", 0, false, &ok, err);
    c->ffn = gguf_find_tensor(f, "enc.blk.0.ffn_gate.weight") ? FFN_GEGLU : FFN_RELU;
    c->attn_scale = arch_f32(f, an, "attention.scale", 1.0f);
    if (c->tied_output) c->output_scale = 1.0f / sqrtf((float)c->dim);
    if (ok && (c->rel_buckets < 4 || c->rel_buckets > 1024 || c->rel_buckets % 4 != 0))
        return ct_err(err, "%s: %s.attention.relative_buckets_count %d is not supported (a multiple of 4 in [4, 1024])",
                      gguf_path(f), an, c->rel_buckets);
    return ok;
}

/* The architecture's own keys on top of arch_apply's traits: partial
 * rotary, gptneox's residual, ALiBi's bias, mpt's clamp, sliding windows,
 * gemma's embedding scale, gemma2's soft-caps and q scale.  Keys whose
 * values ctgi cannot compute are refused by name. */
static bool read_features(model_config *c, const gguf_file *f, const arch_desc *a, char *err) {
    const char *an = a->name;
    bool ok = true;
    c->n_rot = arch_u32(f, an, "rope.dimension_count", c->head_dim, false, &ok, err);
    if (a->gguf_qk_permuted && c->n_rot != c->head_dim)
        return ct_err(err, "%s: %s.rope.dimension_count %d: partial rotary (!= head dimension %d) is not supported "
                      "for %s", gguf_path(f), an, c->n_rot, c->head_dim, an);
    if (a->id == ARCH_GPTNEOX) {
        char key[128];
        bool par = true;
        snprintf(key, sizeof key, "%s.use_parallel_residual", an);
        if (gguf_find(f, key) && !gguf_get_bool(f, key, &par))
            return ct_err(err, "%s: metadata key '%s' is not a bool", gguf_path(f), key);
        c->parallel_residual = par;
    }
    if (a->pos == POS_ALIBI) c->alibi_max_bias = arch_f32(f, an, "attention.max_alibi_bias", c->alibi_max_bias);
    c->clamp_qkv = arch_f32(f, an, "attention.clamp_kqv", 0.0f);
    c->sliding_window = arch_u32(f, an, "attention.sliding_window", 0, false, &ok, err);
    if (a->embd_scale_sqrt_dim) c->embd_scale = sqrtf((float)c->dim);
    /* gemma2's q scale is not in the file: llama.cpp picks 1/sqrt(dim/heads)
     * for the 27B (46 layers), 1/sqrt(head_dim) otherwise; HF's
     * query_pre_attn_scalar says the same */
    float qscale = a->id == ARCH_GEMMA2 && c->n_layers == 46 ? (float)c->dim / c->n_heads : (float)c->head_dim;
    c->attn_scale = arch_f32(f, an, "attention.scale", 1.0f / sqrtf(qscale));
    if (a->softcaps) {
        c->attn_softcap = arch_f32(f, an, "attn_logit_softcapping", 0.0f);
        c->final_softcap = arch_f32(f, an, "final_logit_softcapping", 0.0f);
    }
    if (a->encdec && !read_t5(c, f, an, err)) return false;
    uint32_t experts = 0;
    char key[128];
    snprintf(key, sizeof key, "%s.expert_count", an);
    if (gguf_get_u32(f, key, &experts) && experts > 0)
        return ct_err(err, "%s: %s %u: mixture-of-experts models are not supported", gguf_path(f), key, experts);
    bool causal = true;
    snprintf(key, sizeof key, "%s.attention.causal", an);
    if (gguf_get_bool(f, key, &causal) && !causal)
        return ct_err(err, "%s: %s is false: only causal decoders are supported", gguf_path(f), key);
    const char *longrope[] = {"rope_factors_long.weight", "rope_factors_short.weight"};
    for (int i = 0; i < 2; i++)
        if (gguf_find_tensor(f, longrope[i]))
            return ct_err(err, "%s: tensor '%s': LongRoPE scaling is not supported", gguf_path(f), longrope[i]);
    if (!a->softcaps && (arch_has(f, an, "attn_logit_softcapping") || arch_has(f, an, "final_logit_softcapping")))
        return ct_err(err, "%s: logit soft-capping keys are only supported for gemma2", gguf_path(f));
    return ok;
}

static bool read_config(model *m, const gguf_file *f, const arch_desc *a, char *err) {
    model_config *c = &m->cfg;
    const char *an = a->name;
    bool ok = true;
    arch_apply(a, c);
    c->dim = arch_u32(f, an, "embedding_length", 0, true, &ok, err);
    c->n_layers = arch_u32(f, an, "block_count", 0, true, &ok, err);
    c->ffn_dim = arch_u32(f, an, "feed_forward_length", 0, true, &ok, err);
    c->n_heads = arch_u32(f, an, "attention.head_count", 0, true, &ok, err);
    c->n_kv_heads = arch_u32(f, an, "attention.head_count_kv", c->n_heads, false, &ok, err);
    c->ctx_len = arch_u32(f, an, "context_length", 2048, false, &ok, err);
    if (!ok) return false;
    c->head_dim = arch_u32(f, an, "attention.key_length", c->n_heads ? c->dim / c->n_heads : 0,
                           false, &ok, err);
    int vdim = arch_u32(f, an, "attention.value_length", c->head_dim, false, &ok, err);
    if (ok && vdim != c->head_dim)
        return ct_err(err, "%s: %s.attention.value_length %d differs from key_length %d: not supported",
                      gguf_path(f), an, vdim, c->head_dim);
    c->norm_eps = arch_f32(f, an, a->norm == NORM_RMS ? "attention.layer_norm_rms_epsilon"
                                                      : "attention.layer_norm_epsilon", a->default_eps);
    c->rope_theta = arch_f32(f, an, "rope.freq_base", a->default_theta);
    c->n_rot = c->head_dim;
    c->attn_scale = c->head_dim > 0 ? 1.0f / sqrtf((float)c->head_dim) : 1.0f;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb || emb->n_dims != 2)
        return ct_err(err, "%s: missing tensor 'token_embd.weight'", gguf_path(f));
    c->vocab = (int)(emb->ne[1] > (1u << 30) ? 0 : emb->ne[1]);
    c->tied_output = gguf_find_tensor(f, "output.weight") == NULL;

    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", an);
    char *st = gguf_get_strdup(f, key);
    if (st && strcmp(st, "linear") == 0) {
        c->rope_scaling = ROPE_SCALING_LINEAR;
        c->rope_factor = arch_f32(f, an, "rope.scaling.factor", 1.0f);
    } else if (st && strcmp(st, "none") != 0) {
        ok = ct_err(err, "%s: unsupported RoPE scaling type '%s' (%s)", gguf_path(f), st, key);
    }
    free(st);
    if (!ok) return false;
    /* the sizes first (a corrupt one is named as such), then the features
     * read with them */
    if (model_check_config(c, err) && !read_features(c, f, a, err)) return false;
    if (!model_check_config(c, err)) {
        char tmp[CT_ERRLEN];
        snprintf(tmp, sizeof tmp, "%s: %s", gguf_path(f), err);
        return ct_err(err, "%s", tmp);
    }
    return true;
}

/* EOS and EOT both end a turn (llama.cpp stops on either). */
static bool read_eos(model *m, const gguf_file *f) {
    const char *keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"};
    m->eos_ids = calloc(3, sizeof(int32_t));
    if (!m->eos_ids) return false;
    for (int i = 0; i < 3; i++) {
        uint32_t v;
        if (gguf_get_u32(f, keys[i], &v) && (int64_t)v < m->cfg.vocab && !model_is_eos(m, (int32_t)v))
            m->eos_ids[m->n_eos++] = (int32_t)v;
    }
    return true;
}

/* Llama 3.1 GGUFs carry the RoPE scaling as a per-frequency factor tensor. */
static bool read_rope_freqs(model *m, const gguf_file *f, char *err) {
    const gguf_tensor *t = gguf_find_tensor(f, "rope_freqs.weight");
    if (!t) return true;
    if (t->type != DT_F32 || t->n_elems != (uint64_t)m->cfg.n_rot / 2)
        return ct_err(err, "%s: tensor 'rope_freqs.weight' must be F32 with %d elements",
                      gguf_path(f), m->cfg.n_rot / 2);
    const float *ff = t->data;
    for (uint64_t i = 0; i < t->n_elems; i++)
        if (!(ff[i] > 0 && isfinite(ff[i])))
            return ct_err(err, "%s: tensor 'rope_freqs.weight' element %llu is %g (must be a "
                          "positive number)", gguf_path(f), (unsigned long long)i, (double)ff[i]);
    model_init_rope(m, ff);
    return m->rope_inv_freq ? true : ct_err(err, "out of memory");
}

static bool weights_fit(const gguf_file *f, const char *path, char *err) {
    uint64_t need = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++)
        if (!ct_add_ok(need, gguf_tensor_at(f, i)->nbytes, &need)) need = UINT64_MAX;
    return model_weights_fit(path, need, err);
}

bool model_open_gguf(model *m, const char *path, char *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return false;
    m->gguf = f;
    if (!weights_fit(f, path, err)) return false;
    m->format = strdup("gguf");
    char *arch = gguf_get_strdup(f, "general.architecture");
    if (!arch) return ct_err(err, "%s: missing metadata key 'general.architecture'", path);
    const arch_desc *a = arch_find_gguf(arch);
    if (!a) {
        char list[256];
        arch_list(list, sizeof list, false);
        ct_err(err, "%s: unsupported architecture '%s' (supported: %s)", path, arch, list);
        free(arch);
        return false;
    }
    free(arch);
    if (!read_config(m, f, a, err)) return false;
    m->name = gguf_get_strdup(f, "general.name");
    if (!m->name) m->name = strdup(path);
    m->chat_template = gguf_get_strdup(f, "tokenizer.chat_template");
    char tok_err[CT_ERRLEN];
    m->tok = tok_load_gguf(f, tok_err);
    if (!m->tok) return ct_err(err, "%s: tokenizer: %s", path, tok_err);
    if (!read_eos(m, f)) return ct_err(err, "out of memory");
    if (!read_rope_freqs(m, f, err)) return false;
    if (a->encdec && !arch_has(f, a->name, "decoder_start_token_id")) { /* llama.cpp's default: BOS */
        m->cfg.dec_start_id = tok_bos(m->tok);
        if (m->cfg.dec_start_id < 0)
            return ct_err(err, "%s: missing metadata key '%s.decoder_start_token_id' (and no BOS to start from)", path,
                          a->name);
    }
    const gguf_tensor *q = gguf_find_tensor(f, "blk.0.attn_q.weight");
    m->dtype = strdup(q ? dt_name(q->type) : "F32");
    weight_source src = {.ctx = f, .find = gguf_find_weight, .qk_interleaved = a->gguf_qk_permuted};
    return model_assemble(m, &src, err);
}
