/*
 * serve_routes_test.c — the real `ctgi serve` on stories260K, one happy
 * path per route checked against TGI's exact schema: /health (with
 * keep-alive), /info, /generate (text equal to llama.cpp's greedy story,
 * x-* timing headers, details with top tokens), POST / as a one-element
 * array and as a stream, /generate_stream framing (data: without a space,
 * one event per token, the last with generated_text and details, no
 * [DONE]), /tokenize offsets, /metrics names, /openapi.json against the
 * router, and stream vs non-stream giving the same tokens for a seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/serve_util.h"
#include "support/testutil.h"

/* llama.cpp greedy continuation of "Once upon a time" on stories260K
 * (../shared/models/reference/stories260K-greedy.txt) */
static const char STORY[] = ", there was a little girl named Lily. She loved to play outside in the park.";
static const char *GEN = "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":20%s}}";

static su_server S;

static int setup(void **st) { return su_start_shared(&S, "stories260K.gguf", "--threads 1") ? 0 : -1; }

static int teardown(void **st) {
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    return 0;
}

static su_resp gen(const char *path, const char *extra) {
    char body[512];
    snprintf(body, sizeof body, GEN, extra ? extra : "");
    return su_req(&S, "POST", path, body, NULL);
}

/* The keys of object o, in order, joined by ','. */
static void assert_keys(json_t *o, const char *want) {
    char got[512] = "";
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (*got) strcat(got, ",");
        strcat(got, k);
    }
    assert_string_equal(got, want);
}

static void assert_token(json_t *t) {
    assert_keys(t, "id,text,logprob,special");
    assert_true(json_is_integer(json_object_get(t, "id")));
    assert_true(json_is_string(json_object_get(t, "text")));
    assert_true(json_is_number(json_object_get(t, "logprob")));
    assert_true(json_is_boolean(json_object_get(t, "special")));
}

static void test_health_keepalive(void **st) {
    CURL *c = curl_easy_init();
    char url[96];
    snprintf(url, sizeof url, "%s/health", S.url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        long code, connects;
        curl_off_t len;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        assert_int_equal(code, 200);
        assert_true(len == 0);
        assert_int_equal(connects, i == 0 ? 1 : 0); /* the connection was kept */
    }
    curl_easy_cleanup(c);
}

