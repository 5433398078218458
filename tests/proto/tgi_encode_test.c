/*
 * tgi_encode_test.c — proto's TGI response encoders against exact bytes:
 * GenerateResponse (object and POST /'s array), Details with prefill,
 * top_tokens and best_of_sequences in TGI's key order, StreamResponse SSE
 * events (api.md §1.5's two example events byte for byte), error envelopes
 * and SSE error events, /tokenize and /info.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tgi.h"

/* len is read through a pointer: the call filling it is an argument of the
 * same expect() call, and argument evaluation order is unspecified. */
static void expect(char *got, const size_t *len, const char *want) {
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(*len, strlen(want));
    free(got);
}

/* A small finished generation: " cat" then EOS, with two alternatives. */
static const tgi_token PREFILL[] = {
    {1, {"<s>", 3}, NAN, true},
    {415, {" The", 4}, -2.5f, false},
};
static const tgi_token TOP1[] = {
    {3681, {" cat", 4}, -0.41f, false},
    {5255, {" dog", 4}, -1.5f, false},
};
static const tgi_token TOP2[] = {{2, {"</s>", 4}, -0.02f, true}};
static const tgi_generated TOKENS[] = {
    {{3681, {" cat", 4}, -0.41f, false}, TOP1, 2},
    {{2, {"</s>", 4}, -0.02f, true}, TOP2, 1},
};

static tgi_sequence sequence(void) {
    return (tgi_sequence){
        .generated_text = PROTO_LIT(" cat"),
        .finish = {TGI_FINISH_EOS_TOKEN, 2, true, 42},
        .prefill = PREFILL,
        .n_prefill = 2,
        .tokens = TOKENS,
        .n_tokens = 2,
        .top_tokens = true,
    };
}

#define TOK_CAT "{\"id\":3681,\"text\":\" cat\",\"logprob\":-0.41,\"special\":false}"
#define TOK_DOG "{\"id\":5255,\"text\":\" dog\",\"logprob\":-1.5,\"special\":false}"
#define TOK_EOS "{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.02,\"special\":true}"
#define PREFILL_JSON                                                                   \
    "[{\"id\":1,\"text\":\"<s>\",\"logprob\":null},{\"id\":415,\"text\":\" The\","   \
    "\"logprob\":-2.5}]"

static void test_generate_plain(void **st) {
    tgi_generate_response r = {.seq = {.generated_text = PROTO_LIT(" world")}};
    size_t len;
    expect(tgi_encode_generate(&r, false, &len), &len, "{\"generated_text\":\" world\"}");
    expect(tgi_encode_generate(&r, true, &len), &len, "[{\"generated_text\":\" world\"}]");
}

static void test_generate_details(void **st) {
    tgi_generate_response r = {.seq = sequence(), .details = true};
    size_t len;
    expect(tgi_encode_generate(&r, false, &len), &len,
           "{\"generated_text\":\" cat\",\"details\":{\"finish_reason\":\"eos_token\","
           "\"generated_tokens\":2,\"seed\":42,\"prefill\":" PREFILL_JSON ",\"tokens\":["
           TOK_CAT "," TOK_EOS "],\"top_tokens\":[[" TOK_CAT "," TOK_DOG "],[" TOK_EOS "]]}}");
}

static void test_generate_details_minimal(void **st) {
    /* no seed (greedy), no prefill requested, no top_tokens requested */
    tgi_generate_response r = {.seq = sequence(), .details = true};
    r.seq.finish = (tgi_finish){TGI_FINISH_LENGTH, 2, false, 0};
    r.seq.n_prefill = 0;
    r.seq.top_tokens = false;
    size_t len;
    expect(tgi_encode_generate(&r, true, &len), &len,
           "[{\"generated_text\":\" cat\",\"details\":{\"finish_reason\":\"length\","
           "\"generated_tokens\":2,\"seed\":null,\"prefill\":[],\"tokens\":[" TOK_CAT
           "," TOK_EOS "]}}]");
}

