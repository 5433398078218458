/*
 * openai_parse.c — a ChatCompletion / Completion request body into an
 * oai_request.
 *
 * Fields are read in the order the body lists them, so the first wrong one
 * is reported; unknown fields are ignored and every optional field may be
 * null (OpenAI's SDKs send null for "not given").  Each scalar field is one
 * row of a table: its JSON name, which endpoint has it, the accepted JSON
 * type, and where it lands.  Type errors reuse json_in's serde-style words
 * ("temperature: invalid type: string \"a\", expected f32") but are 400
 * with `param` naming the field, as OpenAI answers them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_in.h"
#include "openai.h"
#include "openai_read.h"

typedef enum {
    K_F32,
    K_U32,
    K_I32,
    K_BOOL,
    K_SEED,        /* i64 or u64 */
    K_STRING,      /* model */
    K_STOP,        /* string or array of strings */
    K_LOGIT_BIAS,  /* {"id": bias} */
    K_IDS,         /* stop_token_ids: array of i32 */
    K_STREAM_OPTS, /* {"include_usage": bool} */
    K_LIST,        /* tools / functions: a non-empty array sets has */
    K_FORMAT,      /* response_format: an object with a string type, kept */
    K_KEEP,        /* guided_* / structured_outputs: any JSON value, kept */
    K_SUFFIX,      /* completions: a string, kept; chat: refused */
    K_MESSAGES,
    K_PROMPT,
    K_MAX_COMPLETION, /* max_completion_tokens: wins over max_tokens */
    K_LOGPROBS,       /* chat: bool; completions: u32 count */
    K_OBJECT,         /* chat_template_kwargs: a JSON object, kept */
    K_TOOLS,          /* tools: checked and kept (openai_tools.c) */
    K_TOOL_CHOICE,    /* tool_choice: a mode or a named function */
} field_kind;

enum { CHAT = 1, COMPL = 2, BOTH = 3 };

#define NO_OFF ((size_t)-1)
#define R(f) offsetof(oai_request, f)

typedef struct {
    const char *name; /* also the error's param */
    int where;        /* CHAT, COMPL or BOTH */
    field_kind k;
    size_t has; /* offset of the bool has_x, or NO_OFF */
    size_t val; /* offset of the value, or NO_OFF */
} field;

static const field FIELDS[] = {
    {"model", BOTH, K_STRING, NO_OFF, R(model)},
    {"messages", CHAT, K_MESSAGES, NO_OFF, NO_OFF},
    {"prompt", COMPL, K_PROMPT, NO_OFF, NO_OFF},
    {"temperature", BOTH, K_F32, R(has_temperature), R(temperature)},
    {"top_p", BOTH, K_F32, R(has_top_p), R(top_p)},
    {"presence_penalty", BOTH, K_F32, R(has_presence_penalty), R(presence_penalty)},
    {"frequency_penalty", BOTH, K_F32, R(has_frequency_penalty), R(frequency_penalty)},
    {"logit_bias", BOTH, K_LOGIT_BIAS, NO_OFF, NO_OFF},
    {"seed", BOTH, K_SEED, R(has_seed), R(seed)},
    {"n", BOTH, K_U32, NO_OFF, R(n)},
    {"stop", BOTH, K_STOP, NO_OFF, NO_OFF},
    {"max_tokens", BOTH, K_U32, R(has_max_tokens), R(max_tokens)},
    {"max_completion_tokens", CHAT, K_MAX_COMPLETION, NO_OFF, NO_OFF},
    {"logprobs", BOTH, K_LOGPROBS, NO_OFF, NO_OFF},
    {"top_logprobs", CHAT, K_U32, R(has_top_logprobs), R(top_logprobs)},
    {"stream", BOTH, K_BOOL, NO_OFF, R(stream)},
    {"stream_options", BOTH, K_STREAM_OPTS, NO_OFF, NO_OFF},
    {"echo", COMPL, K_BOOL, NO_OFF, R(echo)},
    {"best_of", COMPL, K_U32, R(has_best_of), R(best_of)},
    {"suffix", BOTH, K_SUFFIX, R(has_suffix), NO_OFF},
    {"tools", CHAT, K_TOOLS, R(has_tools), NO_OFF},
    {"tool_choice", CHAT, K_TOOL_CHOICE, NO_OFF, NO_OFF},
    {"parallel_tool_calls", CHAT, K_BOOL, NO_OFF, R(parallel_tool_calls)},
    {"functions", CHAT, K_LIST, R(has_functions), NO_OFF},
    {"response_format", BOTH, K_FORMAT, NO_OFF, R(response_format)},
    {"guided_json", BOTH, K_KEEP, NO_OFF, R(guided_json)},
    {"guided_regex", BOTH, K_KEEP, NO_OFF, R(guided_regex)},
    {"guided_choice", BOTH, K_KEEP, NO_OFF, R(guided_choice)},
    {"guided_grammar", BOTH, K_KEEP, NO_OFF, R(guided_grammar)},
    {"structured_outputs", BOTH, K_KEEP, NO_OFF, R(structured_outputs)},
    {"top_k", BOTH, K_I32, R(has_top_k), R(top_k)},
    {"min_p", BOTH, K_F32, R(has_min_p), R(min_p)},
    {"repetition_penalty", BOTH, K_F32, R(has_repetition_penalty), R(repetition_penalty)},
    {"ignore_eos", BOTH, K_BOOL, NO_OFF, R(ignore_eos)},
    {"min_tokens", BOTH, K_U32, R(has_min_tokens), R(min_tokens)},
    {"stop_token_ids", BOTH, K_IDS, NO_OFF, NO_OFF},
    {"skip_special_tokens", BOTH, K_BOOL, NO_OFF, R(skip_special_tokens)},
    {"chat_template_kwargs", CHAT, K_OBJECT, NO_OFF, R(chat_template_kwargs)},
    /* accepted and ignored: user, function_call, … (unknown fields are
     * ignored anyway) */
};

