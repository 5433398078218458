/*
 * tgi_validate_test.c — proto/tgi validation: one test per TGI rule (and
 * per ctgi addition) with its exact status and message, the rule order,
 * the token-count rules (truncation, totals, TGI's 1024-token chunk), the
 * mapping onto sampler_params, return_full_text defaults and the launcher
 * limit checks.
 */
#include "tgi_util.h"

/* ---- validation: one test per rule ------------------------------------------ */

static void test_rule_best_of_streaming(void **st) {
    proto_limits l = limits();
    const char *b = "{\"inputs\":\"x\",\"parameters\":{\"best_of\":2,\"do_sample\":true}}";
    invalid_on(b, TGI_ROUTE_GENERATE_STREAM, &l,
               "`best_of` != 1 is not supported when streaming tokens");
    invalid_on("{\"inputs\":\"x\",\"stream\":true,\"parameters\":{\"best_of\":2}}",
               TGI_ROUTE_COMPAT, &l, "`best_of` != 1 is not supported when streaming tokens");
    valid_on("{\"inputs\":\"x\",\"parameters\":{\"best_of\":1}}", TGI_ROUTE_GENERATE_STREAM);
}

static void test_rule_decoder_input_details_streaming(void **st) {
    proto_limits l = limits();
    invalid_on("{\"inputs\":\"x\",\"parameters\":{\"decoder_input_details\":true}}",
               TGI_ROUTE_GENERATE_STREAM, &l,
               "`decoder_input_details` == true is not supported when streaming tokens");
    valid("{\"inputs\":\"x\",\"parameters\":{\"decoder_input_details\":true}}");
}

static void test_rule_best_of_disabled(void **st) {
    proto_limits l = limits();
    l.max_best_of = 1;
    invalid_on("{\"inputs\":\"x\",\"parameters\":{\"best_of\":2,\"do_sample\":true}}",
               TGI_ROUTE_GENERATE, &l, "`best_of` != 1 is not allowed for this endpoint");
}

static void test_rule_best_of_max(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":3,\"do_sample\":true}}",
            "`best_of` must be > 0 and <= 2. Given: 3");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":0}}",
            "`best_of` must be > 0 and <= 2. Given: 0");
    valid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":2,\"do_sample\":true}}");
}

static void test_rule_best_of_needs_sampling(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":2}}",
            "you must use sampling when `best_of` is > 1");
    valid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":2,\"top_k\":5}}");
    valid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":2,\"temperature\":1.0}}");
    valid("{\"inputs\":\"x\",\"best_of\":2}"); /* top-level: ignored, default params sample */
}

static void test_rule_temperature(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"temperature\":0}}",
            "`temperature` must be strictly positive");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"temperature\":-1.5}}",
            "`temperature` must be strictly positive");
    valid("{\"inputs\":\"x\",\"parameters\":{\"temperature\":0.01}}");
}

static void test_rule_repetition_penalty(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"repetition_penalty\":0.0}}",
            "`repetition_penalty` must be strictly positive");
    valid("{\"inputs\":\"x\",\"parameters\":{\"repetition_penalty\":1.2}}");
}

static void test_rule_frequency_penalty(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"frequency_penalty\":2.5}}",
            "`frequency_penalty` must be >= -2.0 and <= 2.0");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"frequency_penalty\":-2.01}}",
            "`frequency_penalty` must be >= -2.0 and <= 2.0");
    valid("{\"inputs\":\"x\",\"parameters\":{\"frequency_penalty\":-2}}");
    valid("{\"inputs\":\"x\",\"parameters\":{\"frequency_penalty\":2.0}}");
}

static void test_rule_top_p(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"top_p\":0}}", "`top_p` must be > 0.0 and <= 1.0");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"top_p\":1.5}}",
            "`top_p` must be > 0.0 and <= 1.0");
    valid("{\"inputs\":\"x\",\"parameters\":{\"top_p\":1.0}}"); /* TGI rejects; see README */
    valid("{\"inputs\":\"x\",\"parameters\":{\"top_p\":0.5}}");
}

