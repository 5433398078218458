/*
 * tgi_test.c — proto/tgi parsing: GenerateRequest bodies with every field,
 * nulls, unknown fields, NULs, u64 seeds beyond INT64_MAX, type errors in
 * serde's wording and document order, malformed JSON (400), and random
 * mutations that must never crash or leak.  The validation rules are in
 * tgi_validate_test.c, the encoders in tgi_encode_test.c.
 */
#include "tgi_util.h"

/* ---- parsing ----------------------------------------------------------- */

static void test_parse_minimal(void **st) {
    tgi_request r = parse_ok("{\"inputs\":\"Hello\"}", TGI_ROUTE_GENERATE);
    assert_string_equal(r.inputs, "Hello");
    assert_int_equal(r.inputs_len, 5);
    assert_false(r.parameters_given);
    assert_true(r.p.do_sample); /* TGI's default_parameters() samples */
    assert_false(r.p.details);
    assert_true(r.add_special_tokens);
    assert_false(r.stream);
    assert_false(r.p.has_max_new_tokens);
    assert_int_equal(r.p.n_stop, 0);
    tgi_request_free(&r);
}

static void test_parse_parameters_present(void **st) {
    /* with `parameters` present, missing booleans are false */
    tgi_request r = parse_ok("{\"inputs\":\"x\",\"parameters\":{}}", TGI_ROUTE_GENERATE);
    assert_true(r.parameters_given);
    assert_false(r.p.do_sample);
    assert_false(r.p.has_temperature);
    tgi_request_free(&r);
}

static void test_parse_every_field(void **st) {
    const char *body =
        "{\"inputs\":\"My name is\",\"add_special_tokens\":false,\"parameters\":{"
        "\"best_of\":2,\"temperature\":0.5,\"repetition_penalty\":1.03,"
        "\"frequency_penalty\":-0.1,\"top_k\":10,\"top_p\":0.95,\"typical_p\":0.9,"
        "\"do_sample\":true,\"max_new_tokens\":20,\"return_full_text\":true,"
        "\"stop\":[\"\\n\",\"photographer\"],\"truncate\":50,\"watermark\":false,"
        "\"details\":true,\"decoder_input_details\":true,\"seed\":42,\"top_n_tokens\":5,"
        "\"grammar\":null,\"adapter_id\":null},\"stream\":true}";
    tgi_request r = parse_ok(body, TGI_ROUTE_COMPAT);
    const tgi_parameters *p = &r.p;
    assert_false(r.add_special_tokens);
    assert_true(r.stream);
    assert_true(p->has_best_of && p->best_of == 2);
    assert_true(p->has_temperature && p->temperature == 0.5f);
    assert_true(p->has_repetition_penalty && p->repetition_penalty == 1.03f);
    assert_true(p->has_frequency_penalty && p->frequency_penalty == -0.1f);
    assert_true(p->has_top_k && p->top_k == 10);
    assert_true(p->has_top_p && p->top_p == 0.95f);
    assert_true(p->has_typical_p && p->typical_p == 0.9f);
    assert_true(p->do_sample);
    assert_true(p->has_max_new_tokens && p->max_new_tokens == 20);
    assert_true(p->has_return_full_text && p->return_full_text);
    assert_int_equal(p->n_stop, 2);
    assert_string_equal(p->stop[0], "\n");
    assert_string_equal(p->stop[1], "photographer");
    assert_int_equal(p->stop_len[1], 12);
    assert_true(p->has_truncate && p->truncate == 50);
    assert_false(p->watermark);
    assert_true(p->details && p->decoder_input_details);
    assert_true(p->has_seed && p->seed == 42);
    assert_true(p->has_top_n_tokens && p->top_n_tokens == 5);
    assert_false(p->has_grammar);
    assert_false(p->has_adapter_id);
    tgi_request_free(&r);
}