/* One parse: the document, the request being filled, and what must be
 * resolved after every field was seen. */
typedef struct {
    const ji_doc *d;
    oai_request *r;
    proto_error *err;
    bool have_messages, have_prompt;
    bool has_mct; /* max_completion_tokens */
    uint32_t mct;
} ctx;


/* 400 "<path>: invalid type: <what>, expected <expected>" for param. */
static bool type_400(const ctx *c, const json_t *v, const char *path, const char *expected,
                     const char *param) {
    ji_type_error(c->d, v, path, expected, c->err);
    return oai_as_400(c->err, param);
}

static bool oom(proto_error *err) {
    return proto_fail(err, 500, "internal", "out of memory reading the body");
}

/* ---- stop, logit_bias, stop_token_ids, stream_options --------------------- */

static bool add_stop(ctx *c, const json_t *v, const char *path) {
    oai_request *r = c->r;
    int i = r->n_stop;
    if (!ji_string(c->d, v, path, &r->stop[i], &r->stop_len[i], c->err))
        return oai_as_400(c->err, "stop");
    r->n_stop = i + 1;
    return true;
}

static bool read_stop(ctx *c, const json_t *v) {
    oai_request *r = c->r;
    bool one = json_is_string(v);
    if (!one && !json_is_array(v))
        return type_400(c, v, "stop", "a string or a sequence of strings", "stop");
    size_t n = one ? 1 : json_array_size(v);
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    r->stop_len = calloc(n ? n : 1, sizeof *r->stop_len);
    if (!r->stop || !r->stop_len) return oom(c->err);
    if (one) return add_stop(c, v, "stop");
    for (size_t i = 0; i < n; i++) {
        char path[48];
        snprintf(path, sizeof path, "stop[%zu]", i);
        if (!add_stop(c, json_array_get(v, i), path)) return false;
    }
    return true;
}

/* A decimal token id as OpenAI's logit_bias keys spell it ("50256"). */
static bool parse_id_key(const char *key, int32_t *out) {
    if (!*key || strlen(key) > 10) return false;
    long long x = 0;
    for (const char *p = key; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        x = x * 10 + (*p - '0');
    }
    if (x > INT32_MAX) return false;
    *out = (int32_t)x;
    return true;
}

static bool read_logit_bias(ctx *c, const json_t *v) {
    oai_request *r = c->r;
    if (!json_is_object(v))
        return type_400(c, v, "logit_bias", "a map of token ids to numbers", "logit_bias");
    size_t n = json_object_size(v);
    r->logit_bias = calloc(n ? n : 1, sizeof *r->logit_bias);
    if (!r->logit_bias) return oom(c->err);
    const char *key;
    json_t *b;
    json_object_foreach((json_t *)v, key, b) {
        sampler_bias *sb = &r->logit_bias[r->n_logit_bias];
        if (!parse_id_key(key, &sb->id))
            return oai_bad(c->err, "logit_bias",
                       "Invalid key in 'logit_bias': \"%.40s\" is not a token id (a decimal "
                       "integer string such as \"50256\")", key);
        char path[64];
        snprintf(path, sizeof path, "logit_bias.%s", key);
        if (!ji_f32(c->d, b, path, &sb->bias, c->err)) return oai_as_400(c->err, "logit_bias");
        r->n_logit_bias++;
    }
    return true;
}