static void test_rule_typical_p(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"typical_p\":-0.1}}",
            "`typical_p` must be > 0.0 and <= 1.0");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"typical_p\":1.01}}",
            "`typical_p` must be > 0.0 and <= 1.0");
    valid("{\"inputs\":\"x\",\"parameters\":{\"typical_p\":1}}");
}

static void test_rule_top_k(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"top_k\":0}}", "`top_k` must be strictly positive");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"top_k\":-1}}", "`top_k` must be strictly positive");
    valid("{\"inputs\":\"x\",\"parameters\":{\"top_k\":1}}");
}

static void test_rule_max_new_tokens(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":0}}",
            "`max_new_tokens` must be strictly positive");
    valid("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":1}}");
}

static void test_rule_stop_count(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}}",
            "`stop` supports up to 4 stop sequences. Given: 5");
    valid("{\"inputs\":\"x\",\"parameters\":{\"stop\":[\"a\",\"b\",\"c\",\"d\"]}}");
}

static void test_rule_seed_with_best_of(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":2,\"do_sample\":true,\"seed\":1}}",
            "`seed` must not be set when `best_of` > 1");
    valid("{\"inputs\":\"x\",\"parameters\":{\"best_of\":1,\"seed\":1}}");
}

static void test_rule_top_n_tokens(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"top_n_tokens\":6}}",
            "`top_n_tokens` must be >= 0 and <= 5. Given: 6");
    valid("{\"inputs\":\"x\",\"parameters\":{\"top_n_tokens\":5}}");
    valid("{\"inputs\":\"x\",\"parameters\":{\"top_n_tokens\":0}}");
}

static void test_rule_empty_inputs(void **st) {
    invalid("{\"inputs\":\"\"}", "`inputs` cannot be empty");
}

static void test_rule_truncate(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"truncate\":0}}",
            "`truncate` must be strictly positive and less than 100. Given: 0");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"truncate\":101}}",
            "`truncate` must be strictly positive and less than 100. Given: 101");
    valid("{\"inputs\":\"x\",\"parameters\":{\"truncate\":100}}");
}

static void test_rule_stop_strings(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"stop\":[\"a\",\"\"]}}",
            "`stop` sequences must not be empty. Given: an empty string at index 1");
    invalid("{\"inputs\":\"x\",\"parameters\":{\"stop\":[\"a\\u0000b\"]}}",
            "`stop` sequences must not contain NUL characters. Given: one at index 0");
}

static void test_rule_watermark(void **st) {
    invalid("{\"inputs\":\"x\",\"parameters\":{\"watermark\":true}}",
            "`watermark` == true is not supported");
    valid("{\"inputs\":\"x\",\"parameters\":{\"watermark\":false}}");
}

/* adapter_id passes validation and is kept: the server resolves it against
 * its adapters (server/gen.c; serve_lora_test). */
static void test_rule_adapter_id(void **st) {
    const char *body = "{\"inputs\":\"x\",\"parameters\":{\"adapter_id\":\"my-lora\"}}";
    valid(body);
    tgi_request r = parse_ok(body, TGI_ROUTE_GENERATE);
    assert_true(r.p.has_adapter_id);
    assert_string_equal(r.p.adapter_id, "my-lora");
    tgi_request_free(&r);
}

/* grammar: tgi_validate lets it through; tgi_grammar_regex reads it. */
static void grammar_gives(const char *grammar, const char *regex, const char *msg) {
    char body[512];
    snprintf(body, sizeof body, "{\"inputs\":\"x\",\"parameters\":{\"grammar\":%s}}", grammar);
    valid(body);
    tgi_request r = parse_ok(body, TGI_ROUTE_GENERATE);
    proto_error e = {0};
    char *re = NULL;
    bool ok = tgi_grammar_regex(&r, &re, &e);
    if (!msg) {
        if (!ok) fail_msg("%s refused: %s", grammar, e.message);
        if (regex) assert_string_equal(re, regex);
        else assert_null(re);
    } else {
        assert_false(ok);
        assert_int_equal(e.status, 422);
        if (!strstr(e.message, msg)) fail_msg("%s: \"%s\" lacks \"%s\"", grammar, e.message, msg);
    }
    free(re);
    tgi_request_free(&r);
}