static void test_info_schema(void **st) {
    su_resp r = su_req(&S, "GET", "/info", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *j = su_json(&r);
    assert_non_null(j);
    assert_keys(j, "model_id,model_sha,model_pipeline_tag,max_concurrent_requests,max_best_of,max_stop_sequences,"
                   "max_input_tokens,max_total_tokens,validation_workers,max_client_batch_size,router,version,sha,"
                   "docker_label,model_dtype,model_device_type,architecture,kernels,max_top_n_tokens,"
                   "max_batch_prefill_tokens,max_batch_total_tokens,max_batch_size,chat_template,kv_cache_dtype");
    /* stories260K ships no chat template: the documented plain fallback */
    assert_string_equal(json_string_value(json_object_get(j, "chat_template")), "fallback");
    assert_int_equal(json_integer_value(json_object_get(j, "max_total_tokens")), 512);
    assert_int_equal(json_integer_value(json_object_get(j, "max_input_tokens")), 511);
    assert_int_equal(json_integer_value(json_object_get(j, "max_concurrent_requests")), 128);
    assert_string_equal(json_string_value(json_object_get(j, "router")), "text-generation-router");
    assert_string_equal(json_string_value(json_object_get(j, "architecture")), "llama");
    assert_string_equal(json_string_value(json_object_get(j, "model_dtype")), "F32");
    /* the kernel set wmat.c chose for this CPU */
    const char *k = json_string_value(json_object_get(j, "kernels"));
    assert_non_null(k);
    assert_true(!strcmp(k, "avx512-vnni+amx") || !strcmp(k, "avx512-vnni") || !strcmp(k, "avx2") || !strcmp(k, "portable"));
    assert_string_equal(json_string_value(json_object_get(j, "kv_cache_dtype")), "f16"); /* the default */
    json_decref(j);
    su_resp_free(&r);
}

static void test_generate_greedy(void **st) {
    su_resp r = gen("/generate", NULL);
    assert_int_equal(r.status, 200);
    json_t *j = su_json(&r);
    assert_non_null(j);
    assert_keys(j, "generated_text"); /* no details unless asked */
    const char *text = json_string_value(json_object_get(j, "generated_text"));
    assert_true(strlen(text) > 40 && strncmp(text, STORY, strlen(text)) == 0);
    static const char *hdr[] = {"x-compute-type", "x-compute-time", "x-compute-characters", "x-total-time",
                                "x-validation-time", "x-queue-time", "x-inference-time", "x-time-per-token",
                                "x-prompt-tokens", "x-generated-tokens"};
    for (size_t i = 0; i < sizeof hdr / sizeof *hdr; i++) {
        char *v = su_header(&r, hdr[i]);
        assert_non_null(v);
        free(v);
    }
    char *v = su_header(&r, "x-prompt-tokens");
    assert_string_equal(v, "5");
    free(v);
    assert_non_null(v = su_header(&r, "x-generated-tokens"));
    assert_string_equal(v, "20");
    free(v);
    assert_non_null(v = su_header(&r, "x-compute-characters"));
    assert_string_equal(v, "16");
    free(v);
    json_decref(j);
    su_resp_free(&r);
}

static void test_generate_details(void **st) {
    su_resp r = gen("/generate", ",\"details\":true,\"top_n_tokens\":2,\"decoder_input_details\":true");
    assert_int_equal(r.status, 200);
    json_t *j = su_json(&r), *d = json_object_get(j, "details");
    assert_keys(j, "generated_text,details");
    assert_keys(d, "finish_reason,generated_tokens,seed,prefill,tokens,top_tokens");
    assert_string_equal(json_string_value(json_object_get(d, "finish_reason")), "length");
    assert_int_equal(json_integer_value(json_object_get(d, "generated_tokens")), 20);
    assert_true(json_is_null(json_object_get(d, "seed"))); /* greedy: TGI echoes no seed */
    /* prefill: <s> Once upon a time — the first without a logprob, the
     * others log p(token | before) < 0, in the prompt's order */
    static const int PROMPT_IDS[] = {1, 403, 407, 261, 378};
    json_t *pre = json_object_get(d, "prefill");
    assert_int_equal(json_array_size(pre), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *t = json_array_get(pre, i);
        assert_keys(t, "id,text,logprob");
        assert_int_equal(json_integer_value(json_object_get(t, "id")), PROMPT_IDS[i]);
        if (i == 0) assert_true(json_is_null(json_object_get(t, "logprob")));
        else assert_true(json_real_value(json_object_get(t, "logprob")) < 0);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(pre, 1), "text")), " Once");
    json_t *toks = json_object_get(d, "tokens"), *tops = json_object_get(d, "top_tokens");
    assert_int_equal(json_array_size(toks), 20);
    assert_int_equal(json_array_size(tops), 20);
    for (size_t i = 0; i < 20; i++) {
        assert_token(json_array_get(toks, i));
        json_t *top = json_array_get(tops, i);
        assert_int_equal(json_array_size(top), 2);
        assert_token(json_array_get(top, 0));
        /* greedy: the chosen token is the most likely one */
        assert_int_equal(json_integer_value(json_object_get(json_array_get(top, 0), "id")),
                         json_integer_value(json_object_get(json_array_get(toks, i), "id")));
    }
    json_decref(j);
    su_resp_free(&r);
}

static void test_compat_array(void **st) {
    su_resp r = gen("/", NULL);
    assert_int_equal(r.status, 200);
    json_t *j = su_json(&r);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    const char *text = json_string_value(json_object_get(json_array_get(j, 0), "generated_text"));
    /* POST / returns the full text by default (TGI: pipeline tag text-generation) */
    assert_true(strncmp(text, "Once upon a time, there was", 27) == 0);
    json_decref(j);
    su_resp_free(&r);
}