static void test_generate_best_of(void **st) {
    /* best_of_sequences sits between tokens and top_tokens (TGI's Details) */
    tgi_sequence other = sequence();
    other.generated_text = PROTO_LIT(" dog");
    other.finish = (tgi_finish){TGI_FINISH_STOP_SEQUENCE, 1, true, 7};
    other.n_tokens = 1;
    other.tokens = &(tgi_generated){{5255, {" dog", 4}, -1.5f, false}, NULL, 0};
    other.n_prefill = 0;
    tgi_generate_response r = {.seq = sequence(), .details = true, .others = &other,
                               .n_others = 1};
    size_t len;
    expect(tgi_encode_generate(&r, false, &len), &len,
           "{\"generated_text\":\" cat\",\"details\":{\"finish_reason\":\"eos_token\","
           "\"generated_tokens\":2,\"seed\":42,\"prefill\":" PREFILL_JSON ",\"tokens\":["
           TOK_CAT "," TOK_EOS "],\"best_of_sequences\":[{\"generated_text\":\" dog\","
           "\"finish_reason\":\"stop_sequence\",\"generated_tokens\":1,\"seed\":7,"
           "\"prefill\":[],\"tokens\":[" TOK_DOG "],\"top_tokens\":[[]]}],"
           "\"top_tokens\":[[" TOK_CAT "," TOK_DOG "],[" TOK_EOS "]]}}");
}

static void test_finish_names(void **st) {
    assert_string_equal(tgi_finish_name(TGI_FINISH_LENGTH), "length");
    assert_string_equal(tgi_finish_name(TGI_FINISH_EOS_TOKEN), "eos_token");
    assert_string_equal(tgi_finish_name(TGI_FINISH_STOP_SEQUENCE), "stop_sequence");
}

/* api.md §1.5's example transcript, byte for byte. */
static void test_stream_events(void **st) {
    tgi_stream_event e = {.index = 1, .token = {{415, {" The", 4}, -0.41f, false}, NULL, 0}};
    size_t len;
    expect(tgi_encode_stream_event(&e, &len), &len,
           "data:{\"index\":1,\"token\":{\"id\":415,\"text\":\" The\",\"logprob\":-0.41,"
           "\"special\":false},\"generated_text\":null,\"details\":null}\n\n");
    tgi_stream_event last = {
        .index = 2,
        .token = {{2, {"</s>", 4}, -0.02f, true}, NULL, 0},
        .last = true,
        .generated_text = PROTO_LIT(" The"),
        .details = true,
        .finish = {TGI_FINISH_EOS_TOKEN, 2, false, 0},
        .input_length = 5,
    };
    expect(tgi_encode_stream_event(&last, &len), &len,
           "data:{\"index\":2,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.02,"
           "\"special\":true},\"generated_text\":\" The\",\"details\":{\"finish_reason\":"
           "\"eos_token\",\"generated_tokens\":2,\"seed\":null,\"input_length\":5}}\n\n");
}

static void test_stream_last_without_details(void **st) {
    tgi_stream_event e = {
        .index = 3,
        .token = {{13, {"\n", 1}, -1.25f, false}, NULL, 0},
        .last = true,
        .generated_text = PROTO_LIT("Hi\n"),
        .details = false,
        .finish = {TGI_FINISH_STOP_SEQUENCE, 3, true, 99},
    };
    size_t len;
    expect(tgi_encode_stream_event(&e, &len), &len,
           "data:{\"index\":3,\"token\":{\"id\":13,\"text\":\"\\n\",\"logprob\":-1.25,"
           "\"special\":false},\"generated_text\":\"Hi\\n\",\"details\":null}\n\n");
}

