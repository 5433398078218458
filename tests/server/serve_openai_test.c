/*
 * serve_openai_test.c — the real `ctgi serve` on stories260K, the OpenAI
 * side that the official clients (openai_client_test.sh) do not reach:
 * OpenAI's error envelope on every failure of the /v1 routes (malformed
 * JSON, wrong types, 404, 415, 401 with --api-key), TGI's health aliases
 * (GET /, GET /ping) and a 405 listing every method of a path, the chat
 * template (--chat-template override, /info, /chat_tokenize, continuing
 * an assistant message, raise_exception as a 422), and the sampling fields
 * whose effect is visible in the tokens: logit_bias, stop_token_ids,
 * min_tokens, skip_special_tokens, chat_template_kwargs, ignore_eos with
 * max_tokens defaulting to the remaining context, n with best_of.
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

static su_server S;

static int setup(void **st) { return su_start_shared(&S, "stories260K.gguf", "--threads 1") ? 0 : -1; }

static int teardown(void **st) {
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    return 0;
}

/* {"error":{"message","type","param","code"}} with this status, type and
 * param (NULL: null), the message containing want. */
static void assert_oai_error(const su_resp *r, long status, const char *type, const char *param, const char *want) {
    assert_int_equal(r->status, status);
    json_t *j = su_json(r), *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 4);
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    if (param) assert_string_equal(json_string_value(json_object_get(e, "param")), param);
    else assert_true(json_is_null(json_object_get(e, "param")));
    assert_non_null(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    if (!strstr(msg, want)) fail_msg("message \"%s\" lacks \"%s\"", msg, want);
    json_decref(j);
}

static json_t *post_json(const su_server *s, const char *path, const char *body, long want_status) {
    su_resp r = su_req(s, "POST", path, body, NULL);
    if (r.status != want_status) fail_msg("%s -> %ld: %.*s", path, r.status, (int)r.len, r.body);
    json_t *j = su_json(&r);
    su_resp_free(&r);
    assert_non_null(j);
    return j;
}

static const char *choice_text(json_t *j, size_t i) {
    return json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), i), "text"));
}

static long usage(json_t *j, const char *k) { return (long)json_integer_value(json_object_get(json_object_get(j, "usage"), k)); }

/* ---- routes and errors ------------------------------------------------------------------ */

static void test_health_aliases_and_405(void **st) {
    const char *paths[] = {"/", "/ping", "/health"};
    for (int i = 0; i < 3; i++) {
        su_resp r = su_req(&S, "GET", paths[i], NULL, NULL);
        assert_int_equal(r.status, 200);
        su_resp_free(&r);
    }
    su_resp r = su_req(&S, "DELETE", "/", NULL, NULL);
    assert_int_equal(r.status, 405);
    char *allow = su_header(&r, "Allow");
    assert_string_equal(allow, "POST, GET");
    free(allow);
    su_resp_free(&r);
}

static void test_error_envelope(void **st) {
    su_resp r = su_req(&S, "POST", "/v1/chat/completions", "{\"messages\": [", NULL);
    assert_oai_error(&r, 400, "invalid_request_error", NULL, "JSON");
    su_resp_free(&r);
    r = su_req(&S, "POST", "/v1/chat/completions", "{\"messages\":\"hi\"}", NULL);
    assert_oai_error(&r, 400, "invalid_request_error", "messages", "messages");
    su_resp_free(&r);
    r = su_req(&S, "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":\"x\"}", NULL);
    assert_oai_error(&r, 400, "invalid_request_error", "max_tokens", "max_tokens");
    su_resp_free(&r);
    /* stories260K has no FIM tokens: a suffix is refused, not dropped */
    r = su_req(&S, "POST", "/v1/completions", "{\"prompt\":\"a\",\"suffix\":\"b\"}", NULL);
    assert_oai_error(&r, 422, "invalid_request_error", "suffix", "this model has no fill-in-the-middle tokens");
    su_resp_free(&r);
    /* ... but an empty one says nothing follows: a plain completion */
    r = su_req(&S, "POST", "/v1/completions", "{\"prompt\":\"a\",\"suffix\":\"\",\"max_tokens\":2}", NULL);
    assert_int_equal(r.status, 200);
    su_resp_free(&r);
    r = su_req(&S, "POST", "/v1/chat/completions",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"suffix\":\"b\"}", NULL);
    assert_oai_error(&r, 400, "invalid_request_error", "suffix", "chat completions have no suffix");
    su_resp_free(&r);
    r = su_req(&S, "GET", "/v1/nope", NULL, NULL);
    assert_oai_error(&r, 404, "invalid_request_error", NULL, "/v1/nope");
    su_resp_free(&r);
    r = su_req(&S, "POST", "/v1/chat/completions", "{}", "Content-Type: text/plain");
    assert_oai_error(&r, 415, "invalid_request_error", NULL, "application/json");
    su_resp_free(&r);
    /* a prompt beyond the context: vLLM's message, named numbers */
    r = su_req(&S, "POST", "/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":600}", NULL);
    assert_oai_error(&r, 400, "invalid_request_error", "max_tokens", "maximum context length is 512 tokens");
    su_resp_free(&r);
}

