/*
 * cli_test.c — the `ctgi` binary as users run it: `generate` reproduces
 * llama.cpp's greedy story on stories260K (ids and exact text), --json has
 * the documented fields, seeds repeat, stop strings end generation,
 * `tokenize` and `perplexity` answer, and bad arguments or bad model paths
 * exit non-zero with a message instead of crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/testutil.h"

/* llama.cpp c392e50, stories260K.gguf, "Once upon a time", greedy, 64 tokens
 * (../shared/models/reference/stories260K-greedy.txt) */
static const int LLAMACPP_IDS[64] = {
    432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
    410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394,
    261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432,
    398, 312, 286, 267, 414, 270, 333, 415, 426, 13,  438, 310, 439, 419, 357, 336};
static const char LLAMACPP_TEXT[] =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said";

/* Run `ctgi ARGS` and parse stdout as JSON; status returned via *st. */
static json_t *ctgi_json(const char *args, int *st) {
    char *cmd = NULL, *model = tu_model_path("stories260K.gguf");
    assert_true(asprintf(&cmd, "%s %s 2>/dev/null", tu_ctgi_bin(), args) > 0);
    char *expanded = NULL;
    /* @M stands for the stories260K model path */
    const char *at = strstr(cmd, "@M");
    if (at) assert_true(asprintf(&expanded, "%.*s%s%s", (int)(at - cmd), cmd, model, at + 2) > 0);
    char *out = tu_run(expanded ? expanded : cmd, st);
    json_error_t je;
    json_t *j = out ? json_loads(out, 0, &je) : NULL;
    free(out);
    free(cmd);
    free(expanded);
    free(model);
    return j;
}

/* Both weight-product modes give llama.cpp's greedy story. */
static void generate_matches_llamacpp(const char *extra) {
    int st;
    char args[256];
    snprintf(args, sizeof args, "generate --model @M --prompt 'Once upon a time' --max-new-tokens 64 --ignore-eos --json%s",
             extra);
    json_t *j = ctgi_json(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(j);
    json_t *ids = json_object_get(j, "ids"), *pids = json_object_get(j, "prompt_ids");
    assert_int_equal(json_array_size(pids), 5);
    assert_int_equal(json_integer_value(json_array_get(pids, 0)), 1);
    assert_int_equal(json_array_size(ids), 64);
    for (int i = 0; i < 64; i++) assert_int_equal(json_integer_value(json_array_get(ids, i)), LLAMACPP_IDS[i]);
    assert_string_equal(json_string_value(json_object_get(j, "text")), LLAMACPP_TEXT);
    assert_string_equal(json_string_value(json_object_get(j, "finish_reason")), "length");
    json_t *lps = json_object_get(j, "logprobs");
    assert_int_equal(json_array_size(lps), 64);
    for (int i = 0; i < 64; i++) {
        double lp = json_number_value(json_array_get(lps, i));
        assert_true(lp <= 0.0 && lp > -30.0);
    }
    json_decref(j);
}

static void test_generate_matches_llamacpp(void **s) { generate_matches_llamacpp(""); }
static void test_generate_blas_matches_llamacpp(void **s) { generate_matches_llamacpp(" --matmul blas"); }
/* the default KV cache is f16 (llama.cpp's default too); f32 gives the same story */
static void test_generate_kv_f32_matches_llamacpp(void **s) { generate_matches_llamacpp(" --kv-cache-dtype f32"); }

static json_t *sampled(const char *seed) {
    char args[256];
    int st;
    snprintf(args, sizeof args, "generate --model @M --prompt 'Once upon a time' --max-new-tokens 40 "
             "--ignore-eos --temperature 1.0 --top-k 40 --top-p 0.95 --seed %s --json", seed);
    json_t *j = ctgi_json(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(j);
    return j;
}

static void test_seed_repeats_and_differs(void **s) {
    (void)s;
    json_t *a = sampled("42"), *b = sampled("42"), *c = sampled("43");
    assert_true(json_equal(json_object_get(a, "ids"), json_object_get(b, "ids")));
    assert_false(json_equal(json_object_get(a, "ids"), json_object_get(c, "ids")));
    assert_int_equal(json_integer_value(json_object_get(a, "seed")), 42);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_stop_string_ends_generation(void **s) {
    (void)s;
    int st;
    /* "Lily" first appears in the greedy story mid-way; ' Lil' spans tokens */
    json_t *j = ctgi_json("generate --model @M --prompt 'Once upon a time' --max-new-tokens 64 --stop 'named Lil' --json", &st);
    assert_int_equal(st, 0);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "finish_reason")), "stop_sequence");
    assert_string_equal(json_string_value(json_object_get(j, "text")), ", there was a little girl named Lil");
    json_decref(j);
}

static void test_top_n_alternatives(void **s) {
    (void)s;
    int st;
    json_t *j = ctgi_json("generate --model @M --prompt 'Once upon a time' --max-new-tokens 3 --top-n 5 --json", &st);
    assert_non_null(j);
    json_t *tok = json_array_get(json_object_get(j, "tokens"), 0), *top = json_object_get(tok, "top");
    assert_int_equal(json_array_size(top), 5);
    /* greedy: the chosen token is the best alternative, logprobs descend */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(top, 0), "id")),
                     json_integer_value(json_object_get(tok, "id")));
    for (size_t i = 1; i < 5; i++)
        assert_true(json_number_value(json_object_get(json_array_get(top, i), "logprob")) <=
                    json_number_value(json_object_get(json_array_get(top, i - 1), "logprob")));
    json_decref(j);
}

