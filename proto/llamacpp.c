/*
 * llamacpp.c — llama.cpp's /infill request and answers (llamacpp.h).
 *
 * Reading: every known field is type-checked (null is "not given"), the
 * first wrong one is reported; the texts are copied (NULs allowed).
 * Writing: the key order and names of llama.cpp's server
 * (server_task_result_cmpl_final / _partial), with the fields ctgi has
 * (no slots: id_slot 0 on the answer, -1 on partial events as llama.cpp
 * writes them; tokens_cached is the prompt plus the generated tokens, the
 * KV the sequence held).
 */
#include "llamacpp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_in.h"
#include "jsonw.h"

#define LCPP_MAX_STOP 64 /* llama.cpp has no limit; a bound for the matcher */

static bool bad(proto_error *err, const char *fmt, const char *field) {
    return proto_fail(err, 400, "validation", fmt, field);
}

static bool unsupported(proto_error *err, const char *field) {
    return proto_fail(err, 501, "not_supported", "\"%s\" is not supported by this server's /infill", field);
}

static bool oom(proto_error *err) { return proto_fail(err, 500, "internal", "out of memory reading the body"); }

/* A JSON value that is present and not null. */
static const json_t *field(const json_t *root, const char *key) {
    const json_t *v = json_object_get(root, key);
    return v && !json_is_null(v) ? v : NULL;
}

static bool get_str(const ji_doc *d, const json_t *root, const char *key, bool required, char **out, size_t *len,
                    proto_error *err) {
    const json_t *v = field(root, key);
    if (!v) {
        if (required) return proto_fail(err, 400, "validation", "\"%s\" is required", key);
        *out = calloc(1, 1);
        *len = 0;
        return *out ? true : oom(err);
    }
    if (!json_is_string(v)) return bad(err, "\"%s\" must be a string", key);
    if (!ji_string(d, v, key, out, len, err)) return oom(err);
    return true;
}

static bool get_num(const json_t *root, const char *key, float *out, proto_error *err) {
    const json_t *v = field(root, key);
    if (!v) return true;
    float f = json_is_number(v) ? (float)json_number_value(v) : NAN;
    if (!isfinite(f)) return bad(err, "\"%s\" must be a number (a finite f32)", key);
    *out = f;
    return true;
}

static bool get_int(const json_t *root, const char *key, int64_t lo, int64_t hi, int64_t *out, proto_error *err) {
    const json_t *v = field(root, key);
    if (!v) return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return proto_fail(err, 400, "validation", "\"%s\" must be an integer from %lld to %lld", key, (long long)lo,
                          (long long)hi);
    *out = json_integer_value(v);
    return true;
}

static bool get_bool(const json_t *root, const char *key, bool *out, proto_error *err) {
    const json_t *v = field(root, key);
    if (!v) return true;
    if (!json_is_boolean(v)) return bad(err, "\"%s\" must be a boolean", key);
    *out = json_is_true(v);
    return true;
}

static bool read_extra(const ji_doc *d, const json_t *root, lcpp_infill *r, proto_error *err) {
    const json_t *v = field(root, "input_extra");
    if (!v) return true;
    if (!json_is_array(v))
        return bad(err, "\"%s\" must be an array of {\"filename\": string, \"text\": string}", "input_extra");
    size_t n = json_array_size(v);
    if (!(r->extra = calloc(n ? n : 1, sizeof *r->extra))) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(v, i), *text = json_object_get(c, "text"), *name = json_object_get(c, "filename");
        if (!json_is_object(c) || !json_is_string(text))
            return bad(err, "%s chunk must contain a \"text\" field with a string value", "input_extra");
        if (name && !json_is_null(name) && !json_is_string(name))
            return bad(err, "%s chunk's \"filename\" field must be a string", "input_extra");
        lcpp_chunk *k = &r->extra[r->n_extra++];
        if (!ji_string(d, text, "text", &k->text, &k->text_len, err)) return oom(err);
        if (json_is_string(name) && !ji_string(d, name, "filename", &k->filename, &k->filename_len, err)) return oom(err);
    }
    return true;
}

