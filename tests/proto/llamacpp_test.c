/*
 * llamacpp_test.c — proto/llamacpp (llama.cpp's /infill): the request's
 * fields, defaults (llama.cpp's common_params_sampling: temperature 0.8,
 * top_k 40, top_p 0.95, min_p 0.05, n_predict -1, seed 0xFFFFFFFF =
 * random), the refusals with llama.cpp's own messages where it has them
 * (tools/server/server.cpp handle_infill: "\"input_prefix\" is required",
 * "extra_context chunk must contain a \"text\" field with a string
 * value"), the mapping onto sampler_params, and the answers byte for byte
 * against objects written by hand from llama.cpp's server
 * (server_task_result_cmpl_final / _partial, format_error_response).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamacpp.h"

static lcpp_infill parse_ok(const char *body) {
    lcpp_infill r;
    proto_error e = {0};
    if (!lcpp_parse_infill(body, strlen(body), &r, &e)) fail_msg("%s: %d %s", body, e.status, e.message);
    return r;
}

static void parse_fails(const char *body, int status, const char *msg) {
    lcpp_infill r;
    proto_error e = {0};
    assert_false(lcpp_parse_infill(body, strlen(body), &r, &e));
    assert_int_equal(lcpp_http_status(&e), status);
    if (!strstr(e.message, msg)) fail_msg("\"%s\" lacks \"%s\"", e.message, msg);
    assert_null(r.prefix);
    lcpp_infill_free(&r);
}

static void test_defaults(void **st) {
    lcpp_infill r = parse_ok("{\"input_prefix\":\"def f(\",\"input_suffix\":\"):\\n\"}");
    assert_string_equal(r.prefix, "def f(");
    assert_string_equal(r.suffix, "):\n");
    assert_string_equal(r.prompt, "");
    assert_int_equal(r.n_extra, 0);
    assert_int_equal(r.n_predict, -1);
    assert_float_equal(r.temperature, 0.8f, 0);
    assert_int_equal(r.top_k, 40);
    assert_float_equal(r.top_p, 0.95f, 0);
    assert_float_equal(r.min_p, 0.05f, 0);
    assert_false(r.has_seed || r.stream || r.ignore_eos || r.return_tokens);
    sampler_params s = lcpp_sampler_params(&r, 77);
    assert_true(s.do_sample);
    assert_float_equal(s.temperature, 0.8f, 0);
    assert_int_equal(s.top_k, 40);
    assert_float_equal(s.min_p, 0.05f, 0);
    assert_int_equal(s.seed, 77);
    char err[CT_ERRLEN];
    assert_true(sampler_params_validate(&s, 1000, err));
    lcpp_infill_free(&r);
}

static void test_fields(void **st) {
    lcpp_infill r = parse_ok(
        "{\"input_prefix\":\"a\\u0000b\",\"input_suffix\":\"\",\"prompt\":\"    x\",\"input_extra\":[{\"filename\":"
        "\"u.py\",\"text\":\"import os\\n\"},{\"text\":\"t\",\"filename\":null}],\"n_predict\":64,\"max_tokens\":9,"
        "\"temperature\":0,\"top_k\":0,\"top_p\":1,\"min_p\":0,\"typical_p\":0.5,\"repeat_penalty\":1.1,"
        "\"presence_penalty\":-0.5,\"frequency_penalty\":2,\"seed\":42,\"stop\":[\"\\n\\n\",\"}\"],\"ignore_eos\":true,"
        "\"stream\":true,\"return_tokens\":true,\"cache_prompt\":true,\"t_max_predict_ms\":500,\"n_indent\":4,"
        "\"samplers\":[\"top_k\"],\"n_probs\":0,\"grammar\":\"\",\"logit_bias\":[]}");
    assert_int_equal(r.prefix_len, 3);
    assert_memory_equal(r.prefix, "a\0b", 3);
    assert_int_equal(r.suffix_len, 0);
    assert_string_equal(r.prompt, "    x");
    assert_int_equal(r.n_extra, 2);
    assert_string_equal(r.extra[0].filename, "u.py");
    assert_string_equal(r.extra[0].text, "import os\n");
    assert_null(r.extra[1].filename);
    assert_int_equal(r.n_predict, 64); /* n_predict wins over max_tokens */
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "}");
    assert_true(r.has_seed && r.seed == 42 && r.ignore_eos && r.stream && r.return_tokens);
    sampler_params s = lcpp_sampler_params(&r, 1);
    assert_false(s.do_sample); /* temperature 0: greedy */
    assert_int_equal(s.top_k, 0);
    assert_float_equal(s.typical_p, 0.5f, 0);
    assert_float_equal(s.repetition_penalty, 1.1f, 1e-6);
    assert_float_equal(s.presence_penalty, -0.5f, 0);
    assert_int_equal(s.seed, 42);
    lcpp_infill_free(&r);
    r = parse_ok("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"max_tokens\":9,\"seed\":-1,\"stop\":\"x\","
                 "\"temperature\":-1,\"top_k\":-1}");
    assert_int_equal(r.n_predict, 9);
    assert_false(r.has_seed); /* -1: random */
    assert_int_equal(r.n_stop, 1);
    assert_false(lcpp_sampler_params(&r, 1).do_sample); /* llama.cpp: temperature <= 0 is greedy */
    lcpp_infill_free(&r);
    r = parse_ok("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"seed\":4294967295}");
    assert_false(r.has_seed); /* LLAMA_DEFAULT_SEED: random */
    lcpp_infill_free(&r);
}

