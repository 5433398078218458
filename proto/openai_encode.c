/*
 * openai_encode.c — OpenAI's response bodies: chat.completion,
 * chat.completion.chunk, text_completion (whole and streamed), the usage
 * chunk, the model list, the error envelope, SSE framing with `data: `,
 * and response ids.
 *
 * Key order follows OpenAI's API reference examples (id, object, created,
 * model, system_fingerprint, choices, usage; a chat choice is index,
 * message|delta, logprobs, finish_reason; a completions choice is text,
 * index, logprobs, finish_reason).  Strings and floats are spelled by jsonw
 * (invalid UTF-8 in a token becomes U+FFFD; chat logprobs also give the
 * exact bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "openai.h"

oai_finish oai_finish_from_tgi(tgi_finish_reason r) {
    return r == TGI_FINISH_LENGTH ? OAI_FINISH_LENGTH : OAI_FINISH_STOP;
}

const char *oai_finish_name(oai_finish f) {
    switch (f) {
    case OAI_FINISH_STOP: return "stop";
    case OAI_FINISH_LENGTH: return "length";
    case OAI_FINISH_TOOL_CALLS: return "tool_calls";
    case OAI_FINISH_NONE: break;
    }
    return NULL;
}

size_t oai_utf8_chars(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* ---- pieces ---------------------------------------------------------------- */

static void meta(jw *w, const oai_meta *m, const char *object) {
    jw_key(w, "id");
    jw_cstr(w, m->id);
    jw_key(w, "object");
    jw_cstr(w, object);
    jw_key(w, "created");
    jw_u64(w, m->created);
    jw_key(w, "model");
    jw_cstr(w, m->model);
    jw_key(w, "system_fingerprint");
    jw_cstr(w, m->system_fingerprint);
}

static void usage(jw *w, const oai_usage *u) {
    jw_key(w, "usage");
    jw_obj_begin(w);
    jw_key(w, "prompt_tokens");
    jw_u64(w, u->prompt_tokens);
    jw_key(w, "completion_tokens");
    jw_u64(w, u->completion_tokens);
    jw_key(w, "total_tokens");
    jw_u64(w, (uint64_t)u->prompt_tokens + u->completion_tokens);
    jw_obj_end(w);
}

static void finish_reason(jw *w, oai_finish f) {
    jw_key(w, "finish_reason");
    jw_cstr(w, oai_finish_name(f)); /* NONE → null */
}

/* {"token":…,"logprob":…,"bytes":[…]} members (chat logprobs). */
static void chat_token_members(jw *w, proto_str t, float logprob) {
    jw_key(w, "token");
    jw_str(w, t.s, t.len);
    jw_key(w, "logprob");
    jw_f32(w, logprob);
    jw_key(w, "bytes");
    jw_arr_begin(w);
    for (size_t i = 0; i < t.len; i++) jw_u64(w, (unsigned char)t.s[i]);
    jw_arr_end(w);
}

