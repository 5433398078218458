/*
 * openai_validate_test.c — proto/openai validation: one test per rule with
 * its status, param and message (OpenAI's ranges, vLLM's extras, ctgi's
 * limits, the 422s for features not supported yet), the vocabulary checks,
 * the context-length rule and its defaults, the mapping onto
 * sampler_params, and the OpenAI status of an error.
 */
#include <math.h>

#include "openai_util.h"

#define CH(extra) "{" CHAT_HI "," extra "}"
#define CO(extra) "{\"prompt\":\"p\"," extra "}"

static void test_messages_rules(void **st) {
    oinvalid(OAI_CHAT, "{\"messages\":[]}", "messages",
             "`messages` must contain at least one message");
    oinvalid(OAI_CHAT, "{\"messages\":[{\"content\":\"a\"}]}", "messages",
             "messages[0].role must be a string: one of system, developer, user, assistant, tool");
    oinvalid(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"bot\","
                       "\"content\":\"b\"}]}",
             "messages",
             "messages[1].role \"bot\" is not one of system, developer, user, assistant, tool");
    oinvalid(OAI_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "messages",
             "messages[0].content is required: a string or a list of text parts (null only for "
             "an assistant message with tool_calls)");
    oinvalid(OAI_CHAT, "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}]}",
             "messages",
             "messages[0].content is required: a string or a list of text parts (null only for "
             "an assistant message with tool_calls)");
    ovalid(OAI_CHAT, "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"developer\","
                     "\"content\":\"d\"},{\"role\":\"user\",\"content\":\"\"},{\"role\":\"assistant\","
                     "\"tool_calls\":[{\"id\":\"0\"}]},{\"role\":\"tool\",\"content\":\"r\"}]}");
}

static void test_rule_temperature(void **st) {
    oinvalid(OAI_CHAT, CH("\"temperature\":2.5"), "temperature",
             "`temperature` must be >= 0 and <= 2. Given: 2.5");
    oinvalid(OAI_CHAT, CH("\"temperature\":-0.1"), "temperature",
             "`temperature` must be >= 0 and <= 2. Given: -0.1");
    ovalid(OAI_CHAT, CH("\"temperature\":0"));
    ovalid(OAI_CHAT, CH("\"temperature\":2"));
}

static void test_rule_top_p(void **st) {
    oinvalid(OAI_CHAT, CH("\"top_p\":0"), "top_p", "`top_p` must be > 0 and <= 1. Given: 0.0");
    oinvalid(OAI_COMPLETION, CO("\"top_p\":1.01"), "top_p",
             "`top_p` must be > 0 and <= 1. Given: 1.01");
    ovalid(OAI_CHAT, CH("\"top_p\":1.0")); /* TGI answers 422 (issue #2222) */
}

static void test_rule_penalties(void **st) {
    oinvalid(OAI_CHAT, CH("\"presence_penalty\":2.5"), "presence_penalty",
             "`presence_penalty` must be >= -2 and <= 2. Given: 2.5");
    oinvalid(OAI_CHAT, CH("\"frequency_penalty\":-3"), "frequency_penalty",
             "`frequency_penalty` must be >= -2 and <= 2. Given: -3.0");
    ovalid(OAI_CHAT, CH("\"presence_penalty\":-2,\"frequency_penalty\":2"));
    oinvalid(OAI_CHAT, CH("\"repetition_penalty\":0"), "repetition_penalty",
             "`repetition_penalty` must be > 0. Given: 0.0");
    ovalid(OAI_CHAT, CH("\"repetition_penalty\":0.5"));
}

static void test_rule_n_and_best_of(void **st) {
    oinvalid(OAI_CHAT, CH("\"n\":0"), "n", "`n` must be >= 1 and <= 16. Given: 0");
    oinvalid(OAI_CHAT, CH("\"n\":17"), "n", "`n` must be >= 1 and <= 16. Given: 17");
    ovalid(OAI_CHAT, CH("\"n\":16"));
    oinvalid(OAI_COMPLETION, CO("\"n\":3,\"best_of\":2"), "best_of",
             "`best_of` must be >= `n` (3) and <= 16. Given: 2");
    oinvalid(OAI_COMPLETION, CO("\"best_of\":17"), "best_of",
             "`best_of` must be >= `n` (1) and <= 16. Given: 17");
    oinvalid(OAI_COMPLETION, CO("\"best_of\":2,\"stream\":true"), "best_of",
             "`best_of` must equal `n` when streaming");
    ovalid(OAI_COMPLETION, CO("\"best_of\":2,\"n\":2,\"stream\":true"));
    ovalid(OAI_COMPLETION, CO("\"best_of\":4,\"n\":2"));
}