static void test_rule_grammar(void **st) {
    grammar_gives("null", NULL, NULL); /* no constraint */
    grammar_gives("{\"type\":\"regex\",\"value\":\"a+\"}", "a+", NULL);
    grammar_gives("{\"type\":\"json\",\"value\":{\"const\":1}}", "(?:1)", NULL);
    grammar_gives("{\"type\":\"json\",\"value\":\"{\\\"const\\\":1}\"}", "(?:1)", NULL); /* a schema string */
    grammar_gives("{\"type\":\"json_schema\",\"value\":{\"name\":\"n\",\"schema\":{\"const\":1}}}", "(?:1)", NULL);
    grammar_gives("{\"type\":\"regex\",\"value\":\"a(\"}", NULL, "grammar is not valid: regex");
    grammar_gives("{\"type\":\"regex\",\"value\":7}", NULL, "must be a string");
    grammar_gives("{\"type\":\"json\",\"value\":{\"not\":{}}}", NULL, "`not`");
    grammar_gives("{\"type\":\"json\",\"value\":\"{oops\"}", NULL, "cannot compile regex from schema");
    grammar_gives("{\"type\":\"yaml\",\"value\":\"a\"}", NULL, "unknown variant `yaml`");
    grammar_gives("{\"value\":\"a\"}", NULL, "grammar must be an object");
}

static void test_rule_order(void **st) {
    /* several faults: the first in TGI's order is reported */
    invalid("{\"inputs\":\"\",\"parameters\":{\"top_k\":0,\"temperature\":0}}",
            "`temperature` must be strictly positive");
    invalid("{\"inputs\":\"\",\"parameters\":{\"top_k\":0,\"top_p\":2}}",
            "`top_p` must be > 0.0 and <= 1.0");
    invalid("{\"inputs\":\"\",\"parameters\":{\"top_n_tokens\":9,\"max_new_tokens\":0}}",
            "`max_new_tokens` must be strictly positive");
    invalid("{\"inputs\":\"\",\"parameters\":{\"watermark\":true,\"truncate\":0}}",
            "`inputs` cannot be empty");
    proto_limits l = limits();
    invalid_on("{\"inputs\":\"x\",\"parameters\":{\"best_of\":5,\"decoder_input_details\":true}}",
               TGI_ROUTE_GENERATE_STREAM, &l,
               "`best_of` != 1 is not supported when streaming tokens");
}

/* ---- token counts -------------------------------------------------------------- */

static void lengths(const char *body, uint32_t n_prompt, uint32_t input, uint32_t drop,
                    uint32_t max_new) {
    proto_limits l = limits();
    tgi_request r = parse_ok(body, TGI_ROUTE_GENERATE);
    tgi_lengths out;
    proto_error e = {0};
    if (!tgi_validate_lengths(&r, n_prompt, &l, &out, &e)) fail_msg("%s", e.message);
    assert_int_equal(out.input_length, input);
    assert_int_equal(out.truncate_drop, drop);
    assert_int_equal(out.max_new_tokens, max_new);
    tgi_request_free(&r);
}

static void lengths_fail(const char *body, uint32_t n_prompt, const char *msg) {
    proto_limits l = limits();
    tgi_request r = parse_ok(body, TGI_ROUTE_GENERATE);
    tgi_lengths out;
    proto_error e = {0};
    assert_false(tgi_validate_lengths(&r, n_prompt, &l, &out, &e));
    assert_int_equal(e.status, 422);
    char full[PROTO_ERRLEN];
    snprintf(full, sizeof full, INVALID "%s", msg);
    assert_string_equal(e.message, full);
    tgi_request_free(&r);
}

