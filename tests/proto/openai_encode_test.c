/*
 * openai_encode_test.c — proto/openai encoders, byte for byte.  The
 * expected strings are written by hand from OpenAI's API reference
 * (chat.completion, chat.completion.chunk, text_completion, the model list,
 * the error object; tool calls from structured-output.md §1.3), not
 * produced by the code under test.
 */
#include <stdlib.h>

#include "openai_util.h"

static const oai_meta CHAT_META = {"chatcmpl-abc", 1700000000, "m", "ctgi-0.1"};
static const oai_meta CMPL_META = {"cmpl-xyz", 1700000001, "m", NULL};
#define CHAT_HEAD(obj) \
    "{\"id\":\"chatcmpl-abc\",\"object\":\"" obj "\",\"created\":1700000000,\"model\":\"m\"," \
    "\"system_fingerprint\":\"ctgi-0.1\","
#define CMPL_HEAD \
    "{\"id\":\"cmpl-xyz\",\"object\":\"text_completion\",\"created\":1700000001,\"model\":\"m\"," \
    "\"system_fingerprint\":null,"

/* got (freed here) is exactly want, and *len its length. */
static void expect(char *got, const size_t *len, const char *want) {
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(*len, strlen(want));
    free(got);
}

static void test_chat_completion(void **st) {
    oai_choice c[2] = {
        {.index = 0, .text = PROTO_LIT("Hello \"you\"\n"), .finish = OAI_FINISH_STOP},
        {.index = 1, .text = PROTO_LIT("Hi"), .finish = OAI_FINISH_LENGTH},
    };
    oai_usage u = {9, 12};
    size_t n;
    char *s = oai_encode_chat(&CHAT_META, c, 2, &u, &n);
    expect(s, &n,
           CHAT_HEAD("chat.completion")
           "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
           "\"Hello \\\"you\\\"\\n\"},\"logprobs\":null,\"finish_reason\":\"stop\"},"
           "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
           "\"logprobs\":null,\"finish_reason\":\"length\"}],"
           "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}}");
}

static void test_chat_logprobs_bytes_and_repair(void **st) {
    /* a byte-fallback token: the first byte of "é" (C3 A9) alone */
    oai_top_logprob top[2] = {{PROTO_LIT("\xC3"), -0.25f}, {PROTO_LIT("a"), -1.5f}};
    oai_token_logprob t[2] = {
        {PROTO_LIT("\xC3"), -0.25f, top, 2},
        {PROTO_LIT("\xA9!"), -0.5f, NULL, 0},
    };
    oai_choice c = {.index = 0, .text = PROTO_LIT("\xC3\xA9!"), .finish = OAI_FINISH_STOP,
                    .logprobs = true, .tokens = t, .n_tokens = 2};
    oai_usage u = {1, 2};
    size_t n;
    char *s = oai_encode_chat(&CHAT_META, &c, 1, &u, &n);
    expect(s, &n,
           CHAT_HEAD("chat.completion")
           "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
           "\"\xC3\xA9!\"},\"logprobs\":{\"content\":["
           "{\"token\":\"\xEF\xBF\xBD\",\"logprob\":-0.25,\"bytes\":[195],\"top_logprobs\":["
           "{\"token\":\"\xEF\xBF\xBD\",\"logprob\":-0.25,\"bytes\":[195]},"
           "{\"token\":\"a\",\"logprob\":-1.5,\"bytes\":[97]}]},"
           "{\"token\":\"\xEF\xBF\xBD!\",\"logprob\":-0.5,\"bytes\":[169,33],\"top_logprobs\":[]}"
           "]},\"finish_reason\":\"stop\"}],"
           "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}");
}