static bool read_ids(ctx *c, const json_t *v) {
    oai_request *r = c->r;
    if (!json_is_array(v))
        return type_400(c, v, "stop_token_ids", "a sequence", "stop_token_ids");
    size_t n = json_array_size(v);
    r->stop_token_ids = calloc(n ? n : 1, sizeof *r->stop_token_ids);
    if (!r->stop_token_ids) return oom(c->err);
    for (size_t i = 0; i < n; i++) {
        char path[48];
        snprintf(path, sizeof path, "stop_token_ids[%zu]", i);
        if (!ji_i32(c->d, json_array_get(v, i), path, &r->stop_token_ids[i], c->err))
            return oai_as_400(c->err, "stop_token_ids");
        r->n_stop_token_ids = (int)i + 1;
    }
    return true;
}

static bool read_stream_options(ctx *c, const json_t *v) {
    if (!json_is_object(v))
        return type_400(c, v, "stream_options", "struct StreamOptions", "stream_options");
    c->r->has_stream_options = true;
    const json_t *u = json_object_get(v, "include_usage");
    if (u && !json_is_null(u) &&
        !ji_bool(c->d, u, "stream_options.include_usage", &c->r->include_usage, c->err))
        return oai_as_400(c->err, "stream_options");
    return true;
}

/* functions: an empty list is "no functions" (some clients always send
 * one); a non-empty one is a feature ctgi does not have yet. */
static bool read_list(ctx *c, const field *f, const json_t *v, bool *has) {
    if (!json_is_array(v))
        return type_400(c, v, f->name, "a sequence", f->name);
    *has = json_array_size(v) > 0;
    return true;
}

static bool read_format(ctx *c, const json_t *v, json_t **out) {
    if (!json_is_object(v))
        return type_400(c, v, "response_format", "struct ResponseFormat", "response_format");
    const json_t *t = json_object_get(v, "type");
    if (!json_is_string(t))
        return oai_bad(c->err, "response_format",
                   "`response_format` needs a string `type` (\"text\", \"json_object\" or "
                   "\"json_schema\")");
    return (*out = json_deep_copy(v)) ? true : oom(c->err);
}

/* Fill-in-the-middle belongs to completions; a chat request that sends a
 * suffix would silently lose it (OpenAI refuses unknown arguments). */
static bool read_suffix(ctx *c, const json_t *v, bool *has) {
    if (c->r->kind == OAI_CHAT)
        return oai_bad(c->err, "suffix", "`suffix` (fill-in-the-middle) is a /v1/completions parameter; "
                       "chat completions have no suffix");
    if (!json_is_string(v))
        return type_400(c, v, "suffix", "a string", "suffix");
    if (!ji_string(c->d, v, "suffix", &c->r->suffix, &c->r->suffix_len, c->err)) return oai_as_400(c->err, "suffix");
    *has = true;
    return true;
}

/* chat `logprobs` is a bool; completions `logprobs` the number of
 * alternatives (0 still reports the chosen tokens' logprobs). */
static bool read_logprobs(ctx *c, const json_t *v) {
    oai_request *r = c->r;
    if (r->kind == OAI_CHAT) {
        if (!ji_bool(c->d, v, "logprobs", &r->logprobs, c->err)) return oai_as_400(c->err, "logprobs");
        return true;
    }
    uint64_t u;
    if (!ji_uint(c->d, v, UINT32_MAX, "u32", "logprobs", &u, c->err))
        return oai_as_400(c->err, "logprobs");
    r->logprobs = true;
    r->top_logprobs = (uint32_t)u;
    return true;
}

