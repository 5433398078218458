/*
 * serve_lora_test.c — LoRA adapters through `ctgi serve`: LORA_ADAPTERS
 * (name=path and bare-path forms) and --lora-adapters, /info's
 * lora_adapters, /v1/models' adapter entries (root, parent), TGI's
 * parameters.adapter_id and OpenAI's `model` selecting an adapter, an
 * unknown adapter_id (422 naming the adapters), a bad adapter at start-up;
 * `ctgi generate --lora`.
 *
 * Oracle: the same base with the adapter's weights merged (W + scale B A,
 * tests/support/lora_write.c) served alone by another server: greedy
 * output through the adapter must be that server's output, character for
 * character.  The synthetic base (stories260K's vocabulary) is written to
 * a scratch directory with one PEFT adapter and one GGUF LoRA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/lora_write.h"
#include "support/synth_model.h"
#include "support/testutil.h"
#include "serve_util.h"

static su_server S, M1, M2; /* base + adapters; merged "sql"; merged "chat" */
static char *dir;
static char base[1024], sql[1024], chat[1024], m1[1024], m2[1024];

static int setup(void **st) {
    char err[CT_ERRLEN];
    dir = tu_mkdtemp();
    char *vocab = tu_model_path("stories260K.gguf");
    if (!dir || !vocab) return -1;
    synth_config c = synth_default();
    c.vocab_gguf = vocab;
    c.seed = 31;
    snprintf(base, sizeof base, "%s/base.gguf", dir);
    snprintf(sql, sizeof sql, "%s/sql-adapter", dir);
    snprintf(chat, sizeof chat, "%s/chat-lora.gguf", dir);
    snprintf(m1, sizeof m1, "%s/merged-sql.gguf", dir);
    snprintf(m2, sizeof m2, "%s/merged-chat.gguf", dir);
    lw_config c1 = {.targets = LW_ALL, .r = 8, .alpha = 16, .dtype = "F16", .seed = 41, .amp = 0.35f};
    lw_config c2 = {.targets = LW_Q | LW_K | LW_DOWN, .r = 4, .alpha = 8, .dtype = "F32", .seed = 42, .amp = 0.4f};
    lw_adapter *a1 = lw_make(&c, &c1), *a2 = lw_make(&c, &c2);
    bool ok = synth_write_gguf(&c, base, err) && lw_write_peft(a1, sql, NULL, err) && lw_merge_gguf(a1, base, m1, err) &&
              lw_write_gguf(a2, chat, err) && lw_merge_gguf(a2, base, m2, err);
    lw_free(a1);
    lw_free(a2);
    free(vocab);
    if (!ok) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    char env[3200];
    snprintf(env, sizeof env, "LORA_ADAPTERS='sql=%s, %s'", sql, chat);
    if (!su_start(&S, base, "--threads 1", env, true)) return -1;
    if (!su_start(&M1, m1, "--threads 1", NULL, true) || !su_start(&M2, m2, "--threads 1", NULL, true)) return -1;
    return 0;
}

