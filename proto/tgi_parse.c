/*
 * tgi_parse.c — a GenerateRequest body into a tgi_request.
 *
 * Fields are read in the order the body lists them, as serde does, so the
 * first wrong field is the one reported; unknown fields are ignored (TGI's
 * structs do not deny them).  Each GenerateParameters field is one row of
 * a table: its JSON name, its Rust type (which decides the accepted JSON
 * values and the "expected …" word of the error), and where it lands.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_in.h"
#include "tgi.h"

typedef enum {
    K_F32,        /* Option<f32> */
    K_U32,        /* Option<u32> */
    K_USIZE,      /* Option<usize> */
    K_U64,        /* Option<u64> */
    K_I32,        /* Option<i32> */
    K_BOOL,       /* bool with a default: null is a type error */
    K_OPT_BOOL,   /* Option<bool> */
    K_STRINGS,    /* Vec<String> with a default: null is a type error */
    K_OPT_STRING, /* Option<String> */
    K_GRAMMAR,    /* Option<GrammarType>: kept as JSON (structured.h reads it) */
} kind;

#define NO_HAS ((size_t)-1)
#define P(f) offsetof(tgi_parameters, f)

typedef struct {
    const char *name;
    kind k;
    size_t has; /* offset of the bool has_x, or NO_HAS */
    size_t val; /* offset of the value */
} field;

static const field FIELDS[] = {
    {"best_of", K_USIZE, P(has_best_of), P(best_of)},
    {"temperature", K_F32, P(has_temperature), P(temperature)},
    {"repetition_penalty", K_F32, P(has_repetition_penalty), P(repetition_penalty)},
    {"frequency_penalty", K_F32, P(has_frequency_penalty), P(frequency_penalty)},
    {"top_k", K_I32, P(has_top_k), P(top_k)},
    {"top_p", K_F32, P(has_top_p), P(top_p)},
    {"typical_p", K_F32, P(has_typical_p), P(typical_p)},
    {"do_sample", K_BOOL, NO_HAS, P(do_sample)},
    {"max_new_tokens", K_U32, P(has_max_new_tokens), P(max_new_tokens)},
    {"return_full_text", K_OPT_BOOL, P(has_return_full_text), P(return_full_text)},
    {"stop", K_STRINGS, NO_HAS, P(stop)},
    {"truncate", K_USIZE, P(has_truncate), P(truncate)},
    {"watermark", K_BOOL, NO_HAS, P(watermark)},
    {"details", K_BOOL, NO_HAS, P(details)},
    {"decoder_input_details", K_BOOL, NO_HAS, P(decoder_input_details)},
    {"seed", K_U64, P(has_seed), P(seed)},
    {"top_n_tokens", K_U32, P(has_top_n_tokens), P(top_n_tokens)},
    {"grammar", K_GRAMMAR, P(has_grammar), P(grammar)},
    {"adapter_id", K_OPT_STRING, P(has_adapter_id), P(adapter_id)},
};

static bool read_stop(const ji_doc *d, const json_t *v, const char *path, tgi_parameters *p,
                      proto_error *err) {
    if (!json_is_array(v)) return ji_type_error(d, v, path, "a sequence", err);
    size_t n = json_array_size(v);
    /* replace any earlier list (cannot happen: duplicate keys are rejected) */
    p->stop = calloc(n ? n : 1, sizeof *p->stop);
    p->stop_len = calloc(n ? n : 1, sizeof *p->stop_len);
    if (!p->stop || !p->stop_len)
        return proto_fail(err, 500, "internal", "out of memory reading the body");
    for (size_t i = 0; i < n; i++) {
        char ipath[96];
        snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
        if (!ji_string(d, json_array_get(v, i), ipath, &p->stop[i], &p->stop_len[i], err))
            return false;
        p->n_stop = (int)i + 1; /* owned so far, for tgi_request_free */
    }
    return true;
}