static void test_rule_max_total_tokens(void **st) {
    lengths_fail("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":150}}", 60,
                 "`inputs` tokens + `max_new_tokens` must be <= 200. Given: 60 `inputs` tokens "
                 "and 150 `max_new_tokens`");
    lengths("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":140}}", 60, 60, 0, 140);
    /* a prompt longer than the total leaves no room at all */
    lengths_fail("{\"inputs\":\"x\"}", 250,
                 "`inputs` tokens + `max_new_tokens` must be <= 200. Given: 250 `inputs` tokens "
                 "and 0 `max_new_tokens`");
}

static void test_rule_input_length(void **st) {
    lengths_fail("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":10}}", 101,
                 "`inputs` must have less than 100 tokens. Given: 101");
    lengths("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":10}}", 100, 100, 0, 10);
}

static void test_lengths_truncate_keeps_last(void **st) {
    lengths("{\"inputs\":\"x\",\"parameters\":{\"truncate\":30,\"max_new_tokens\":5}}", 150, 30,
            120, 5);
    lengths("{\"inputs\":\"x\",\"parameters\":{\"truncate\":30}}", 20, 20, 0, 180);
}

static void test_lengths_default_budget(void **st) {
    /* max_new_tokens unset: whatever the total leaves */
    lengths("{\"inputs\":\"x\"}", 50, 50, 0, 150);
}

static void test_lengths_chunk_rule(void **st) {
    /* TGI checks min(max_new_tokens, 1024) and stops at the total */
    proto_limits l = limits();
    l.max_input_tokens = 1000;
    l.max_total_tokens = 4096;
    tgi_request r = parse_ok("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":100000}}",
                             TGI_ROUTE_GENERATE);
    tgi_lengths out;
    proto_error e = {0};
    assert_true(tgi_validate_lengths(&r, 1000, &l, &out, &e));
    assert_int_equal(out.max_new_tokens, 3096);
    l.max_input_tokens = 4000;
    assert_false(tgi_validate_lengths(&r, 3500, &l, &out, &e));
    assert_string_equal(e.message, INVALID "`inputs` tokens + `max_new_tokens` must be <= 4096. "
                                           "Given: 3500 `inputs` tokens and 1024 "
                                           "`max_new_tokens`");
    tgi_request_free(&r);
}

/* ---- mapping onto the engine -------------------------------------------------- */

static sampler_params params_of(const char *body, uint64_t seed_if_unset) {
    tgi_request r = parse_ok(body, TGI_ROUTE_GENERATE);
    sampler_params s = tgi_sampler_params(&r, seed_if_unset);
    char err[512];
    if (!sampler_params_validate(&s, 1000, err)) fail_msg("%s: %s", body, err);
    tgi_request_free(&r);
    return s;
}

static void test_sampler_mapping(void **st) {
    sampler_params s = params_of("{\"inputs\":\"x\",\"parameters\":{}}", 7);
    assert_false(s.do_sample); /* parameters present: greedy */
    assert_true(s.seed == 7);
    s = params_of("{\"inputs\":\"x\"}", 7);
    assert_true(s.do_sample); /* parameters absent: sampling at temperature 1 */
    assert_true(s.temperature == 1.0f);
    s = params_of("{\"inputs\":\"x\",\"parameters\":{\"temperature\":0.7}}", 0);
    assert_true(s.do_sample); /* a warper implies sampling */
    assert_true(s.temperature == 0.7f);
    s = params_of("{\"inputs\":\"x\",\"parameters\":{\"temperature\":1.0,\"top_p\":1.0}}", 0);
    assert_false(s.do_sample); /* neutral warpers do not */
    s = params_of("{\"inputs\":\"x\",\"parameters\":{\"do_sample\":true,\"top_k\":40,"
                  "\"top_p\":0.9,\"typical_p\":0.8,\"repetition_penalty\":1.3,"
                  "\"frequency_penalty\":0.5,\"seed\":18446744073709551615,"
                  "\"top_n_tokens\":3}}",
                  5);
    assert_true(s.do_sample);
    assert_int_equal(s.top_k, 40);
    assert_true(s.top_p == 0.9f && s.typical_p == 0.8f);
    assert_true(s.repetition_penalty == 1.3f && s.frequency_penalty == 0.5f);
    assert_true(s.presence_penalty == 0.0f && s.min_p == 0.0f && s.n_logit_bias == 0);
    assert_true(s.seed == UINT64_MAX);
    assert_int_equal(s.top_n, 3);
}