static bool read_seed(ctx *c, const json_t *v, uint64_t *out) {
    if (json_is_integer(v)) { /* negative seeds are kept as their bits */
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    if (!ji_uint(c->d, v, UINT64_MAX, "i64", "seed", out, c->err)) return oai_as_400(c->err, "seed");
    return true;
}

/* ---- the table -------------------------------------------------------------- */

static bool read_field(ctx *c, const field *f, const json_t *v) {
    char *base = (char *)c->r;
    bool *has = f->has == NO_OFF ? NULL : (bool *)(base + f->has);
    void *val = f->val == NO_OFF ? NULL : base + f->val;
    const ji_doc *d = c->d;
    proto_error *err = c->err;
    if (json_is_null(v)) return true; /* every optional field: null is "not given" */
    uint64_t u = 0;
    bool ok = true;
    switch (f->k) {
    case K_F32: ok = ji_f32(d, v, f->name, (float *)val, err); break;
    case K_I32: ok = ji_i32(d, v, f->name, (int32_t *)val, err); break;
    case K_U32:
        ok = ji_uint(d, v, UINT32_MAX, "u32", f->name, &u, err);
        if (ok) *(uint32_t *)val = (uint32_t)u;
        break;
    case K_MAX_COMPLETION:
        ok = ji_uint(d, v, UINT32_MAX, "u32", f->name, &u, err);
        c->has_mct = ok;
        c->mct = (uint32_t)u;
        break;
    case K_BOOL: ok = ji_bool(d, v, f->name, (bool *)val, err); break;
    case K_STRING: ok = ji_string(d, v, f->name, (char **)val, NULL, err); break;
    case K_SEED: return (*has = read_seed(c, v, (uint64_t *)val));
    case K_STOP: return read_stop(c, v);
    case K_LOGIT_BIAS: return read_logit_bias(c, v);
    case K_IDS: return read_ids(c, v);
    case K_STREAM_OPTS: return read_stream_options(c, v);
    case K_LIST: return read_list(c, f, v, has);
    case K_FORMAT: return read_format(c, v, (json_t **)val);
    case K_KEEP: return (*(json_t **)val = json_deep_copy(v)) ? true : oom(err);
    case K_SUFFIX: return read_suffix(c, v, has);
    case K_LOGPROBS: return read_logprobs(c, v);
    case K_TOOLS: return oai_read_tools(d, v, &c->r->tools, has, err);
    case K_TOOL_CHOICE: return oai_read_tool_choice(d, v, c->r, err);
    case K_OBJECT:
        if (!json_is_object(v)) return type_400(c, v, f->name, "a map", f->name);
        *(json_t **)val = json_deep_copy(v);
        return *(json_t **)val ? true : oom(err);
    case K_MESSAGES:
        c->have_messages = true;
        return oai_read_messages(d, v, &c->r->messages, err);
    case K_PROMPT:
        c->have_prompt = true;
        return oai_read_prompt(d, v, &c->r->prompts, &c->r->n_prompts, err);
    }
    if (!ok) return oai_as_400(err, f->name);
    if (has) *has = true;
    return true;
}

static bool read_request(ctx *c) {
    const json_t *root = c->d->root;
    bool chat = c->r->kind == OAI_CHAT;
    if (!json_is_object(root))
        return type_400(c, root, "",
                        chat ? "struct ChatCompletionRequest" : "struct CompletionRequest", NULL);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
            const field *f = &FIELDS[i];
            if (!(f->where & (chat ? CHAT : COMPL)) || strcmp(key, f->name) != 0) continue;
            if (!read_field(c, f, v)) return false;
            break;
        }
    }
    if (chat && !c->have_messages)
        return oai_bad(c->err, "messages", "Missing required parameter: 'messages'.");
    if (!chat && !c->have_prompt)
        return oai_bad(c->err, "prompt", "Missing required parameter: 'prompt'.");
    oai_tools_resolve(c->r);
    if (c->has_mct) { /* the newer name wins when both are sent */
        c->r->has_max_tokens = true;
        c->r->max_tokens = c->mct;
    }
    return true;
}

static void set_defaults(oai_request *r, oai_kind kind) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->n = 1;
    r->skip_special_tokens = true;
    r->parallel_tool_calls = true;
}

bool oai_parse(oai_kind kind, const char *body, size_t len, oai_request *req, proto_error *err) {
    set_defaults(req, kind);
    ji_doc d;
    if (!ji_load(body, len, &d, err)) return false;
    ctx c = {.d = &d, .r = req, .err = err};
    bool ok = read_request(&c);
    ji_free(&d);
    if (!ok) {
        oai_request_free(req);
        set_defaults(req, kind);
    }
    return ok;
}

void oai_request_free(oai_request *req) {
    if (!req) return;
    free(req->model);
    json_decref(req->messages);
    json_decref(req->chat_template_kwargs);
    json_decref(req->response_format);
    json_decref(req->guided_json);
    json_decref(req->guided_regex);
    json_decref(req->guided_choice);
    json_decref(req->guided_grammar);
    json_decref(req->structured_outputs);
    json_decref(req->tools);
    free(req->tool_choice_name);
    for (int i = 0; i < req->n_prompts; i++) {
        free(req->prompts[i].text);
        free(req->prompts[i].ids);
    }
    free(req->prompts);
    free(req->suffix);
    free(req->logit_bias);
    free(req->stop_token_ids);
    for (int i = 0; i < req->n_stop; i++) free(req->stop[i]);
    free(req->stop);
    free(req->stop_len);
    memset(req, 0, sizeof *req);
}
