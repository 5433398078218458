/*
 * model_hf.c — a model from a Hugging Face directory: config.json for the
 * hyper-parameters, generation_config.json for EOS ids, tokenizer.json +
 * tokenizer_config.json for the tokenizer and chat template, and
 * model.safetensors (or a sharded index) for the weights, looked up by
 * translating the canonical GGUF-style names into Hugging Face names
 * (model_hf_arch.c: per model_type, with its config keys).
 */
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/chat_template.h"
#include "dtype.h"
#include "model_load.h"
#include "safetensors.h"
#include "tokenizer/tok_load.h"

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

static bool read_config(model *m, json_t *cfg, const char *dir, char *err) {
    model_config *c = &m->cfg;
    json_t *mt = json_object_get(cfg, "model_type");
    if (!json_is_string(mt)) return ct_err(err, "%s/config.json: missing 'model_type'", dir);
    const arch_desc *a = arch_find_hf(json_string_value(mt));
    if (!a) {
        char list[256];
        arch_list(list, sizeof list, true);
        return ct_err(err, "%s/config.json: unsupported architecture '%s' (supported: %s)", dir,
                      json_string_value(mt), list);
    }
    char cerr[CT_ERRLEN];
    if (!hf_read_config(c, cfg, a, cerr) || !model_check_config(c, cerr))
        return ct_err(err, "%s/%s%s", dir, strncmp(cerr, "config.json", 11) ? "config.json: " : "", cerr);
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
        hf_config_from_tensors(&m->cfg, m->st);
        hf_ctx h = {.st = m->st, .falcon_40b = m->cfg.arch == ARCH_FALCON && hf_falcon_40b(m->st)};
        weight_source src;
        hf_weight_source(&h, &src, &m->cfg);
        ok = model_assemble(m, &src, err);
    }
    json_decref(cfg);
    json_decref(gen);
    json_decref(tcfg);
    return ok;
}
