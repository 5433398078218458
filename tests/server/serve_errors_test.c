/*
 * serve_errors_test.c — what `ctgi serve` answers when it must say no:
 * one test per validation rule (422, TGI's message in the
 * {"error","error_type"} envelope, counted as tgi_request_failure
 * {err="validation"}), malformed JSON (400), wrong content type (415),
 * bodies over --payload-limit (413), unknown routes (404) and methods
 * (405), --api-key (401 on generation routes only; the key case-sensitive), CORS and OPTIONS
 * preflights per --cors-allow-origin, /health 503 while the model loads,
 * configuration from flags and environment variables, --help, and
 * --json-output log lines.
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

#include "server/serve_util.h"
#include "support/testutil.h"

static su_server S; /* --max-input-tokens 100 */

static int setup(void **st) {
    return su_start_shared(&S, "stories260K.gguf", "--threads 1 --max-input-tokens 100") ? 0 : -1;
}

static int teardown(void **st) {
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    return 0;
}

static void assert_error(su_resp *r, long status, const char *type, const char *message, bool prefix) {
    if (r->status != status) fprintf(stderr, "# status %ld body %s\n", r->status, r->body);
    assert_int_equal(r->status, status);
    json_t *j = su_json(r);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(j, "error_type")), type);
    const char *m = json_string_value(json_object_get(j, "error"));
    if (prefix ? strncmp(m, message, strlen(message)) != 0 : strcmp(m, message) != 0)
        fprintf(stderr, "# message: %s\n# wanted:  %s\n", m, message);
    assert_true(prefix ? strncmp(m, message, strlen(message)) == 0 : strcmp(m, message) == 0);
    json_decref(j);
    char *ct = su_header(r, "Content-Type");
    assert_string_equal(ct, "application/json");
    free(ct);
}

/* ---- one row per rule ------------------------------------------------------------------ */

typedef struct {
    const char *path, *params, *message;
} rule;

#define IVE "Input validation error: "
static const rule RULES[] = {
    {"/generate", "\"best_of\":3,\"do_sample\":true", IVE "`best_of` must be > 0 and <= 2. Given: 3"},
    {"/generate", "\"best_of\":0", IVE "`best_of` must be > 0 and <= 2. Given: 0"},
    {"/generate", "\"best_of\":2", IVE "you must use sampling when `best_of` is > 1"},
    {"/generate", "\"best_of\":2,\"do_sample\":true,\"seed\":5", IVE "`seed` must not be set when `best_of` > 1"},
    {"/generate_stream", "\"best_of\":2,\"do_sample\":true", IVE "`best_of` != 1 is not supported when streaming tokens"},
    {"/generate_stream", "\"decoder_input_details\":true",
     IVE "`decoder_input_details` == true is not supported when streaming tokens"},
    {"/generate", "\"temperature\":0", IVE "`temperature` must be strictly positive"},
    {"/generate", "\"repetition_penalty\":0", IVE "`repetition_penalty` must be strictly positive"},
    {"/generate", "\"frequency_penalty\":2.5", IVE "`frequency_penalty` must be >= -2.0 and <= 2.0"},
    {"/generate", "\"top_p\":1.5", IVE "`top_p` must be > 0.0 and <= 1.0"},
    {"/generate", "\"typical_p\":0", IVE "`typical_p` must be > 0.0 and <= 1.0"},
    {"/generate", "\"top_k\":0", IVE "`top_k` must be strictly positive"},
    {"/generate", "\"max_new_tokens\":0", IVE "`max_new_tokens` must be strictly positive"},
    {"/generate", "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", IVE "`stop` supports up to 4 stop sequences. Given: 5"},
    {"/generate", "\"top_n_tokens\":6", IVE "`top_n_tokens` must be >= 0 and <= 5. Given: 6"},
    {"/generate", "\"truncate\":0", IVE "`truncate` must be strictly positive and less than 100. Given: 0"},
    {"/generate", "\"truncate\":101", IVE "`truncate` must be strictly positive and less than 100. Given: 101"},
    {"/generate", "\"max_new_tokens\":600",
     IVE "`inputs` tokens + `max_new_tokens` must be <= 512. Given: 5 `inputs` tokens and 600 `max_new_tokens`"},
    {"/generate", "\"stop\":[\"\"]", IVE "`stop` sequences must not be empty. Given: an empty string at index 0"},
    {"/generate", "\"watermark\":true", IVE "`watermark` == true is not supported"},
    {"/generate", "\"grammar\":{\"type\":\"regex\",\"value\":\"a(\"}", IVE "grammar is not valid: regex: missing ) to close the group at offset 1"},
    {"/generate", "\"adapter_id\":\"x\"", IVE "`adapter_id` 'x': this server has no LoRA adapters"},
    {"/", "\"temperature\":-1", IVE "`temperature` must be strictly positive"},
};
#define N_RULES (sizeof RULES / sizeof RULES[0])

