/*
 * serve_util.c — see serve_util.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "serve_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/synth_model.h"
#include "../support/testutil.h"
#include "model/dtype.h"

double su_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void su_sleep(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = b ? fread(b, 1, (size_t)n, f) : 0;
    if (b) b[got] = '\0';
    fclose(f);
    return b;
}

char *su_log(const su_server *s) { return slurp(s->log); }

bool su_start(su_server *s, const char *model, const char *args, const char *env, bool wait_ready) {
    memset(s, 0, sizeof *s);
    static const char *tmpl = "/tmp/ctgi-serve-log-XXXXXX";
    s->log = strdup(tmpl);
    int fd = mkstemp(s->log);
    if (fd < 0) return false;
    char *cmd = NULL;
    if (asprintf(&cmd, "%s exec '%s' serve --hostname 127.0.0.1 --port 0 --model-id '%s' %s", env ? env : "",
                 tu_ctgi_bin(), model, args ? args : "") < 0)
        return false;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd);
    free(cmd);
    for (double t0 = su_now(); su_now() - t0 < 20; su_sleep(0.01)) {
        char *log = su_log(s);
        const char *p = strstr(log, "listening on http://127.0.0.1:");
        if (p && !s->port) {
            s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
            snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
        }
        bool up = s->port && (!wait_ready || strstr(log, "INFO ready in") || strstr(log, "\"message\":\"ready in"));
        free(log);
        if (up) return true;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) break;
    }
    char *log = su_log(s);
    fprintf(stderr, "# ctgi serve did not come up; log:\n%s\n", log);
    free(log);
    return false;
}

bool su_start_shared(su_server *s, const char *model_rel, const char *args) {
    char *model = tu_model_path(model_rel);
    bool ok = model && su_start(s, model, args, NULL, true);
    free(model);
    return ok;
}

int su_stop(su_server *s, int sig, double timeout_s) {
    int st = 0, rc = -1;
    if (s->pid <= 0) return -1;
    if (sig) kill(s->pid, sig);
    for (double t0 = su_now(); su_now() - t0 < timeout_s; su_sleep(0.01)) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
    }
    if (rc == -1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    }
    s->pid = 0;
    unlink(s->log);
    free(s->log);
    s->log = NULL;
    return rc;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

size_t su_buf_write(char *p, size_t sz, size_t n, void *ud) {
    su_buf *b = ud;
    size_t k = sz * n;
    char *ns = realloc(b->s, b->len + k + 1);
    if (!ns) return 0;
    memcpy(ns + b->len, p, k);
    b->s = ns;
    b->len += k;
    b->s[b->len] = '\0';
    return k;
}

su_resp su_req(const su_server *s, const char *method, const char *path, const char *body, const char *headers) {
    su_resp r = {0};
    CURL *c = curl_easy_init();
    su_buf b = {calloc(1, 1), 0}, h = {calloc(1, 1), 0};
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    struct curl_slist *hl = NULL;
    bool has_ct = false;
    if (headers) {
        char *copy = strdup(headers), *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            hl = curl_slist_append(hl, line);
            has_ct = has_ct || strncasecmp(line, "Content-Type:", 13) == 0;
        }
        free(copy);
    }
    if (body && !has_ct) hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, su_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, su_buf_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    r.curl_code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r.connects);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r.body = b.s;
    r.len = b.len;
    r.headers = h.s;
    return r;
}

void su_resp_free(su_resp *r) {
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

char *su_header(const su_resp *r, const char *name) {
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ') v++;
            size_t k = strcspn(v, "\r\n");
            return strndup(v, k);
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return NULL;
}

json_t *su_json(const su_resp *r) {
    json_error_t e;
    return r->body ? json_loadb(r->body, r->len, 0, &e) : NULL;
}

json_t *su_sse_events(const char *body, size_t len, int *comments) {
    json_t *arr = json_array();
    int nc = 0;
    size_t i = 0;
    while (i < len) {
        const char *line = body + i;
        const char *nl = memchr(line, '\n', len - i);
        if (!nl) goto bad; /* an unterminated line */
        size_t n = (size_t)(nl - line);
        if (n == 0) { i++; continue; }
        if (line[0] == ':') {
            nc++;
        } else if (n > 5 && strncmp(line, "data:", 5) == 0) {
            if (nl + 1 >= body + len || nl[1] != '\n') goto bad; /* an event ends with a blank line */
            json_error_t e;
            json_t *j = json_loadb(line + 5, n - 5, 0, &e);
            if (!j) goto bad;
            json_array_append_new(arr, j);
        } else {
            goto bad;
        }
        i += n + 1;
    }
    if (comments) *comments = nc;
    return arr;
bad:
    json_decref(arr);
    return NULL;
}

double su_metric(const su_server *s, const char *name) {
    su_resp r = su_req(s, "GET", "/metrics", NULL, NULL);
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = r.body; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    su_resp_free(&r);
    return v;
}

double su_wait_metric(const su_server *s, const char *name, double want, double timeout_s) {
    double v = -1;
    for (double t0 = su_now(); su_now() - t0 < timeout_s; su_sleep(0.02))
        if ((v = su_metric(s, name)) == want) break;
    return v;
}

char *su_slow_model(const char *dir) {
    char *path = NULL, err[CT_ERRLEN];
    if (asprintf(&path, "%s/slow.gguf", dir) < 0) return NULL;
    struct stat st;
    if (stat(path, &st) == 0) return path;
    char *vocab = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    synth_config c = synth_default();
    c.dim = 256;
    c.n_layers = 4;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.head_dim = 32;
    c.ffn_dim = 768;
    c.ctx_len = 2048;
    c.seed = 77;
    c.vocab_gguf = vocab;
    bool ok = synth_write_gguf(&c, path, err);
    free(vocab);
    if (!ok) {
        fprintf(stderr, "# slow model: %s\n", err);
        free(path);
        return NULL;
    }
    return path;
}