/* Events of a stream response, with the SSE headers checked. */
static json_t *stream_events(su_resp *r) {
    assert_int_equal(r->status, 200);
    char *ct = su_header(r, "Content-Type"), *cc = su_header(r, "Cache-Control"), *xa = su_header(r, "X-Accel-Buffering");
    assert_string_equal(ct, "text/event-stream");
    assert_string_equal(cc, "no-cache");
    assert_string_equal(xa, "no");
    free(ct);
    free(cc);
    free(xa);
    assert_null(strstr(r->body, "[DONE]"));
    assert_null(strstr(r->body, "data: ")); /* axum writes no space after data: */
    json_t *ev = su_sse_events(r->body, r->len, NULL);
    assert_non_null(ev);
    return ev;
}

static void test_generate_stream_schema(void **st) {
    su_resp r = gen("/generate_stream", ",\"details\":true");
    json_t *ev = stream_events(&r);
    assert_int_equal(json_array_size(ev), 20);
    assert_true(strncmp(r.body, "data:{\"index\":1,\"token\":{\"id\":432,\"text\":\",\"", 44) == 0);
    char text[512] = "";
    for (size_t i = 0; i < 20; i++) {
        json_t *e = json_array_get(ev, i);
        bool last = i == 19;
        assert_keys(e, "index,token,generated_text,details");
        assert_int_equal(json_integer_value(json_object_get(e, "index")), (json_int_t)i + 1);
        assert_token(json_object_get(e, "token"));
        strcat(text, json_string_value(json_object_get(json_object_get(e, "token"), "text")));
        assert_true(last ? json_is_string(json_object_get(e, "generated_text"))
                         : json_is_null(json_object_get(e, "generated_text")));
        assert_true(last ? json_is_object(json_object_get(e, "details")) : json_is_null(json_object_get(e, "details")));
    }
    json_t *last = json_array_get(ev, 19), *d = json_object_get(last, "details");
    assert_string_equal(json_string_value(json_object_get(last, "generated_text")), text);
    assert_keys(d, "finish_reason,generated_tokens,seed,input_length");
    assert_int_equal(json_integer_value(json_object_get(d, "generated_tokens")), 20);
    assert_int_equal(json_integer_value(json_object_get(d, "input_length")), 5);
    json_decref(ev);
    su_resp_free(&r);
}

static void test_compat_stream(void **st) {
    su_resp r = su_req(&S, "POST", "/",
                       "{\"inputs\":\"Once upon a time\",\"stream\":true,\"parameters\":{\"max_new_tokens\":8,"
                       "\"top_n_tokens\":3}}",
                       NULL);
    json_t *ev = stream_events(&r);
    assert_int_equal(json_array_size(ev), 8);
    json_t *e0 = json_array_get(ev, 0);
    assert_keys(e0, "index,token,top_tokens,generated_text,details");
    assert_int_equal(json_array_size(json_object_get(e0, "top_tokens")), 3);
    const char *text = json_string_value(json_object_get(json_array_get(ev, 7), "generated_text"));
    assert_true(strncmp(text, "Once upon a time, there", 23) == 0); /* full text on / */
    json_decref(ev);
    su_resp_free(&r);
}

/* The same seed gives the same tokens streaming or not (sampling on). */
static void test_stream_equals_nonstream(void **st) {
    const char *p = ",\"do_sample\":true,\"temperature\":1.3,\"top_k\":50,\"seed\":4242,\"details\":true";
    su_resp a = gen("/generate", p), b = gen("/generate_stream", p);
    json_t *ja = su_json(&a), *eb = stream_events(&b);
    json_t *toks = json_object_get(json_object_get(ja, "details"), "tokens");
    assert_int_equal(json_array_size(toks), json_array_size(eb));
    for (size_t i = 0; i < json_array_size(eb); i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(toks, i), "id")),
                         json_integer_value(json_object_get(json_object_get(json_array_get(eb, i), "token"), "id")));
    json_t *last = json_array_get(eb, json_array_size(eb) - 1);
    assert_string_equal(json_string_value(json_object_get(ja, "generated_text")),
                        json_string_value(json_object_get(last, "generated_text")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ja, "details"), "seed")), 4242);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(last, "details"), "seed")), 4242);
    json_decref(ja);
    json_decref(eb);
    su_resp_free(&a);
    su_resp_free(&b);
}