static void test_chat_stream_sequence(void **st) {
    size_t n;
    oai_delta first = {.index = 0, .role = true, .has_content = true, .content = PROTO_LIT("")};
    expect(oai_encode_chat_chunk(&CHAT_META, &first, false, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
           "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    oai_delta mid = {.index = 2, .has_content = true, .content = PROTO_LIT(" world")};
    expect(oai_encode_chat_chunk(&CHAT_META, &mid, false, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":2,\"delta\":{\"content\":\" world\"},"
           "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    oai_delta last = {.index = 0, .finish = OAI_FINISH_LENGTH};
    expect(oai_encode_chat_chunk(&CHAT_META, &last, true, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}],"
           "\"usage\":null}\n\n");
    oai_usage u = {5, 7};
    expect(oai_encode_usage_chunk(OAI_CHAT, &CHAT_META, &u, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,"
           "\"total_tokens\":12}}\n\n");
}

static void test_chat_chunk_logprobs(void **st) {
    oai_top_logprob top[1] = {{PROTO_LIT("x"), -2.0f}};
    oai_token_logprob t = {PROTO_LIT("Hi"), -0.125f, top, 1};
    oai_delta d = {.index = 0, .has_content = true, .content = PROTO_LIT("Hi"), .logprobs = true,
                   .tokens = &t, .n_tokens = 1};
    size_t n;
    expect(oai_encode_chat_chunk(&CHAT_META, &d, false, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":{\"content\":["
           "{\"token\":\"Hi\",\"logprob\":-0.125,\"bytes\":[72,105],\"top_logprobs\":["
           "{\"token\":\"x\",\"logprob\":-2.0,\"bytes\":[120]}]}]},\"finish_reason\":null}]}\n\n");
}

static void test_completion(void **st) {
    oai_choice c[2] = {
        {.index = 0, .text = PROTO_LIT("Once upon"), .finish = OAI_FINISH_LENGTH},
        {.index = 1, .text = PROTO_LIT(""), .finish = OAI_FINISH_STOP},
    };
    oai_usage u = {3, 4};
    size_t n;
    expect(oai_encode_completion(&CMPL_META, c, 2, &u, &n), &n,
           CMPL_HEAD "\"choices\":[{\"text\":\"Once upon\",\"index\":0,\"logprobs\":null,"
           "\"finish_reason\":\"length\"},{\"text\":\"\",\"index\":1,\"logprobs\":null,"
           "\"finish_reason\":\"stop\"}],"
           "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}");
}

static void test_completion_logprobs(void **st) {
    /* the chosen " b" is among the alternatives once; "c" is chosen but not
     * listed, so it is added ("up to logprobs+1 elements"); two invalid
     * bytes repair to the same key, which is written once */
    oai_top_logprob top0[2] = {{PROTO_LIT(" b"), -0.5f}, {PROTO_LIT("\xE6"), -1.0f}};
    oai_top_logprob top1[2] = {{PROTO_LIT("\xE6"), -0.75f}, {PROTO_LIT("\xE7"), -1.25f}};
    oai_token_logprob t[3] = {
        {PROTO_LIT(" b"), -0.5f, top0, 2},
        {PROTO_LIT("c"), -3.0f, top1, 2},
        {PROTO_LIT("\xC3\xA9" "d"), -0.0625f, NULL, 0},
    };
    oai_choice c = {.index = 0, .text = PROTO_LIT("a b" "c\xC3\xA9" "d"),
                    .finish = OAI_FINISH_STOP, .logprobs = true, .tokens = t, .n_tokens = 3,
                    .text_offset = 1};
    oai_usage u = {1, 3};
    size_t n;
    expect(oai_encode_completion(&CMPL_META, &c, 1, &u, &n), &n,
           CMPL_HEAD "\"choices\":[{\"text\":\"a bc\xC3\xA9" "d\",\"index\":0,\"logprobs\":{"
           "\"tokens\":[\" b\",\"c\",\"\xC3\xA9" "d\"],"
           "\"token_logprobs\":[-0.5,-3.0,-0.0625],"
           "\"top_logprobs\":[{\" b\":-0.5,\"\xEF\xBF\xBD\":-1.0},"
           "{\"\xEF\xBF\xBD\":-0.75,\"c\":-3.0},{\"\xC3\xA9" "d\":-0.0625}],"
           "\"text_offset\":[1,3,4]},\"finish_reason\":\"stop\"}],"
           "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3,\"total_tokens\":4}}");
}

static void test_completion_stream(void **st) {
    size_t n;
    oai_delta d = {.index = 1, .content = PROTO_LIT("tok")};
    expect(oai_encode_completion_chunk(&CMPL_META, &d, false, &n), &n,
           "data: " CMPL_HEAD "\"choices\":[{\"text\":\"tok\",\"index\":1,\"logprobs\":null,"
           "\"finish_reason\":null}]}\n\n");
    oai_delta f = {.index = 1, .finish = OAI_FINISH_STOP};
    expect(oai_encode_completion_chunk(&CMPL_META, &f, true, &n), &n,
           "data: " CMPL_HEAD "\"choices\":[{\"text\":\"\",\"index\":1,\"logprobs\":null,"
           "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
    oai_usage u = {2, 1};
    expect(oai_encode_usage_chunk(OAI_COMPLETION, &CMPL_META, &u, &n), &n,
           "data: " CMPL_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":2,"
           "\"completion_tokens\":1,\"total_tokens\":3}}\n\n");
}

static void test_models(void **st) {
    size_t n;
    expect(oai_encode_models("stories260K", 1699999999, 512, NULL, 0, &n), &n,
           "{\"object\":\"list\",\"data\":[{\"id\":\"stories260K\",\"object\":\"model\","
           "\"created\":1699999999,\"owned_by\":\"ctgi\",\"max_model_len\":512}]}");
    proto_adapter ad[2] = {{"sql", "/a/sql", "peft", "q,v", 8, 16}, {"chat", "c.gguf", "gguf", "q", 4, 8}};
    expect(oai_encode_models("base", 7, 512, ad, 2, &n), &n,
           "{\"object\":\"list\",\"data\":[{\"id\":\"base\",\"object\":\"model\",\"created\":7,"
           "\"owned_by\":\"ctgi\",\"max_model_len\":512},{\"id\":\"sql\",\"object\":\"model\",\"created\":7,"
           "\"owned_by\":\"ctgi\",\"max_model_len\":512,\"root\":\"/a/sql\",\"parent\":\"base\"},"
           "{\"id\":\"chat\",\"object\":\"model\",\"created\":7,\"owned_by\":\"ctgi\",\"max_model_len\":512,"
           "\"root\":\"c.gguf\",\"parent\":\"base\"}]}");
}

static void test_error_envelopes(void **st) {
    size_t n;
    oai_request r;
    proto_error e = {0};
    const char *b = "{\"messages\":[],\"temperature\":\"hot\"}";
    assert_false(oai_parse(OAI_CHAT, b, strlen(b), &r, &e));
    oai_request_free(&r);
    expect(oai_encode_error(&e, &n), &n,
           "{\"error\":{\"message\":\"Failed to deserialize the JSON body into the target type: "
           "temperature: invalid type: string \\\"hot\\\", expected f32\",\"type\":"
           "\"invalid_request_error\",\"param\":\"temperature\",\"code\":null}}");
    proto_err_overloaded(&e);
    expect(oai_encode_error(&e, &n), &n,
           "{\"error\":{\"message\":\"Model is overloaded\",\"type\":\"requests\",\"param\":null,"
           "\"code\":\"rate_limit_exceeded\"}}");
    proto_fail(&e, 401, "unauthorized", "Incorrect API key provided");
    expect(oai_encode_error(&e, &n), &n,
           "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":"
           "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}");
    proto_err_generation(&e, "boom");
    expect(oai_sse_error(&e, &n), &n,
           "data: {\"error\":{\"message\":\"Request failed during generation: boom\",\"type\":"
           "\"server_error\",\"param\":null,\"code\":null}}\n\n");
    assert_string_equal(OAI_SSE_DONE, "data: [DONE]\n\n");
}

/* A tool-call answer (structured-output.md §1.3): content null when the
 * answer is only calls, or the text before them; finish "tool_calls". */
static void test_chat_tool_calls(void **st) {
    tc_call calls[2] = {
        {"call_Qib2xfCV1qpazcvBOLg3wCNL", "print", "{\"message\": \"hello world\"}"},
        {"call_AAAAAAAAAAAAAAAAAAAAAAAA", "now", "{}"},
    };
    oai_choice c[2] = {
        {.index = 0, .text = {NULL, 0}, .finish = OAI_FINISH_TOOL_CALLS, .tool_calls = calls,
         .n_tool_calls = 2},
        {.index = 1, .text = PROTO_LIT("Let me check."), .finish = OAI_FINISH_TOOL_CALLS,
         .tool_calls = calls + 1, .n_tool_calls = 1},
    };
    oai_usage u = {9, 12};
    size_t n;
    expect(oai_encode_chat(&CHAT_META, c, 2, &u, &n), &n,
           CHAT_HEAD("chat.completion")
           "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
           "\"tool_calls\":[{\"id\":\"call_Qib2xfCV1qpazcvBOLg3wCNL\",\"type\":\"function\","
           "\"function\":{\"name\":\"print\",\"arguments\":\"{\\\"message\\\": \\\"hello world\\\"}\"}},"
           "{\"id\":\"call_AAAAAAAAAAAAAAAAAAAAAAAA\",\"type\":\"function\",\"function\":{\"name\":"
           "\"now\",\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"},"
           "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"Let me check.\","
           "\"tool_calls\":[{\"id\":\"call_AAAAAAAAAAAAAAAAAAAAAAAA\",\"type\":\"function\","
           "\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]},\"logprobs\":null,"
           "\"finish_reason\":\"tool_calls\"}],"
           "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}}");
}

/* The stream of §1.3, chunk by chunk: the role with the call's opening
 * fragment (content null), argument fragments, a second call, the finish. */
static void test_chat_tool_call_stream(void **st) {
    size_t n;
    oai_tool_delta open = {0, "call_Qib2xfCV1qpazcvBOLg3wCNL", "print", PROTO_LIT("")};
    oai_delta d = {.index = 0, .role = true, .tool = &open};
    expect(oai_encode_chat_chunk(&CHAT_META, &d, false, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
           "{\"index\":0,\"id\":\"call_Qib2xfCV1qpazcvBOLg3wCNL\",\"type\":\"function\",\"function\":"
           "{\"name\":\"print\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    oai_tool_delta args = {0, NULL, NULL, PROTO_LIT("{\"")};
    d = (oai_delta){.index = 0, .tool = &args};
    expect(oai_encode_chat_chunk(&CHAT_META, &d, false, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
           "{\"arguments\":\"{\\\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    /* a second call of choice 2, after the role was sent with content "" */
    oai_tool_delta open2 = {1, "call_BBBBBBBBBBBBBBBBBBBBBBBB", "now", PROTO_LIT("")};
    d = (oai_delta){.index = 2, .tool = &open2};
    expect(oai_encode_chat_chunk(&CHAT_META, &d, true, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":2,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":"
           "\"call_BBBBBBBBBBBBBBBBBBBBBBBB\",\"type\":\"function\",\"function\":{\"name\":\"now\","
           "\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
    /* role + content "" + a call in one delta */
    d = (oai_delta){.index = 0, .role = true, .has_content = true, .content = PROTO_LIT(""), .tool = &open2};
    expect(oai_encode_chat_chunk(&CHAT_META, &d, false, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
           "[{\"index\":1,\"id\":\"call_BBBBBBBBBBBBBBBBBBBBBBBB\",\"type\":\"function\",\"function\":"
           "{\"name\":\"now\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    d = (oai_delta){.index = 0, .finish = OAI_FINISH_TOOL_CALLS};
    expect(oai_encode_chat_chunk(&CHAT_META, &d, false, &n), &n,
           "data: " CHAT_HEAD("chat.completion.chunk")
           "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n");
}

static void test_sse_frame_and_finish_names(void **st) {
    size_t n;
    expect(oai_sse_frame("{\"a\":1}", 7, &n), &n, "data: {\"a\":1}\n\n");
    assert_int_equal(oai_finish_from_tgi(TGI_FINISH_LENGTH), OAI_FINISH_LENGTH);
    assert_int_equal(oai_finish_from_tgi(TGI_FINISH_EOS_TOKEN), OAI_FINISH_STOP);
    assert_int_equal(oai_finish_from_tgi(TGI_FINISH_STOP_SEQUENCE), OAI_FINISH_STOP);
    assert_string_equal(oai_finish_name(OAI_FINISH_STOP), "stop");
    assert_string_equal(oai_finish_name(OAI_FINISH_LENGTH), "length");
    assert_string_equal(oai_finish_name(OAI_FINISH_TOOL_CALLS), "tool_calls");
    assert_null(oai_finish_name(OAI_FINISH_NONE));
    assert_int_equal(oai_utf8_chars("a\xC3\xA9\xE6\x97\xA5", 6), 3);
    assert_int_equal(oai_utf8_chars("\xA9", 1), 0); /* the tail of a split character */
}

static bool base62(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void test_ids(void **st) {
    char a[OAI_ID_MAX], b[OAI_ID_MAX], c[OAI_ID_MAX];
    oai_make_id(a, "chatcmpl-", 1, 2);
    oai_make_id(b, "chatcmpl-", 1, 2);
    oai_make_id(c, "chatcmpl-", 1, 3);
    assert_int_equal(strlen(a), 9 + OAI_ID_CHARS);
    assert_true(strncmp(a, "chatcmpl-", 9) == 0);
    for (size_t i = 9; a[i]; i++) assert_true(base62(a[i]));
    assert_string_equal(a, b);     /* a function of its random input */
    assert_string_not_equal(a, c); /* every input bit matters */
    oai_make_id(c, "cmpl-", 0, 0);
    assert_int_equal(strlen(c), 5 + OAI_ID_CHARS);
    /* 1000 draws: no collisions, every character class appears */
    static char ids[1000][OAI_ID_MAX];
    bool digit = false, lower = false, upper = false;
    for (int i = 0; i < 1000; i++) {
        oai_make_id(ids[i], "", (uint64_t)i * 7919u, (uint64_t)i);
        for (const char *p = ids[i]; *p; p++) {
            digit |= *p >= '0' && *p <= '9';
            lower |= *p >= 'a' && *p <= 'z';
            upper |= *p >= 'A' && *p <= 'Z';
        }
        for (int j = 0; j < i; j++) assert_string_not_equal(ids[i], ids[j]);
    }
    assert_true(digit && lower && upper);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_completion),
        cmocka_unit_test(test_chat_logprobs_bytes_and_repair),
        cmocka_unit_test(test_chat_stream_sequence),
        cmocka_unit_test(test_chat_chunk_logprobs),
        cmocka_unit_test(test_completion),
        cmocka_unit_test(test_completion_logprobs),
        cmocka_unit_test(test_completion_stream),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_error_envelopes),
        cmocka_unit_test(test_chat_tool_calls),
        cmocka_unit_test(test_chat_tool_call_stream),
        cmocka_unit_test(test_sse_frame_and_finish_names),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