static void test_api_key(void **st) {
    su_server k;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&k, model, "--threads 1 --api-key sesame", NULL, true));
    free(model);
    const char *chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":2}";
    su_resp r = su_req(&k, "POST", "/v1/chat/completions", chat, NULL);
    assert_oai_error(&r, 401, "invalid_request_error", NULL, "API key");
    su_resp_free(&r);
    r = su_req(&k, "POST", "/v1/chat/completions", chat, "Authorization: Bearer sesame");
    assert_int_equal(r.status, 200);
    su_resp_free(&r);
    /* as TGI: model discovery and chat_tokenize need no key */
    r = su_req(&k, "GET", "/v1/models", NULL, NULL);
    assert_int_equal(r.status, 200);
    su_resp_free(&r);
    r = su_req(&k, "POST", "/chat_tokenize", chat, NULL);
    assert_int_equal(r.status, 200);
    su_resp_free(&r);
    assert_int_equal(su_stop(&k, SIGTERM, 10), 0);
}

/* ---- chat templates ---------------------------------------------------------------------- */

static void test_fallback_and_continuation(void **st) {
    json_t *j = post_json(&S, "/chat_tokenize",
                          "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                          "{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Once upon\"}]}",
                          200);
    /* the last message is the assistant's: the prompt continues it */
    assert_string_equal(json_string_value(json_object_get(j, "templated_text")),
                        "<s>System: Be brief.\n\nUser: Hi\n\nAssistant: Once upon");
    json_t *toks = json_object_get(j, "tokenize_response");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(toks, 0), "id")), 1); /* one BOS */
    assert_int_not_equal(json_integer_value(json_object_get(json_array_get(toks, 1), "id")), 1);
    json_decref(j);
}