static void test_parse_nulls_are_unset(void **st) {
    const char *body =
        "{\"inputs\":\"x\",\"parameters\":{\"best_of\":null,\"temperature\":null,"
        "\"repetition_penalty\":null,\"frequency_penalty\":null,\"top_k\":null,\"top_p\":null,"
        "\"typical_p\":null,\"max_new_tokens\":null,\"return_full_text\":null,\"truncate\":null,"
        "\"seed\":null,\"top_n_tokens\":null,\"grammar\":null,\"adapter_id\":null}}";
    tgi_request r = parse_ok(body, TGI_ROUTE_GENERATE);
    const tgi_parameters *p = &r.p;
    assert_false(p->has_best_of || p->has_temperature || p->has_repetition_penalty ||
                 p->has_frequency_penalty || p->has_top_k || p->has_top_p || p->has_typical_p ||
                 p->has_max_new_tokens || p->has_return_full_text || p->has_truncate ||
                 p->has_seed || p->has_top_n_tokens || p->has_grammar || p->has_adapter_id);
    tgi_request_free(&r);
}

static void test_parse_stream_only_on_compat(void **st) {
    tgi_request r = parse_ok("{\"inputs\":\"x\",\"stream\":true}", TGI_ROUTE_GENERATE);
    assert_false(r.stream); /* an unknown field on /generate, ignored */
    assert_false(tgi_streaming(&r, TGI_ROUTE_GENERATE));
    assert_true(tgi_streaming(&r, TGI_ROUTE_GENERATE_STREAM));
    tgi_request_free(&r);
    r = parse_ok("{\"inputs\":\"x\",\"stream\":true}", TGI_ROUTE_COMPAT);
    assert_true(tgi_streaming(&r, TGI_ROUTE_COMPAT));
    tgi_request_free(&r);
    r = parse_ok("{\"inputs\":\"x\"}", TGI_ROUTE_COMPAT);
    assert_false(tgi_streaming(&r, TGI_ROUTE_COMPAT));
    tgi_request_free(&r);
}

static void test_parse_unknown_fields_ignored(void **st) {
    tgi_request r = parse_ok("{\"model\":\"m\",\"inputs\":\"x\",\"parameters\":{\"foo\":[1,{}],"
                             "\"max_new_tokens\":3}}",
                             TGI_ROUTE_GENERATE);
    assert_int_equal(r.p.max_new_tokens, 3);
    tgi_request_free(&r);
}

static void test_parse_inputs_with_nul_and_unicode(void **st) {
    tgi_request r = parse_ok("{\"inputs\":\"a\\u0000b \\u00e9\xf0\x9f\x98\x80\"}",
                             TGI_ROUTE_GENERATE);
    assert_int_equal(r.inputs_len, 3 + 1 + 2 + 4);
    assert_memory_equal(r.inputs, "a\0b \xc3\xa9\xf0\x9f\x98\x80", r.inputs_len);
    tgi_request_free(&r);
}

static void test_parse_u64_seed(void **st) {
    /* TGI hands out random u64 seeds; clients replay them */
    tgi_request r = parse_ok("{\"inputs\":\"x\",\"parameters\":{\"seed\":18446744073709551615}}",
                             TGI_ROUTE_GENERATE);
    assert_true(r.p.has_seed);
    assert_true(r.p.seed == UINT64_MAX);
    tgi_request_free(&r);
    r = parse_ok("{\"inputs\":\"x\",\"parameters\":{\"seed\":9223372036854775808,"
                 "\"temperature\":0.5}}",
                 TGI_ROUTE_GENERATE);
    assert_true(r.p.seed == 9223372036854775808ull);
    assert_true(r.p.temperature == 0.5f);
    tgi_request_free(&r);
    type_error("{\"inputs\":\"x\",\"parameters\":{\"seed\":18446744073709551616}}",
               "parameters.seed: invalid value: integer `18446744073709551616`, expected u64");
    type_error("{\"inputs\":\"x\",\"parameters\":{\"seed\":-1}}",
               "parameters.seed: invalid value: integer `-1`, expected u64");
    type_error("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":99999999999999999999}}",
               "parameters.max_new_tokens: invalid value: integer `99999999999999999999`, "
               "expected u32");
    /* a huge integer inside a string is left alone */
    r = parse_ok("{\"inputs\":\"18446744073709551616\\\" 99999999999999999999\"}",
                 TGI_ROUTE_GENERATE);
    assert_string_equal(r.inputs, "18446744073709551616\" 99999999999999999999");
    tgi_request_free(&r);
}