/* chat: "logprobs": null | {"content":[{token, logprob, bytes, top_logprobs}]} */
static void chat_logprobs(jw *w, bool on, const oai_token_logprob *t, int n) {
    jw_key(w, "logprobs");
    if (!on) {
        jw_null(w);
        return;
    }
    jw_obj_begin(w);
    jw_key(w, "content");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) {
        jw_obj_begin(w);
        chat_token_members(w, t[i].text, t[i].logprob);
        jw_key(w, "top_logprobs");
        jw_arr_begin(w);
        for (int k = 0; k < t[i].n_top; k++) {
            jw_obj_begin(w);
            chat_token_members(w, t[i].top[k].text, t[i].top[k].logprob);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

/* A token's text as the inside of a JSON string (escaped, U+FFFD for
 * invalid bytes): the key of a completions top_logprobs map.  malloc'd. */
static char *key_text(proto_str t) {
    jw k;
    jw_init(&k);
    jw_str(&k, t.s, t.len);
    size_t n;
    char *q = jw_finish(&k, &n);
    if (!q) return NULL;
    memmove(q, q + 1, n - 2); /* drop the quotes */
    q[n - 2] = '\0';
    return q;
}

/* One {text: logprob} map: the alternatives, then the chosen token unless
 * already there (OpenAI: "up to logprobs+1 elements").  Keys are unique:
 * texts equal after U+FFFD repair keep their first entry. */
static void top_map(jw *w, const oai_token_logprob *t) {
    char *keys[SAMPLER_MAX_TOP_N + 1];
    int nk = 0;
    jw_obj_begin(w);
    for (int k = 0; k <= t->n_top && k <= SAMPLER_MAX_TOP_N; k++) {
        proto_str s = k < t->n_top ? t->top[k].text : t->text;
        float lp = k < t->n_top ? t->top[k].logprob : t->logprob;
        char *key = key_text(s);
        if (!key) {
            w->failed = true; /* out of memory: jw_finish returns NULL */
            break;
        }
        bool dup = false;
        for (int j = 0; j < nk && !dup; j++) dup = strcmp(keys[j], key) == 0;
        if (dup) {
            free(key);
            continue;
        }
        jw_key(w, key);
        jw_f32(w, lp);
        keys[nk++] = key;
    }
    for (int j = 0; j < nk; j++) free(keys[j]);
    jw_obj_end(w);
}

/* completions: "logprobs": null | {"tokens","token_logprobs","top_logprobs",
 * "text_offset"}; offsets count characters from `offset`. */
static void completion_logprobs(jw *w, bool on, const oai_token_logprob *t, int n,
                                size_t offset) {
    jw_key(w, "logprobs");
    if (!on) {
        jw_null(w);
        return;
    }
    jw_obj_begin(w);
    jw_key(w, "tokens");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) jw_str(w, t[i].text.s, t[i].text.len);
    jw_arr_end(w);
    jw_key(w, "token_logprobs");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) jw_f32(w, t[i].logprob);
    jw_arr_end(w);
    jw_key(w, "top_logprobs");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) top_map(w, &t[i]);
    jw_arr_end(w);
    jw_key(w, "text_offset");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) {
        jw_u64(w, offset);
        offset += oai_utf8_chars(t[i].text.s, t[i].text.len);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

static char *sse_finish(jw *w, size_t *len) {
    jw_raw(w, "\n\n", 2);
    return jw_finish(w, len);
}

/* "function":{"name":…,"arguments":…}; name NULL: arguments only. */
static void function_member(jw *w, const char *name, proto_str args) {
    jw_key(w, "function");
    jw_obj_begin(w);
    if (name) {
        jw_key(w, "name");
        jw_cstr(w, name);
    }
    jw_key(w, "arguments");
    jw_str(w, args.s ? args.s : "", args.len);
    jw_obj_end(w);
}

/* message.tool_calls of a finished choice. */
static void tool_calls(jw *w, const tc_call *c, int n) {
    jw_key(w, "tool_calls");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "id");
        jw_cstr(w, c[i].id);
        jw_key(w, "type");
        jw_cstr(w, "function");
        proto_str a = {c[i].arguments, c[i].arguments ? strlen(c[i].arguments) : 0};
        function_member(w, c[i].name, a);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

/* delta.tool_calls: one fragment. */
static void tool_fragment(jw *w, const oai_tool_delta *t) {
    jw_key(w, "tool_calls");
    jw_arr_begin(w);
    jw_obj_begin(w);
    jw_key(w, "index");
    jw_u64(w, t->index);
    if (t->id) {
        jw_key(w, "id");
        jw_cstr(w, t->id);
        jw_key(w, "type");
        jw_cstr(w, "function");
    }
    function_member(w, t->name, t->arguments);
    jw_obj_end(w);
    jw_arr_end(w);
}

/* ---- whole responses --------------------------------------------------------- */

char *oai_encode_chat(const oai_meta *m, const oai_choice *c, int n, const oai_usage *u,
                      size_t *len) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    meta(&w, m, "chat.completion");
    jw_key(&w, "choices");
    jw_arr_begin(&w);
    for (int i = 0; i < n; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "index");
        jw_u64(&w, c[i].index);
        jw_key(&w, "message");
        jw_obj_begin(&w);
        jw_key(&w, "role");
        jw_cstr(&w, "assistant");
        jw_key(&w, "content");
        if (c[i].n_tool_calls > 0 && c[i].text.len == 0) jw_null(&w);
        else jw_str(&w, c[i].text.s, c[i].text.len);
        if (c[i].n_tool_calls > 0) tool_calls(&w, c[i].tool_calls, c[i].n_tool_calls);
        jw_obj_end(&w);
        chat_logprobs(&w, c[i].logprobs, c[i].tokens, c[i].n_tokens);
        finish_reason(&w, c[i].finish);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    usage(&w, u);
    jw_obj_end(&w);
    return jw_finish(&w, len);
}