/* A stop sequence ends the stream; its text stays (TGI's behaviour). */
static void test_stop_sequence(void **st) {
    su_resp r = gen("/generate_stream", ",\"stop\":[\"Lily\"],\"details\":true");
    json_t *ev = stream_events(&r);
    json_t *last = json_array_get(ev, json_array_size(ev) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "generated_text")), ", there was a little girl named Lily");
    assert_string_equal(json_string_value(json_object_get(json_object_get(last, "details"), "finish_reason")),
                        "stop_sequence");
    json_decref(ev);
    su_resp_free(&r);
}

static void test_best_of(void **st) {
    su_resp r = gen("/generate", ",\"best_of\":2,\"do_sample\":true,\"details\":true");
    assert_int_equal(r.status, 200);
    json_t *j = su_json(&r), *d = json_object_get(j, "details");
    assert_keys(d, "finish_reason,generated_tokens,seed,prefill,tokens,best_of_sequences");
    json_t *others = json_object_get(d, "best_of_sequences");
    assert_int_equal(json_array_size(others), 1);
    assert_keys(json_array_get(others, 0), "generated_text,finish_reason,generated_tokens,seed,prefill,tokens");
    json_decref(j);
    su_resp_free(&r);
}

static void test_tokenize(void **st) {
    su_resp r = su_req(&S, "POST", "/tokenize", "{\"inputs\":\"Once upon a time\"}", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "[{\"id\":1,\"text\":\"\",\"start\":0,\"stop\":0},{\"id\":403,\"text\":\"Once\",\"start\":0,"
                                "\"stop\":4},{\"id\":407,\"text\":\" upon\",\"start\":4,\"stop\":9},{\"id\":261,\"text\":"
                                "\" a\",\"start\":9,\"stop\":11},{\"id\":378,\"text\":\" time\",\"start\":11,\"stop\":16}]");
    su_resp_free(&r);
    r = su_req(&S, "POST", "/tokenize", "{\"inputs\":\"Once upon a time\",\"parameters\":{\"truncate\":2}}", NULL);
    assert_string_equal(r.body, "[{\"id\":261,\"text\":\" a\",\"start\":9,\"stop\":11},{\"id\":378,\"text\":\" time\","
                                "\"start\":11,\"stop\":16}]");
    su_resp_free(&r);
}

static void test_metrics_names(void **st) {
    su_resp r = su_req(&S, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    char *ct = su_header(&r, "Content-Type");
    assert_true(strncmp(ct, "text/plain; version=0.0.4", 25) == 0);
    free(ct);
    static const char *names[] = {
        "tgi_request_count ", "tgi_request_success ", "tgi_request_failure{err=\"validation\"} ",
        "tgi_request_failure{err=\"overloaded\"} ", "tgi_request_failure{err=\"dropped\"} ",
        "tgi_request_duration_bucket{le=", "tgi_request_validation_duration_sum ", "tgi_request_queue_duration_count ",
        "tgi_request_inference_duration_sum ", "tgi_request_mean_time_per_token_duration_sum ",
        "tgi_request_input_length_bucket{le=", "tgi_request_generated_tokens_sum ", "tgi_request_max_new_tokens_sum ",
        "tgi_queue_size ", "tgi_batch_current_size ", "tgi_batch_max_total_tokens ",
        "ctgi_request_time_to_first_token_seconds_bucket{le=", "ctgi_request_inter_token_latency_seconds_sum ",
        "ctgi_kv_cache_usage_ratio ", "ctgi_prefix_cache_hit_ratio ", "ctgi_preemptions ",
        "ctgi_request_cancelled{phase=\"queued\"} ", "ctgi_request_cancelled{phase=\"running\"} ",
        "ctgi_speculative_drafted_tokens ", "ctgi_speculative_accepted_tokens ", "tgi_request_skipped_tokens_sum "};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!strstr(r.body, names[i])) fprintf(stderr, "# missing %s\n", names[i]);
        assert_non_null(strstr(r.body, names[i]));
    }
    assert_true(su_metric(&S, "tgi_request_success") >= 1);
    /* a prompt of several full KV blocks, twice: the second finds them cached */
    const char *body = "{\"inputs\":\"Once upon a time, there was a little girl named Lily. She loved to play "
                       "outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it "
                       "was too high.\",\"parameters\":{\"max_new_tokens\":2}}";
    for (int i = 0; i < 2; i++) {
        su_resp x = su_req(&S, "POST", "/generate", body, NULL);
        assert_int_equal(x.status, 200);
        su_resp_free(&x);
    }
    assert_true(su_metric(&S, "ctgi_prefix_cache_hit_ratio") > 0);
    /* speculative decoding is on by default: a text that repeats gets drafts accepted */
    su_resp x = su_req(&S, "POST", "/generate",
                       "{\"inputs\":\"Lily and Tom went to the park. Lily and Tom went to the park. Lily and\","
                       "\"parameters\":{\"max_new_tokens\":30}}",
                       NULL);
    assert_int_equal(x.status, 200);
    su_resp_free(&x);
    double skipped = su_metric(&S, "tgi_request_skipped_tokens_sum"), acc = 0, drafted = 0;
    assert_true(skipped > 0);
    for (int i = 0; i < 200 && acc < skipped; i++) { /* the engine's snapshot follows its step */
        if (i) usleep(10000);
        drafted = su_metric(&S, "ctgi_speculative_drafted_tokens");
        acc = su_metric(&S, "ctgi_speculative_accepted_tokens");
    }
    assert_true(acc >= skipped && acc <= drafted);
    su_resp_free(&r);
}

