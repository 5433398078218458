/*
 * openai_test.c — proto/openai parsing: chat messages normalised for the
 * template (content parts, null content, kept members), every prompt
 * shape, stop as a string or a list, logit_bias as OpenAI's map, vLLM's
 * extra fields, nulls and unknown fields, and wrong types / malformed JSON
 * answered 400 with the field as `param`.
 */
#include <stdlib.h>

#include "openai_util.h"

/* The normalised messages as compact JSON (jansson's dump, sorted keys). */
static char *dump(const oai_request *r) {
    return json_dumps(r->messages, JSON_COMPACT | JSON_SORT_KEYS);
}

static void test_chat_minimal(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI "}");
    assert_int_equal(r.kind, OAI_CHAT);
    assert_null(r.model);
    assert_int_equal(r.n, 1);
    assert_true(r.skip_special_tokens);
    assert_false(r.stream);
    assert_false(r.has_temperature);
    assert_false(r.has_max_tokens);
    assert_false(r.logprobs);
    char *s = dump(&r);
    assert_string_equal(s, "[{\"content\":\"hi\",\"role\":\"user\"}]");
    free(s);
    oai_request_free(&r);
}

static void test_model_echoed_any_string(void **st) {
    oai_request r = oparse(OAI_CHAT, "{\"model\":\"http://x/v1\"," CHAT_HI "}");
    assert_string_equal(r.model, "http://x/v1");
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{\"model\":5," CHAT_HI "}", 400, "model",
                 DESER "model: invalid type: integer `5`, expected a string");
}

static void test_content_parts_joined(void **st) {
    oai_request r = oparse(OAI_CHAT,
                           "{\"messages\":[{\"role\":\"user\",\"name\":\"ann\",\"content\":["
                           "{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}"
                           ",{\"role\":\"assistant\",\"content\":[]}]}");
    char *s = dump(&r);
    assert_string_equal(s, "[{\"content\":\"a\\nb\",\"name\":\"ann\",\"role\":\"user\"},"
                           "{\"content\":\"\",\"role\":\"assistant\"}]");
    free(s);
    oai_request_free(&r);
}

static void test_members_kept_and_null_content(void **st) {
    oai_request r = oparse(
        OAI_CHAT, "{\"messages\":[{\"role\":\"developer\",\"content\":\"d\"},"
                  "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"1\"}]},"
                  "{\"role\":\"tool\",\"tool_call_id\":\"1\",\"content\":\"r\"},"
                  "{\"role\":\"assistant\",\"reasoning_content\":\"think\"}]}");
    char *s = dump(&r);
    assert_string_equal(s, "[{\"content\":\"d\",\"role\":\"developer\"},"
                           "{\"content\":null,\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"1\"}]},"
                           "{\"content\":\"r\",\"role\":\"tool\",\"tool_call_id\":\"1\"},"
                           "{\"content\":null,\"reasoning_content\":\"think\",\"role\":\"assistant\"}]");
    free(s);
    oai_request_free(&r);
}

static void test_content_nul_kept(void **st) {
    oai_request r = oparse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}");
    json_t *c = json_object_get(json_array_get(r.messages, 0), "content");
    assert_int_equal(json_string_length(c), 3);
    assert_memory_equal(json_string_value(c), "a\0b", 3);
    oai_request_free(&r);
}

static void test_image_part_unsupported(void **st) {
    oai_request r;
    proto_error e = {0};
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:x\"}}]}]}";
    assert_false(oai_parse(OAI_CHAT, b, strlen(b), &r, &e));
    check_err(&e, 422, "messages",
              "messages[0].content[1]: image input is not supported (this server reads text only)");
    assert_string_equal(e.code, "unsupported_value");
    assert_int_equal(oai_http_status(&e), 422);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT,
                 "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}",
                 422, "messages",
                 "messages[0].content[0]: audio input is not supported (this server reads text only)");
}

