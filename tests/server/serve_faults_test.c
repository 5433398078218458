/*
 * serve_faults_test.c — `ctgi serve` when something breaks (issue 12,
 * part 4):
 *   - an engine step that fails (CTGI_DEBUG_FAIL_STEP=2: the second
 *     forward pass fails): the request in it gets TGI's 424
 *     {"error","error_type":"generation"} (OpenAI: the {"error":{…}}
 *     envelope), or on a stream an error event (OpenAI: then [DONE]); its
 *     KV blocks are free again, /health stays 200 and the next request is
 *     answered in full — for /generate, /generate_stream, /v1/completions
 *     and streamed /v1/chat/completions;
 *   - start-up failures with a clear message and exit status 1: a model
 *     file that does not exist, a model whose weights do not fit in the
 *     memory available (a sparse GGUF whose one tensor claims 128 GiB),
 *     a --kv-cache-memory larger than the memory available, and a port
 *     another socket already listens on.
 * SIGTERM under load (drain, refuse, exit 0; cancel after
 * --graceful-termination-timeout) is serve_cancel_test.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/serve_util.h"
#include "support/synth_model.h"
#include "support/testutil.h"

/* ---- an injected step failure -------------------------------------------------------- */

typedef struct {
    const char *path, *body;
    bool stream, oai;
} route_case;

static const route_case CASES[] = {
    {"/generate", "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":10,\"details\":true}}", false,
     false},
    {"/generate_stream", "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":10,\"details\":true}}",
     true, false},
    {"/v1/completions", "{\"model\":\"tgi\",\"prompt\":\"Once upon a time\",\"max_tokens\":10}", false, true},
    {"/v1/chat/completions",
     "{\"model\":\"tgi\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":10,\"stream\":true}",
     true, true},
};

/* The error the failed request got: TGI's message, or OpenAI's error.message. */
static const char *error_message(json_t *j, bool oai) {
    json_t *e = json_object_get(j, "error");
    if (oai) return json_string_value(json_object_get(e, "message"));
    assert_string_equal(json_string_value(json_object_get(j, "error_type")), "generation");
    return json_string_value(e);
}

static void check_failed(const route_case *c, su_resp *r) {
    json_t *j;
    if (c->stream) {
        assert_int_equal(r->status, 200);
        if (c->oai) assert_non_null(strstr(r->body, "data: [DONE]"));
        /* the last JSON event is the error (OpenAI's [DONE] is not JSON) */
        const char *p = strstr(r->body, "{\"error\"");
        assert_non_null(p);
        j = json_loadb(p, strcspn(p, "\n"), 0, NULL);
    } else {
        assert_int_equal(r->status, 424);
        j = su_json(r);
    }
    assert_non_null(j);
    const char *m = error_message(j, c->oai);
    assert_non_null(m);
    assert_non_null(strstr(m, "injected fault"));
    json_decref(j);
}

static void check_served(const route_case *c, su_resp *r) {
    assert_int_equal(r->status, 200);
    if (!c->stream) {
        json_t *j = su_json(r);
        int n = c->oai ? (int)json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens"))
                       : (int)json_integer_value(json_object_get(json_object_get(j, "details"), "generated_tokens"));
        assert_true(n >= 1 && n <= 10);
        json_decref(j);
        return;
    }
    assert_null(strstr(r->body, "\"error\""));
    assert_non_null(strstr(r->body, c->oai ? "\"finish_reason\":\"" : "\"generated_text\":\""));
}

static void injected_fault(const route_case *c) {
    su_server s;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&s, model, "--threads 1", "CTGI_DEBUG_FAIL_STEP=2", true));
    free(model);
    su_resp r = su_req(&s, "POST", c->path, c->body, NULL);
    check_failed(c, &r);
    su_resp_free(&r);
    assert_int_equal(su_wait_metric(&s, "ctgi_kv_cache_blocks{state=\"used\"}", 0, 5), 0);
    assert_int_equal(su_metric(&s, "tgi_request_failure{err=\"generation\"}"), 1);
    su_resp h = su_req(&s, "GET", "/health", NULL, NULL);
    assert_int_equal(h.status, 200);
    su_resp_free(&h);
    r = su_req(&s, "POST", c->path, c->body, NULL); /* the server serves on */
    check_served(c, &r);
    su_resp_free(&r);
    assert_int_equal(su_metric(&s, "tgi_request_success"), 1);
    assert_int_equal(su_wait_metric(&s, "ctgi_kv_cache_blocks{state=\"used\"}", 0, 5), 0);
    assert_int_equal(su_stop(&s, SIGTERM, 10), 0);
}