/* {"text","index","logprobs","finish_reason"} of a completions choice. */
static void completion_choice(jw *w, uint32_t index, proto_str text, oai_finish f, bool lp,
                              const oai_token_logprob *t, int n, size_t offset) {
    jw_obj_begin(w);
    jw_key(w, "text");
    jw_str(w, text.s, text.len);
    jw_key(w, "index");
    jw_u64(w, index);
    completion_logprobs(w, lp, t, n, offset);
    finish_reason(w, f);
    jw_obj_end(w);
}

char *oai_encode_completion(const oai_meta *m, const oai_choice *c, int n, const oai_usage *u,
                            size_t *len) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    meta(&w, m, "text_completion");
    jw_key(&w, "choices");
    jw_arr_begin(&w);
    for (int i = 0; i < n; i++)
        completion_choice(&w, c[i].index, c[i].text, c[i].finish, c[i].logprobs, c[i].tokens,
                          c[i].n_tokens, c[i].text_offset);
    jw_arr_end(&w);
    usage(&w, u);
    jw_obj_end(&w);
    return jw_finish(&w, len);
}

/* ---- streams ------------------------------------------------------------------ */

/* `data: {` + the common fields + `"choices":[` of one chunk. */
static void chunk_begin(jw *w, const oai_meta *m, const char *object) {
    jw_raw(w, "data: ", 6);
    jw_obj_begin(w);
    meta(w, m, object);
    jw_key(w, "choices");
    jw_arr_begin(w);
}

/* `]` + `"usage":null` when the stream ends with a usage chunk + `}\n\n`. */
static char *chunk_end(jw *w, bool include_usage, size_t *len) {
    jw_arr_end(w);
    if (include_usage) {
        jw_key(w, "usage");
        jw_null(w);
    }
    jw_obj_end(w);
    return sse_finish(w, len);
}

char *oai_encode_chat_chunk(const oai_meta *m, const oai_delta *d, bool include_usage,
                            size_t *len) {
    jw w;
    jw_init(&w);
    chunk_begin(&w, m, "chat.completion.chunk");
    jw_obj_begin(&w);
    jw_key(&w, "index");
    jw_u64(&w, d->index);
    jw_key(&w, "delta");
    jw_obj_begin(&w);
    if (d->role) {
        jw_key(&w, "role");
        jw_cstr(&w, "assistant");
    }
    if (d->has_content) {
        jw_key(&w, "content");
        jw_str(&w, d->content.s, d->content.len);
    } else if (d->role && d->tool) {
        jw_key(&w, "content");
        jw_null(&w);
    }
    if (d->tool) tool_fragment(&w, d->tool);
    jw_obj_end(&w);
    chat_logprobs(&w, d->logprobs, d->tokens, d->n_tokens);
    finish_reason(&w, d->finish);
    jw_obj_end(&w);
    return chunk_end(&w, include_usage, len);
}

char *oai_encode_completion_chunk(const oai_meta *m, const oai_delta *d, bool include_usage,
                                  size_t *len) {
    jw w;
    jw_init(&w);
    chunk_begin(&w, m, "text_completion");
    completion_choice(&w, d->index, d->content, d->finish, d->logprobs, d->tokens, d->n_tokens,
                      d->text_offset);
    return chunk_end(&w, include_usage, len);
}