static void test_type_errors(void **st) {
    static const char *const cases[][2] = {
        {"{\"inputs\":5}", "inputs: invalid type: integer `5`, expected a string"},
        {"{\"inputs\":null}", "inputs: invalid type: null, expected a string"},
        {"{\"parameters\":{}}", "missing field `inputs`"},
        {"[]", "invalid type: sequence, expected struct GenerateRequest"},
        {"{\"inputs\":\"x\",\"parameters\":null}",
         "parameters: invalid type: null, expected struct GenerateParameters"},
        {"{\"inputs\":\"x\",\"parameters\":[]}",
         "parameters: invalid type: sequence, expected struct GenerateParameters"},
        {"{\"inputs\":\"x\",\"parameters\":{\"temperature\":\"hot\"}}",
         "parameters.temperature: invalid type: string \"hot\", expected f32"},
        {"{\"inputs\":\"x\",\"parameters\":{\"temperature\":1e39}}",
         "parameters.temperature: invalid value: floating point `1e39`, expected f32"},
        {"{\"inputs\":\"x\",\"parameters\":{\"top_k\":1.5}}",
         "parameters.top_k: invalid type: floating point `1.5`, expected i32"},
        {"{\"inputs\":\"x\",\"parameters\":{\"top_k\":3000000000}}",
         "parameters.top_k: invalid value: integer `3000000000`, expected i32"},
        {"{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":-1}}",
         "parameters.max_new_tokens: invalid value: integer `-1`, expected u32"},
        {"{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":4294967296}}",
         "parameters.max_new_tokens: invalid value: integer `4294967296`, expected u32"},
        {"{\"inputs\":\"x\",\"parameters\":{\"best_of\":true}}",
         "parameters.best_of: invalid type: boolean `true`, expected usize"},
        {"{\"inputs\":\"x\",\"parameters\":{\"truncate\":-3}}",
         "parameters.truncate: invalid value: integer `-3`, expected usize"},
        {"{\"inputs\":\"x\",\"parameters\":{\"seed\":1.0}}",
         "parameters.seed: invalid type: floating point `1.0`, expected u64"},
        {"{\"inputs\":\"x\",\"parameters\":{\"top_n_tokens\":\"5\"}}",
         "parameters.top_n_tokens: invalid type: string \"5\", expected u32"},
        {"{\"inputs\":\"x\",\"parameters\":{\"do_sample\":null}}",
         "parameters.do_sample: invalid type: null, expected a boolean"},
        {"{\"inputs\":\"x\",\"parameters\":{\"details\":\"yes\"}}",
         "parameters.details: invalid type: string \"yes\", expected a boolean"},
        {"{\"inputs\":\"x\",\"parameters\":{\"watermark\":0}}",
         "parameters.watermark: invalid type: integer `0`, expected a boolean"},
        {"{\"inputs\":\"x\",\"parameters\":{\"decoder_input_details\":[]}}",
         "parameters.decoder_input_details: invalid type: sequence, expected a boolean"},
        {"{\"inputs\":\"x\",\"parameters\":{\"return_full_text\":1}}",
         "parameters.return_full_text: invalid type: integer `1`, expected a boolean"},
        {"{\"inputs\":\"x\",\"parameters\":{\"stop\":\"x\"}}",
         "parameters.stop: invalid type: string \"x\", expected a sequence"},
        {"{\"inputs\":\"x\",\"parameters\":{\"stop\":null}}",
         "parameters.stop: invalid type: null, expected a sequence"},
        {"{\"inputs\":\"x\",\"parameters\":{\"stop\":[1]}}",
         "parameters.stop[0]: invalid type: integer `1`, expected a string"},
        {"{\"inputs\":\"x\",\"parameters\":{\"stop\":[\"a\",{}]}}",
         "parameters.stop[1]: invalid type: map, expected a string"},
        {"{\"inputs\":\"x\",\"parameters\":{\"adapter_id\":5}}",
         "parameters.adapter_id: invalid type: integer `5`, expected a string"},
        {"{\"inputs\":\"x\",\"add_special_tokens\":null}",
         "add_special_tokens: invalid type: null, expected a boolean"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) type_error(cases[i][0], cases[i][1]);
    /* strings in messages are shown as Rust's {:?} shows them */
    type_error("{\"inputs\":\"x\",\"parameters\":{\"temperature\":\"a\\\"b\\n\\u0001\"}}",
               "parameters.temperature: invalid type: string \"a\\\"b\\n\\u{1}\", expected f32");
}