static void test_rule_sequences_limit(void **st) {
    proto_limits l = olimits();
    l.max_concurrent_requests = 5;
    oinvalid_on(OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\",\"c\"],\"n\":2}", &l, 400, "n",
                "this request asks for 6 sequences (3 prompts x 2), more than the 5 this server "
                "runs at once");
    oinvalid_on(OAI_COMPLETION, "{\"prompt\":\"a\",\"best_of\":6}", &l, 400, "best_of",
                "this request asks for 6 sequences (1 prompts x 6), more than the 5 this server "
                "runs at once");
    oai_request r = oparse(OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\"],\"n\":2}");
    proto_error e = {0};
    assert_true(oai_validate(&r, &l, &e));
    oai_request_free(&r);
}

static void test_rule_logit_bias_values(void **st) {
    oinvalid(OAI_CHAT, CH("\"logit_bias\":{\"5\":100,\"6\":-100.5}"), "logit_bias",
             "`logit_bias` values must be >= -100 and <= 100. Given: -100.5 for token 6");
    ovalid(OAI_CHAT, CH("\"logit_bias\":{\"5\":100,\"6\":-100}"));
}

static void test_rule_logprobs(void **st) {
    oinvalid(OAI_CHAT, CH("\"top_logprobs\":2"), "top_logprobs",
             "`top_logprobs` requires `logprobs` to be true");
    oinvalid(OAI_CHAT, CH("\"logprobs\":false,\"top_logprobs\":0"), "top_logprobs",
             "`top_logprobs` requires `logprobs` to be true");
    oinvalid(OAI_CHAT, CH("\"logprobs\":true,\"top_logprobs\":6"), "top_logprobs",
             "`top_logprobs` must be >= 0 and <= 5. Given: 6");
    ovalid(OAI_CHAT, CH("\"logprobs\":true,\"top_logprobs\":5"));
    ovalid(OAI_CHAT, CH("\"logprobs\":true"));
    oinvalid(OAI_COMPLETION, CO("\"logprobs\":6"), "logprobs",
             "`logprobs` must be >= 0 and <= 5. Given: 6");
    ovalid(OAI_COMPLETION, CO("\"logprobs\":0"));
    proto_limits l = olimits();
    l.max_top_n_tokens = 20;
    ovalid_on(OAI_CHAT, CH("\"logprobs\":true,\"top_logprobs\":20"), &l);
}

static void test_rule_stop(void **st) {
    oinvalid(OAI_CHAT, CH("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"), "stop",
             "`stop` supports up to 4 stop sequences. Given: 5");
    proto_limits l = olimits();
    l.max_stop_sequences = 8;
    ovalid_on(OAI_CHAT, CH("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"), &l); /* chat-ui sends more than 4 */
    oinvalid(OAI_CHAT, CH("\"stop\":[\"a\",\"\"]"), "stop",
             "`stop` sequences must not be empty (index 1)");
    oinvalid(OAI_CHAT, CH("\"stop\":\"a\\u0000\""), "stop",
             "`stop` sequences must not contain NUL (index 0)");
    ovalid(OAI_CHAT, CH("\"stop\":\"###\""));
}

static void test_rule_max_and_min_tokens(void **st) {
    oinvalid(OAI_CHAT, CH("\"max_tokens\":0"), "max_tokens",
             "`max_tokens` must be >= 1. Given: 0");
    oinvalid(OAI_CHAT, CH("\"max_completion_tokens\":0"), "max_tokens",
             "`max_tokens` must be >= 1. Given: 0");
    oinvalid(OAI_CHAT, CH("\"max_tokens\":4,\"min_tokens\":5"), "min_tokens",
             "`min_tokens` must be <= `max_tokens` (4). Given: 5");
    ovalid(OAI_CHAT, CH("\"max_tokens\":5,\"min_tokens\":5"));
    ovalid(OAI_CHAT, CH("\"min_tokens\":500")); /* checked against the budget later */
}

