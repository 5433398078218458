/*
 * conn_guard.c — protections at the level of a TCP connection, below the
 * HTTP requests routes.c sees:
 *
 *   - request deadlines (--request-timeout): a connection must deliver a
 *     whole request (headers and body) within that many seconds of being
 *     accepted or of its previous answer, however it trickles the bytes.
 *     MHD's own timeout (--idle-timeout) is an inactivity timeout that
 *     every received byte resets, so a client sending one byte a second
 *     (slow-loris) would hold its connection for ever.  Every deadline is
 *     "now + the same timeout", so the waiting connections form a FIFO
 *     list already ordered by deadline, and one uv_timer at the head's
 *     deadline serves them all (no wakeup while nobody waits).  A
 *     connection past its deadline is shut down (shutdown(2), not close:
 *     the descriptor stays MHD's); MHD then reads the end of the stream
 *     and closes it the usual way.
 *   - the descriptor budget of --max-connections (RLIMIT_NOFILE);
 *   - the TLS certificate and key files of --ssl-certfile / --ssl-keyfile.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "log.h"
#include "server.h"

struct guard_sock {
    srv *s;
    int fd;
    double deadline;
    bool listed;
    guard_sock *prev, *next;
};

/* By default a little longer than --idle-timeout, so that an idle
 * keep-alive connection is MHD's to close (quietly), and only a client
 * that keeps sending without finishing is ours. */
static double request_timeout(const srv *s) {
    return s->cfg.request_timeout > 0 ? s->cfg.request_timeout : s->cfg.idle_timeout + 5;
}

static void unlink_sock(srv *s, guard_sock *k) {
    if (!k->listed) return;
    if (k->prev) k->prev->next = k->next;
    else s->dl_head = k->next;
    if (k->next) k->next->prev = k->prev;
    else s->dl_tail = k->prev;
    k->prev = k->next = NULL;
    k->listed = false;
}

static void on_deadline(uv_timer_t *t);

static void rearm(srv *s) {
    if (!s->dl_head) {
        uv_timer_stop(&s->dl_timer);
        return;
    }
    double wait = s->dl_head->deadline - srv_now();
    uv_timer_start(&s->dl_timer, on_deadline, wait > 0 ? (uint64_t)(wait * 1e3) + 1 : 0, 0);
}

static void on_deadline(uv_timer_t *t) {
    srv *s = t->data;
    double now = srv_now();
    int n = 0;
    while (s->dl_head && s->dl_head->deadline <= now) {
        guard_sock *k = s->dl_head;
        unlink_sock(s, k);
        shutdown(k->fd, SHUT_RDWR);
        n++;
    }
    if (n)
        log_line(s->cfg.json_output, "WARN", NULL,
                 "closed %d connection(s) with no complete request after %g s (slow or idle client; --request-timeout)", n,
                 request_timeout(s));
    rearm(s);
    http_drive(s);
}

void guard_init(srv *s) {
    uv_timer_init(&s->loop, &s->dl_timer);
    s->dl_timer.data = s;
}

void guard_close(srv *s) {
    uv_timer_stop(&s->dl_timer);
    uv_close((uv_handle_t *)&s->dl_timer, NULL);
}

guard_sock *guard_sock_new(srv *s, int fd) {
    guard_sock *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->s = s;
    k->fd = fd;
    guard_wait_request(k);
    return k;
}

void guard_sock_free(guard_sock *k) {
    if (!k) return;
    guard_got_request(k);
    free(k);
}

void guard_wait_request(guard_sock *k) {
    if (!k) return;
    srv *s = k->s;
    unlink_sock(s, k);
    k->deadline = srv_now() + request_timeout(s);
    k->prev = s->dl_tail;
    if (s->dl_tail) s->dl_tail->next = k;
    else s->dl_head = k;
    s->dl_tail = k;
    k->listed = true;
    if (s->dl_head == k) rearm(s);
}

void guard_got_request(guard_sock *k) {
    if (!k || !k->listed) return;
    srv *s = k->s;
    bool head = s->dl_head == k;
    unlink_sock(s, k);
    if (head) rearm(s);
}

/* ---- descriptors ------------------------------------------------------------------------ */

unsigned guard_max_connections(srv *s) {
    unsigned want = s->cfg.max_connections;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want;
    rlim_t need = (rlim_t)want + 64; /* the model's files, the loop's, the log's */
    if (rl.rlim_cur < need) {
        struct rlimit up = {need < rl.rlim_max ? need : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    if (rl.rlim_cur >= need) return want;
    unsigned fit = rl.rlim_cur > 128 ? (unsigned)(rl.rlim_cur - 64) : 64;
    log_line(s->cfg.json_output, "WARN", NULL,
             "--max-connections %u: only %llu descriptors allowed (ulimit -n), so at most %u connections", want,
             (unsigned long long)rl.rlim_cur, fit);
    return fit;
}

/* ---- TLS files -------------------------------------------------------------------------- */

static char *read_pem(const char *flag, const char *path, const char *marker, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, CT_ERRLEN, "%s %s: %s", flag, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n;
    char *b = malloc(cap + 1);
    n = b ? fread(b, 1, cap, f) : 0;
    bool bad = !b || ferror(f) || n == cap;
    fclose(f);
    if (bad) {
        snprintf(err, CT_ERRLEN, "%s %s: cannot read it (or larger than 1 MB)", flag, path);
        free(b);
        return NULL;
    }
    b[n] = '\0';
    if (!strstr(b, "-----BEGIN ") || !strstr(b, marker)) {
        snprintf(err, CT_ERRLEN, "%s %s: not a PEM file with a%s", flag, path, marker);
        free(b);
        return NULL;
    }
    return b;
}

bool guard_tls_load(srv *s, char *err) {
    const char *cert = s->cfg.ssl_certfile, *key = s->cfg.ssl_keyfile;
    if (!cert && !key) return true;
    if (!cert || !key) {
        snprintf(err, CT_ERRLEN, "TLS needs both --ssl-certfile and --ssl-keyfile (SSL_CERTFILE, SSL_KEYFILE)");
        return false;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, CT_ERRLEN, "--ssl-certfile: this libmicrohttpd was built without TLS support");
        return false;
    }
    if (!(s->tls_cert = read_pem("--ssl-certfile", cert, " CERTIFICATE-----", err))) return false;
    if (!(s->tls_key = read_pem("--ssl-keyfile", key, " PRIVATE KEY-----", err))) return false;
    return true;
}

void guard_tls_free(srv *s) {
    if (s->tls_key) memset(s->tls_key, 0, strlen(s->tls_key));
    free(s->tls_key);
    free(s->tls_cert);
    s->tls_key = s->tls_cert = NULL;
}