char *oai_encode_usage_chunk(oai_kind kind, const oai_meta *m, const oai_usage *u,
                             size_t *len) {
    jw w;
    jw_init(&w);
    chunk_begin(&w, m, kind == OAI_CHAT ? "chat.completion.chunk" : "text_completion");
    jw_arr_end(&w);
    usage(&w, u);
    jw_obj_end(&w);
    return sse_finish(&w, len);
}

char *oai_sse_frame(const char *json, size_t json_len, size_t *len) {
    jw w;
    jw_init(&w);
    jw_raw(&w, "data: ", 6);
    jw_raw(&w, json, json_len);
    return sse_finish(&w, len);
}

/* ---- models, errors, ids --------------------------------------------------------- */

static void model_entry(jw *w, const char *id, uint64_t created, uint32_t max_model_len, const char *root,
                        const char *parent) {
    jw_obj_begin(w);
    jw_key(w, "id");
    jw_cstr(w, id);
    jw_key(w, "object");
    jw_cstr(w, "model");
    jw_key(w, "created");
    jw_u64(w, created);
    jw_key(w, "owned_by");
    jw_cstr(w, "ctgi");
    jw_key(w, "max_model_len");
    jw_u64(w, max_model_len);
    if (parent) {
        jw_key(w, "root");
        jw_cstr(w, root);
        jw_key(w, "parent");
        jw_cstr(w, parent);
    }
    jw_obj_end(w);
}

char *oai_encode_models(const char *model_id, uint64_t created, uint32_t max_model_len,
                        const proto_adapter *adapters, int n_adapters, size_t *len) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "object");
    jw_cstr(&w, "list");
    jw_key(&w, "data");
    jw_arr_begin(&w);
    model_entry(&w, model_id, created, max_model_len, NULL, NULL);
    for (int i = 0; i < n_adapters; i++)
        model_entry(&w, adapters[i].id, created, max_model_len, adapters[i].path, model_id);
    jw_arr_end(&w);
    jw_obj_end(&w);
    return jw_finish(&w, len);
}

/* The code written when the error has none: OpenAI's codes for the two
 * statuses whose clients look at it. */
static const char *default_code(int status) {
    if (status == 401) return "invalid_api_key";
    if (status == 429) return "rate_limit_exceeded";
    return NULL;
}

static void error_object(jw *w, const proto_error *e) {
    int status = oai_http_status(e);
    jw_obj_begin(w);
    jw_key(w, "error");
    jw_obj_begin(w);
    jw_key(w, "message");
    jw_cstr(w, e->message);
    jw_key(w, "type");
    jw_cstr(w, oai_error_type(status));
    jw_key(w, "param");
    jw_cstr(w, e->param);
    jw_key(w, "code");
    jw_cstr(w, e->code ? e->code : default_code(status));
    jw_obj_end(w);
    jw_obj_end(w);
}

char *oai_encode_error(const proto_error *e, size_t *len) {
    jw w;
    jw_init(&w);
    error_object(&w, e);
    return jw_finish(&w, len);
}

char *oai_sse_error(const proto_error *e, size_t *len) {
    jw w;
    jw_init(&w);
    jw_raw(&w, "data: ", 6);
    error_object(&w, e);
    return sse_finish(&w, len);
}

/* splitmix64: spreads each random word over the characters. */
static uint64_t mix_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void oai_make_id(char out[OAI_ID_MAX], const char *prefix, uint64_t r0, uint64_t r1) {
    static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t p = strnlen(prefix, OAI_ID_MAX - OAI_ID_CHARS - 1);
    memcpy(out, prefix, p);
    uint64_t s0 = r0, s1 = r1;
    for (int i = 0; i < OAI_ID_CHARS; i++) {
        uint64_t a = mix_next(&s0), b = mix_next(&s1);
        uint64_t v = a ^ (b << 17 | b >> 47);
        out[p + (size_t)i] = B62[v % 62];
    }
    out[p + OAI_ID_CHARS] = '\0';
}
