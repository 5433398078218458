/*
 * tgi_encode.c — TGI's response bodies, byte for byte: key order follows
 * TGI's Rust structs (router/src/lib.rs), optional members are omitted
 * exactly where serde's skip_serializing_if omits them, and scalars are
 * spelled by jsonw (serde_json's spelling).
 */
#include "jsonw.h"
#include "tgi.h"

const char *tgi_finish_name(tgi_finish_reason r) {
    switch (r) {
    case TGI_FINISH_EOS_TOKEN: return "eos_token";
    case TGI_FINISH_STOP_SEQUENCE: return "stop_sequence";
    case TGI_FINISH_LENGTH: break;
    }
    return "length";
}

/* Token {id, text, logprob, special}; PrefillToken drops `special`. */
static void write_token(jw *w, const tgi_token *t, bool with_special) {
    jw_obj_begin(w);
    jw_key(w, "id");
    jw_i64(w, t->id);
    jw_key(w, "text");
    jw_str(w, t->text.s, t->text.len);
    jw_key(w, "logprob");
    jw_f32(w, t->logprob);
    if (with_special) {
        jw_key(w, "special");
        jw_bool(w, t->special);
    }
    jw_obj_end(w);
}

static void write_tokens(jw *w, const tgi_token *t, int n, bool with_special) {
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) write_token(w, &t[i], with_special);
    jw_arr_end(w);
}

static void write_seed(jw *w, const tgi_finish *f) {
    jw_key(w, "seed");
    if (f->has_seed) jw_u64(w, f->seed);
    else jw_null(w);
}

/* The members Details and BestOfSequence share, after their first ones:
 * prefill, tokens (and top_tokens, placed by the caller). */
static void write_prefill_tokens(jw *w, const tgi_sequence *s) {
    jw_key(w, "prefill");
    write_tokens(w, s->prefill, s->n_prefill, false);
    jw_key(w, "tokens");
    jw_arr_begin(w);
    for (int i = 0; i < s->n_tokens; i++) write_token(w, &s->tokens[i].token, true);
    jw_arr_end(w);
}

/* "top_tokens": [[Token…]…], one list per generated token; omitted when the
 * request asked for none (serde: skip_serializing_if Vec::is_empty). */
static void write_top_tokens(jw *w, const tgi_sequence *s) {
    if (!s->top_tokens || s->n_tokens == 0) return;
    jw_key(w, "top_tokens");
    jw_arr_begin(w);
    for (int i = 0; i < s->n_tokens; i++)
        write_tokens(w, s->tokens[i].top, s->tokens[i].n_top, true);
    jw_arr_end(w);
}

/* BestOfSequence: generated_text, finish_reason, generated_tokens, seed,
 * prefill, tokens, top_tokens? */
static void write_best_of_sequence(jw *w, const tgi_sequence *s) {
    jw_obj_begin(w);
    jw_key(w, "generated_text");
    jw_str(w, s->generated_text.s, s->generated_text.len);
    jw_key(w, "finish_reason");
    jw_cstr(w, tgi_finish_name(s->finish.reason));
    jw_key(w, "generated_tokens");
    jw_u64(w, s->finish.generated_tokens);
    write_seed(w, &s->finish);
    write_prefill_tokens(w, s);
    write_top_tokens(w, s);
    jw_obj_end(w);
}

/* Details: finish_reason, generated_tokens, seed, prefill, tokens,
 * best_of_sequences?, top_tokens? */
static void write_details(jw *w, const tgi_generate_response *r) {
    const tgi_sequence *s = &r->seq;
    jw_obj_begin(w);
    jw_key(w, "finish_reason");
    jw_cstr(w, tgi_finish_name(s->finish.reason));
    jw_key(w, "generated_tokens");
    jw_u64(w, s->finish.generated_tokens);
    write_seed(w, &s->finish);
    write_prefill_tokens(w, s);
    if (r->n_others > 0) {
        jw_key(w, "best_of_sequences");
        jw_arr_begin(w);
        for (int i = 0; i < r->n_others; i++) write_best_of_sequence(w, &r->others[i]);
        jw_arr_end(w);
    }
    write_top_tokens(w, s);
    jw_obj_end(w);
}

char *tgi_encode_generate(const tgi_generate_response *r, bool as_array, size_t *len) {
    jw w;
    jw_init(&w);
    if (as_array) jw_arr_begin(&w);
    jw_obj_begin(&w);
    jw_key(&w, "generated_text");
    jw_str(&w, r->seq.generated_text.s, r->seq.generated_text.len);
    if (r->details) {
        jw_key(&w, "details");
        write_details(&w, r);
    }
    jw_obj_end(&w);
    if (as_array) jw_arr_end(&w);
    return jw_finish(&w, len);
}

/* StreamResponse: index, token, top_tokens? (omitted when empty),
 * generated_text, details (StreamDetails: finish_reason, generated_tokens,
 * seed, input_length). */