static void test_type_error_compat_names(void **st) {
    parse_fails("\"x\"", TGI_ROUTE_COMPAT, 422, "validation",
                DESER "invalid type: string \"x\", expected struct CompatGenerateRequest");
    parse_fails("{\"inputs\":\"x\",\"stream\":\"yes\"}", TGI_ROUTE_COMPAT, 422, "validation",
                DESER "stream: invalid type: string \"yes\", expected a boolean");
}

static void test_type_error_document_order(void **st) {
    /* serde stops at the first bad field in the order the body lists them */
    type_error("{\"inputs\":5,\"parameters\":{\"temperature\":\"x\"}}",
               "inputs: invalid type: integer `5`, expected a string");
    type_error("{\"parameters\":{\"temperature\":\"x\"},\"inputs\":5}",
               "parameters.temperature: invalid type: string \"x\", expected f32");
    type_error("{\"inputs\":\"x\",\"parameters\":{\"top_k\":\"a\",\"temperature\":\"b\"}}",
               "parameters.top_k: invalid type: string \"a\", expected i32");
}

static void test_malformed_json(void **st) {
    const char *const P = "Failed to parse the request body as JSON: ";
    static const char *const cases[][2] = {
        {"{", "string or '}' expected near end of file at line 1 column 1"},
        {"", "unexpected token near end of file at line 1 column 0"},
        {"{\"inputs\": }", "unexpected token near '}' at line 1 column 12"},
        {"{\"inputs\":\"a\"} x", "end of file expected near 'x' at line 1 column 16"},
        {"{\"inputs\":\"\xff\"}", "unable to decode byte 0xff near '\"' at line 1 column 11"},
        {"{\"inputs\":\"a\",\"inputs\":\"b\"}",
         "duplicate object key near '\"inputs\"' at line 1 column 22"},
        {"{\"inputs\":\"a\",\"parameters\":{\"seed\":01}}", "invalid token near '0' at line 1 column 36"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char full[PROTO_ERRLEN];
        snprintf(full, sizeof full, "%s%s", P, cases[i][1]);
        parse_fails(cases[i][0], TGI_ROUTE_GENERATE, 400, "invalid_json", full);
    }
}

static void test_mutated_bodies(void **st) {
    static const char body[] =
        "{\"inputs\":\"My name is\",\"parameters\":{\"best_of\":2,\"temperature\":0.5,"
        "\"top_k\":10,\"do_sample\":true,\"max_new_tokens\":20,\"stop\":[\"a\",\"b\"],"
        "\"seed\":18446744073709551615,\"grammar\":{\"type\":\"regex\",\"value\":\"x\"},"
        "\"adapter_id\":\"z\"},\"stream\":true}";
    static const char alphabet[] = "{}[]\":,.-+0123456789eE \\tnulrsfa\x00\xff";
    proto_limits l = limits();
    uint32_t s = 12345;
    int parsed = 0;
    for (int it = 0; it < 3000; it++) {
        char buf[sizeof body];
        memcpy(buf, body, sizeof body);
        int n_mut = 1 + it % 3;
        for (int m = 0; m < n_mut; m++) {
            s = s * 1664525u + 1013904223u;
            size_t at = (s >> 8) % (sizeof body - 1);
            buf[at] = alphabet[(s >> 20) % (sizeof alphabet - 1)];
        }
        size_t len = (it % 7 == 0) ? (s >> 4) % sizeof body : sizeof body - 1;
        tgi_request r;
        proto_error e = {0};
        if (tgi_parse(buf, len, TGI_ROUTE_COMPAT, &r, &e)) {
            parsed++;
            tgi_lengths out;
            if (tgi_validate(&r, TGI_ROUTE_COMPAT, &l, &e))
                (void)tgi_validate_lengths(&r, 10, &l, &out, &e);
        } else {
            assert_true(e.status == 400 || e.status == 422);
            assert_true(strlen(e.message) > 0);
        }
        tgi_request_free(&r);
    }
    assert_true(parsed > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_minimal),
        cmocka_unit_test(test_parse_parameters_present),
        cmocka_unit_test(test_parse_every_field),
        cmocka_unit_test(test_parse_nulls_are_unset),
        cmocka_unit_test(test_parse_stream_only_on_compat),
        cmocka_unit_test(test_parse_unknown_fields_ignored),
        cmocka_unit_test(test_parse_inputs_with_nul_and_unicode),
        cmocka_unit_test(test_parse_u64_seed),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_type_error_compat_names),
        cmocka_unit_test(test_type_error_document_order),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_mutated_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
