/*
 * serve_util.h — helpers for the tests that run the real `ctgi serve`:
 * start it on an ephemeral loopback port (--port 0; the port is read from
 * the start-up log), make HTTP requests with libcurl, split SSE bodies into
 * events, read /metrics, stop it with a signal.  Linked into every test
 * binary (Makefile: TEST_SUPPORT_SRC).
 */
#ifndef CTGI_SERVE_UTIL_H
#define CTGI_SERVE_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char *log;    /* path of the server's stderr/stdout */
    char url[64]; /* http://127.0.0.1:PORT */
} su_server;

/* Start `ctgi serve --hostname 127.0.0.1 --port 0 --model-id MODEL ARGS`
 * (env: "VAR=value ..." prefix or NULL); wait for the port, and for
 * readiness unless wait_ready is false.  false if it did not come up in
 * 20 s (the log is printed). */
bool su_start(su_server *s, const char *model, const char *args, const char *env, bool wait_ready);
/* The usual group setup: su_start on a model given relative to the shared
 * models directory (tu_model_path, e.g. "stories260K.gguf"), no env,
 * waiting for readiness. */
bool su_start_shared(su_server *s, const char *model_rel, const char *args);
/* Send sig (0 = none) and wait for the exit; returns the exit status (128+sig
 * if killed, -1 if it did not exit within timeout_s, after which it is killed). */
int su_stop(su_server *s, int sig, double timeout_s);
/* The server's log so far (malloc'd). */
char *su_log(const su_server *s);

/* A growing NUL-terminated byte buffer; su_buf_write appends to it (a
 * curl CURLOPT_WRITEFUNCTION with the buffer as its WRITEDATA).  The
 * owner frees s. */
typedef struct {
    char *s;
    size_t len;
} su_buf;
size_t su_buf_write(char *p, size_t sz, size_t n, void *buf);

typedef struct {
    long status;
    char *body;
    size_t len;
    char *headers; /* raw header block(s) */
    long connects; /* new connections this request made (keep-alive check) */
    int curl_code;
} su_resp;

/* One request; headers "Name: value" separated by '\n' (NULL for none).
 * Content-Type: application/json is sent with a body unless given. */
su_resp su_req(const su_server *s, const char *method, const char *path, const char *body, const char *headers);
void su_resp_free(su_resp *r);
/* A response header's value (malloc'd, case-insensitive name) or NULL. */
char *su_header(const su_resp *r, const char *name);
/* The body as JSON (NULL if it is not). */
json_t *su_json(const su_resp *r);

/* The `data:` payloads of an SSE body parsed as JSON, in order (an array);
 * *comments gets the number of `:` comment lines (may be NULL); malformed
 * framing (an event not ending in a blank line, a payload that is not
 * JSON) makes it return NULL. */
json_t *su_sse_events(const char *body, size_t len, int *comments);

/* A sample of /metrics (e.g. "ctgi_request_cancelled{phase=\"queued\"}"), -1 if absent. */
double su_metric(const su_server *s, const char *name);
/* Poll a metric until it equals want (or timeout): its last value. */
double su_wait_metric(const su_server *s, const char *name, double want, double timeout_s);

/* Seconds, monotonic. */
double su_now(void);
void su_sleep(double seconds);

/* A slow synthetic model for cancellation/drain tests (llama, dim 256,
 * 4 layers, llama-spm vocabulary, context 2048), written once into dir. */
char *su_slow_model(const char *dir);

#endif