/* Every path of the OpenAPI document is a route with that method, and
 * every route is in the document. */
static void test_openapi_matches_router(void **st) {
    static const char *routes[][2] = {{"/", "post"},           {"/generate", "post"},
                                      {"/generate_stream", "post"}, {"/tokenize", "post"},
                                      {"/info", "get"},          {"/health", "get"},
                                      {"/metrics", "get"},       {"/openapi.json", "get"},
                                      {"/v1/chat/completions", "post"}, {"/v1/completions", "post"},
                                      {"/v1/models", "get"},     {"/chat_tokenize", "post"},
                                      {"/infill", "post"}};
    su_resp r = su_req(&S, "GET", "/openapi.json", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *doc = su_json(&r), *paths = json_object_get(doc, "paths");
    assert_int_equal(json_object_size(paths), sizeof routes / sizeof *routes);
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        json_t *p = json_object_get(paths, routes[i][0]);
        assert_non_null(p);
        assert_int_equal(json_object_size(p), 1);
        assert_non_null(json_object_get(p, routes[i][1]));
        const char *body = routes[i][1][0] != 'p'                    ? NULL
                           : strstr(routes[i][0], "chat")            ? "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":2}"
                           : strcmp(routes[i][0], "/v1/completions") == 0 ? "{\"prompt\":\"Once\",\"max_tokens\":2}"
                           : strcmp(routes[i][0], "/infill") == 0    ? "{\"input_prefix\":\"Once\",\"input_suffix\":\"\"}"
                                                                     : "{\"inputs\":\"Once\",\"parameters\":{\"max_new_tokens\":2}}";
        su_resp x = su_req(&S, routes[i][1][0] == 'p' ? "POST" : "GET", routes[i][0], body, NULL);
        /* /infill is routed; stories260K has no FIM tokens: llama.cpp's 501 */
        assert_int_equal(x.status, strcmp(routes[i][0], "/infill") == 0 ? 501 : 200);
        su_resp_free(&x);
    }
    json_decref(doc);
    su_resp_free(&r);
}

/* The KV-cache flags reach the engine: --kv-cache-memory, --block-size and
 * --kv-cache-dtype (or KV_CACHE_DTYPE) size the pool (stories260K: 5 layers
 * x 4 kv heads x 8 dims, K and V = 1280 bytes a position in f32, 640 in
 * f16 and bf16, so 1,024,000 bytes = 100 or 200 blocks of 8), /info and the
 * start-up log name the type, and the same long prompt twice hits the
 * prefix cache unless --no-prefix-caching. */