static char *write_file(const char *dir, const char *name, const char *text) {
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_template_override_and_errors(void **st) {
    char *dir = tu_mkdtemp();
    char *tpl = write_file(dir, "chatml.jinja",
                           "{% if greeting is defined %}{{ greeting }}|{% endif %}"
                           "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools here') }}"
                           "{% endif %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}"
                           "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
    char args[600];
    snprintf(args, sizeof args, "--threads 1 --chat-template %s", tpl);
    su_server t;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&t, model, args, NULL, true));
    free(model);
    json_t *j = post_json(&t, "/chat_tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"  Hi \\u65e5 \"}]}", 200);
    assert_string_equal(json_string_value(json_object_get(j, "templated_text")),
                        "<|im_start|>user\nHi \xe6\x97\xa5<|im_end|>\n<|im_start|>assistant\n");
    json_decref(j);
    /* chat_template_kwargs become template variables */
    j = post_json(&t, "/chat_tokenize",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"chat_template_kwargs\":{\"greeting\":\"hey\"}}", 200);
    assert_string_equal(json_string_value(json_object_get(j, "templated_text")),
                        "hey|<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    json_decref(j);
    su_resp r = su_req(&t, "GET", "/info", NULL, NULL);
    j = su_json(&r);
    char want[600];
    snprintf(want, sizeof want, "--chat-template %s", tpl);
    assert_string_equal(json_string_value(json_object_get(j, "chat_template")), want);
    json_decref(j);
    su_resp_free(&r);
    /* raise_exception in the template: 422 naming the template's message */
    r = su_req(&t, "POST", "/v1/chat/completions",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"tool\",\"content\":\"b\"}]}", NULL);
    assert_oai_error(&r, 422, "invalid_request_error", "messages", "no tools here");
    su_resp_free(&r);
    assert_int_equal(su_stop(&t, SIGTERM, 10), 0);
    /* a template that does not parse stops the server at start-up, naming it */
    char *bad = write_file(dir, "bad.jinja", "{% for m in messages %}{{ m.content }");
    snprintf(args, sizeof args, "--threads 1 --chat-template %s", bad);
    model = tu_model_path("stories260K.gguf");
    su_server b;
    assert_false(su_start(&b, model, args, NULL, true));
    char *log = su_log(&b);
    assert_non_null(strstr(log, "chat template"));
    free(log);
    su_stop(&b, 0, 10);
    free(model);
    free(tpl);
    free(bad);
    tu_rmrf(dir);
    free(dir);
}

/* ---- sampling fields --------------------------------------------------------------------- */

/* The greedy ids of "Once upon a time" from TGI's details. */
static void greedy_ids(int *ids, int n) {
    char body[160];
    snprintf(body, sizeof body, "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":%d,\"details\":true}}", n);
    json_t *j = post_json(&S, "/generate", body, 200);
    json_t *toks = json_object_get(json_object_get(j, "details"), "tokens");
    for (int i = 0; i < n; i++) ids[i] = (int)json_integer_value(json_object_get(json_array_get(toks, i), "id"));
    json_decref(j);
}

static void test_logit_bias(void **st) {
    int ids[3];
    greedy_ids(ids, 3); /* ",", " there", " was" */
    char body[256];
    snprintf(body, sizeof body, "{\"prompt\":\"Once upon a time\",\"max_tokens\":3,\"temperature\":0,\"logit_bias\":{\"%d\":100}}",
             ids[1]);
    json_t *j = post_json(&S, "/v1/completions", body, 200);
    assert_string_equal(choice_text(j, 0), " there there there");
    json_decref(j);
    snprintf(body, sizeof body, "{\"prompt\":\"Once upon a time\",\"max_tokens\":1,\"temperature\":0,\"logit_bias\":{\"%d\":-100}}",
             ids[0]);
    j = post_json(&S, "/v1/completions", body, 200);
    assert_string_not_equal(choice_text(j, 0), ",");
    json_decref(j);
    su_resp r = su_req(&S, "POST", "/v1/completions", "{\"prompt\":\"a\",\"logit_bias\":{\"99999\":1}}", NULL);
    assert_oai_error(&r, 400, "invalid_request_error", "logit_bias", "99999");
    su_resp_free(&r);
}

/* skip_special_tokens (vLLM): EOS's text "</s>" appears only when false */
static void test_skip_special_tokens(void **st) {
    const char *fmt = "{\"prompt\":\"Once\",\"max_tokens\":3,\"temperature\":0,\"logit_bias\":{\"2\":100}%s}";
    char body[200];
    snprintf(body, sizeof body, fmt, "");
    json_t *j = post_json(&S, "/v1/completions", body, 200);
    assert_string_equal(choice_text(j, 0), "");
    assert_int_equal(usage(j, "completion_tokens"), 1); /* EOS ends it */
    json_decref(j);
    snprintf(body, sizeof body, fmt, ",\"skip_special_tokens\":false");
    j = post_json(&S, "/v1/completions", body, 200);
    assert_string_equal(choice_text(j, 0), "</s>");
    json_decref(j);
}

static void test_stop_token_ids_and_min_tokens(void **st) {
    int ids[3];
    greedy_ids(ids, 3);
    char body[256];
    snprintf(body, sizeof body, "{\"prompt\":\"Once upon a time\",\"max_tokens\":10,\"temperature\":0,\"stop_token_ids\":[%d]}",
             ids[2]);
    json_t *j = post_json(&S, "/v1/completions", body, 200);
    /* the stop id ends it and, not being special, its text stays (as vLLM) */
    assert_string_equal(choice_text(j, 0), ", there was");
    assert_int_equal(usage(j, "completion_tokens"), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "finish_reason")),
                        "stop");
    json_decref(j);
    /* min_tokens 4: the stop id may not end it before the 4th token */
    snprintf(body, sizeof body,
             "{\"prompt\":\"Once upon a time\",\"max_tokens\":10,\"temperature\":0,\"stop_token_ids\":[%d],\"min_tokens\":4}",
             ids[2]);
    j = post_json(&S, "/v1/completions", body, 200);
    assert_true(usage(j, "completion_tokens") >= 4);
    assert_true(strncmp(choice_text(j, 0), ", there was", 11) != 0);
    json_decref(j);
}