static void run_rule(const rule *r) {
    char body[512];
    snprintf(body, sizeof body, "{\"inputs\":\"Once upon a time\",\"parameters\":{%s}}", r->params);
    su_resp x = su_req(&S, "POST", r->path, body, NULL);
    bool prefix = strstr(r->message, "adapter_id") != NULL;
    assert_error(&x, 422, "validation", r->message, prefix);
    su_resp_free(&x);
}

#define RULE_TEST(i)                                                                                         \
    static void test_rule_##i(void **st) { run_rule(&RULES[i]); }
RULE_TEST(0) RULE_TEST(1) RULE_TEST(2) RULE_TEST(3) RULE_TEST(4) RULE_TEST(5) RULE_TEST(6) RULE_TEST(7)
RULE_TEST(8) RULE_TEST(9) RULE_TEST(10) RULE_TEST(11) RULE_TEST(12) RULE_TEST(13) RULE_TEST(14) RULE_TEST(15)
RULE_TEST(16) RULE_TEST(17) RULE_TEST(18) RULE_TEST(19) RULE_TEST(20) RULE_TEST(21) RULE_TEST(22)

static void test_rule_empty_inputs(void **st) {
    su_resp x = su_req(&S, "POST", "/generate", "{\"inputs\":\"\"}", NULL);
    assert_error(&x, 422, "validation", IVE "`inputs` cannot be empty", false);
    su_resp_free(&x);
}

/* A prompt longer than --max-input-tokens (its length from /tokenize). */
static void test_rule_input_too_long(void **st) {
    char body[4096] = "{\"inputs\":\"";
    for (int i = 0; i < 60; i++) strcat(body, "Lily saw a ball. ");
    strcat(body, "\"");
    char tok[4200];
    snprintf(tok, sizeof tok, "%s}", body);
    su_resp t = su_req(&S, "POST", "/tokenize", tok, NULL);
    json_t *arr = su_json(&t);
    size_t n = json_array_size(arr);
    assert_true(n > 100 && n < 500);
    json_decref(arr);
    su_resp_free(&t);
    char want[128];
    snprintf(want, sizeof want, IVE "`inputs` must have less than 100 tokens. Given: %zu", n);
    strcat(body, ",\"parameters\":{\"max_new_tokens\":5}}");
    su_resp x = su_req(&S, "POST", "/generate", body, NULL);
    assert_error(&x, 422, "validation", want, false);
    su_resp_free(&x);
}

static void test_type_error(void **st) {
    su_resp x = su_req(&S, "POST", "/generate", "{\"inputs\":\"a\",\"parameters\":{\"temperature\":\"hot\"}}", NULL);
    assert_error(&x, 422, "validation", "Failed to deserialize the JSON body into the target type: ", true);
    su_resp_free(&x);
    x = su_req(&S, "POST", "/generate", "{\"parameters\":{}}", NULL);
    assert_error(&x, 422, "validation", "Failed to deserialize the JSON body into the target type: ", true);
    su_resp_free(&x);
}

static void test_validation_counted(void **st) {
    assert_true(su_metric(&S, "tgi_request_failure{err=\"validation\"}") >= (double)N_RULES);
}

/* ---- HTTP-level refusals -------------------------------------------------------------- */

static void test_malformed_json(void **st) {
    su_resp x = su_req(&S, "POST", "/generate", "{\"inputs\": \"a\",", NULL);
    assert_error(&x, 400, "invalid_json", "Failed to parse the request body as JSON", true);
    su_resp_free(&x);
}

static void test_unsupported_media_type(void **st) {
    su_resp x = su_req(&S, "POST", "/generate", "{\"inputs\":\"a\"}", "Content-Type: text/plain");
    assert_error(&x, 415, "unsupported_media_type", "Expected request with `Content-Type: application/json`", false);
    su_resp_free(&x);
}

static void test_payload_too_large(void **st) {
    size_t n = 2000001;
    char *body = malloc(n + 1);
    memset(body, ' ', n);
    memcpy(body, "{\"inputs\":\"a\"}", 14);
    body[n] = '\0';
    su_resp x = su_req(&S, "POST", "/generate", body, NULL);
    assert_error(&x, 413, "payload_too_large", "Payload Too Large", true);
    su_resp_free(&x);
    body[n - 1] = '\0'; /* exactly the limit is fine */
    x = su_req(&S, "POST", "/tokenize", body, NULL);
    assert_int_equal(x.status, 200);
    su_resp_free(&x);
    free(body);
}

