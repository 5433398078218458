/*
 * serve_cancel_test.c — cancellation, admission and shutdown of the real
 * `ctgi serve`, on a synthetic model slow enough (dim 256, 32k vocabulary,
 * one thread) that a long request is still running when the test acts:
 *   - a client gone mid-stream, while queued (which also received SSE
 *     keep-alive comments while it waited), or while waiting for a
 *     non-streaming answer is cancelled: /metrics counts it
 *     (ctgi_request_cancelled by phase, tgi_request_failure{err="dropped"})
 *     and the KV blocks return;
 *   - beyond --max-concurrent-requests: 429 with Retry-After;
 *   - a client that stops reading is dropped past --max-stream-backlog;
 *   - SIGTERM: no new connections, /health 503 on a kept-alive connection,
 *     the in-flight stream finishes, exit 0;
 *     past --graceful-termination-timeout the stream ends with an error
 *     event (OpenAI's: the error event, then `data: [DONE]`), exit 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/serve_util.h"
#include "support/testutil.h"

static char *MODEL;
static su_server S; /* one sequence at a time, three requests in flight at most */

#define LONG "{\"inputs\":\"Hello\",\"parameters\":{\"max_new_tokens\":1500}}"
#define CANCELLED(phase) "ctgi_request_cancelled{phase=\"" phase "\"}"
#define KV_USED "ctgi_kv_cache_blocks{state=\"used\"}"

static int setup(void **st) {
    char dir[512];
    const char *b = getenv("CTGI_BUILD");
    snprintf(dir, sizeof dir, "%s/test-models", b && *b ? b : "/tmp");
    mkdir(dir, 0755);
    if (!(MODEL = su_slow_model(dir))) return -1;
    return su_start(&S, MODEL, "--threads 1 --max-batch-size 1 --max-concurrent-requests 3 --sse-keep-alive 0.05",
                    NULL, true)
               ? 0
               : -1;
}

static int teardown(void **st) {
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    free(MODEL);
    return 0;
}

/* ---- a client we can walk away from ------------------------------------------------- */

typedef struct {
    CURLM *m;
    CURL *h;
    struct curl_slist *hdr;
    su_buf out; /* the response body so far */
    bool done;
} client;

static void client_start(client *c, const su_server *s, const char *path, const char *body) {
    memset(c, 0, sizeof *c);
    char url[128];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    c->m = curl_multi_init();
    c->h = curl_easy_init();
    c->hdr = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"), "Expect:");
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdr);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, su_buf_write);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->out);
    curl_multi_add_handle(c->m, c->h);
}

/* A liveness bound of `seconds`, stretched by CTGI_TEST_SLOWDOWN (the
 * ThreadSanitizer stage sets it: the slow model decodes several times
 * slower there). */
static double patience(double seconds) {
    const char *f = getenv("CTGI_TEST_SLOWDOWN");
    double k = f ? atof(f) : 1;
    return seconds * (k > 1 ? k : 1);
}

/* Drive c for up to `seconds` (patience() from 1 s up) or until its body
 * holds `needle` (or it ends). */
static bool client_run(client *c, double seconds, const char *needle) {
    if (seconds >= 1) seconds = patience(seconds);
    double t0 = su_now();
    while (!c->done && su_now() - t0 < seconds) {
        int running;
        curl_multi_perform(c->m, &running);
        c->done = running == 0;
        if (needle && c->out.s && strstr(c->out.s, needle)) return true;
        curl_multi_poll(c->m, NULL, 0, 5, NULL);
    }
    return needle ? c->out.s && strstr(c->out.s, needle) : c->done;
}