static void test_stream_top_tokens(void **st) {
    tgi_stream_event e = {.index = 1, .token = TOKENS[0]};
    e.finish.seed = UINT64_MAX;
    size_t len;
    expect(tgi_encode_stream_event(&e, &len), &len,
           "data:{\"index\":1,\"token\":" TOK_CAT ",\"top_tokens\":[" TOK_CAT "," TOK_DOG
           "],\"generated_text\":null,\"details\":null}\n\n");
    /* a u64 seed above INT64_MAX is written exactly */
    e.last = true;
    e.details = true;
    e.finish = (tgi_finish){TGI_FINISH_LENGTH, 1, true, UINT64_MAX};
    e.token.n_top = 0;
    char *s = tgi_encode_stream_event(&e, &len);
    assert_non_null(strstr(s, "\"seed\":18446744073709551615,"));
    free(s);
}

static void test_error_bodies(void **st) {
    proto_error e;
    size_t len;
    proto_invalid(&e, "`temperature` must be strictly positive");
    assert_int_equal(e.status, 422);
    expect(proto_encode_error(&e, &len), &len,
           "{\"error\":\"Input validation error: `temperature` must be strictly positive\","
           "\"error_type\":\"validation\"}");
    proto_err_overloaded(&e);
    assert_int_equal(e.status, 429);
    expect(proto_encode_error(&e, &len), &len,
           "{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}");
    proto_err_generation(&e, "out of KV blocks");
    assert_int_equal(e.status, 424);
    expect(proto_encode_error(&e, &len), &len,
           "{\"error\":\"Request failed during generation: out of KV blocks\","
           "\"error_type\":\"generation\"}");
    proto_err_incomplete(&e);
    assert_int_equal(e.status, 500);
    expect(proto_encode_error(&e, &len), &len,
           "{\"error\":\"Incomplete generation\",\"error_type\":\"incomplete_generation\"}");
    proto_err_unhealthy(&e);
    assert_int_equal(e.status, 503);
    expect(proto_encode_error(&e, &len), &len,
           "{\"error\":\"unhealthy\",\"error_type\":\"healthcheck\"}");
    /* messages quoting client text are escaped */
    proto_fail(&e, 422, "validation", "bad \"x\"\n");
    expect(proto_encode_error(&e, &len), &len,
           "{\"error\":\"bad \\\"x\\\"\\n\",\"error_type\":\"validation\"}");
}

static void test_sse_error_and_framing(void **st) {
    proto_error e;
    size_t len;
    proto_err_incomplete_stream(&e);
    expect(proto_sse_error(&e, &len), &len,
           "data:{\"error\":\"Incomplete generation stream\","
           "\"error_type\":\"incomplete_generation_stream\"}\n\n");
    proto_invalid(&e, "`inputs` must have less than 100 tokens. Given: 101");
    expect(proto_sse_error(&e, &len), &len,
           "data:{\"error\":\"Input validation error: `inputs` must have less than 100 tokens. "
           "Given: 101\",\"error_type\":\"validation\"}\n\n");
    expect(proto_sse_frame("{\"a\":1}", 7, &len), &len, "data:{\"a\":1}\n\n");
    assert_string_equal(PROTO_SSE_KEEPALIVE, ":\n\n");
}

static void test_token_text_escaping(void **st) {
    /* serde_json's escapes; invalid UTF-8 (a token cut inside a character)
     * becomes U+FFFD as Rust's lossy decoding makes it */
    static const char text[] = "a\"b\\c\n\t\x01\x1f\x7f \xc3\xa9\xf0\x9f\x98\x80\xe2\x82";
    tgi_stream_event e = {.index = 1, .token = {{7, {text, sizeof text - 1}, 0.0f, false}}};
    size_t len;
    expect(tgi_encode_stream_event(&e, &len), &len,
           "data:{\"index\":1,\"token\":{\"id\":7,\"text\":\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\x7f "
           "\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd\",\"logprob\":0.0,\"special\":false},"
           "\"generated_text\":null,\"details\":null}\n\n");
    /* a NUL byte inside token text */
    tgi_simple_token t = {0, {"\0", 1}, 0, 1};
    expect(tgi_encode_tokenize(&t, 1, &len), &len,
           "[{\"id\":0,\"text\":\"\\u0000\",\"start\":0,\"stop\":1}]");
}