static void test_not_found_and_method(void **st) {
    su_resp x = su_req(&S, "GET", "/nope", NULL, NULL);
    assert_error(&x, 404, "not_found", "Not Found: /nope", false);
    su_resp_free(&x);
    x = su_req(&S, "GET", "/generate", NULL, NULL);
    assert_error(&x, 405, "method_not_allowed", "Method Not Allowed", true);
    char *allow = su_header(&x, "Allow");
    assert_string_equal(allow, "POST");
    free(allow);
    su_resp_free(&x);
    x = su_req(&S, "POST", "/health", "{}", NULL);
    assert_int_equal(x.status, 405);
    su_resp_free(&x);
}

static void test_cors_default_any(void **st) {
    su_resp x = su_req(&S, "GET", "/info", NULL, "Origin: https://x.example");
    char *acao = su_header(&x, "Access-Control-Allow-Origin");
    assert_string_equal(acao, "*");
    free(acao);
    su_resp_free(&x);
}

/* ---- a server with --api-key and --cors-allow-origin ----------------------------------- */

static void test_auth_and_cors(void **st) {
    su_server a;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&a, model, "--threads 1 --api-key Sekret --cors-allow-origin 'https://a.example, https://b.example'",
                         NULL, true));
    free(model);
    const char *body = "{\"inputs\":\"Once\",\"parameters\":{\"max_new_tokens\":2}}";
    static const char *gen_routes[] = {"/", "/generate", "/generate_stream", "/tokenize"};
    for (int i = 0; i < 4; i++) {
        su_resp x = su_req(&a, "POST", gen_routes[i], body, NULL);
        assert_int_equal(x.status, 401);
        assert_int_equal(x.len, 0); /* TGI's bare 401 */
        su_resp_free(&x);
        x = su_req(&a, "POST", gen_routes[i], body, "Authorization: bearer Sekret"); /* the scheme: any case */
        assert_int_equal(x.status, 200);
        su_resp_free(&x);
        x = su_req(&a, "POST", gen_routes[i], body, "Authorization: Bearer SEKRET"); /* the key: exact */
        assert_int_equal(x.status, 401);
        su_resp_free(&x);
    }
    su_resp x = su_req(&a, "POST", "/generate", body, "Authorization: Bearer wrong");
    assert_int_equal(x.status, 401);
    su_resp_free(&x);
    x = su_req(&a, "GET", "/health", NULL, NULL); /* no key needed */
    assert_int_equal(x.status, 200);
    char *acao = su_header(&x, "Access-Control-Allow-Origin");
    assert_null(acao); /* no Origin, nothing allowed */
    su_resp_free(&x);
    x = su_req(&a, "GET", "/info", NULL, "Origin: https://b.example");
    assert_non_null(acao = su_header(&x, "Access-Control-Allow-Origin"));
    assert_string_equal(acao, "https://b.example");
    free(acao);
    su_resp_free(&x);
    x = su_req(&a, "GET", "/info", NULL, "Origin: https://evil.example");
    assert_null(su_header(&x, "Access-Control-Allow-Origin"));
    su_resp_free(&x);
    x = su_req(&a, "OPTIONS", "/generate", NULL,
               "Origin: https://a.example\nAccess-Control-Request-Method: POST\n"
               "Access-Control-Request-Headers: authorization,content-type,x-stainless-os");
    assert_int_equal(x.status, 204);
    char *m = su_header(&x, "Access-Control-Allow-Methods"), *h = su_header(&x, "Access-Control-Allow-Headers");
    acao = su_header(&x, "Access-Control-Allow-Origin");
    assert_string_equal(acao, "https://a.example");
    assert_string_equal(m, "GET, POST");
    assert_string_equal(h, "authorization,content-type,x-stainless-os");
    free(acao);
    free(m);
    free(h);
    su_resp_free(&x);
    assert_int_equal(su_stop(&a, SIGINT, 10), 0);
}

/* ---- loading, configuration, logs ------------------------------------------------------ */

