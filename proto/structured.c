/*
 * structured.c — TGI's grammar, OpenAI's response_format and vLLM's
 * guided_* / structured_outputs fields into one constraint regex
 * (structured.h).
 *
 * One core turns a (kind, value) pair into a regex and says how it failed:
 * SO_BAD (the value is malformed: 400 on OpenAI routes, 422 on TGI's) or
 * SO_UNSUPPORTED (a schema keyword the compiler refuses: 422).  The two
 * front ends read their API's shape and word the errors their way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint.h"
#include "constraint/json_schema.h"
#include "openai_read.h"
#include "structured.h"

typedef enum { SO_OK, SO_BAD, SO_UNSUPPORTED, SO_OOM } so_status;

typedef enum { SO_SCHEMA, SO_ANY_OBJECT, SO_REGEX, SO_CHOICE } so_kind;

/* A schema given as a string holding JSON (TGI, vLLM accept both) is
 * parsed; *owned is the parsed copy to free. */
static const json_t *schema_value(const json_t *v, json_t **owned, char *msg) {
    *owned = NULL;
    if (json_is_object(v) || json_is_boolean(v)) return v;
    if (!json_is_string(v)) {
        snprintf(msg, CT_ERRLEN, "a JSON schema must be an object (or a string holding one)");
        return NULL;
    }
    json_error_t je;
    *owned = json_loadb(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, &je);
    if (!*owned || !(json_is_object(*owned) || json_is_boolean(*owned))) {
        snprintf(msg, CT_ERRLEN, "the schema string is not a JSON object%s%s", *owned ? "" : ": ",
                 *owned ? "" : je.text);
        json_decref(*owned);
        *owned = NULL;
        return NULL;
    }
    return *owned;
}

static so_status from_schema(const json_t *v, char **regex, char *msg) {
    json_t *owned;
    const json_t *schema = schema_value(v, &owned, msg);
    if (!schema) return SO_BAD;
    js_opts o = js_opts_default();
    *regex = js_schema_to_regex(schema, &o, msg);
    json_decref(owned);
    if (*regex) return SO_OK;
    return strncmp(msg, "unsupported keyword", 19) == 0 ? SO_UNSUPPORTED : SO_BAD;
}

static so_status from_regex(const json_t *v, char **regex, char *msg) {
    if (!json_is_string(v)) {
        snprintf(msg, CT_ERRLEN, "a regex constraint must be a string");
        return SO_BAD;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!cons_regex_check(s, n, msg)) return SO_BAD;
    if (!(*regex = strdup(s))) return SO_OOM;
    return SO_OK;
}

char *so_choice_regex(const char *const *choices, int n) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    for (int i = 0; i < n; i++) {
        if (!proto_cat(&out, &len, &cap, i ? "|(?:" : "(?:", i ? 4 : 3) ||
            !cons_regex_escape(choices[i], strlen(choices[i]), &out, &len, &cap) ||
            !proto_cat(&out, &len, &cap, ")", 1))
            goto oom;
    }
    return out;
oom:
    free(out);
    return NULL;
}

static so_status from_choice(const json_t *v, char **regex, char *msg) {
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0 || n > 4096) {
        snprintf(msg, CT_ERRLEN, "a choice constraint must be a non-empty array of strings "
                                 "(at most 4096)");
        return SO_BAD;
    }
    const char **cs = calloc(n, sizeof *cs);
    if (!cs) return SO_OOM;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(v, i);
        if (!json_is_string(c) || json_string_length(c) == 0 ||
            strlen(json_string_value(c)) != json_string_length(c)) {
            snprintf(msg, CT_ERRLEN, "choice[%zu] must be a non-empty string without NUL", i);
            free(cs);
            return SO_BAD;
        }
        cs[i] = json_string_value(c);
    }
    *regex = so_choice_regex(cs, (int)n);
    free(cs);
    return *regex ? SO_OK : SO_OOM;
}

static so_status build(so_kind k, const json_t *v, char **regex, char *msg) {
    js_opts o = js_opts_default();
    switch (k) {
    case SO_SCHEMA: return from_schema(v, regex, msg);
    case SO_REGEX: return from_regex(v, regex, msg);
    case SO_CHOICE: return from_choice(v, regex, msg);
    case SO_ANY_OBJECT:
        *regex = js_any_json_regex(true, &o, msg);
        return *regex ? SO_OK : SO_OOM;
    }
    return SO_BAD;
}

/* ---- TGI ------------------------------------------------------------------------ */

bool so_tgi_grammar(const json_t *g, char **regex, proto_error *err) {
    *regex = NULL;
    const json_t *t = json_is_object(g) ? json_object_get(g, "type") : NULL;
    const json_t *v = json_is_object(g) ? json_object_get(g, "value") : NULL;
    if (!json_is_string(t) || !v)
        return proto_invalid(err, "grammar must be an object {\"type\": \"json\" | \"regex\", "
                                  "\"value\": …}");
    const char *ty = json_string_value(t);
    so_kind k;
    if (!strcmp(ty, "json") || !strcmp(ty, "json_object")) {
        k = SO_SCHEMA;
    } else if (!strcmp(ty, "json_schema")) {
        k = SO_SCHEMA;
        v = json_is_object(v) ? json_object_get(v, "schema") : NULL;
        if (!v) return proto_invalid(err, "grammar is not valid: json_schema needs a `schema`");
    } else if (!strcmp(ty, "regex")) {
        k = SO_REGEX;
    } else {
        return proto_invalid(err, "grammar: unknown variant `%s`, expected one of `json`, "
                                  "`json_object`, `json_schema`, `regex`", ty);
    }
    char msg[CT_ERRLEN] = "";
    switch (build(k, v, regex, msg)) {
    case SO_OK: return true;
    case SO_OOM: return proto_fail(err, 500, "internal", "out of memory compiling the grammar");
    case SO_UNSUPPORTED: return proto_invalid(err, "grammar is not supported: %s", msg);
    case SO_BAD: break;
    }
    return proto_invalid(err, k == SO_REGEX ? "grammar is not valid: %s"
                                            : "cannot compile regex from schema: %s", msg);
}