static void test_refusals(void **st) {
    parse_fails("{\"input_suffix\":\"\"}", 400, "\"input_prefix\" is required");
    parse_fails("{\"input_prefix\":\"\"}", 400, "\"input_suffix\" is required");
    parse_fails("{\"input_prefix\":[1,2],\"input_suffix\":\"\"}", 400, "\"input_prefix\" must be a string");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"prompt\":5}", 400, "\"prompt\" must be a string");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"input_extra\":{}}", 400,
                "\"input_extra\" must be an array of {\"filename\": string, \"text\": string}");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"input_extra\":[{\"filename\":\"a\"}]}", 400,
                "chunk must contain a \"text\" field with a string value");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"input_extra\":[{\"text\":\"a\",\"filename\":1}]}", 400,
                "chunk's \"filename\" field must be a string");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"n_predict\":0}", 400, "\"n_predict\" must be");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"n_predict\":-2}", 400, "\"n_predict\" must be an integer");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"temperature\":\"hot\"}", 400,
                "\"temperature\" must be a number");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"repeat_penalty\":1e39}", 400,
                "\"repeat_penalty\" must be a number (a finite f32)");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"top_k\":1.5}", 400, "\"top_k\" must be an integer");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"top_p\":0}", 400, "\"top_p\" must be > 0 and <= 1");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"min_p\":2}", 400, "\"min_p\" must be >= 0 and <= 1");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"repeat_penalty\":0}", 400, "\"repeat_penalty\"");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"presence_penalty\":3}", 400, "\"presence_penalty\"");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"stream\":1}", 400, "\"stream\" must be a boolean");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"stop\":[\"\"]}", 400, "\"stop\" strings must be");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"stop\":[1]}", 400, "\"stop\" must be an array");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"n_probs\":5}", 501, "\"n_probs\" is not supported");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"grammar\":\"root ::= x\"}", 501, "\"grammar\"");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"json_schema\":{\"type\":\"string\"}}", 501,
                "\"json_schema\"");
    parse_fails("{\"input_prefix\":\"\",\"input_suffix\":\"\",\"logit_bias\":[[15,1.0]]}", 501, "\"logit_bias\"");
    parse_fails("[]", 400, "the body must be a JSON object");
    parse_fails("{\"input_prefix\":", 400, "Failed to parse the request body as JSON");
}