static void test_rule_vllm_ranges(void **st) {
    oinvalid(OAI_CHAT, CH("\"top_k\":-2"), "top_k",
             "`top_k` must be -1 or 0 (off), or >= 1. Given: -2");
    ovalid(OAI_CHAT, CH("\"top_k\":-1"));
    ovalid(OAI_CHAT, CH("\"top_k\":0"));
    ovalid(OAI_CHAT, CH("\"top_k\":40"));
    oinvalid(OAI_CHAT, CH("\"min_p\":1.5"), "min_p", "`min_p` must be >= 0 and <= 1. Given: 1.5");
    oinvalid(OAI_CHAT, CH("\"min_p\":-0.5"), "min_p",
             "`min_p` must be >= 0 and <= 1. Given: -0.5");
    ovalid(OAI_CHAT, CH("\"min_p\":1"));
    oinvalid(OAI_CHAT, CH("\"stop_token_ids\":[1,-4]"), "stop_token_ids",
             "`stop_token_ids` must be >= 0. Given: -4");
}

static void test_rule_stream_options(void **st) {
    const char *msg = "The 'stream_options' parameter is only allowed when 'stream' is enabled.";
    oinvalid(OAI_CHAT, CH("\"stream_options\":{\"include_usage\":true}"), "stream_options", msg);
    oinvalid(OAI_COMPLETION, CO("\"stream\":false,\"stream_options\":{}"), "stream_options", msg);
    ovalid(OAI_CHAT, CH("\"stream\":true,\"stream_options\":{\"include_usage\":false}"));
    ovalid(OAI_CHAT, CH("\"stream_options\":null"));
}