/* Walk away: closes the connection. */
static void client_drop(client *c) {
    curl_multi_remove_handle(c->m, c->h);
    curl_easy_cleanup(c->h);
    curl_multi_cleanup(c->m);
    curl_slist_free_all(c->hdr);
    free(c->out.s);
    memset(c, 0, sizeof *c);
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---- cancellation --------------------------------------------------------------------- */

static void test_disconnect_mid_stream(void **st) {
    client c;
    client_start(&c, &S, "/generate_stream", LONG);
    assert_true(client_run(&c, 20, "\"index\":3,"));
    client_drop(&c);
    assert_int_equal(su_wait_metric(&S, CANCELLED("running"), 1, 10), 1);
    assert_int_equal(su_wait_metric(&S, KV_USED, 0, 10), 0);
    assert_int_equal(su_metric(&S, "tgi_request_failure{err=\"dropped\"}"), 1);
    assert_int_equal(su_metric(&S, "ctgi_requests_in_flight"), 0);
}

static void test_disconnect_while_queued(void **st) {
    client a, b;
    client_start(&a, &S, "/generate_stream", LONG);
    assert_true(client_run(&a, 20, "\"index\":2,"));
    client_start(&b, &S, "/generate_stream", LONG);
    client_run(&b, 0.05, NULL); /* send it */
    assert_true(su_wait_metric(&S, "tgi_queue_size", 1, 10) == 1); /* b waits behind a */
    /* while it waits, b's stream is kept alive with comments, no tokens */
    assert_true(client_run(&b, 10, ":\n\n"));
    assert_int_equal(count(b.out.s, "data:"), 0);
    client_drop(&b);
    assert_int_equal(su_wait_metric(&S, CANCELLED("queued"), 1, 10), 1);
    assert_int_equal(su_wait_metric(&S, "tgi_queue_size", 0, 10), 0);
    client_drop(&a);
    assert_int_equal(su_wait_metric(&S, CANCELLED("running"), 2, 10), 2);
    assert_int_equal(su_wait_metric(&S, KV_USED, 0, 10), 0);
}

static void test_disconnect_non_streaming(void **st) {
    client c;
    client_start(&c, &S, "/generate", LONG);
    client_run(&c, 0.05, NULL);
    assert_int_equal(su_wait_metric(&S, "tgi_batch_current_size", 1, 10), 1); /* it runs */
    client_run(&c, 0.1, NULL);
    client_drop(&c);
    assert_int_equal(su_wait_metric(&S, CANCELLED("running"), 3, 10), 3);
    assert_int_equal(su_wait_metric(&S, KV_USED, 0, 10), 0);
}

static void test_429_over_the_limit(void **st) {
    client c[3];
    for (int i = 0; i < 3; i++) {
        client_start(&c[i], &S, "/generate", LONG);
        client_run(&c[i], 0.01, NULL);
    }
    assert_int_equal(su_wait_metric(&S, "ctgi_requests_in_flight", 3, 10), 3);
    su_resp r = su_req(&S, "POST", "/generate", LONG, NULL);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.body, "{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}");
    char *ra = su_header(&r, "Retry-After");
    assert_string_equal(ra, "1");
    free(ra);
    su_resp_free(&r);
    r = su_req(&S, "GET", "/health", NULL, NULL); /* only generation is limited */
    assert_int_equal(r.status, 200);
    su_resp_free(&r);
    assert_int_equal(su_metric(&S, "tgi_request_failure{err=\"overloaded\"}"), 1);
    for (int i = 0; i < 3; i++) client_drop(&c[i]);
    assert_int_equal(su_wait_metric(&S, "ctgi_requests_in_flight", 0, 10), 0);
    assert_int_equal(su_wait_metric(&S, KV_USED, 0, 10), 0);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

static size_t sink(char *p, size_t sz, size_t n, void *ud) { return sz * n; }

static bool can_connect(const su_server *s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void test_sigterm_drains(void **st) {
    su_server d;
    assert_true(su_start(&d, MODEL, "--threads 1", NULL, true));
    client c;
    client_start(&c, &d, "/generate_stream", "{\"inputs\":\"Hello\",\"parameters\":{\"max_new_tokens\":300}}");
    assert_true(client_run(&c, 20, "\"index\":1,"));
    char url[96];
    snprintf(url, sizeof url, "%s/health", d.url);
    CURL *health = curl_easy_init(); /* a keep-alive connection opened before the signal */
    curl_easy_setopt(health, CURLOPT_URL, url);
    curl_easy_setopt(health, CURLOPT_WRITEFUNCTION, sink);
    long code = 0, connects = 0;
    assert_int_equal(curl_easy_perform(health), CURLE_OK);
    curl_easy_getinfo(health, CURLINFO_RESPONSE_CODE, &code);
    assert_int_equal(code, 200);
    kill(d.pid, SIGTERM);
    double t0 = su_now();
    while (can_connect(&d) && su_now() - t0 < 5) su_sleep(0.01);
    assert_false(can_connect(&d)); /* no new connections */
    assert_int_equal(curl_easy_perform(health), CURLE_OK);
    curl_easy_getinfo(health, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(health, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0); /* the same connection */
    assert_int_equal(code, 503);   /* /health flipped */
    curl_easy_cleanup(health);
    assert_true(client_run(&c, 30, NULL));
    json_t *ev = su_sse_events(c.out.s, c.out.len, NULL);
    assert_int_equal(json_array_size(ev), 300); /* the stream finished */
    assert_true(json_is_string(json_object_get(json_array_get(ev, 299), "generated_text")));
    json_decref(ev);
    client_drop(&c);
    assert_int_equal(su_stop(&d, 0, 10), 0);
}

/* A client that stops reading: once its unsent backlog passes
 * --max-stream-backlog it is dropped and its request cancelled (a tiny
 * receive buffer keeps the kernel from absorbing the stream). */
static curl_socket_t small_rcvbuf(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    int sz = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    return fd;
}

static void test_slow_reader_dropped(void **st) {
    su_server d;
    assert_true(su_start(&d, MODEL, "--threads 1 --max-stream-backlog 65536", NULL, true));
    double before = su_metric(&d, CANCELLED("running"));
    client c;
    client_start(&c, &d, "/generate_stream", "{\"inputs\":\"Hello\",\"parameters\":{\"max_new_tokens\":1500,\"top_n_tokens\":5}}");
    curl_easy_setopt(c.h, CURLOPT_OPENSOCKETFUNCTION, small_rcvbuf);
    assert_true(client_run(&c, 20, "\"index\":1,"));
    /* stop reading: the backlog grows past 64 KiB long before 1500 tokens */
    assert_true(su_wait_metric(&d, CANCELLED("running"), before + 1, patience(60)) == before + 1);
    assert_true(su_wait_metric(&d, KV_USED, 0, 10) == 0);
    char *log = su_log(&d);
    assert_non_null(strstr(log, "client not reading"));
    free(log);
    client_drop(&c);
    assert_int_equal(su_stop(&d, SIGTERM, 10), 0);
}

static void test_sigterm_timeout_cancels(void **st) {
    su_server d;
    assert_true(su_start(&d, MODEL, "--threads 1 --graceful-termination-timeout 0.3", NULL, true));
    client c, o;
    client_start(&c, &d, "/generate_stream", LONG);
    client_start(&o, &d, "/v1/chat/completions",
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":1500,\"stream\":true}");
    assert_true(client_run(&c, 20, "\"index\":1,"));
    assert_true(client_run(&o, 20, "\"content\":\""));
    kill(d.pid, SIGTERM);
    assert_true(client_run(&c, 20, NULL));
    assert_true(client_run(&o, 20, NULL));
    /* OpenAI's stream: an error event, then [DONE] */
    const char *err = strstr(o.out.s, "data: {\"error\":{\"message\":");
    assert_non_null(err);
    assert_true(o.out.len > 14 && strcmp(o.out.s + o.out.len - 14, "data: [DONE]\n\n") == 0);
    assert_int_equal(count(err, "data: "), 2);
    client_drop(&o);
    json_t *ev = su_sse_events(c.out.s, c.out.len, NULL);
    assert_non_null(ev);
    size_t n = json_array_size(ev);
    assert_true(n >= 2 && n < 1500);
    json_t *last = json_array_get(ev, n - 1);
    assert_string_equal(json_string_value(json_object_get(last, "error_type")), "generation");
    json_decref(ev);
    client_drop(&c);
    assert_int_equal(su_stop(&d, 0, 10), 0);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disconnect_mid_stream),
        cmocka_unit_test(test_disconnect_while_queued),
        cmocka_unit_test(test_disconnect_non_streaming),
        cmocka_unit_test(test_429_over_the_limit),
        cmocka_unit_test(test_sigterm_drains),
        cmocka_unit_test(test_sigterm_timeout_cancels),
        cmocka_unit_test(test_slow_reader_dropped),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