static void test_fault_generate(void **st) { injected_fault(&CASES[0]); }
static void test_fault_generate_stream(void **st) { injected_fault(&CASES[1]); }
static void test_fault_completions(void **st) { injected_fault(&CASES[2]); }
static void test_fault_chat_stream(void **st) { injected_fault(&CASES[3]); }

/* ---- start-up failures ------------------------------------------------------------------ */

/* `ctgi serve ARGS` must exit with status 1 within 30 s, its output
 * naming want. */
static void expect_startup_error(const char *args, const char *want) {
    char log[] = "/tmp/ctgi-faults-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "timeout 30 '%s' serve --hostname 127.0.0.1 --threads 1 %s >'%s' 2>&1", tu_ctgi_bin(),
                         args, log) > 0);
    int st = system(cmd);
    free(cmd);
    su_server fake = {.log = log};
    char *out = su_log(&fake);
    if (!strstr(out, want)) fprintf(stderr, "# wanted '%s' in:\n%s\n", want, out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, want));
    free(out);
    unlink(log);
}

static void test_missing_file(void **st) {
    expect_startup_error("--port 0 --model-id /nonexistent/dir/model.gguf", "/nonexistent/dir/model.gguf");
}

static void test_port_in_use(void **st) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    char *model = tu_model_path("stories260K.gguf"), *args = NULL;
    assert_true(asprintf(&args, "--port %d --model-id '%s'", ntohs(a.sin_port), model) > 0);
    expect_startup_error(args, "in use");
    free(args);
    free(model);
    close(fd);
}

/* A real model whose token embedding claims 2^29 rows of 64 f32 (128 GiB):
 * the tensor info points past the other tensors, and the file is extended
 * sparsely to cover it, so it is a well-formed GGUF that costs no disk. */
static char *huge_model(void) {
    char dir[] = "/tmp/ctgi-huge-XXXXXX", err[CT_ERRLEN];
    assert_non_null(mkdtemp(dir));
    char *small = NULL, *big = NULL, *vocab = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    assert_true(asprintf(&small, "%s/small.gguf", dir) > 0 && asprintf(&big, "%s/huge.gguf", dir) > 0);
    synth_config c = synth_default();
    c.tied = true;
    c.vocab_gguf = vocab;
    assert_true(synth_write_gguf(&c, small, err));
    uint64_t rows = 1ull << 29, offset = 64ull << 20;
    synth_gguf_edit e = {.tensor = "token_embd.weight", .n_dims = 2, .ne = {64, rows}, .raw = true, .offset = offset};
    assert_true(synth_gguf_rewrite(small, big, &e, err));
    struct stat sb;
    assert_int_equal(stat(big, &sb), 0);
    assert_int_equal(truncate(big, (off_t)((uint64_t)sb.st_size + offset + rows * 64 * 4)), 0);
    unlink(small);
    free(small);
    free(vocab);
    return big;
}

static void test_model_too_big(void **st) {
    char *path = huge_model(), *args = NULL;
    assert_true(asprintf(&args, "--port 0 --model-id '%s'", path) > 0);
    expect_startup_error(args, "does not fit in memory: its weights take 128.0 GiB");
    free(args);
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

static void test_kv_cache_too_big(void **st) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    char *model = tu_model_path("stories260K.gguf"), *args = NULL;
    assert_true(asprintf(&args, "--port 0 --model-id '%s' --kv-cache-memory %.0f", model,
                         2.0 * (double)pages * (double)page) > 0);
    expect_startup_error(args, "does not fit in memory");
    free(args);
    free(model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_generate),
        cmocka_unit_test(test_fault_generate_stream),
        cmocka_unit_test(test_fault_completions),
        cmocka_unit_test(test_fault_chat_stream),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_model_too_big),
        cmocka_unit_test(test_kv_cache_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
