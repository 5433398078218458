/*
 * model_hf.c — a model from a Hugging Face directory: config.json for the
 * hyper-parameters, generation_config.json for EOS ids, tokenizer.json +
 * tokenizer_config.json for the tokenizer and chat template, and
 * model.safetensors (or a sharded index) for the weights, looked up by
 * translating the canonical GGUF-style names into Hugging Face names.
 */
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/chat_template.h"
#include "dtype.h"
#include "model_load.h"
#include "safetensors.h"
#include "tokenizer/tok_load.h"

/* GGUF-style suffix -> Hugging Face name pattern (%d = layer). */
static const struct { const char *gguf, *hf; } NAME_MAP[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {"attn_norm.weight", "model.layers.%d.input_layernorm.weight"},
    {"attn_q.weight", "model.layers.%d.self_attn.q_proj.weight"},
    {"attn_k.weight", "model.layers.%d.self_attn.k_proj.weight"},
    {"attn_v.weight", "model.layers.%d.self_attn.v_proj.weight"},
    {"attn_q.bias", "model.layers.%d.self_attn.q_proj.bias"},
    {"attn_k.bias", "model.layers.%d.self_attn.k_proj.bias"},
    {"attn_v.bias", "model.layers.%d.self_attn.v_proj.bias"},
    {"attn_output.weight", "model.layers.%d.self_attn.o_proj.weight"},
    {"ffn_norm.weight", "model.layers.%d.post_attention_layernorm.weight"},
    {"ffn_gate.weight", "model.layers.%d.mlp.gate_proj.weight"},
    {"ffn_up.weight", "model.layers.%d.mlp.up_proj.weight"},
    {"ffn_down.weight", "model.layers.%d.mlp.down_proj.weight"},
};

static bool hf_find_weight(void *ctx, const char *name, wsrc *out) {
    int layer = -1, off = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &off) == 1 && off > 0) name += off;
    char hf[256] = "";
    for (size_t i = 0; i < sizeof NAME_MAP / sizeof NAME_MAP[0]; i++) {
        if (strcmp(NAME_MAP[i].gguf, name) != 0) continue;
        bool per_layer = strstr(NAME_MAP[i].hf, "%d") != NULL;
        if (per_layer != (layer >= 0)) return false;
        snprintf(hf, sizeof hf, NAME_MAP[i].hf, layer);
        break;
    }
    snprintf(out->name, sizeof out->name, "%s", hf);
    const st_tensor *t = hf[0] ? st_find(ctx, hf) : NULL;
    if (!t || t->n_dims > 4) return false;
    snprintf(out->name, sizeof out->name, "%s", t->name);
    out->type = t->type;
    out->n_dims = t->n_dims;
    for (uint32_t i = 0; i < 4; i++) out->ne[i] = i < t->n_dims ? t->shape[t->n_dims - 1 - i] : 1;
    out->data = t->data;
    return true;
}

/* An absent (or null) key takes the default; a present integer is kept even
 * when absurd (clamped into int) so that model_check_config names it. */
static int json_int(json_t *o, const char *key, int dflt) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return dflt;
    json_int_t x = json_integer_value(v);
    return x > INT_MAX ? INT_MAX : x < 0 ? -1 : (int)x;
}

static float json_num(json_t *o, const char *key, float dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (float)json_number_value(v) : dflt;
}

static json_t *load_json(const char *dir, const char *file, bool required, char *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j && required) ct_err(err, "%s: %s (line %d)", path, je.text, je.line);
    if (j && !json_is_object(j)) {
        json_decref(j);
        if (required) ct_err(err, "%s: not a JSON object", path);
        return NULL;
    }
    return j;
}

static bool read_rope_scaling(model_config *c, json_t *rs, char *err) {
    if (!json_is_object(rs)) return true;
    json_t *t = json_object_get(rs, "rope_type");
    if (!json_is_string(t)) t = json_object_get(rs, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : "default";
    c->rope_factor = json_num(rs, "factor", 1.0f);
    if (strcmp(type, "default") == 0) return true;
    if (strcmp(type, "linear") == 0) {
        c->rope_scaling = ROPE_SCALING_LINEAR;
    } else if (strcmp(type, "llama3") == 0) {
        c->rope_scaling = ROPE_SCALING_LLAMA3;
        c->rope_low_freq_factor = json_num(rs, "low_freq_factor", 1.0f);
        c->rope_high_freq_factor = json_num(rs, "high_freq_factor", 4.0f);
        c->rope_orig_ctx = json_int(rs, "original_max_position_embeddings", 8192);
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor))
            return ct_err(err, "config.json: llama3 rope_scaling needs high_freq_factor > low_freq_factor");
    } else {
        return ct_err(err, "config.json: unsupported rope_scaling type '%s'", type);
    }
    if (!(c->rope_factor > 0)) return ct_err(err, "config.json: rope_scaling factor must be > 0");
    return true;
}