static void test_bad_content_parts(void **st) {
    oparse_fails(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}",
                 400, "messages", "messages[0].content[0]: unknown content part type \"video\"");
    oparse_fails(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                 400, "messages", "messages[0].content[0]: a text part needs a string `text`");
    oparse_fails(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
                 400, "messages", "messages[0].content[0]: a content part needs a string `type`");
    oparse_fails(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[\"a\"]}]}", 400,
                 "messages",
                 DESER "messages[0].content[0]: invalid type: string \"a\", expected a content "
                       "part object");
    oparse_fails(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":7}]}", 400, "messages",
                 DESER "messages[0].content: invalid type: integer `7`, expected a string or a "
                       "sequence of content parts");
}

static void test_messages_shape(void **st) {
    oparse_fails(OAI_CHAT, "{\"messages\":\"hi\"}", 400, "messages",
                 DESER "messages: invalid type: string \"hi\", expected a sequence of messages");
    oparse_fails(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},3]}", 400,
                 "messages", DESER "messages[1]: invalid type: integer `3`, expected a message object");
    oparse_fails(OAI_CHAT, "{\"model\":\"m\"}", 400, "messages",
                 "Missing required parameter: 'messages'.");
    oparse_fails(OAI_CHAT, "{\"messages\":null}", 400, "messages",
                 "Missing required parameter: 'messages'.");
    /* a completions body on the chat route */
    oparse_fails(OAI_CHAT, "{\"prompt\":\"x\"}", 400, "messages",
                 "Missing required parameter: 'messages'.");
}

static void test_stop_string_or_array(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"stop\":\"\\n\\n\"}");
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n\n");
    assert_int_equal(r.stop_len[0], 2);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"stop\":[\"a\",\"bc\"]}");
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "bc");
    oai_request_free(&r);
    r = oparse(OAI_CHAT, "{" CHAT_HI ",\"stop\":null}");
    assert_int_equal(r.n_stop, 0);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"stop\":5}", 400, "stop",
                 DESER "stop: invalid type: integer `5`, expected a string or a sequence of strings");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"stop\":[\"a\",1]}", 400, "stop",
                 DESER "stop[1]: invalid type: integer `1`, expected a string");
}

static void test_prompt_forms(void **st) {
    oai_request r = oparse(OAI_COMPLETION, "{\"prompt\":\"once\"}");
    assert_int_equal(r.n_prompts, 1);
    assert_string_equal(r.prompts[0].text, "once");
    assert_int_equal(r.prompts[0].text_len, 4);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":[\"a\",\"\"]}");
    assert_int_equal(r.n_prompts, 2);
    assert_string_equal(r.prompts[0].text, "a");
    assert_int_equal(r.prompts[1].text_len, 0);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":[1,2,3]}");
    assert_int_equal(r.n_prompts, 1);
    assert_null(r.prompts[0].text);
    assert_int_equal(r.prompts[0].n_ids, 3);
    assert_int_equal(r.prompts[0].ids[2], 3);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":[[5],[6,7]]}");
    assert_int_equal(r.n_prompts, 2);
    assert_int_equal(r.prompts[0].n_ids, 1);
    assert_int_equal(r.prompts[1].n_ids, 2);
    assert_int_equal(r.prompts[1].ids[1], 7);
    oai_request_free(&r);
}

static void test_prompt_errors(void **st) {
    oparse_fails(OAI_COMPLETION, "{\"prompt\":[]}", 400, "prompt",
                 "`prompt` must not be an empty list");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":{}}", 400, "prompt",
                 DESER "prompt: invalid type: map, expected a string, a sequence of strings or "
                       "token ids");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":[\"a\",[1]]}", 400, "prompt",
                 DESER "prompt[1]: invalid type: sequence, expected a string");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":[1,\"a\"]}", 400, "prompt",
                 DESER "prompt[1]: invalid type: string \"a\", expected i32");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":[[1],[-2]]}", 400, "prompt",
                 "prompt[1][0]: token ids must be >= 0. Given: -2");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":[[1],2]}", 400, "prompt",
                 DESER "prompt[1]: invalid type: integer `2`, expected a sequence of token ids");
    oparse_fails(OAI_COMPLETION, "{\"model\":\"m\"}", 400, "prompt",
                 "Missing required parameter: 'prompt'.");
}