static bool read_stop(const ji_doc *d, const json_t *root, lcpp_infill *r, proto_error *err) {
    const json_t *v = field(root, "stop");
    if (!v) return true;
    bool one = json_is_string(v);
    if (!one && !json_is_array(v)) return bad(err, "\"%s\" must be an array of strings", "stop");
    size_t n = one ? 1 : json_array_size(v);
    if (n > LCPP_MAX_STOP)
        return proto_fail(err, 400, "validation", "\"stop\" has %zu strings, more than %d", n, LCPP_MAX_STOP);
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    r->stop_len = calloc(n ? n : 1, sizeof *r->stop_len);
    if (!r->stop || !r->stop_len) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = one ? v : json_array_get(v, i);
        if (!json_is_string(s)) return bad(err, "\"%s\" must be an array of strings", "stop");
        if (!ji_string(d, s, "stop", &r->stop[i], &r->stop_len[i], err)) return oom(err);
        r->n_stop = (int)i + 1;
        if (r->stop_len[i] == 0 || strlen(r->stop[i]) != r->stop_len[i])
            return bad(err, "\"%s\" strings must be non-empty and without NUL", "stop");
    }
    return true;
}

/* What this server refuses rather than ignore: they change the output. */
static bool refuse_unsupported(const json_t *root, proto_error *err) {
    const json_t *v = field(root, "n_probs");
    if (v && !(json_is_integer(v) && json_integer_value(v) == 0)) return unsupported(err, "n_probs");
    static const char *const keys[] = {"grammar", "json_schema", "logit_bias"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        v = field(root, keys[i]);
        bool empty = !v || (json_is_string(v) && json_string_length(v) == 0) ||
                     (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
        if (!empty) return unsupported(err, keys[i]);
    }
    return true;
}

static bool read_sampling(const json_t *root, lcpp_infill *r, proto_error *err) {
    int64_t np = -1, mt = -1, top_k = r->top_k, seed = -1;
    bool ok = get_int(root, "max_tokens", -1, INT32_MAX, &mt, err) && get_int(root, "n_predict", -1, INT32_MAX, &np, err) &&
              get_num(root, "temperature", &r->temperature, err) && get_int(root, "top_k", INT32_MIN, INT32_MAX, &top_k, err) &&
              get_num(root, "top_p", &r->top_p, err) && get_num(root, "min_p", &r->min_p, err) &&
              get_num(root, "typical_p", &r->typical_p, err) && get_num(root, "repeat_penalty", &r->repeat_penalty, err) &&
              get_num(root, "presence_penalty", &r->presence_penalty, err) &&
              get_num(root, "frequency_penalty", &r->frequency_penalty, err) &&
              get_int(root, "seed", INT64_MIN, INT64_MAX, &seed, err);
    if (!ok) return false;
    r->n_predict = (int32_t)(field(root, "n_predict") ? np : mt);
    r->top_k = (int32_t)top_k;
    r->has_seed = seed >= 0 && seed != 0xFFFFFFFF;
    r->seed = (uint64_t)seed;
    if (r->n_predict == 0) return bad(err, "\"%s\" must be -1 (until the end) or >= 1", "n_predict");
    if (!(r->top_p > 0 && r->top_p <= 1)) return bad(err, "\"%s\" must be > 0 and <= 1", "top_p");
    if (!(r->typical_p > 0 && r->typical_p <= 1)) return bad(err, "\"%s\" must be > 0 and <= 1", "typical_p");
    if (!(r->min_p >= 0 && r->min_p <= 1)) return bad(err, "\"%s\" must be >= 0 and <= 1", "min_p");
    if (!(r->repeat_penalty > 0)) return bad(err, "\"%s\" must be > 0", "repeat_penalty");
    if (!(fabsf(r->presence_penalty) <= 2)) return bad(err, "\"%s\" must be >= -2 and <= 2", "presence_penalty");
    if (!(fabsf(r->frequency_penalty) <= 2)) return bad(err, "\"%s\" must be >= -2 and <= 2", "frequency_penalty");
    return true;
}

static void set_defaults(lcpp_infill *r) {
    memset(r, 0, sizeof *r);
    r->n_predict = -1;
    r->temperature = 0.8f;
    r->top_k = 40;
    r->top_p = 0.95f;
    r->min_p = 0.05f;
    r->typical_p = 1.0f;
    r->repeat_penalty = 1.0f;
}

bool lcpp_parse_infill(const char *body, size_t len, lcpp_infill *r, proto_error *err) {
    set_defaults(r);
    ji_doc d;
    if (!ji_load(body, len, &d, err)) return false;
    const json_t *root = d.root;
    bool ok = json_is_object(root) || proto_fail(err, 400, "validation", "the body must be a JSON object");
    ok = ok && refuse_unsupported(root, err) &&
         get_str(&d, root, "input_prefix", true, &r->prefix, &r->prefix_len, err) &&
         get_str(&d, root, "input_suffix", true, &r->suffix, &r->suffix_len, err) &&
         get_str(&d, root, "prompt", false, &r->prompt, &r->prompt_len, err) && read_extra(&d, root, r, err) &&
         read_stop(&d, root, r, err) && read_sampling(root, r, err) && get_bool(root, "ignore_eos", &r->ignore_eos, err) &&
         get_bool(root, "stream", &r->stream, err) && get_bool(root, "return_tokens", &r->return_tokens, err);
    ji_free(&d);
    if (!ok) {
        if (err && err->status == 422) err->status = 400; /* json_in's serde-style 422: a 400 here */
        lcpp_infill_free(r);
        set_defaults(r);
    }
    return ok;
}

void lcpp_infill_free(lcpp_infill *r) {
    if (!r) return;
    free(r->prefix);
    free(r->suffix);
    free(r->prompt);
    for (int i = 0; i < r->n_extra; i++) {
        free(r->extra[i].filename);
        free(r->extra[i].text);
    }
    free(r->extra);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->stop_len);
    memset(r, 0, sizeof *r);
}