/* Read one GenerateParameters field v described by f into p. */
static bool read_field(const ji_doc *d, const field *f, const json_t *v, tgi_parameters *p,
                       proto_error *err) {
    char path[64];
    snprintf(path, sizeof path, "parameters.%s", f->name);
    char *base = (char *)p;
    bool *has = f->has == NO_HAS ? NULL : (bool *)(base + f->has);
    void *val = f->val == NO_HAS ? NULL : base + f->val;
    if (json_is_null(v) && has) { /* Option<_>: null is "not given" */
        *has = false;
        return true;
    }
    uint64_t u = 0;
    bool ok = true;
    switch (f->k) {
    case K_F32: ok = ji_f32(d, v, path, (float *)val, err); break;
    case K_I32: ok = ji_i32(d, v, path, (int32_t *)val, err); break;
    case K_U32:
        ok = ji_uint(d, v, UINT32_MAX, "u32", path, &u, err);
        *(uint32_t *)val = (uint32_t)u;
        break;
    case K_USIZE: ok = ji_uint(d, v, SIZE_MAX, "usize", path, (uint64_t *)val, err); break;
    case K_U64: ok = ji_uint(d, v, UINT64_MAX, "u64", path, (uint64_t *)val, err); break;
    case K_BOOL:
    case K_OPT_BOOL: ok = ji_bool(d, v, path, (bool *)val, err); break;
    case K_STRINGS: ok = read_stop(d, v, path, p, err); break;
    case K_OPT_STRING: ok = ji_string(d, v, path, (char **)val, NULL, err); break;
    case K_GRAMMAR:
        json_decref(*(json_t **)val);
        if (!(*(json_t **)val = json_deep_copy(v)))
            ok = proto_fail(err, 500, "internal", "out of memory reading the body");
        break;
    }
    if (ok && has) *has = true;
    return ok;
}

static bool read_parameters(const ji_doc *d, const json_t *obj, tgi_parameters *p,
                            proto_error *err) {
    if (!json_is_object(obj))
        return ji_type_error(d, obj, "parameters", "struct GenerateParameters", err);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
            if (strcmp(key, FIELDS[i].name) != 0) continue;
            if (!read_field(d, &FIELDS[i], v, p, err)) return false;
            break;
        }
    }
    return true;
}

static bool read_request(const ji_doc *d, tgi_route route, tgi_request *req, proto_error *err) {
    const json_t *root = d->root;
    bool compat = route == TGI_ROUTE_COMPAT;
    if (!json_is_object(root))
        return ji_type_error(d, root, "",
                             compat ? "struct CompatGenerateRequest" : "struct GenerateRequest",
                             err);
    const char *key;
    json_t *v;
    bool have_inputs = false;
    json_object_foreach((json_t *)root, key, v) {
        bool ok = true;
        if (strcmp(key, "inputs") == 0) {
            ok = have_inputs = ji_string(d, v, "inputs", &req->inputs, &req->inputs_len, err);
        } else if (strcmp(key, "parameters") == 0) {
            req->parameters_given = true;
            ok = read_parameters(d, v, &req->p, err);
        } else if (strcmp(key, "add_special_tokens") == 0) {
            ok = ji_bool(d, v, "add_special_tokens", &req->add_special_tokens, err);
        } else if (compat && strcmp(key, "stream") == 0) {
            ok = ji_bool(d, v, "stream", &req->stream, err);
        }
        if (!ok) return false;
    }
    if (!have_inputs) return ji_fail(err, "", "missing field `inputs`");
    /* TGI's default_parameters(): sampling when `parameters` is absent */
    if (!req->parameters_given) req->p.do_sample = true;
    return true;
}

bool tgi_parse(const char *body, size_t len, tgi_route route, tgi_request *req,
               proto_error *err) {
    memset(req, 0, sizeof *req);
    req->add_special_tokens = true;
    ji_doc d;
    if (!ji_load(body, len, &d, err)) return false;
    bool ok = read_request(&d, route, req, err);
    ji_free(&d);
    if (!ok) {
        tgi_request_free(req);
        req->add_special_tokens = true;
    }
    return ok;
}

void tgi_request_free(tgi_request *req) {
    if (!req) return;
    free(req->inputs);
    for (int i = 0; i < req->p.n_stop; i++) free(req->p.stop[i]);
    free(req->p.stop);
    free(req->p.stop_len);
    free(req->p.adapter_id);
    json_decref(req->p.grammar);
    memset(req, 0, sizeof *req);
}

bool tgi_streaming(const tgi_request *req, tgi_route route) {
    return route == TGI_ROUTE_GENERATE_STREAM || (route == TGI_ROUTE_COMPAT && req->stream);
}