static void test_tokenize(void **st) {
    const tgi_simple_token t[] = {
        {1, PROTO_LIT("<s>"), 0, 0},
        {15043, PROTO_LIT("\xe2\x96\x81Hello"), 0, 5},
        {29991, PROTO_LIT("!"), 5, 6},
    };
    size_t len;
    expect(tgi_encode_tokenize(t, 3, &len), &len,
           "[{\"id\":1,\"text\":\"<s>\",\"start\":0,\"stop\":0},{\"id\":15043,\"text\":\""
           "\xe2\x96\x81Hello\",\"start\":0,\"stop\":5},{\"id\":29991,\"text\":\"!\","
           "\"start\":5,\"stop\":6}]");
    expect(tgi_encode_tokenize(NULL, 0, &len), &len, "[]");
}

static void test_info(void **st) {
    tgi_info in = {
        .model_id = "stories260K.gguf",
        .limits = proto_limits_default(),
        .validation_workers = 2,
        .max_client_batch_size = 4,
        .router = "ctgi",
        .version = "0.1.0",
        .model_dtype = "f32",
        .model_device_type = "cpu",
        .architecture = "llama",
        .max_batch_prefill_tokens = 4096,
        .max_batch_total_tokens = 16384,
    };
    size_t len;
    expect(tgi_encode_info(&in, &len), &len,
           "{\"model_id\":\"stories260K.gguf\",\"model_sha\":null,\"model_pipeline_tag\":null,"
           "\"max_concurrent_requests\":128,\"max_best_of\":2,\"max_stop_sequences\":4,"
           "\"max_input_tokens\":1023,\"max_total_tokens\":1024,\"validation_workers\":2,"
           "\"max_client_batch_size\":4,\"router\":\"ctgi\",\"version\":\"0.1.0\",\"sha\":null,"
           "\"docker_label\":null,\"model_dtype\":\"f32\",\"model_device_type\":\"cpu\","
           "\"architecture\":\"llama\",\"max_top_n_tokens\":5,\"max_batch_prefill_tokens\":4096,"
           "\"max_batch_total_tokens\":16384,\"max_batch_size\":null}");
    in.max_batch_size = 32;
    in.model_pipeline_tag = "text-generation";
    char *s = tgi_encode_info(&in, &len);
    assert_non_null(strstr(s, "\"model_pipeline_tag\":\"text-generation\","));
    assert_non_null(strstr(s, "\"max_batch_size\":32}"));
    free(s);
    in.kv_cache_dtype = "f16";
    s = tgi_encode_info(&in, &len);
    assert_non_null(strstr(s, "\"max_batch_size\":32,\"kv_cache_dtype\":\"f16\"}"));
    free(s);
    proto_adapter ad[2] = {{"sql", "/a/sql", "peft", "q,v", 8, 16}, {"c", "c.gguf", "gguf", "q,k,v,o,gate,up,down", 4, 0.5}};
    in.adapters = ad;
    in.n_adapters = 2;
    s = tgi_encode_info(&in, &len);
    assert_non_null(strstr(s, "\"kv_cache_dtype\":\"f16\",\"lora_adapters\":[{\"id\":\"sql\",\"path\":\"/a/sql\","
                              "\"format\":\"peft\",\"rank\":8,\"alpha\":16.0,\"target_modules\":\"q,v\"},{\"id\":\"c\","
                              "\"path\":\"c.gguf\",\"format\":\"gguf\",\"rank\":4,\"alpha\":0.5,"
                              "\"target_modules\":\"q,k,v,o,gate,up,down\"}]}"));
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_plain),
        cmocka_unit_test(test_generate_details),
        cmocka_unit_test(test_generate_details_minimal),
        cmocka_unit_test(test_generate_best_of),
        cmocka_unit_test(test_finish_names),
        cmocka_unit_test(test_stream_events),
        cmocka_unit_test(test_stream_last_without_details),
        cmocka_unit_test(test_stream_top_tokens),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_sse_error_and_framing),
        cmocka_unit_test(test_token_text_escaping),
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