static void test_health_while_loading_env_and_json_logs(void **st) {
    su_server l;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&l, model, "--threads 1 --max-best-of 1 --json-output",
                         "CTGI_DEBUG_LOAD_DELAY_MS=1500 MAX_CONCURRENT_REQUESTS=7 MAX_BEST_OF=3", false));
    free(model);
    su_resp x = su_req(&l, "GET", "/health", NULL, NULL);
    assert_error(&x, 503, "healthcheck", "unhealthy", false);
    su_resp_free(&x);
    x = su_req(&l, "POST", "/generate", "{\"inputs\":\"Once\"}", NULL);
    assert_error(&x, 503, "unhealthy", "Model is loading", false);
    su_resp_free(&x);
    double t0 = su_now();
    long status = 0;
    while (status != 200 && su_now() - t0 < 20) {
        su_sleep(0.05);
        x = su_req(&l, "GET", "/health", NULL, NULL);
        status = x.status;
        su_resp_free(&x);
    }
    assert_int_equal(status, 200);
    x = su_req(&l, "GET", "/info", NULL, NULL);
    json_t *info = su_json(&x);
    assert_int_equal(json_integer_value(json_object_get(info, "max_concurrent_requests")), 7); /* env */
    assert_int_equal(json_integer_value(json_object_get(info, "max_best_of")), 1);             /* flag beats env */
    json_decref(info);
    su_resp_free(&x);
    x = su_req(&l, "POST", "/generate", "{\"inputs\":\"Once\",\"parameters\":{\"max_new_tokens\":3}}", NULL);
    assert_int_equal(x.status, 200);
    su_resp_free(&x);
    kill(l.pid, SIGTERM); /* the log is complete once it says so */
    char *log = NULL;
    for (double t1 = su_now(); su_now() - t1 < 10; su_sleep(0.02)) {
        free(log);
        log = su_log(&l);
        if (strstr(log, "\"exit 0\"")) break;
    }
    assert_int_equal(su_stop(&l, 0, 10), 0);
    int lines = 0, requests = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j) fprintf(stderr, "# not JSON: %s\n", line);
        assert_non_null(j);
        const char *msg = json_string_value(json_object_get(j, "message"));
        if (msg && strcmp(msg, "request") == 0 &&
            strcmp(json_string_value(json_object_get(j, "path")), "/generate") == 0 &&
            json_integer_value(json_object_get(j, "status")) == 200) {
            requests++;
            assert_int_equal(json_integer_value(json_object_get(j, "generated_tokens")), 3);
            assert_non_null(json_object_get(j, "queue_ms"));
            assert_non_null(json_object_get(j, "inference_ms"));
        }
        json_decref(j);
    }
    assert_true(lines >= 4);
    assert_int_equal(requests, 1);
    free(log);
}

static void test_help_documents_every_flag(void **st) {
    static const char *flags[] = {
        "model-id", "hostname", "port", "max-concurrent-requests", "max-input-tokens", "max-total-tokens",
        "max-batch-prefill-tokens", "max-batch-total-tokens", "max-batch-size", "max-stop-sequences",
        "max-top-n-tokens", "max-best-of", "payload-limit", "api-key", "cors-allow-origin", "threads",
        "json-output", "graceful-termination-timeout", "api-key-file", "request-timeout", "max-connections",
        "max-header-size", "ssl-certfile", "ssl-keyfile", "lora-adapters"};
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s serve --help", tu_ctgi_bin());
    int status;
    char *out = tu_run(cmd, &status);
    assert_int_equal(status, 0);
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        char flag[64], env[64];
        snprintf(flag, sizeof flag, "--%s", flags[i]);
        size_t k = 0;
        for (; flags[i][k]; k++) env[k] = flags[i][k] == '-' ? '_' : (char)(flags[i][k] - 32);
        env[k] = '\0';
        char envs[80];
        snprintf(envs, sizeof envs, "env %s;", env);
        if (!strstr(out, flag) || !strstr(out, envs)) fprintf(stderr, "# --help lacks %s / %s\n", flag, envs);
        assert_non_null(strstr(out, flag));
        assert_non_null(strstr(out, envs));
    }
    free(out);
    snprintf(cmd, sizeof cmd, "%s serve --model-id x --port 70000 2>&1", tu_ctgi_bin());
    out = tu_run(cmd, &status);
    assert_int_equal(status, 2);
    assert_non_null(strstr(out, "--port"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s serve --hostname 127.0.0.1 --port 0 --model-id /nonexistent.gguf 2>&1", tu_ctgi_bin());
    out = tu_run(cmd, &status);
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, "/nonexistent.gguf"));
    free(out);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define R(i) cmocka_unit_test(test_rule_##i)
    const struct CMUnitTest tests[] = {
        R(0), R(1), R(2), R(3), R(4), R(5), R(6), R(7), R(8), R(9), R(10), R(11), R(12), R(13), R(14), R(15),
        R(16), R(17), R(18), R(19), R(20), R(21), R(22),
        cmocka_unit_test(test_rule_empty_inputs),
        cmocka_unit_test(test_rule_input_too_long),
        cmocka_unit_test(test_type_error),
        cmocka_unit_test(test_validation_counted),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_unsupported_media_type),
        cmocka_unit_test(test_payload_too_large),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_cors_default_any),
        cmocka_unit_test(test_auth_and_cors),
        cmocka_unit_test(test_health_while_loading_env_and_json_logs),
        cmocka_unit_test(test_help_documents_every_flag),
    };
    _Static_assert(N_RULES == 23, "one test per rule");
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