static void test_tokenize_json(void **s) {
    (void)s;
    int st;
    json_t *j = ctgi_json("tokenize --model @M --json 'Once upon a time'", &st);
    assert_int_equal(st, 0);
    assert_non_null(j);
    json_t *ids = json_object_get(j, "ids");
    int want[] = {1, 403, 407, 261, 378};
    assert_int_equal(json_array_size(ids), 5);
    for (int i = 0; i < 5; i++) assert_int_equal(json_integer_value(json_array_get(ids, i)), want[i]);
    assert_int_equal(json_array_size(json_object_get(j, "pieces")), 5);
    json_decref(j);
    j = ctgi_json("tokenize --model @M --no-special --json 'Once upon a time'", &st);
    assert_int_equal(json_array_size(json_object_get(j, "ids")), 4);
    json_decref(j);
}

static void test_perplexity_cli(void **s) {
    (void)s;
    int st;
    char *txt = tu_model_path("reference/perplexity.txt"), args[4096];
    snprintf(args, sizeof args, "perplexity --model @M --file '%s' --ctx 128 --json", txt);
    json_t *j = ctgi_json(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(j);
    /* llama.cpp: Final estimate: PPL = 16.1312 (reference/perplexity.json) */
    double ppl = json_number_value(json_object_get(j, "ppl"));
    assert_true(ppl > 16.1312 * 0.995 && ppl < 16.1312 * 1.005);
    assert_int_equal(json_integer_value(json_object_get(j, "chunks")), 45);
    assert_string_equal(json_string_value(json_object_get(j, "kv_cache_dtype")), "f16");
    json_decref(j);
    /* with an f32 cache: the float64 reference's 2.7807575 nats within 1e-6 */
    snprintf(args, sizeof args, "perplexity --model @M --file '%s' --ctx 128 --kv-cache-dtype f32 --json", txt);
    j = ctgi_json(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(j);
    assert_true(fabs(json_number_value(json_object_get(j, "mean_nll")) - 2.7807575) < 1e-6);
    assert_string_equal(json_string_value(json_object_get(j, "kv_cache_dtype")), "f32");
    json_decref(j);
    free(txt);
}

/* status and stderr of a command that must fail cleanly */
static void expect_failure(const char *args, int want_status, const char *want_msg) {
    char *cmd = NULL, *model = tu_model_path("stories260K.gguf");
    assert_true(asprintf(&cmd, "%s %s 2>&1", tu_ctgi_bin(), args) > 0);
    char *exp = NULL;
    const char *at = strstr(cmd, "@M");
    if (at) assert_true(asprintf(&exp, "%.*s%s%s", (int)(at - cmd), cmd, model, at + 2) > 0);
    int st;
    char *out = tu_run(exp ? exp : cmd, &st);
    assert_non_null(out);
    if (st != want_status || !strstr(out, want_msg))
        fail_msg("`%s`: status %d (want %d), output: %s (want '%s')", args, st, want_status, out, want_msg);
    free(out);
    free(cmd);
    free(exp);
    free(model);
}

static void test_bad_arguments(void **s) {
    (void)s;
    expect_failure("", 2, "usage");
    expect_failure("frobnicate", 2, "unknown command");
    expect_failure("generate --model @M", 2, "usage");
    expect_failure("generate --model @M --prompt x --temperature hot", 2, "--temperature");
    expect_failure("generate --model @M --prompt x --bogus 1", 2, "unknown option --bogus");
    expect_failure("generate --model @M --prompt-ids 1,x,3", 2, "--prompt-ids");
    expect_failure("generate --model @M --prompt-ids 1,999999", 1, "outside the vocabulary");
    expect_failure("generate --model @M --prompt x --top-p 0", 2, "top_p");
    expect_failure("generate --model @M --prompt x --matmul fast", 2, "--matmul");
    expect_failure("generate --model @M --prompt x --kv-cache-dtype fp8", 2, "--kv-cache-dtype must be f32, f16");
    expect_failure("generate --model @M --prompt x --kv-cache-dtype q8_0", 1, "head_dim is 8");
    expect_failure("perplexity --model @M --file x --kv-cache-dtype F16", 2, "--kv-cache-dtype");
    expect_failure("generate --model /nonexistent/model.gguf --prompt x", 1, "/nonexistent/model.gguf");
    expect_failure("generate --model /etc/passwd --prompt x", 1, "GGUF");
    expect_failure("perplexity --model @M --file /nonexistent.txt", 1, "/nonexistent.txt");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_matches_llamacpp),
        cmocka_unit_test(test_generate_blas_matches_llamacpp),
        cmocka_unit_test(test_generate_kv_f32_matches_llamacpp),
        cmocka_unit_test(test_seed_repeats_and_differs),
        cmocka_unit_test(test_stop_string_ends_generation),
        cmocka_unit_test(test_top_n_alternatives),
        cmocka_unit_test(test_tokenize_json),
        cmocka_unit_test(test_perplexity_cli),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