static int teardown(void **st) {
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    assert_int_equal(su_stop(&M1, SIGTERM, 10), 0);
    assert_int_equal(su_stop(&M2, SIGTERM, 10), 0);
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static json_t *get_json(const su_server *s, const char *path) {
    su_resp r = su_req(s, "GET", path, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *j = su_json(&r);
    su_resp_free(&r);
    assert_non_null(j);
    return j;
}

static void test_info_and_models(void **st) {
    json_t *j = get_json(&S, "/info");
    json_t *ad = json_object_get(j, "lora_adapters");
    assert_int_equal(json_array_size(ad), 2);
    json_t *a0 = json_array_get(ad, 0), *a1 = json_array_get(ad, 1);
    assert_string_equal(json_string_value(json_object_get(a0, "id")), "sql");
    assert_string_equal(json_string_value(json_object_get(a0, "format")), "peft");
    assert_int_equal(json_integer_value(json_object_get(a0, "rank")), 8);
    assert_string_equal(json_string_value(json_object_get(a0, "target_modules")), "q,k,v,o,gate,up,down");
    assert_string_equal(json_string_value(json_object_get(a1, "id")), chat); /* the bare path names itself */
    assert_string_equal(json_string_value(json_object_get(a1, "format")), "gguf");
    assert_string_equal(json_string_value(json_object_get(a1, "target_modules")), "q,k,down");
    json_decref(j);
    j = get_json(&M1, "/info");
    assert_null(json_object_get(j, "lora_adapters"));
    json_decref(j);

    j = get_json(&S, "/v1/models");
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 3);
    json_t *b = json_array_get(data, 0), *e = json_array_get(data, 1);
    assert_string_equal(json_string_value(json_object_get(b, "id")), base);
    assert_null(json_object_get(b, "parent"));
    assert_string_equal(json_string_value(json_object_get(e, "id")), "sql");
    assert_string_equal(json_string_value(json_object_get(e, "root")), sql);
    assert_string_equal(json_string_value(json_object_get(e, "parent")), base);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 2), "id")), chat);
    json_decref(j);
}

/* /generate's greedy answer for these parameters (a JSON fragment or ""):
 * the raw body (the synthetic model's text may hold byte tokens that are
 * not UTF-8, which a JSON parser refuses; equal bodies are equal texts). */
static char *generate(const su_server *s, const char *extra) {
    char body[2048];
    snprintf(body, sizeof body,
             "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":24%s%s}}", *extra ? "," : "", extra);
    su_resp r = su_req(s, "POST", "/generate", body, NULL);
    if (r.status != 200 || !strstr(r.body, "\"generated_text\"")) fail_msg("%s: %ld %s", body, r.status, r.body);
    char *text = strdup(r.body);
    su_resp_free(&r);
    return text;
}

static void test_adapter_id(void **st) {
    char *plain = generate(&S, ""), *want1 = generate(&M1, ""), *want2 = generate(&M2, "");
    char *got1 = generate(&S, "\"adapter_id\":\"sql\""), extra[1200];
    snprintf(extra, sizeof extra, "\"adapter_id\":\"%s\"", chat);
    char *got2 = generate(&S, extra);
    snprintf(extra, sizeof extra, "\"adapter_id\":\"%s\"", base); /* the served model's id: the base */
    char *got0 = generate(&S, extra);
    assert_string_equal(got1, want1);
    assert_string_equal(got2, want2);
    assert_string_equal(got0, plain);
    assert_string_not_equal(plain, want1); /* the adapters change the output */
    assert_string_not_equal(plain, want2);
    free(plain), free(want1), free(want2), free(got1), free(got2), free(got0);
    char *log = su_log(&S); /* the request's log line names its adapter; the start-up log lists them */
    assert_non_null(strstr(log, "path=/generate status=200 outcome=ok prompt_tokens="));
    assert_non_null(strstr(log, "finish=length adapter=sql queue_ms="));
    assert_non_null(strstr(log, "LoRA adapter 'sql': peft"));
    free(log);
}

static void test_unknown_adapter(void **st) {
    su_resp r = su_req(&S, "POST", "/generate",
                       "{\"inputs\":\"Once\",\"parameters\":{\"max_new_tokens\":2,\"adapter_id\":\"nope\"}}", NULL);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "'nope' is not one of this server's LoRA adapters"));
    assert_non_null(strstr(r.body, "'sql'"));
    su_resp_free(&r);
}

/* /v1/completions' choices (raw, as generate) with `model` m; *model_out:
 * whether the answer's "model" is m. */