static void test_return_full_text_defaults(void **st) {
    tgi_request r = parse_ok("{\"inputs\":\"x\"}", TGI_ROUTE_COMPAT);
    assert_false(tgi_return_full_text(&r, TGI_ROUTE_GENERATE));
    assert_false(tgi_return_full_text(&r, TGI_ROUTE_GENERATE_STREAM));
    assert_true(tgi_return_full_text(&r, TGI_ROUTE_COMPAT));
    tgi_request_free(&r);
    r = parse_ok("{\"inputs\":\"x\",\"parameters\":{\"return_full_text\":false}}", TGI_ROUTE_COMPAT);
    assert_false(tgi_return_full_text(&r, TGI_ROUTE_COMPAT));
    tgi_request_free(&r);
    r = parse_ok("{\"inputs\":\"x\",\"parameters\":{\"return_full_text\":true}}", TGI_ROUTE_COMPAT);
    assert_true(tgi_return_full_text(&r, TGI_ROUTE_GENERATE));
    tgi_request_free(&r);
}

static void test_limits_check(void **st) {
    char err[PROTO_ERRLEN];
    proto_limits l = proto_limits_default();
    assert_true(proto_limits_check(&l, err));
    l.max_input_tokens = l.max_total_tokens;
    assert_false(proto_limits_check(&l, err));
    assert_string_equal(err, "`--max-input-tokens` must be < `--max-total-tokens`. Given: 1024 "
                             "and 1024");
    l = proto_limits_default();
    l.max_top_n_tokens = SAMPLER_MAX_TOP_N + 1;
    assert_false(proto_limits_check(&l, err));
    l = proto_limits_default();
    l.max_best_of = 0;
    assert_false(proto_limits_check(&l, err));
    assert_string_equal(err, "`--max-best-of` must be at least 1");
}

/* Random byte mutations of a full body: parsing, validation and freeing
 * must never crash or leak (run under ASan by make test-asan). */

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_best_of_streaming),
        cmocka_unit_test(test_rule_decoder_input_details_streaming),
        cmocka_unit_test(test_rule_best_of_disabled),
        cmocka_unit_test(test_rule_best_of_max),
        cmocka_unit_test(test_rule_best_of_needs_sampling),
        cmocka_unit_test(test_rule_temperature),
        cmocka_unit_test(test_rule_repetition_penalty),
        cmocka_unit_test(test_rule_frequency_penalty),
        cmocka_unit_test(test_rule_top_p),
        cmocka_unit_test(test_rule_typical_p),
        cmocka_unit_test(test_rule_top_k),
        cmocka_unit_test(test_rule_max_new_tokens),
        cmocka_unit_test(test_rule_stop_count),
        cmocka_unit_test(test_rule_seed_with_best_of),
        cmocka_unit_test(test_rule_top_n_tokens),
        cmocka_unit_test(test_rule_empty_inputs),
        cmocka_unit_test(test_rule_truncate),
        cmocka_unit_test(test_rule_stop_strings),
        cmocka_unit_test(test_rule_watermark),
        cmocka_unit_test(test_rule_adapter_id),
        cmocka_unit_test(test_rule_grammar),
        cmocka_unit_test(test_rule_order),
        cmocka_unit_test(test_rule_max_total_tokens),
        cmocka_unit_test(test_rule_input_length),
        cmocka_unit_test(test_lengths_truncate_keeps_last),
        cmocka_unit_test(test_lengths_default_budget),
        cmocka_unit_test(test_lengths_chunk_rule),
        cmocka_unit_test(test_sampler_mapping),
        cmocka_unit_test(test_return_full_text_defaults),
        cmocka_unit_test(test_limits_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