static void run_twice_and_count_hits(const char *args, const char *env, double want_blocks, const char *want_dtype,
                                     bool want_hits) {
    su_server x;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&x, model, args, env, true));
    free(model);
    assert_true(su_metric(&x, "ctgi_kv_cache_blocks_total") == want_blocks);
    su_resp info = su_req(&x, "GET", "/info", NULL, NULL);
    json_t *j = su_json(&info);
    assert_string_equal(json_string_value(json_object_get(j, "kv_cache_dtype")), want_dtype);
    json_decref(j);
    su_resp_free(&info);
    char *log = su_log(&x), want_log[64];
    snprintf(want_log, sizeof want_log, "kv_cache_dtype=%s", want_dtype);
    assert_non_null(strstr(log, want_log));
    free(log);
    const char *body = "{\"inputs\":\"Once upon a time, there was a little girl named Lily. She loved to play "
                       "outside in the park with her friends.\",\"parameters\":{\"max_new_tokens\":4}}";
    for (int i = 0; i < 2; i++) {
        su_resp r = su_req(&x, "POST", "/generate", body, NULL);
        assert_int_equal(r.status, 200);
        su_resp_free(&r);
    }
    double hits = su_wait_metric(&x, "ctgi_prefix_cache_hit_blocks", want_hits ? 1 : 0, 5);
    if (want_hits)
        assert_true(hits >= 1);
    else
        assert_true(hits == 0);
    assert_int_equal(su_stop(&x, SIGTERM, 10), 0);
}

static void test_kv_cache_flags(void **st) {
    run_twice_and_count_hits("--threads 1 --kv-cache-memory 1024000 --block-size 8", NULL, 200, "f16", true);
    run_twice_and_count_hits("--threads 1 --kv-cache-memory 1024000 --block-size 8 --no-prefix-caching --kv-cache-dtype f32",
                             NULL, 100, "f32", false);
    run_twice_and_count_hits("--threads 1 --kv-cache-memory 1024000 --block-size 8", "KV_CACHE_DTYPE=bf16", 200, "bf16",
                             true);
    /* a value that is no type stops the start-up (usage, 2); q8_0 needs head_dim % 32 == 0 and
     * stories260K's is 8: the model cannot be served (1), the log says why */
    char *model = tu_model_path("stories260K.gguf"), cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve --model-id %s --kv-cache-dtype fp8 2>&1", tu_ctgi_bin(), model);
    int status;
    char *out = tu_run(cmd, &status);
    assert_int_equal(status, 2);
    assert_non_null(strstr(out, "--kv-cache-dtype (KV_CACHE_DTYPE) must be f32, f16, bf16 or q8_0, not 'fp8'"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s serve --model-id %s --port 0 --kv-cache-dtype q8_0 2>&1", tu_ctgi_bin(), model);
    out = tu_run(cmd, &status);
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, "head_dim is 8"));
    free(out);
    free(model);
}

/* --matmul blas: OpenBLAS for the weight products, the same greedy story;
 * a bad value stops the start-up with a message. */
static void test_matmul_flag(void **st) {
    su_server b;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&b, model, "--threads 1 --matmul blas", NULL, true));
    su_resp r = su_req(&b, "POST", "/generate", "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":20}}", NULL);
    assert_int_equal(r.status, 200);
    json_t *j = su_json(&r);
    const char *text = json_string_value(json_object_get(j, "generated_text"));
    assert_true(strlen(text) > 40 && strncmp(text, STORY, strlen(text)) == 0); /* 20 tokens of it */
    json_decref(j);
    su_resp_free(&r);
    assert_int_equal(su_stop(&b, SIGTERM, 10), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve --model-id %s --matmul fast 2>&1", tu_ctgi_bin(), model);
    int status;
    char *out = tu_run(cmd, &status);
    assert_int_equal(status, 2);
    assert_non_null(strstr(out, "--matmul must be 'invariant' or 'blas'"));
    free(out);
    free(model);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_keepalive),   cmocka_unit_test(test_info_schema),
        cmocka_unit_test(test_generate_greedy),    cmocka_unit_test(test_generate_details),
        cmocka_unit_test(test_compat_array),       cmocka_unit_test(test_generate_stream_schema),
        cmocka_unit_test(test_compat_stream),      cmocka_unit_test(test_stream_equals_nonstream),
        cmocka_unit_test(test_stop_sequence),      cmocka_unit_test(test_best_of),
        cmocka_unit_test(test_tokenize),           cmocka_unit_test(test_metrics_names),
        cmocka_unit_test(test_openapi_matches_router), cmocka_unit_test(test_kv_cache_flags),
        cmocka_unit_test(test_matmul_flag),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