static char *complete(const su_server *s, const char *m, bool *model_echoed) {
    char body[2048], echo[1200];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"temperature\":0}", m);
    su_resp r = su_req(s, "POST", "/v1/completions", body, NULL);
    const char *c0 = r.body ? strstr(r.body, "\"choices\":") : NULL, *c1 = c0 ? strstr(c0, "\"usage\":") : NULL;
    if (r.status != 200 || !c1) fail_msg("%s: %ld %s", body, r.status, r.body);
    snprintf(echo, sizeof echo, "\"model\":\"%s\"", m);
    if (model_echoed) *model_echoed = strstr(r.body, echo) != NULL;
    char *text = strndup(c0, (size_t)(c1 - c0));
    su_resp_free(&r);
    return text;
}

static void test_openai_model(void **st) {
    bool echoed;
    char *got = complete(&S, "sql", &echoed), *want = complete(&M1, "whatever", NULL);
    assert_string_equal(got, want);
    assert_true(echoed);
    char *plain = complete(&S, "gpt-4o", NULL), *plain2 = complete(&S, base, NULL);
    assert_string_equal(plain, plain2); /* not an adapter's name: the base, as before */
    assert_string_not_equal(plain, want);
    char *got2 = complete(&S, chat, NULL), *want2 = complete(&M2, "x", NULL);
    assert_string_equal(got2, want2);
    free(got), free(want), free(plain), free(plain2), free(got2), free(want2);
}

/* `ctgi generate --lora`: the ids of the merged model's greedy output. */
static char *cli_ids(const char *model, const char *lora) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s generate --model '%s' %s%s%s --prompt-ids 1,400,37,90 --max-new-tokens 16 --threads 1 "
             "--ignore-eos --json", tu_ctgi_bin(), model, lora ? "--lora '" : "", lora ? lora : "", lora ? "'" : "");
    int status;
    char *out = tu_run(cmd, &status);
    assert_int_equal(status, 0);
    char *ids = strstr(out, "\"ids\":");
    assert_non_null(ids);
    char *end = strchr(ids, ']');
    char *r = strndup(ids, (size_t)(end - ids + 1));
    free(out);
    return r;
}

static void test_cli_generate(void **st) {
    char *got = cli_ids(base, sql), *want = cli_ids(m1, NULL), *plain = cli_ids(base, NULL);
    char *got2 = cli_ids(base, chat), *want2 = cli_ids(m2, NULL);
    assert_string_equal(got, want);
    assert_string_equal(got2, want2);
    assert_string_not_equal(plain, want);
    free(got), free(want), free(plain), free(got2), free(want2);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s generate --model '%s' --lora '%s' --prompt-ids 1 2>&1", tu_ctgi_bin(), base, base);
    int status;
    char *out = tu_run(cmd, &status);
    assert_int_not_equal(status, 0);
    assert_non_null(strstr(out, "--lora: LoRA adapter 'lora'"));
    free(out);
}

static void test_bad_adapter_at_start(void **st) {
    su_server b;
    char args[1200];
    snprintf(args, sizeof args, "--threads 1 --lora-adapters 'x=%s'", base); /* a model, not an adapter */
    assert_false(su_start(&b, base, args, NULL, true));
    char *log = su_log(&b);
    assert_non_null(strstr(log, "LoRA adapter 'x'"));
    assert_non_null(strstr(log, "not 'adapter'"));
    free(log);
    unlink(b.log); /* su_start reaped the process that exited */
    free(b.log);
    assert_false(su_start(&b, base, "--threads 1 --lora-adapters org/some-adapter", NULL, true));
    log = su_log(&b);
    assert_non_null(strstr(log, "'org/some-adapter' is not a local adapter folder or GGUF file"));
    free(log);
    unlink(b.log); /* su_start reaped the process that exited */
    free(b.log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_and_models), cmocka_unit_test(test_adapter_id),
        cmocka_unit_test(test_unknown_adapter), cmocka_unit_test(test_openai_model),
        cmocka_unit_test(test_cli_generate),       cmocka_unit_test(test_bad_adapter_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