static void test_logit_bias_map(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"logit_bias\":{\"50256\":-100,\"7\":2.5}}");
    assert_int_equal(r.n_logit_bias, 2);
    assert_int_equal(r.logit_bias[0].id, 50256);
    assert_true(r.logit_bias[0].bias == -100.0f);
    assert_int_equal(r.logit_bias[1].id, 7);
    assert_true(r.logit_bias[1].bias == 2.5f);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"logit_bias\":{\"x1\":1}}", 400, "logit_bias",
                 "Invalid key in 'logit_bias': \"x1\" is not a token id (a decimal integer "
                 "string such as \"50256\")");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"logit_bias\":{\"-1\":1}}", 400, "logit_bias",
                 "Invalid key in 'logit_bias': \"-1\" is not a token id (a decimal integer "
                 "string such as \"50256\")");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"logit_bias\":{\"3\":\"a\"}}", 400, "logit_bias",
                 DESER "logit_bias.3: invalid type: string \"a\", expected f32");
    /* TGI types it as a list of floats; OpenAI's is a map */
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"logit_bias\":[1.0]}", 400, "logit_bias",
                 DESER "logit_bias: invalid type: sequence, expected a map of token ids to numbers");
}

static void test_vllm_extras(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"top_k\":-1,\"min_p\":0.05,"
                                     "\"repetition_penalty\":1.1,\"ignore_eos\":true,"
                                     "\"min_tokens\":3,\"stop_token_ids\":[2,13],"
                                     "\"skip_special_tokens\":false}");
    assert_true(r.has_top_k);
    assert_int_equal(r.top_k, -1);
    assert_true(r.has_min_p && r.min_p == 0.05f);
    assert_true(r.has_repetition_penalty && r.repetition_penalty == 1.1f);
    assert_true(r.ignore_eos);
    assert_true(r.has_min_tokens);
    assert_int_equal(r.min_tokens, 3);
    assert_int_equal(r.n_stop_token_ids, 2);
    assert_int_equal(r.stop_token_ids[1], 13);
    assert_false(r.skip_special_tokens);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"stop_token_ids\":[1,\"2\"]}", 400, "stop_token_ids",
                 DESER "stop_token_ids[1]: invalid type: string \"2\", expected i32");
}

static void test_openai_fields(void **st) {
    oai_request r = oparse(OAI_CHAT,
                           "{" CHAT_HI ",\"temperature\":0,\"top_p\":1,\"presence_penalty\":0.5,"
                           "\"frequency_penalty\":-0.5,\"seed\":42,\"n\":3,\"max_tokens\":7,"
                           "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                           "\"user\":\"u1\",\"tool_choice\":\"none\",\"parallel_tool_calls\":false}");
    assert_true(r.has_temperature && r.temperature == 0.0f);
    assert_true(r.has_top_p && r.top_p == 1.0f);
    assert_true(r.has_presence_penalty && r.presence_penalty == 0.5f);
    assert_true(r.has_frequency_penalty && r.frequency_penalty == -0.5f);
    assert_true(r.has_seed);
    assert_int_equal(r.seed, 42);
    assert_int_equal(r.n, 3);
    assert_true(r.has_max_tokens);
    assert_int_equal(r.max_tokens, 7);
    assert_true(r.stream && r.has_stream_options && r.include_usage);
    assert_true(r.has_tool_choice);
    assert_int_equal(r.tool_choice, OAI_TOOL_CHOICE_NONE);
    assert_false(r.parallel_tool_calls);
    oai_request_free(&r);
}

static void test_nulls_and_unknown_ignored(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"temperature\":null,\"n\":null,\"seed\":null,"
                                     "\"max_tokens\":null,\"stream_options\":null,\"tools\":null,"
                                     "\"reasoning_effort\":\"low\",\"truncate\":5,\"x\":{\"y\":[1]}}");
    assert_false(r.has_temperature);
    assert_int_equal(r.n, 1);
    assert_false(r.has_seed);
    assert_false(r.has_max_tokens);
    assert_false(r.has_stream_options);
    assert_false(r.has_tools);
    oai_request_free(&r);
    /* the other endpoint's fields are unknown here */
    r = oparse(OAI_CHAT, "{" CHAT_HI ",\"echo\":true,\"prompt\":5,\"suffix\":null,\"best_of\":9}");
    assert_false(r.echo);
    assert_false(r.has_suffix);
    assert_false(r.has_best_of);
    assert_null(r.prompts);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"messages\":5,\"tools\":[1],"
                               "\"max_completion_tokens\":3,\"top_logprobs\":2}");
    assert_null(r.messages);
    assert_false(r.has_tools);
    assert_false(r.has_max_tokens);
    assert_false(r.has_top_logprobs);
    oai_request_free(&r);
}

