/*
 * serve_t5_test.c — an encoder-decoder model (T5) behind the real `ctgi
 * serve`, on ../shared/models/synth/arch/t5.gguf:
 *   - /generate answers llama.cpp's greedy continuation of a reference
 *     prompt (reference/arch-t5.json: the `text` as `inputs`, its 32 greedy
 *     ids in details, and its text: llama-cli's output, which printed one
 *     token more and no NUL bytes, begins with generated_text);
 *   - /generate_stream streams the same tokens and text; /v1/completions
 *     gives the same text and counts the encoder's input as prompt tokens;
 *     /v1/chat/completions renders the plain fallback template (T5 ships
 *     none); /info says text2text-generation, and "/" does not prepend the
 *     input;
 *   - prompt logprobs (decoder_input_details, echo with logprobs) are
 *     refused with the reason;
 *   - on a larger seeded T5 (slow enough to act mid-stream), a client that
 *     walks away mid-stream cancels its request and every KV block, cross-
 *     attention ones included, returns;
 *   - `ctgi generate` gives the same ids (its engine sized for the prompt's
 *     cross K/V in whole blocks), `ctgi perplexity` refuses the model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/dtype.h"
#include "server/serve_util.h"
#include "support/synth_arch.h"
#include "support/testutil.h"

static su_server S;
static json_t *REF;

#define KV_USED "ctgi_kv_cache_blocks{state=\"used\"}"

static int setup(void **st) {
    (void)st;
    char *path = tu_model_path("reference/arch-t5.json");
    REF = json_load_file(path, 0, NULL);
    free(path);
    return REF && su_start_shared(&S, "synth/arch/t5.gguf", "--threads 1") ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    json_decref(REF);
    return 0;
}

static json_t *prompt(const char *name) {
    json_t *ps = json_object_get(REF, "prompts");
    for (size_t i = 0; i < json_array_size(ps); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(ps, i), "name")), name))
            return json_array_get(ps, i);
    fail_msg("no prompt %s in arch-t5.json", name);
    return NULL;
}

/* Bytes as UTF-8 with each maximal invalid subpart replaced by U+FFFD
 * (Unicode's recommended practice: a truncated sequence is one
 * replacement, a stray byte one each), malloc'd. */
static char *utf8_replace(const uint8_t *b, size_t n) {
    if (n > (1u << 20)) n = 1u << 20;
    char *out = malloc(3 * n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        uint8_t c = b[i];
        int len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        size_t k = 1;
        if (len > 1) {
            uint8_t lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
            while ((int)k < len && i + k < n && b[i + k] >= (k == 1 ? lo : 0x80) && b[i + k] <= (k == 1 ? hi : 0xBF))
                k++;
        }
        if (len > 0 && (int)k == len) {
            memcpy(o, b + i, k);
            o += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
        i += k;
    }
    *o = '\0';
    return out;
}

/* llama-cli's output for the prompt (its trailing "\n\n" off), as text. */
static char *llamacpp_text(json_t *pr) {
    const char *hex = json_string_value(json_object_get(pr, "llama_cli_stdout_hex"));
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) sscanf(hex + 2 * i, "%2hhx", &b[i]);
    bool tail = n >= 2 && b[n - 1] == '\n' && b[n - 2] == '\n';
    assert_true(tail);
    char *t = utf8_replace(b, tail ? n - 2 : 0);
    free(b);
    return t;
}

/* text without NUL bytes (llama-cli printed each piece as a C string) is
 * where llama.cpp's text begins, which has one token more. */
static void text_matches(const char *text, size_t len, json_t *pr) {
    char *want = llamacpp_text(pr), *got = malloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i]) got[k++] = text[i];
    got[k] = '\0';
    if (strncmp(want, got, k) != 0 || strlen(want) - k > 16)
        fail_msg("generated text '%s' is not where llama.cpp's '%s' begins", got, want);
    free(want);
    free(got);
}

static char *generate_body(json_t *pr, int max_new, const char *extra) {
    json_t *j = json_pack("{s:O, s:{s:i, s:b}}", "inputs", json_object_get(pr, "text"), "parameters", "max_new_tokens",
                          max_new, "details", 1);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!extra) return body;
    char *b2 = malloc(strlen(body) + strlen(extra) + 2);
    size_t n = strlen(body) - 2; /* before "}}" */
    sprintf(b2, "%.*s,%s}}", (int)n, body, extra);
    free(body);
    return b2;
}