static void test_default_max_tokens_is_the_rest_of_the_context(void **st) {
    json_t *j = post_json(&S, "/v1/completions",
                          "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"ignore_eos\":true}", 200);
    assert_int_equal(usage(j, "prompt_tokens"), 5);
    assert_int_equal(usage(j, "completion_tokens"), 512 - 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "finish_reason")),
                        "length");
    json_decref(j);
}

static void test_n_with_best_of(void **st) {
    json_t *j = post_json(&S, "/v1/completions",
                          "{\"prompt\":[\"Once upon a time\",\"The cat\"],\"max_tokens\":6,\"n\":2,\"best_of\":3,"
                          "\"temperature\":1,\"seed\":5,\"ignore_eos\":true}",
                          200);
    json_t *ch = json_object_get(j, "choices");
    assert_int_equal(json_array_size(ch), 4); /* prompt-major: index = prompt * n + choice */
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(ch, i), "index")), (json_int_t)i);
    assert_int_equal(usage(j, "completion_tokens"), 2 * 3 * 6); /* every best_of sequence counts */
    assert_int_equal(usage(j, "prompt_tokens"), 5 + 4); /* <s> Once upon a time, <s> The c at */
    json_decref(j);
}

/* n = 3: the prompt is computed once; the two other choices attach its
 * full KV blocks from the prefix cache and compute only the rest (a
 * sequence always computes its last prompt token itself). */
static void test_n_shares_the_prompt(void **st) {
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time, there was a little girl named "
                       "Lily. She loved to play outside in the park with her friends and her dog.\"}],"
                       "\"max_tokens\":4,\"n\":3,\"temperature\":1,\"seed\":3}";
    json_t *t = post_json(&S, "/chat_tokenize", body, 200);
    long n_prompt = (long)json_array_size(json_object_get(t, "tokenize_response"));
    json_decref(t);
    assert_true(n_prompt > 32);
    double before = su_metric(&S, "ctgi_tokens_prefilled");
    json_t *j = post_json(&S, "/v1/chat/completions", body, 200);
    assert_int_equal(json_array_size(json_object_get(j, "choices")), 3);
    assert_int_equal(usage(j, "prompt_tokens"), n_prompt);
    json_decref(j);
    double fed = su_metric(&S, "ctgi_tokens_prefilled") - before;
    long rest = n_prompt - 16 * ((n_prompt - 1) / 16); /* what a block-aligned prefix leaves */
    print_message("# n = 3 over a %ld-token prompt: %.0f prompt tokens fed (alone: %ld)\n", n_prompt, fed, 3 * n_prompt);
    assert_true(fed <= (double)(n_prompt + 2 * rest));
}

int main(void) {
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_aliases_and_405),
        cmocka_unit_test(test_error_envelope),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_fallback_and_continuation),
        cmocka_unit_test(test_template_override_and_errors),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_stop_token_ids_and_min_tokens),
        cmocka_unit_test(test_skip_special_tokens),
        cmocka_unit_test(test_default_max_tokens_is_the_rest_of_the_context),
        cmocka_unit_test(test_n_with_best_of),
        cmocka_unit_test(test_n_shares_the_prompt),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