static void test_wrong_types_name_the_field(void **st) {
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"temperature\":\"a\"}", 400, "temperature",
                 DESER "temperature: invalid type: string \"a\", expected f32");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"n\":-1}", 400, "n",
                 DESER "n: invalid value: integer `-1`, expected u32");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"n\":1.5}", 400, "n",
                 DESER "n: invalid type: floating point `1.5`, expected u32");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"stream\":\"yes\"}", 400, "stream",
                 DESER "stream: invalid type: string \"yes\", expected a boolean");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"seed\":\"1\"}", 400, "seed",
                 DESER "seed: invalid type: string \"1\", expected i64");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"max_tokens\":-5}", 400, "max_tokens",
                 DESER "max_tokens: invalid value: integer `-5`, expected u32");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"top_k\":1e3}", 400, "top_k",
                 DESER "top_k: invalid type: floating point `1000.0`, expected i32");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"stream_options\":{\"include_usage\":1}}", 400,
                 "stream_options",
                 DESER "stream_options.include_usage: invalid type: integer `1`, expected a boolean");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"stream_options\":true}", 400, "stream_options",
                 DESER "stream_options: invalid type: boolean `true`, expected struct StreamOptions");
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"tools\":{}}", 400, "tools",
                 DESER "tools: invalid type: map, expected a sequence");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":\"p\",\"suffix\":1}", 400, "suffix",
                 DESER "suffix: invalid type: integer `1`, expected a string");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":\"p\",\"suffix\":[\"a\"]}", 400, "suffix",
                 DESER "suffix: invalid type: sequence, expected a string");
    /* chat has no suffix: refused rather than dropped (OpenAI refuses
     * arguments it does not know) */
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"suffix\":\"x\"}", 400, "suffix",
                 "`suffix` (fill-in-the-middle) is a /v1/completions parameter; chat completions have no suffix");
}

static void test_malformed_json(void **st) {
    const char *bodies[] = {"{\"messages\":[", "", "{'a':1}", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        oai_request r;
        proto_error e = {0};
        assert_false(oai_parse(OAI_CHAT, bodies[i], strlen(bodies[i]), &r, &e));
        assert_int_equal(e.status, 400);
        assert_null(e.param);
        const char *pre = "Failed to parse the request body as JSON: ";
        assert_true(strncmp(e.message, pre, strlen(pre)) == 0);
        oai_request_free(&r);
    }
    oparse_fails(OAI_CHAT, "[1]", 400, NULL,
                 DESER "invalid type: sequence, expected struct ChatCompletionRequest");
    oparse_fails(OAI_COMPLETION, "\"x\"", 400, NULL,
                 DESER "invalid type: string \"x\", expected struct CompletionRequest");
}

static void test_max_completion_tokens_wins(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"max_completion_tokens\":9,\"max_tokens\":4}");
    assert_true(r.has_max_tokens);
    assert_int_equal(r.max_tokens, 9);
    oai_request_free(&r);
    r = oparse(OAI_CHAT, "{" CHAT_HI ",\"max_tokens\":4,\"max_completion_tokens\":9}");
    assert_int_equal(r.max_tokens, 9);
    oai_request_free(&r);
    r = oparse(OAI_CHAT, "{" CHAT_HI ",\"max_tokens\":4,\"max_completion_tokens\":null}");
    assert_int_equal(r.max_tokens, 4);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"max_completion_tokens\":\"9\"}", 400,
                 "max_completion_tokens",
                 DESER "max_completion_tokens: invalid type: string \"9\", expected u32");
}

