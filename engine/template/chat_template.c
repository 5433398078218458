/*
 * chat_template.c — choosing, parsing and rendering a model's chat template
 * (see chat_template.h for the contract, the fallback and the continuation
 * rule).  The Jinja language itself lives in jinja_*.c; this file only
 * builds the context transformers/TGI build and post-processes the output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "jinja.h"
#include "model/model.h"

struct chat_template {
    char *source;        /* the template text (owned) */
    char *origin;        /* see chat_template_origin (owned) */
    bool fallback;
    jinja_template *tpl; /* parsed once, rendered many times (read-only) */
};

/* Written with expression tags only around the newlines so that
 * trim_blocks cannot eat them. */
const char CHAT_TEMPLATE_FALLBACK[] =
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}: "
    "{% if message['content'] is string %}{{ message['content'] }}{% endif %}"
    "{{ '\\n\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}";

const char *chat_template_from_json(const json_t *v) {
    if (json_is_array(v)) {
        const json_t *pick = NULL, *it;
        size_t i;
        json_array_foreach(v, i, it) {
            const json_t *name = json_object_get(it, "name");
            bool is_default = json_is_string(name) && strcmp(json_string_value(name), "default") == 0;
            if (!pick || is_default) pick = it;
            if (is_default) break;
        }
        v = pick ? json_object_get(pick, "template") : NULL;
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The text of an override file: a .json file's chat_template member, or
 * the whole file (a .jinja or any other text). */
static char *read_override(const char *path, char *err) {
    char ferr[CT_ERRLEN];
    if (!ends_with(path, ".json")) {
        char *src = ct_read_file(path, NULL, ferr);
        if (!src) ct_err(err, "--chat-template: %s", ferr);
        return src;
    }
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        ct_err(err, "--chat-template %s: %s (line %d)", path, je.text, je.line);
        return NULL;
    }
    const char *t = chat_template_from_json(json_object_get(j, "chat_template"));
    char *src = t ? strdup(t) : NULL;
    if (!t) ct_err(err, "--chat-template %s: no \"chat_template\" string (or list with a template) in it", path);
    else if (!src) ct_err(err, "out of memory");
    json_decref(j);
    return src;
}

chat_template *chat_template_create(const model *m, const char *override_path, char *err) {
    chat_template *ct = calloc(1, sizeof *ct);
    if (!ct) { ct_err(err, "out of memory"); return NULL; }
    const char *origin;
    char obuf[4200];
    if (override_path) {
        ct->source = read_override(override_path, err);
        if (!ct->source) { chat_template_free(ct); return NULL; }
        snprintf(obuf, sizeof obuf, "--chat-template %s", override_path);
        origin = obuf;
    } else if (m && m->chat_template) {
        ct->source = strdup(m->chat_template);
        origin = m->chat_template_origin ? m->chat_template_origin
                 : m->format && strcmp(m->format, "gguf") == 0 ? "gguf" : "model";
    } else {
        ct->source = strdup(CHAT_TEMPLATE_FALLBACK);
        ct->fallback = true;
        origin = "fallback";
    }
    ct->origin = strdup(origin);
    if (!ct->source || !ct->origin) {
        ct_err(err, "out of memory");
        chat_template_free(ct);
        return NULL;
    }
    jinja_options jo = jinja_options_chat();
    char perr[CT_ERRLEN];
    ct->tpl = jinja_parse(ct->source, strlen(ct->source), &jo, perr);
    if (!ct->tpl) {
        ct_err(err, "chat template (%s): %s", ct->origin, perr);
        chat_template_free(ct);
        return NULL;
    }
    return ct;
}

void chat_template_free(chat_template *ct) {
    if (!ct) return;
    jinja_free(ct->tpl);
    free(ct->source);
    free(ct->origin);
    free(ct);
}

const char *chat_template_origin(const chat_template *ct) { return ct->origin; }
bool chat_template_is_fallback(const chat_template *ct) { return ct->fallback; }
const char *chat_template_source(const chat_template *ct) { return ct->source; }

/* ---- rendering ------------------------------------------------------------ */

/* The text of the model's token id, "" if none. */
static const char *special_text(const model *m, bool bos) {
    if (!m || !m->tok) return "";
    int32_t id = bos ? tok_bos(m->tok) : tok_eos(m->tok);
    const char *p = id >= 0 ? tok_piece(m->tok, id) : NULL;
    return p ? p : "";
}

static const char *const RESERVED[] = {"messages", "bos_token", "eos_token", "add_generation_prompt",
                                       "tools"};

/* The render context: kwargs first, then the variables the template
 * contract defines (a kwarg may not replace them: an error, so that a
 * request cannot silently change the prompt's special tokens). */
static json_t *build_context(const model *m, const json_t *messages, const chat_render_opts *opt,
                             bool add_gen, char *err) {
    if (opt->kwargs && !json_is_object(opt->kwargs)) {
        ct_err(err, "template error: chat_template_kwargs must be a JSON object");
        return NULL;
    }
    if (opt->tools && !json_is_array(opt->tools)) {
        ct_err(err, "template error: tools must be a JSON array");
        return NULL;
    }
    for (size_t i = 0; opt->kwargs && i < sizeof RESERVED / sizeof RESERVED[0]; i++)
        if (json_object_get(opt->kwargs, RESERVED[i])) {
            ct_err(err, "template error: chat_template_kwargs may not set '%s'", RESERVED[i]);
            return NULL;
        }
    json_t *ctx = opt->kwargs ? json_deep_copy(opt->kwargs) : json_object();
    const char *bos = opt->bos_token ? opt->bos_token : special_text(m, true);
    const char *eos = opt->eos_token ? opt->eos_token : special_text(m, false);
    bool ok = ctx != NULL;
    ok = ok && json_object_set_new(ctx, "messages", json_deep_copy(messages)) == 0;
    ok = ok && json_object_set_new(ctx, "bos_token", json_string_nocheck(bos)) == 0;
    ok = ok && json_object_set_new(ctx, "eos_token", json_string_nocheck(eos)) == 0;
    ok = ok && json_object_set_new(ctx, "add_generation_prompt", json_boolean(add_gen)) == 0;
    ok = ok && json_object_set_new(ctx, "tools", opt->tools ? json_deep_copy(opt->tools) : json_null()) == 0;
    if (!ok) {
        json_decref(ctx);
        ct_err(err, "out of memory");
        return NULL;
    }
    return ctx;
}

/* The last occurrence of needle[0, k) in hay[0, n), or NULL. */
static const char *find_last(const char *hay, size_t n, const char *needle, size_t k) {
    if (k == 0 || k > n) return NULL;
    for (size_t i = n - k + 1; i-- > 0;)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Cut out[0, *n) right after the last occurrence of the continued
 * message's content (verbatim, else whitespace-stripped). */
static void cut_after_content(char *out, size_t *n, const json_t *content) {
    if (!json_is_string(content)) return;
    const char *c = json_string_value(content);
    size_t k = json_string_length(content);
    const char *at = find_last(out, *n, c, k);
    if (!at) {
        while (k > 0 && is_space(*c)) c++, k--;
        while (k > 0 && is_space(c[k - 1])) k--;
        at = find_last(out, *n, c, k);
    }
    if (!at) return;
    *n = (size_t)(at - out) + k;
    out[*n] = '\0';
}

char *chat_template_render(const chat_template *ct, const model *m, const json_t *messages,
                           const chat_render_opts *opt, size_t *len, char *err) {
    static const chat_render_opts no_opts = {0};
    if (!opt) opt = &no_opts;
    if (!json_is_array(messages)) {
        ct_err(err, "template error: messages must be a JSON array");
        return NULL;
    }
    const json_t *last = json_array_get(messages, json_array_size(messages) - 1);
    const json_t *role = json_object_get(last, "role");
    bool cont = json_is_string(role) && strcmp(json_string_value(role), "assistant") == 0;
    json_t *ctx = build_context(m, messages, opt, opt->add_generation_prompt && !cont, err);
    if (!ctx) return NULL;
    jinja_limits lim = jinja_limits_default();
    lim.now = opt->now;
    char jerr[CT_ERRLEN];
    size_t n = 0;
    char *out = jinja_render(ct->tpl, ctx, &lim, &n, jerr);
    json_decref(ctx);
    if (!out) {
        ct_err(err, "template error: %s", jerr);
        return NULL;
    }
    if (cont) cut_after_content(out, &n, json_object_get(last, "content"));
    if (len) *len = n;
    return out;
}