sampler_params lcpp_sampler_params(const lcpp_infill *r, uint64_t seed_if_unset) {
    sampler_params s = sampler_params_default();
    s.do_sample = r->temperature >= SAMPLER_GREEDY_EPS;
    if (s.do_sample) s.temperature = r->temperature;
    s.top_k = r->top_k > 0 ? r->top_k : 0;
    s.top_p = r->top_p;
    s.min_p = r->min_p;
    s.typical_p = r->typical_p;
    s.repetition_penalty = r->repeat_penalty;
    s.presence_penalty = r->presence_penalty;
    s.frequency_penalty = r->frequency_penalty;
    s.seed = r->has_seed ? r->seed : seed_if_unset;
    s.no_logprob = true; /* no probabilities are reported (n_probs is refused) */
    return s;
}

/* ---- answers ------------------------------------------------------------------------- */

static void kv_u64(jw *w, const char *k, uint64_t v) {
    jw_key(w, k);
    jw_u64(w, v);
}

static void kv_f32(jw *w, const char *k, double v) {
    jw_key(w, k);
    jw_f32(w, (float)v);
}

static void kv_bool(jw *w, const char *k, bool v) {
    jw_key(w, k);
    jw_bool(w, v);
}

static void kv_str(jw *w, const char *k, proto_str s) {
    jw_key(w, k);
    jw_str(w, s.s ? s.s : "", s.len);
}

static void write_tokens(jw *w, const int32_t *t, int n) {
    jw_key(w, "tokens");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) jw_i64(w, t[i]);
    jw_arr_end(w);
}

static void write_settings(jw *w, const lcpp_final *f) {
    const lcpp_infill *r = f->settings;
    jw_key(w, "generation_settings");
    jw_obj_begin(w);
    jw_key(w, "n_predict");
    jw_i64(w, r->n_predict);
    kv_u64(w, "seed", f->seed);
    kv_f32(w, "temperature", r->temperature);
    jw_key(w, "top_k");
    jw_i64(w, r->top_k);
    kv_f32(w, "top_p", r->top_p);
    kv_f32(w, "min_p", r->min_p);
    kv_f32(w, "typical_p", r->typical_p);
    kv_f32(w, "repeat_penalty", r->repeat_penalty);
    kv_f32(w, "presence_penalty", r->presence_penalty);
    kv_f32(w, "frequency_penalty", r->frequency_penalty);
    jw_key(w, "stop");
    jw_arr_begin(w);
    for (int i = 0; i < r->n_stop; i++) jw_str(w, r->stop[i], r->stop_len[i]);
    jw_arr_end(w);
    kv_u64(w, "max_tokens", f->n_predict);
    kv_bool(w, "ignore_eos", r->ignore_eos);
    kv_bool(w, "stream", r->stream);
    kv_u64(w, "n_probs", 0);
    jw_obj_end(w);
}