static void test_logprobs_per_endpoint(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"logprobs\":true,\"top_logprobs\":3}");
    assert_true(r.logprobs && r.has_top_logprobs);
    assert_int_equal(r.top_logprobs, 3);
    oai_request_free(&r);
    r = oparse(OAI_CHAT, "{" CHAT_HI ",\"logprobs\":false}");
    assert_false(r.logprobs);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"logprobs\":0}");
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"logprobs\":null}");
    assert_false(r.logprobs);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"logprobs\":2}", 400, "logprobs",
                 DESER "logprobs: invalid type: integer `2`, expected a boolean");
    oparse_fails(OAI_COMPLETION, "{\"prompt\":\"p\",\"logprobs\":true}", 400, "logprobs",
                 DESER "logprobs: invalid type: boolean `true`, expected u32");
}

static void test_seed_range(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"seed\":-1}");
    assert_true(r.has_seed);
    assert_true(r.seed == UINT64_MAX);
    oai_request_free(&r);
    r = oparse(OAI_CHAT, "{" CHAT_HI ",\"seed\":18446744073709551615}");
    assert_true(r.seed == UINT64_MAX);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"seed\":18446744073709551616}", 400, "seed",
                 DESER "seed: invalid value: integer `18446744073709551616`, expected i64");
}

static void test_unsupported_flags(void **st) {
    oai_request r = oparse(OAI_CHAT, "{" CHAT_HI ",\"tools\":[],\"functions\":[],"
                                     "\"response_format\":{\"type\":\"text\"}}");
    assert_false(r.has_tools || r.has_functions);
    assert_non_null(r.response_format);
    oai_request_free(&r);
    r = oparse(OAI_CHAT, "{" CHAT_HI ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                         "\"response_format\":{\"type\":\"json_object\"},\"guided_regex\":\"a\"}");
    assert_true(r.has_tools);
    assert_int_equal(json_array_size(r.tools), 1);
    assert_string_equal(json_string_value(json_object_get(r.response_format, "type")), "json_object");
    assert_string_equal(json_string_value(r.guided_regex), "a");
    oai_request_free(&r);
    /* an empty suffix is kept: on a FIM model it still asks for a FIM prompt */
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"suffix\":\"\"}");
    assert_true(r.has_suffix);
    assert_int_equal(r.suffix_len, 0);
    assert_string_equal(r.suffix, "");
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"suffix\":\"end\",\"echo\":true,\"best_of\":2}");
    assert_true(r.has_suffix && r.echo && r.has_best_of);
    assert_string_equal(r.suffix, "end");
    assert_int_equal(r.suffix_len, 3);
    assert_int_equal(r.best_of, 2);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"suffix\":\"a\\u0000b\"}");
    assert_int_equal(r.suffix_len, 3);
    assert_memory_equal(r.suffix, "a\0b", 4);
    oai_request_free(&r);
    r = oparse(OAI_COMPLETION, "{\"prompt\":\"p\",\"suffix\":null}");
    assert_false(r.has_suffix);
    assert_null(r.suffix);
    oai_request_free(&r);
    oparse_fails(OAI_CHAT, "{" CHAT_HI ",\"response_format\":{}}", 400, "response_format",
                 "`response_format` needs a string `type` (\"text\", \"json_object\" or "
                 "\"json_schema\")");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_minimal),
        cmocka_unit_test(test_model_echoed_any_string),
        cmocka_unit_test(test_content_parts_joined),
        cmocka_unit_test(test_members_kept_and_null_content),
        cmocka_unit_test(test_content_nul_kept),
        cmocka_unit_test(test_image_part_unsupported),
        cmocka_unit_test(test_bad_content_parts),
        cmocka_unit_test(test_messages_shape),
        cmocka_unit_test(test_stop_string_or_array),
        cmocka_unit_test(test_prompt_forms),
        cmocka_unit_test(test_prompt_errors),
        cmocka_unit_test(test_logit_bias_map),
        cmocka_unit_test(test_vllm_extras),
        cmocka_unit_test(test_openai_fields),
        cmocka_unit_test(test_nulls_and_unknown_ignored),
        cmocka_unit_test(test_wrong_types_name_the_field),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_max_completion_tokens_wins),
        cmocka_unit_test(test_logprobs_per_endpoint),
        cmocka_unit_test(test_seed_range),
        cmocka_unit_test(test_unsupported_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