static void test_generate(void **st) {
    (void)st;
    const char *names[] = {"len9", "len40"};
    for (int i = 0; i < 2; i++) {
        json_t *pr = prompt(names[i]), *want = json_object_get(pr, "greedy_ids");
        char *body = generate_body(pr, 32, NULL);
        su_resp r = su_req(&S, "POST", "/generate", body, NULL);
        assert_int_equal(r.status, 200);
        json_t *j = json_loadb(r.body, r.len, JSON_ALLOW_NUL, NULL); /* len9 generates a NUL byte */
        json_t *toks = json_object_get(json_object_get(j, "details"), "tokens");
        if (!toks) fail_msg("%s -> %s", body, r.body);
        assert_int_equal(json_array_size(toks), json_array_size(want));
        for (size_t k = 0; k < json_array_size(want); k++)
            assert_int_equal(json_integer_value(json_object_get(json_array_get(toks, k), "id")),
                             json_integer_value(json_array_get(want, k)));
        json_t *gt = json_object_get(j, "generated_text");
        text_matches(json_string_value(gt), json_string_length(gt), pr);
        printf("# %s: 32 of 32 greedy ids and the text equal llama.cpp's\n", names[i]);
        json_decref(j);
        su_resp_free(&r);
        free(body);
    }
}

static void test_stream_and_openai(void **st) {
    (void)st;
    json_t *pr = prompt("len40"), *want = json_object_get(pr, "greedy_ids");
    char *body = generate_body(pr, 32, NULL);
    su_resp g = su_req(&S, "POST", "/generate", body, NULL), s = su_req(&S, "POST", "/generate_stream", body, NULL);
    assert_int_equal(g.status, 200);
    assert_int_equal(s.status, 200);
    json_t *gj = su_json(&g), *ev = su_sse_events(s.body, s.len, NULL);
    assert_non_null(ev);
    assert_int_equal(json_array_size(ev), json_array_size(want));
    for (size_t k = 0; k < json_array_size(ev); k++)
        assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(ev, k), "token"), "id")),
                         json_integer_value(json_array_get(want, k)));
    json_t *last = json_array_get(ev, json_array_size(ev) - 1);
    assert_true(json_equal(json_object_get(last, "generated_text"), json_object_get(gj, "generated_text")));
    /* OpenAI completions: the same text; the encoder's input is the prompt */
    json_t *oq = json_pack("{s:O, s:i, s:i}", "prompt", json_object_get(pr, "text"), "max_tokens", 32, "temperature", 0);
    char *ob = json_dumps(oq, JSON_COMPACT);
    su_resp o = su_req(&S, "POST", "/v1/completions", ob, NULL);
    assert_int_equal(o.status, 200);
    json_t *oj = su_json(&o);
    assert_true(json_equal(json_object_get(json_array_get(json_object_get(oj, "choices"), 0), "text"),
                           json_object_get(gj, "generated_text")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(oj, "usage"), "prompt_tokens")),
                     (json_int_t)json_array_size(json_object_get(pr, "encoder_ids")));
    /* chat: the plain fallback template (T5 has none) */
    su_resp c = su_req(&S, "POST", "/v1/chat/completions",
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"translate: hello\"}],\"max_tokens\":8}", NULL);
    assert_int_equal(c.status, 200);
    json_t *cj = su_json(&c);
    json_t *ch = json_array_get(json_object_get(cj, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "length");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(cj, "usage"), "completion_tokens")), 8);
    json_decref(cj);
    json_decref(oj);
    json_decref(oq);
    json_decref(ev);
    json_decref(gj);
    free(ob);
    free(body);
    su_resp_free(&c);
    su_resp_free(&o);
    su_resp_free(&g);
    su_resp_free(&s);
}

static void test_info_and_refusals(void **st) {
    (void)st;
    su_resp r = su_req(&S, "GET", "/info", NULL, NULL);
    json_t *j = su_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "model_pipeline_tag")), "text2text-generation");
    assert_string_equal(json_string_value(json_object_get(j, "architecture")), "t5");
    json_decref(j);
    su_resp_free(&r);
    /* "/": no prepended input for a text2text model */
    json_t *pr = prompt("len9");
    char *body = generate_body(pr, 4, NULL);
    r = su_req(&S, "POST", "/", body, NULL);
    assert_int_equal(r.status, 200);
    j = su_json(&r);
    const char *text = json_string_value(json_object_get(json_array_get(j, 0), "generated_text"));
    assert_null(strstr(text, json_string_value(json_object_get(pr, "text"))));
    json_decref(j);
    su_resp_free(&r);
    free(body);
    body = generate_body(pr, 4, "\"decoder_input_details\":true");
    r = su_req(&S, "POST", "/generate", body, NULL);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "encoder-decoder"));
    su_resp_free(&r);
    free(body);
    r = su_req(&S, "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2,\"echo\":true,\"logprobs\":1}", NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "encoder-decoder"));
    su_resp_free(&r);
}

/* ---- cancellation, on a T5 slow enough to act mid-stream --------------------------------- */