static void test_unsupported_are_422(void **st) {
    proto_limits l = olimits();
    struct {
        oai_kind k;
        const char *body, *param, *msg;
    } cases[] = {
        {OAI_CHAT, CH("\"functions\":[{\"name\":\"f\"}]"), "functions",
         "`functions` is not supported yet: this server has no tool calling"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oai_request r = oparse(cases[i].k, cases[i].body);
        proto_error e = {0};
        assert_false(oai_validate(&r, &l, &e));
        check_err(&e, 422, cases[i].param, cases[i].msg);
        assert_string_equal(e.code, "unsupported_parameter");
        assert_int_equal(oai_http_status(&e), 422);
        oai_request_free(&r);
    }
    ovalid(OAI_CHAT, CH("\"tools\":[],\"tool_choice\":\"auto\",\"parallel_tool_calls\":true,"
                        "\"response_format\":{\"type\":\"text\"}"));
    /* fill-in-the-middle is the server's to check (the model's FIM tokens) */
    ovalid(OAI_COMPLETION, CO("\"suffix\":\"x\",\"echo\":true,\"stream\":true,\"logprobs\":2"));
    /* tools are supported now */
    ovalid(OAI_CHAT, CH("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
}

static void test_check_vocab(void **st) {
    struct {
        oai_kind k;
        const char *body, *param, *msg;
    } cases[] = {
        {OAI_CHAT, CH("\"logit_bias\":{\"99\":1,\"100\":1}"), "logit_bias",
         "`logit_bias`: token id 100 is out of range (the vocabulary has 100 tokens)"},
        {OAI_CHAT, CH("\"stop_token_ids\":[100]"), "stop_token_ids",
         "`stop_token_ids`: token id 100 is out of range (the vocabulary has 100 tokens)"},
        {OAI_COMPLETION, "{\"prompt\":[[1],[2,100]]}", "prompt",
         "`prompt`: token id 100 is out of range (the vocabulary has 100 tokens)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oai_request r = oparse(cases[i].k, cases[i].body);
        proto_error e = {0};
        assert_false(oai_check_vocab(&r, 100, &e));
        check_err(&e, 400, cases[i].param, cases[i].msg);
        assert_true(oai_check_vocab(&r, 101, &e));
        oai_request_free(&r);
    }
}

/* ---- lengths ------------------------------------------------------------------- */

static void test_max_new_tokens_default_is_remaining_context(void **st) {
    proto_limits l = olimits(); /* input 100, total 200 */
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI "}");
    uint32_t out = 0;
    proto_error e = {0};
    assert_true(oai_max_new_tokens(&r, 30, &l, &out, &e));
    assert_int_equal(out, 170);
    assert_true(oai_max_new_tokens(&r, 100, &l, &out, &e));
    assert_int_equal(out, 100);
    oai_request_free(&r);
    r = oparse(OAI_CHAT, CH("\"max_tokens\":170"));
    assert_true(oai_max_new_tokens(&r, 30, &l, &out, &e));
    assert_int_equal(out, 170);
    oai_request_free(&r);
}

static void test_max_new_tokens_too_long(void **st) {
    proto_limits l = olimits();
    oai_request r = oparse(OAI_CHAT, CH("\"max_tokens\":171"));
    uint32_t out = 0;
    proto_error e = {0};
    assert_false(oai_max_new_tokens(&r, 30, &l, &out, &e));
    check_err(&e, 400, "max_tokens",
              "This model's maximum context length is 200 tokens. However, you requested 201 "
              "tokens (30 in the messages, 171 in the completion). Please reduce the length of "
              "the messages or completion.");
    assert_string_equal(e.code, "context_length_exceeded");
    assert_false(oai_max_new_tokens(&r, 101, &l, &out, &e));
    check_err(&e, 400, "messages",
              "This model's maximum input length is 100 tokens. However, your messages resulted "
              "in 101 tokens. Please reduce the length of the messages.");
    assert_string_equal(e.code, "context_length_exceeded");
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"\"}");
    assert_false(oai_max_new_tokens(&r, 0, &l, &out, &e));
    check_err(&e, 400, "prompt", "The prompt resulted in no tokens: there is nothing to continue");
    assert_false(oai_max_new_tokens(&r, 150, &l, &out, &e));
    check_err(&e, 400, "prompt",
              "This model's maximum input length is 100 tokens. However, your prompt resulted in "
              "150 tokens. Please reduce the length of the prompt.");
    oai_request_free(&r);
}

/* ---- sampler mapping ------------------------------------------------------------- */

static sampler_params sp_of(oai_kind k, const char *body) {
    oai_request r = oparse(k, body);
    sampler_params s = oai_sampler_params(&r, 77);
    assert_null(s.logit_bias); /* the bodies below send none (the pointer would dangle) */
    oai_request_free(&r);
    return s;
}

static void test_sampler_defaults_sample_at_t1(void **st) {
    sampler_params s = sp_of(OAI_CHAT, "{" CHAT_HI "}");
    assert_true(s.do_sample); /* OpenAI's default temperature is 1 */
    assert_true(s.temperature == 1.0f);
    assert_true(s.top_p == 1.0f);
    assert_int_equal(s.top_k, 0);
    assert_true(s.min_p == 0.0f);
    assert_true(s.repetition_penalty == 1.0f);
    assert_true(s.presence_penalty == 0.0f && s.frequency_penalty == 0.0f);
    assert_int_equal(s.seed, 77);
    assert_int_equal(s.top_n, 0);
    assert_true(s.no_logprob); /* nothing reads a token's logprob */
}

static void test_sampler_temperature_zero_is_greedy(void **st) {
    sampler_params s = sp_of(OAI_CHAT, CH("\"temperature\":0,\"seed\":5"));
    assert_false(s.do_sample);
    assert_int_equal(s.seed, 5);
    s = sp_of(OAI_CHAT, CH("\"temperature\":0.7"));
    assert_true(s.do_sample);
    assert_true(s.temperature == 0.7f);
}

static void test_sampler_knobs(void **st) {
    sampler_params s = sp_of(OAI_CHAT, CH("\"top_p\":0.9,\"top_k\":-1,\"min_p\":0.1,"
                                          "\"presence_penalty\":0.5,\"frequency_penalty\":-1,"
                                          "\"repetition_penalty\":1.2,\"logprobs\":true,"
                                          "\"top_logprobs\":3"));
    assert_true(s.top_p == 0.9f);
    assert_int_equal(s.top_k, 0); /* vLLM's -1 = off */
    assert_true(s.min_p == 0.1f);
    assert_true(s.presence_penalty == 0.5f); /* additive, not TGI's repetition_penalty + 2 */
    assert_true(s.frequency_penalty == -1.0f);
    assert_true(s.repetition_penalty == 1.2f);
    assert_int_equal(s.top_n, 3);
    assert_false(s.no_logprob);
    s = sp_of(OAI_COMPLETION, CO("\"top_k\":12,\"logprobs\":2"));
    assert_int_equal(s.top_k, 12);
    assert_int_equal(s.top_n, 2);
    s = sp_of(OAI_CHAT, CH("\"logprobs\":false"));
    assert_int_equal(s.top_n, 0);
    assert_true(s.no_logprob);
    s = sp_of(OAI_COMPLETION, CO("\"n\":2,\"best_of\":3")); /* ranked by mean logprob */
    assert_false(s.no_logprob);
    s = sp_of(OAI_COMPLETION, CO("\"n\":2,\"best_of\":2"));
    assert_true(s.no_logprob);
}

static void test_sampler_logit_bias_borrowed(void **st) {
    oai_request r = oparse(OAI_CHAT, CH("\"logit_bias\":{\"3\":-100,\"9\":5}"));
    sampler_params s = oai_sampler_params(&r, 0);
    assert_int_equal(s.n_logit_bias, 2);
    assert_ptr_equal(s.logit_bias, r.logit_bias);
    assert_int_equal(s.logit_bias[0].id, 3);
    assert_true(s.logit_bias[0].bias == -100.0f); /* OpenAI: added to the logit as given */
    char msg[PROTO_ERRLEN];
    assert_true(sampler_params_validate(&s, 10, msg));
    oai_request_free(&r);
}

static void test_error_status_mapping(void **st) {
    proto_error e = {0};
    proto_invalid(&e, "`temperature` must be strictly positive"); /* a TGI-style 422 */
    assert_int_equal(oai_http_status(&e), 400);
    proto_err_overloaded(&e);
    assert_int_equal(oai_http_status(&e), 429);
    assert_null(e.param);
    assert_null(e.code);
    assert_string_equal(oai_error_type(400), "invalid_request_error");
    assert_string_equal(oai_error_type(401), "invalid_request_error");
    assert_string_equal(oai_error_type(404), "invalid_request_error");
    assert_string_equal(oai_error_type(422), "invalid_request_error");
    assert_string_equal(oai_error_type(429), "requests");
    assert_string_equal(oai_error_type(424), "server_error");
    assert_string_equal(oai_error_type(500), "server_error");
    assert_string_equal(oai_error_type(503), "server_error");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_rules),
        cmocka_unit_test(test_rule_temperature),
        cmocka_unit_test(test_rule_top_p),
        cmocka_unit_test(test_rule_penalties),
        cmocka_unit_test(test_rule_n_and_best_of),
        cmocka_unit_test(test_rule_sequences_limit),
        cmocka_unit_test(test_rule_logit_bias_values),
        cmocka_unit_test(test_rule_logprobs),
        cmocka_unit_test(test_rule_stop),
        cmocka_unit_test(test_rule_max_and_min_tokens),
        cmocka_unit_test(test_rule_vllm_ranges),
        cmocka_unit_test(test_rule_stream_options),
        cmocka_unit_test(test_unsupported_are_422),
        cmocka_unit_test(test_check_vocab),
        cmocka_unit_test(test_max_new_tokens_default_is_remaining_context),
        cmocka_unit_test(test_max_new_tokens_too_long),
        cmocka_unit_test(test_sampler_defaults_sample_at_t1),
        cmocka_unit_test(test_sampler_temperature_zero_is_greedy),
        cmocka_unit_test(test_sampler_knobs),
        cmocka_unit_test(test_sampler_logit_bias_borrowed),
        cmocka_unit_test(test_error_status_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