char *tgi_encode_stream_event(const tgi_stream_event *e, size_t *len) {
    jw w;
    jw_init(&w);
    jw_raw(&w, "data:", 5);
    jw_obj_begin(&w);
    jw_key(&w, "index");
    jw_u64(&w, e->index);
    jw_key(&w, "token");
    write_token(&w, &e->token.token, true);
    if (e->token.n_top > 0) {
        jw_key(&w, "top_tokens");
        write_tokens(&w, e->token.top, e->token.n_top, true);
    }
    jw_key(&w, "generated_text");
    if (e->last) jw_str(&w, e->generated_text.s, e->generated_text.len);
    else jw_null(&w);
    jw_key(&w, "details");
    if (e->last && e->details) {
        jw_obj_begin(&w);
        jw_key(&w, "finish_reason");
        jw_cstr(&w, tgi_finish_name(e->finish.reason));
        jw_key(&w, "generated_tokens");
        jw_u64(&w, e->finish.generated_tokens);
        write_seed(&w, &e->finish);
        jw_key(&w, "input_length");
        jw_u64(&w, e->input_length);
        jw_obj_end(&w);
    } else {
        jw_null(&w);
    }
    jw_obj_end(&w);
    jw_raw(&w, "\n\n", 2);
    return jw_finish(&w, len);
}

static void write_simple_tokens(jw *w, const tgi_simple_token *t, int n) {
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "id");
        jw_i64(w, t[i].id);
        jw_key(w, "text");
        jw_str(w, t[i].text.s, t[i].text.len);
        jw_key(w, "start");
        jw_u64(w, t[i].start);
        jw_key(w, "stop");
        jw_u64(w, t[i].stop);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

char *tgi_encode_tokenize(const tgi_simple_token *t, int n, size_t *len) {
    jw w;
    jw_init(&w);
    write_simple_tokens(&w, t, n);
    return jw_finish(&w, len);
}

char *tgi_encode_chat_tokenize(const tgi_simple_token *t, int n, proto_str templated, size_t *len) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "tokenize_response");
    write_simple_tokens(&w, t, n);
    jw_key(&w, "templated_text");
    jw_str(&w, templated.s, templated.len);
    jw_obj_end(&w);
    return jw_finish(&w, len);
}

static void kv_str(jw *w, const char *k, const char *v) {
    jw_key(w, k);
    jw_cstr(w, v);
}

static void kv_u64(jw *w, const char *k, uint64_t v) {
    jw_key(w, k);
    jw_u64(w, v);
}

/* TGI v3's Info in its order, then ctgi's additions (old TGI versions had
 * model_dtype, model_device_type, max_batch_total_tokens and
 * max_batch_size too; old clients read them). */
char *tgi_encode_info(const tgi_info *in, size_t *len) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    kv_str(&w, "model_id", in->model_id);
    kv_str(&w, "model_sha", in->model_sha);
    kv_str(&w, "model_pipeline_tag", in->model_pipeline_tag);
    kv_u64(&w, "max_concurrent_requests", in->limits.max_concurrent_requests);
    kv_u64(&w, "max_best_of", in->limits.max_best_of);
    kv_u64(&w, "max_stop_sequences", in->limits.max_stop_sequences);
    kv_u64(&w, "max_input_tokens", in->limits.max_input_tokens);
    kv_u64(&w, "max_total_tokens", in->limits.max_total_tokens);
    kv_u64(&w, "validation_workers", in->validation_workers);
    kv_u64(&w, "max_client_batch_size", in->max_client_batch_size);
    kv_str(&w, "router", in->router);
    kv_str(&w, "version", in->version);
    kv_str(&w, "sha", in->sha);
    kv_str(&w, "docker_label", in->docker_label);
    kv_str(&w, "model_dtype", in->model_dtype);
    kv_str(&w, "model_device_type", in->model_device_type);
    kv_str(&w, "architecture", in->architecture);
    if (in->kernels) kv_str(&w, "kernels", in->kernels);
    kv_u64(&w, "max_top_n_tokens", in->limits.max_top_n_tokens);
    kv_u64(&w, "max_batch_prefill_tokens", in->max_batch_prefill_tokens);
    kv_u64(&w, "max_batch_total_tokens", in->max_batch_total_tokens);
    jw_key(&w, "max_batch_size");
    if (in->max_batch_size) jw_u64(&w, in->max_batch_size);
    else jw_null(&w);
    if (in->chat_template) kv_str(&w, "chat_template", in->chat_template);
    if (in->kv_cache_dtype) kv_str(&w, "kv_cache_dtype", in->kv_cache_dtype);
    if (in->n_adapters > 0) { /* TGI's Info has no such member: ctgi's, named after LORA_ADAPTERS */
        jw_key(&w, "lora_adapters");
        jw_arr_begin(&w);
        for (int i = 0; i < in->n_adapters; i++) {
            const proto_adapter *a = &in->adapters[i];
            jw_obj_begin(&w);
            kv_str(&w, "id", a->id);
            kv_str(&w, "path", a->path);
            kv_str(&w, "format", a->format);
            kv_u64(&w, "rank", (uint64_t)a->rank);
            jw_key(&w, "alpha");
            jw_f32(&w, (float)a->alpha);
            kv_str(&w, "target_modules", a->targets);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    return jw_finish(&w, len);
}