static void test_final(void **st) {
    lcpp_infill r = parse_ok("{\"input_prefix\":\"a\",\"input_suffix\":\"b\",\"n_predict\":8,\"stop\":[\"\\n\"]}");
    static const int32_t toks[] = {5, 6};
    lcpp_final f = {.content = PROTO_LIT("x = \"1\"\n"), .tokens = toks, .n_tokens = 2, .model = "m.gguf",
                    .tokens_predicted = 2, .tokens_evaluated = 7, .tokens_cached = 9,
                    .prompt = PROTO_LIT("<fim_prefix>a<fim_suffix>b<fim_middle>"), .has_new_line = true,
                    .stop_type = LCPP_STOP_WORD, .stopping_word = PROTO_LIT("\n"),
                    .timings = {3, 4, 2.5, 2, 8}, .settings = &r, .seed = 11, .n_predict = 8};
    size_t n;
    char *s = lcpp_encode_final(&f, false, &n);
    const char *want =
        "{\"index\":0,\"content\":\"x = \\\"1\\\"\\n\",\"tokens\":[5,6],\"id_slot\":0,\"stop\":true,\"model\":\"m.gguf\","
        "\"tokens_predicted\":2,\"tokens_evaluated\":7,\"generation_settings\":{\"n_predict\":8,\"seed\":11,"
        "\"temperature\":0.8,\"top_k\":40,\"top_p\":0.95,\"min_p\":0.05,\"typical_p\":1.0,\"repeat_penalty\":1.0,"
        "\"presence_penalty\":0.0,\"frequency_penalty\":0.0,\"stop\":[\"\\n\"],\"max_tokens\":8,\"ignore_eos\":false,"
        "\"stream\":false,\"n_probs\":0},\"prompt\":\"<fim_prefix>a<fim_suffix>b<fim_middle>\",\"has_new_line\":true,"
        "\"truncated\":false,\"stop_type\":\"word\",\"stopping_word\":\"\\n\",\"tokens_cached\":9,\"timings\":{"
        "\"cache_n\":3,\"prompt_n\":4,\"prompt_ms\":2.5,\"prompt_per_token_ms\":0.625,\"prompt_per_second\":1600.0,"
        "\"predicted_n\":2,\"predicted_ms\":8.0,\"predicted_per_token_ms\":4.0,\"predicted_per_second\":250.0}}";
    assert_string_equal(s, want);
    assert_int_equal(n, strlen(want));
    free(s);
    /* the stream's last event: content already sent, framed */
    f.content = PROTO_LIT("");
    f.n_tokens = 0;
    f.stop_type = LCPP_STOP_LIMIT;
    s = lcpp_encode_final(&f, true, &n);
    assert_true(strncmp(s, "data: {\"index\":0,\"content\":\"\",\"tokens\":[],", 42) == 0);
    assert_non_null(strstr(s, "\"stop_type\":\"limit\""));
    assert_string_equal(s + n - 2, "\n\n");
    free(s);
    f.stop_type = LCPP_STOP_EOS;
    s = lcpp_encode_final(&f, false, &n);
    assert_non_null(strstr(s, "\"stop_type\":\"eos\""));
    free(s);
    lcpp_infill_free(&r);
}

static void test_partial(void **st) {
    int32_t id = 42;
    size_t n;
    char *s = lcpp_encode_partial(PROTO_LIT("ab\tc"), &id, 1, 3, 17, &n);
    const char *want = "data: {\"index\":0,\"content\":\"ab\\tc\",\"tokens\":[42],\"stop\":false,\"id_slot\":-1,"
                       "\"tokens_predicted\":3,\"tokens_evaluated\":17}\n\n";
    assert_string_equal(s, want);
    assert_int_equal(n, strlen(want));
    free(s);
}

static void test_errors(void **st) {
    proto_error e;
    size_t n;
    struct {
        int status, want_status;
        const char *type;
    } cases[] = {{400, 400, "invalid_request_error"}, {422, 400, "invalid_request_error"},
                 {401, 401, "authentication_error"},  {404, 404, "not_found_error"},
                 {501, 501, "not_supported_error"},   {503, 503, "unavailable_error"},
                 {429, 429, "unavailable_error"},     {500, 500, "server_error"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        proto_fail(&e, cases[i].status, "x", "bad \"thing\"");
        assert_int_equal(lcpp_http_status(&e), cases[i].want_status);
        char *s = lcpp_encode_error(&e, false, &n), want[256];
        snprintf(want, sizeof want, "{\"error\":{\"code\":%d,\"message\":\"bad \\\"thing\\\"\",\"type\":\"%s\"}}",
                 cases[i].want_status, cases[i].type);
        assert_string_equal(s, want);
        free(s);
    }
    proto_fail(&e, 500, "x", "oops");
    char *s = lcpp_encode_error(&e, true, &n);
    assert_string_equal(s, "data: {\"error\":{\"code\":500,\"message\":\"oops\",\"type\":\"server_error\"}}\n\n");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_fields),  cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_final),    cmocka_unit_test(test_partial), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