/* ---- OpenAI / vLLM ------------------------------------------------------------- */

/* One requested constraint: its kind, value and the field named in errors. */
typedef struct {
    so_kind k;
    const json_t *v;
    const char *param;
} so_req;

static bool fail_status(so_status s, const char *param, const char *msg, proto_error *err) {
    if (s == SO_OOM) return proto_fail(err, 500, "internal", "out of memory compiling `%s`", param);
    if (s == SO_UNSUPPORTED)
        return oai_unsupported(err, param, "unsupported_value", "`%s`: %s", param, msg);
    return oai_bad(err, param, "`%s`: %s", param, msg);
}

/* response_format → *r (found false for "text"). */
static bool read_response_format(const json_t *rf, so_req *r, bool *found, proto_error *err) {
    const char *p = "response_format";
    const json_t *t = json_object_get(rf, "type");
    const char *ty = json_is_string(t) ? json_string_value(t) : "";
    const json_t *value = json_object_get(rf, "value"); /* TGI's form */
    *found = true;
    r->param = p;
    if (!strcmp(ty, "text")) {
        *found = false;
    } else if (!strcmp(ty, "json_object") || !strcmp(ty, "json")) {
        const json_t *s = json_object_get(rf, "schema"); /* llama.cpp */
        if (!s || json_is_null(s)) s = value;
        r->k = s && !json_is_null(s) ? SO_SCHEMA : SO_ANY_OBJECT;
        r->v = s;
    } else if (!strcmp(ty, "json_schema")) {
        const json_t *js = json_object_get(rf, "json_schema");
        if (!js || json_is_null(js)) js = value;
        if (!json_is_object(js))
            return oai_bad(err, p, "`response_format` of type json_schema needs a `json_schema` "
                                   "object {\"name\", \"schema\"}");
        const json_t *s = json_object_get(js, "schema");
        r->k = s && !json_is_null(s) ? SO_SCHEMA : SO_ANY_OBJECT;
        r->v = s;
    } else if (!strcmp(ty, "regex")) {
        r->k = SO_REGEX;
        r->v = value;
    } else {
        return oai_bad(err, p, "`response_format.type` must be one of \"text\", \"json_object\", "
                               "\"json_schema\" (or \"regex\"), got: %s", *ty ? ty : "(none)");
    }
    return true;
}

/* structured_outputs {json | regex | choice | json_object | grammar} → *r. */
static bool read_structured_outputs(const json_t *so, so_req *r, int *count, proto_error *err) {
    const char *p = "structured_outputs";
    if (!json_is_object(so)) return oai_bad(err, p, "`structured_outputs` must be an object");
    static const struct { const char *key, *param; so_kind k; } keys[] = {
        {"json", "structured_outputs.json", SO_SCHEMA},
        {"regex", "structured_outputs.regex", SO_REGEX},
        {"choice", "structured_outputs.choice", SO_CHOICE},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const json_t *v = json_object_get(so, keys[i].key);
        if (!v || json_is_null(v)) continue;
        (*count)++;
        *r = (so_req){keys[i].k, v, keys[i].param};
    }
    if (json_is_true(json_object_get(so, "json_object"))) {
        (*count)++;
        *r = (so_req){SO_ANY_OBJECT, NULL, "structured_outputs.json_object"};
    }
    const json_t *g = json_object_get(so, "grammar");
    if (g && !json_is_null(g))
        return oai_unsupported(err, "structured_outputs.grammar", "unsupported_value",
                               "`structured_outputs.grammar` (a CFG) is not supported: use json, "
                               "regex or choice");
    return true;
}

bool so_openai(const so_openai_fields *f, char **regex, proto_error *err) {
    *regex = NULL;
    so_req r = {0}, one;
    int count = 0;
    bool found;
    if (f->response_format) {
        if (!read_response_format(f->response_format, &one, &found, err)) return false;
        if (found) r = one, count++;
    }
    const struct { const json_t *v; so_kind k; const char *param; } guided[] = {
        {f->guided_json, SO_SCHEMA, "guided_json"},
        {f->guided_regex, SO_REGEX, "guided_regex"},
        {f->guided_choice, SO_CHOICE, "guided_choice"},
    };
    for (size_t i = 0; i < sizeof guided / sizeof guided[0]; i++)
        if (guided[i].v) r = (so_req){guided[i].k, guided[i].v, guided[i].param}, count++;
    if (f->guided_grammar)
        return oai_unsupported(err, "guided_grammar", "unsupported_value",
                               "`guided_grammar` (a CFG) is not supported: use guided_json, "
                               "guided_regex or guided_choice");
    if (f->structured_outputs && !read_structured_outputs(f->structured_outputs, &r, &count, err))
        return false;
    if (count == 0) return true;
    if (count > 1)
        return oai_bad(err, r.param, "You can only use one kind of structured outputs constraint "
                                     "but multiple are specified");
    char msg[CT_ERRLEN] = "";
    so_status s = build(r.k, r.v, regex, msg);
    return s == SO_OK ? true : fail_status(s, r.param, msg, err);
}