static bool read_config(model *m, json_t *cfg, const char *dir, char *err) {
    model_config *c = &m->cfg;
    json_t *mt = json_object_get(cfg, "model_type");
    if (!json_is_string(mt)) return ct_err(err, "%s/config.json: missing 'model_type'", dir);
    const arch_desc *a = arch_find_hf(json_string_value(mt));
    if (!a)
        return ct_err(err, "%s/config.json: unsupported architecture '%s' (supported: llama, "
                      "mistral, qwen2)", dir, json_string_value(mt));
    arch_apply(a, c);
    c->dim = json_int(cfg, "hidden_size", 0);
    c->n_layers = json_int(cfg, "num_hidden_layers", 0);
    c->n_heads = json_int(cfg, "num_attention_heads", 0);
    c->n_kv_heads = json_int(cfg, "num_key_value_heads", c->n_heads);
    c->head_dim = json_int(cfg, "head_dim", c->n_heads ? c->dim / c->n_heads : 0);
    c->ffn_dim = json_int(cfg, "intermediate_size", 0);
    c->vocab = json_int(cfg, "vocab_size", 0);
    c->ctx_len = json_int(cfg, "max_position_embeddings", 2048);
    c->norm_eps = json_num(cfg, "rms_norm_eps", a->default_eps);
    c->rope_theta = json_num(cfg, "rope_theta", a->default_theta);
    c->tied_output = json_is_true(json_object_get(cfg, "tie_word_embeddings"));
    c->n_rot = c->head_dim;
    c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    if (!read_rope_scaling(c, json_object_get(cfg, "rope_scaling"), err)) return false;
    char cerr[CT_ERRLEN];
    if (!model_check_config(c, cerr)) return ct_err(err, "%s/config.json: %s", dir, cerr);
    return true;
}

/* eos_token_id may be an int or a list, in generation_config.json or config.json. */
static bool read_eos(model *m, json_t *gen, json_t *cfg) {
    json_t *e = gen ? json_object_get(gen, "eos_token_id") : NULL;
    if (!e) e = json_object_get(cfg, "eos_token_id");
    size_t n = json_is_array(e) ? json_array_size(e) : 1;
    m->eos_ids = calloc(n + 1, sizeof(int32_t));
    if (!m->eos_ids) return false;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_is_array(e) ? json_array_get(e, i) : e;
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < m->cfg.vocab)
            m->eos_ids[m->n_eos++] = (int32_t)json_integer_value(v);
    }
    if (m->n_eos == 0 && tok_eos(m->tok) >= 0) m->eos_ids[m->n_eos++] = tok_eos(m->tok);
    return true;
}

/* The chat template, first found of: chat_template.jinja (the text),
 * chat_template.json ({"chat_template": ...}), tokenizer_config.json's
 * chat_template (a string, or a list of {name, template}: "default", else
 * the first).  The origin is recorded for chat_template.c and /info. */
static void read_chat_template(model *m, const char *dir, json_t *tcfg) {
    char path[4096];
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    m->chat_template = ct_read_file(path, NULL, NULL);
    if (m->chat_template) {
        m->chat_template_origin = "chat_template.jinja";
        return;
    }
    json_t *cj = load_json(dir, "chat_template.json", false, NULL);
    const char *t = chat_template_from_json(json_object_get(cj, "chat_template"));
    m->chat_template_origin = "chat_template.json";
    if (!t) {
        t = chat_template_from_json(json_object_get(tcfg, "chat_template"));
        m->chat_template_origin = "tokenizer_config.json";
    }
    m->chat_template = t ? strdup(t) : NULL;
    if (!m->chat_template) m->chat_template_origin = NULL;
    json_decref(cj);
}

static char *dir_name(const char *dir) {
    char *tmp = strdup(dir);
    if (!tmp) return NULL;
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
    char *name = strdup(basename(tmp));
    free(tmp);
    return name;
}

bool model_open_hf(model *m, const char *dir, char *err) {
    m->format = strdup("safetensors");
    json_t *cfg = load_json(dir, "config.json", true, err);
    if (!cfg) return false;
    json_t *gen = load_json(dir, "generation_config.json", false, NULL);
    json_t *tcfg = load_json(dir, "tokenizer_config.json", false, NULL);
    bool ok = read_config(m, cfg, dir, err);
    char terr[CT_ERRLEN];
    if (ok && !(m->tok = tok_load_hf(dir, terr))) ok = ct_err(err, "%s: tokenizer: %s", dir, terr);
    if (ok && !read_eos(m, gen, cfg)) ok = ct_err(err, "out of memory");
    if (ok) {
        read_chat_template(m, dir, tcfg);
        m->name = dir_name(dir);
        m->st = st_open_dir(dir, err);
        ok = m->st != NULL;
    }
    uint64_t need = 0;
    for (uint64_t i = 0; ok && i < st_n_tensors(m->st); i++)
        if (!ct_add_ok(need, st_tensor_at(m->st, i)->nbytes, &need)) need = UINT64_MAX;
    if (ok) ok = model_weights_fit(dir, need, err);
    if (ok) {
        const st_tensor *q = st_find(m->st, "model.layers.0.self_attn.q_proj.weight");
        m->dtype = strdup(q ? dt_name(q->type) : "F32");
        weight_source src = {.ctx = m->st, .find = hf_find_weight};
        ok = model_assemble(m, &src, err);
    }
    json_decref(cfg);
    json_decref(gen);
    json_decref(tcfg);
    return ok;
}
