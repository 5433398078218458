/*
 * serve_load_test.c — `ctgi serve` under many clients and bad clients:
 * 200 concurrent streams (one libcurl multi handle) all finish with the
 * right number of events and the same greedy text, and a slow-loris client
 * (headers trickled a byte at a time), a 10 MB body and malformed JSON sent
 * while a stream runs leave that stream exactly as it is without them.
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
#include <unistd.h>

#include "server/serve_util.h"
#include "support/testutil.h"

static su_server S;

static int setup(void **st) {
    return su_start_shared(&S, "stories260K.gguf", "--threads 1 --max-concurrent-requests 256") ? 0 : -1;
}

static int teardown(void **st) {
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    return 0;
}

/* ---- a transfer on a multi handle ----------------------------------------------------- */

typedef struct {
    CURL *h;
    struct curl_slist *hdr;
    su_buf out; /* the response body */
    long status;
    CURLcode result; /* the transfer's own outcome (a reset connection: a send or receive error) */
    bool done;
} xfer;

static void xfer_init(xfer *x, CURLM *m, const char *path, const char *body, size_t body_len) {
    memset(x, 0, sizeof *x);
    char url[128];
    snprintf(url, sizeof url, "%s%s", S.url, path);
    x->h = curl_easy_init();
    x->hdr = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"), "Expect:");
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdr);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, su_buf_write);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, &x->out);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT, 60L);
    curl_multi_add_handle(m, x->h);
}

static void xfer_free(xfer *x, CURLM *m) {
    curl_multi_remove_handle(m, x->h);
    curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdr);
    free(x->out.s);
}

/* Drive m until every transfer is done (or 60 s); tick() runs between polls. */
static void run_multi(CURLM *m, void (*tick)(void *), void *ud) {
    int running = 1;
    double t0 = su_now();
    while (running && su_now() - t0 < 60) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q))) {
            if (msg->msg != CURLMSG_DONE) continue;
            xfer *x;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &x->status);
            x->result = msg->data.result;
            x->done = true;
        }
        if (tick) tick(ud);
        if (running) curl_multi_poll(m, NULL, 0, 10, NULL);
    }
}

/* The stream's events (framing checked) and its final generated_text. */
static json_t *events_of(const xfer *x) {
    assert_int_equal(x->status, 200);
    json_t *ev = su_sse_events(x->out.s, x->out.len, NULL);
    assert_non_null(ev);
    return ev;
}

static const char *last_text(json_t *ev) {
    return json_string_value(json_object_get(json_array_get(ev, json_array_size(ev) - 1), "generated_text"));
}

/* ---- 200 streams -------------------------------------------------------------------- */

#define N_STREAMS 200
#define N_TOKENS 16

static void test_200_concurrent_streams(void **st) {
    static xfer xs[N_STREAMS];
    static const char body[] = "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":16,\"details\":true}}";
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    for (int i = 0; i < N_STREAMS; i++) xfer_init(&xs[i], m, "/generate_stream", body, sizeof body - 1);
    run_multi(m, NULL, NULL);
    char *first = NULL;
    for (int i = 0; i < N_STREAMS; i++) {
        assert_true(xs[i].done);
        json_t *ev = events_of(&xs[i]);
        assert_int_equal(json_array_size(ev), N_TOKENS);
        json_t *d = json_object_get(json_array_get(ev, N_TOKENS - 1), "details");
        assert_int_equal(json_integer_value(json_object_get(d, "generated_tokens")), N_TOKENS);
        if (!first) first = strdup(last_text(ev));
        assert_string_equal(last_text(ev), first); /* greedy: batch neighbours change nothing */
        json_decref(ev);
        xfer_free(&xs[i], m);
    }
    free(first);
    curl_multi_cleanup(m);
    assert_int_equal(su_metric(&S, "ctgi_requests_in_flight"), 0);
    assert_int_equal(su_wait_metric(&S, "ctgi_kv_cache_blocks{state=\"used\"}", 0, 5), 0);
}

/* ---- bad neighbours ------------------------------------------------------------------- */

typedef struct {
    int fd;
    const char *req;
    size_t sent;
    double next;
} loris;

static void loris_tick(void *ud) {
    loris *l = ud;
    if (l->fd < 0 || !l->req[l->sent] || su_now() < l->next) return;
    if (send(l->fd, l->req + l->sent, 1, MSG_NOSIGNAL) == 1) l->sent++;
    l->next = su_now() + 0.005;
}

static int connect_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_bad_clients_do_not_disturb_a_stream(void **st) {
    static const char body[] = "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":200,\"details\":true}}";
    /* alone */
    su_resp ref = su_req(&S, "POST", "/generate_stream", body, NULL);
    json_t *ref_ev = su_sse_events(ref.body, ref.len, NULL);
    assert_int_equal(json_array_size(ref_ev), 200);
    /* with company */
    size_t big_n = 10u << 20;
    char *big = malloc(big_n);
    memset(big, ' ', big_n);
    memcpy(big, "{\"inputs\":\"", 11);
    static const char bad_json[] = "{\"inputs\": \"Once\", \"parameters\": {";
    loris l = {connect_server(), "POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n", 0, 0};
    assert_true(l.fd >= 0);
    CURLM *m = curl_multi_init();
    xfer stream, huge, bad;
    xfer_init(&stream, m, "/generate_stream", body, sizeof body - 1);
    xfer_init(&huge, m, "/generate", big, big_n);
    xfer_init(&bad, m, "/generate", bad_json, sizeof bad_json - 1);
    run_multi(m, loris_tick, &l);
    /* 413 is answered from the headers and the connection closed; a client
     * still sending its 10 MiB may meet the reset before it reads the
     * answer (seen under TSan on a busy machine) */
    if (huge.status != 413 && huge.result != CURLE_SEND_ERROR && huge.result != CURLE_RECV_ERROR)
        fail_msg("the huge body got status %ld (curl: %s)", huge.status, curl_easy_strerror(huge.result));
    assert_int_equal(bad.status, 400);
    json_t *ev = events_of(&stream);
    assert_true(json_equal(ev, ref_ev)); /* token for token, the same stream */
    /* the half-sent request still sits there, and the server still answers */
    assert_true(l.sent > 0); /* its headers never end: it is still a slow loris */
    su_resp h = su_req(&S, "GET", "/health", NULL, NULL);
    assert_int_equal(h.status, 200);
    su_resp_free(&h);
    close(l.fd);
    json_decref(ev);
    json_decref(ref_ev);
    xfer_free(&stream, m);
    xfer_free(&huge, m);
    xfer_free(&bad, m);
    curl_multi_cleanup(m);
    free(big);
    su_resp_free(&ref);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_concurrent_streams),
        cmocka_unit_test(test_bad_clients_do_not_disturb_a_stream),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