static void write_timings(jw *w, const lcpp_timings *t) {
    jw_key(w, "timings");
    jw_obj_begin(w);
    kv_u64(w, "cache_n", t->cache_n);
    kv_u64(w, "prompt_n", t->prompt_n);
    kv_f32(w, "prompt_ms", t->prompt_ms);
    kv_f32(w, "prompt_per_token_ms", t->prompt_n ? t->prompt_ms / t->prompt_n : 0);
    kv_f32(w, "prompt_per_second", t->prompt_ms > 0 ? 1e3 * t->prompt_n / t->prompt_ms : 0);
    kv_u64(w, "predicted_n", t->predicted_n);
    kv_f32(w, "predicted_ms", t->predicted_ms);
    kv_f32(w, "predicted_per_token_ms", t->predicted_n ? t->predicted_ms / t->predicted_n : 0);
    kv_f32(w, "predicted_per_second", t->predicted_ms > 0 ? 1e3 * t->predicted_n / t->predicted_ms : 0);
    jw_obj_end(w);
}

static const char *stop_name(lcpp_stop s) {
    switch (s) {
    case LCPP_STOP_EOS: return "eos";
    case LCPP_STOP_WORD: return "word";
    case LCPP_STOP_LIMIT: return "limit";
    default: return "none";
    }
}

/* `data: ` + json + `\n\n` (llama.cpp writes the space), or json itself. */
static char *frame(char *json, size_t n, bool sse, size_t *len) {
    if (!json || !sse) {
        if (json && len) *len = n;
        return json;
    }
    char *out = malloc(n + 9);
    if (out) {
        memcpy(out, "data: ", 6);
        memcpy(out + 6, json, n);
        memcpy(out + 6 + n, "\n\n", 3);
        if (len) *len = n + 8;
    }
    free(json);
    return out;
}

char *lcpp_encode_final(const lcpp_final *f, bool sse, size_t *len) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    kv_u64(&w, "index", 0);
    kv_str(&w, "content", f->content);
    write_tokens(&w, f->tokens, f->n_tokens);
    kv_u64(&w, "id_slot", 0);
    kv_bool(&w, "stop", true);
    jw_key(&w, "model");
    jw_cstr(&w, f->model);
    kv_u64(&w, "tokens_predicted", f->tokens_predicted);
    kv_u64(&w, "tokens_evaluated", f->tokens_evaluated);
    write_settings(&w, f);
    kv_str(&w, "prompt", f->prompt);
    kv_bool(&w, "has_new_line", f->has_new_line);
    kv_bool(&w, "truncated", f->truncated);
    jw_key(&w, "stop_type");
    jw_cstr(&w, stop_name(f->stop_type));
    kv_str(&w, "stopping_word", f->stopping_word);
    kv_u64(&w, "tokens_cached", f->tokens_cached);
    write_timings(&w, &f->timings);
    jw_obj_end(&w);
    size_t n = 0;
    char *json = jw_finish(&w, &n);
    return frame(json, n, sse, len);
}

char *lcpp_encode_partial(proto_str content, const int32_t *tokens, int n_tokens, uint32_t predicted,
                          uint32_t evaluated, size_t *len) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    kv_u64(&w, "index", 0);
    kv_str(&w, "content", content);
    write_tokens(&w, tokens, n_tokens);
    kv_bool(&w, "stop", false);
    jw_key(&w, "id_slot");
    jw_i64(&w, -1);
    kv_u64(&w, "tokens_predicted", predicted);
    kv_u64(&w, "tokens_evaluated", evaluated);
    jw_obj_end(&w);
    size_t n = 0;
    char *json = jw_finish(&w, &n);
    return frame(json, n, true, len);
}

/* ---- errors ------------------------------------------------------------------------- */

int lcpp_http_status(const proto_error *e) { return e->status == 422 ? 400 : e->status; }

static const char *error_type(int status) {
    switch (status) {
    case 400: case 413: case 415: case 431: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: case 405: return "not_found_error";
    case 429: case 503: return "unavailable_error";
    case 501: return "not_supported_error";
    default: return "server_error";
    }
}

char *lcpp_encode_error(const proto_error *e, bool sse, size_t *len) {
    int status = lcpp_http_status(e);
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "error");
    jw_obj_begin(&w);
    kv_u64(&w, "code", (uint64_t)status);
    jw_key(&w, "message");
    jw_cstr(&w, e->message);
    jw_key(&w, "type");
    jw_cstr(&w, error_type(status));
    jw_obj_end(&w);
    jw_obj_end(&w);
    size_t n = 0;
    char *json = jw_finish(&w, &n);
    return frame(json, n, sse, len);
}