static char *slow_t5(void) {
    const char *b = getenv("CTGI_BUILD");
    char dir[512], *path = NULL, err[CT_ERRLEN];
    snprintf(dir, sizeof dir, "%s/test-models", b && *b ? b : "/tmp");
    mkdir(dir, 0755);
    if (asprintf(&path, "%s/slow-t5.gguf", dir) < 0) return NULL;
    struct stat sb;
    if (stat(path, &sb) == 0) return path;
    char *tmpl = tu_model_path("synth/arch/t5.gguf"), *vocab = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    synth_arch_config c = {.template_gguf = tmpl, .vocab_gguf = vocab, .dim = 256, .n_layers = 4, .n_heads = 8,
                           .n_kv_heads = 8, .head_dim = 32, .ffn_dim = 768, .ctx_len = 2048, .type = DT_F32,
                           .seed = 0x51c0u};
    bool ok = synth_arch_write(&c, path, err);
    free(tmpl);
    free(vocab);
    if (!ok) fail_msg("slow T5: %s", err);
    return path;
}

typedef struct {
    CURLM *m;
    CURL *h;
    struct curl_slist *hdr;
    su_buf out;
} client;

static void test_cancel_frees_blocks(void **st) {
    (void)st;
    char *model = slow_t5();
    su_server d;
    assert_true(su_start(&d, model, "--threads 1 --max-batch-size 1", NULL, true));
    client c = {0};
    char url[128];
    snprintf(url, sizeof url, "%s/generate_stream", d.url);
    c.m = curl_multi_init();
    c.h = curl_easy_init();
    c.hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c.h, CURLOPT_URL, url);
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, "{\"inputs\":\"Translate to German: hello\",\"parameters\":"
                                              "{\"max_new_tokens\":1500}}");
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.hdr);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, su_buf_write);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &c.out);
    curl_multi_add_handle(c.m, c.h);
    double t0 = su_now();
    while (su_now() - t0 < 30 && !(c.out.s && strstr(c.out.s, "\"index\":3,"))) {
        int running;
        curl_multi_perform(c.m, &running);
        assert_true(running > 0);
        curl_multi_poll(c.m, NULL, 0, 5, NULL);
    }
    assert_non_null(strstr(c.out.s, "\"index\":3,"));
    assert_true(su_metric(&d, KV_USED) > 0); /* its cross-attention and decoder blocks */
    curl_multi_remove_handle(c.m, c.h);
    curl_easy_cleanup(c.h);
    curl_multi_cleanup(c.m);
    curl_slist_free_all(c.hdr);
    free(c.out.s);
    assert_int_equal(su_wait_metric(&d, "ctgi_request_cancelled{phase=\"running\"}", 1, 10), 1);
    assert_int_equal(su_wait_metric(&d, KV_USED, 0, 10), 0);
    assert_int_equal(su_metric(&d, "ctgi_kv_cache_blocks{state=\"cached\"}"), 0);
    assert_int_equal(su_stop(&d, SIGTERM, 10), 0);
    free(model);
}

/* ---- the command line ------------------------------------------------------------------- */

static json_t *cli_json(const char *args, int *status) {
    char *model = tu_model_path("synth/arch/t5.gguf"), *cmd = NULL;
    assert_true(asprintf(&cmd, "%s %s --model '%s' 2>&1", tu_ctgi_bin(), args, model) > 0);
    char *out = tu_run(cmd, status);
    json_t *j = out ? json_loads(out, JSON_ALLOW_NUL, NULL) : NULL;
    if (!j) printf("# %s: %s\n", cmd, out ? out : "");
    free(out);
    free(cmd);
    free(model);
    return j;
}

static void test_cli(void **st) {
    (void)st;
    json_t *pr = prompt("len40"), *want = json_object_get(pr, "greedy_ids");
    char args[1024];
    snprintf(args, sizeof args, "generate --prompt '%s' --max-new-tokens 32 --json",
             json_string_value(json_object_get(pr, "text")));
    int status = -1;
    json_t *j = cli_json(args, &status);
    assert_int_equal(status, 0);
    assert_true(json_equal(json_object_get(j, "prompt_ids"), json_object_get(pr, "encoder_ids")));
    assert_true(json_equal(json_object_get(j, "ids"), want));
    json_decref(j);
    /* a short prompt and budget: 8 + 8 tokens, 16 + 8 KV positions */
    j = cli_json("generate --prompt-ids 1,278,411,284,338,339,349,398 --max-new-tokens 8 --json", &status);
    assert_int_equal(status, 0);
    assert_int_equal(json_array_size(json_object_get(j, "ids")), 8);
    json_decref(j);
    char *model = tu_model_path("synth/arch/t5.gguf"), *cmd = NULL, *dir = tu_mkdtemp(), text[4096];
    snprintf(text, sizeof text, "%s/t.txt", dir);
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 200; i++) fputs("the quick brown fox ", f);
    fclose(f);
    assert_true(asprintf(&cmd, "%s perplexity --model '%s' --file '%s' --ctx 64 2>&1", tu_ctgi_bin(), model, text) > 0);
    char *out = tu_run(cmd, &status);
    assert_int_not_equal(status, 0);
    assert_non_null(strstr(out, "perplexity needs a decoder-only model"));
    free(out);
    free(cmd);
    free(model);
    tu_rmrf(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_stream_and_openai),
        cmocka_unit_test(test_info_and_refusals),
        cmocka_unit_test(test_cancel_frees_blocks),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
