/*
 * http_loop.c — libmicrohttpd driven by the libuv loop thread.
 *
 * Owns: the MHD daemon in external-polling epoll mode (no MHD thread), the
 * uv_poll on MHD's epoll descriptor, its limits (--max-connections, the
 * header pool of --max-header-size, --idle-timeout, HTTPS with the PEM texts
 * conn_guard.c read), the one-shot uv_timer that follows
 * MHD_get_timeout, the uv_async the engine wakes us with (plus the ready
 * list it fills), and connection parking: suspend / resume with a
 * per-request UV_DISCONNECT watcher on the parked socket.
 *
 * The rules of ../shared/reference/runtime-notes.md §1, which this file
 * follows:
 *   - every MHD call happens on the loop thread; MHD_run never inside an
 *     MHD callback;
 *   - MHD's ITC is off in external mode, so a resume wakes nobody: resumes
 *     happen on the loop thread and are followed by http_drive;
 *   - a content reader with nothing to send suspends (else MHD spins);
 *   - MHD does not see a disconnect on a suspended socket, so a uv_poll
 *     watches it for EPOLLRDHUP while parked, stopped before the resume
 *     (uv_poll_stop removes the fd from libuv's epoll at once);
 *   - MHD_stop_daemon only after every suspended connection was resumed.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

static void on_mhd_timer(uv_timer_t *t) { http_drive(t->data); }

static void on_mhd_poll(uv_poll_t *p, int status, int events) { http_drive(p->data); }

void http_drive(srv *s) {
    if (!s->d) return;
    MHD_run(s->d);
    if (s->rerun) { /* MHD took its listening socket out at the limit, and puts it back at its next run only */
        s->rerun = false;
        MHD_run(s->d);
    }
    MHD_UNSIGNED_LONG_LONG to = 0;
    if (MHD_get_timeout(s->d, &to) == MHD_YES)
        uv_timer_start(&s->mhd_timer, on_mhd_timer, to, 0);
    else
        uv_timer_stop(&s->mhd_timer);
}

/* ---- engine wake-ups ------------------------------------------------------------------- */

void http_engine_notify(void *ud) {
    conn *c = ud;
    srv *s = c->s;
    pthread_mutex_lock(&s->ready_mu);
    if (!c->in_ready) {
        c->in_ready = true;
        c->next_ready = s->ready;
        s->ready = c;
    }
    pthread_mutex_unlock(&s->ready_mu);
    uv_async_send(&s->wake);
}

/* Take the ready list into s->drain (the engine may push a conn again as
 * soon as the lock is dropped, so its link cannot be walked afterwards). */
static int take_ready(srv *s) {
    int n = 0;
    pthread_mutex_lock(&s->ready_mu);
    for (conn *c = s->ready; c; c = c->next_ready) {
        if (n == s->cap_drain) {
            int cap = s->cap_drain ? 2 * s->cap_drain : 64;
            conn **d = realloc(s->drain, (size_t)cap * sizeof *d);
            if (!d) break; /* the rest stay listed for the next wake */
            s->drain = d;
            s->cap_drain = cap;
        }
        s->drain[n++] = c;
    }
    conn *rest = n > 0 ? s->drain[n - 1]->next_ready : s->ready;
    for (int i = 0; i < n; i++) s->drain[i]->in_ready = false;
    s->ready = rest;
    pthread_mutex_unlock(&s->ready_mu);
    if (rest) uv_async_send(&s->wake);
    return n;
}

static void on_wake(uv_async_t *a) {
    srv *s = a->data;
    int n = take_ready(s);
    for (int i = 0; i < n; i++) gen_drain(s->drain[i]);
    http_drive(s);
}

/* ---- parking --------------------------------------------------------------------------- */

static void on_watch_closed(uv_handle_t *h) {
    conn *c = h->data;
    free(h);
    conn_unref(c);
}

static void on_disconnect(uv_poll_t *p, int status, int events) {
    conn *c = p->data;
    if (!c->suspended) return;
    c->gone = true;
    gen_cancel(c, true);
    conn_resume(c);
    http_drive(c->s);
}

static void watch_start(conn *c) {
    if (!c->watch) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        uv_poll_t *w = ci ? malloc(sizeof *w) : NULL;
        if (!w) return;
        if (uv_poll_init_socket(&c->s->loop, w, ci->connect_fd) != 0) {
            free(w);
            return;
        }
        w->data = c;
        c->watch = w;
        c->refs++; /* dropped in on_watch_closed */
    }
    if (uv_poll_start(c->watch, UV_DISCONNECT, on_disconnect) == 0) c->watching = true;
}

void conn_suspend(conn *c) {
    if (c->suspended || c->completed) return;
    MHD_suspend_connection(c->mc);
    c->suspended = true;
    watch_start(c);
}

void conn_resume(conn *c) {
    if (!c->suspended) return;
    if (c->watching) {
        uv_poll_stop(c->watch);
        c->watching = false;
    }
    c->suspended = false;
    MHD_resume_connection(c->mc);
}

void conn_watch_close(conn *c) {
    if (!c->watch) return;
    c->watching = false;
    uv_close((uv_handle_t *)c->watch, on_watch_closed);
    c->watch = NULL;
}

/* ---- start / stop ---------------------------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    srv *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    snprintf(s->mhd_err, sizeof s->mhd_err, "%s", msg);
    /* our own doing: the handler returns MHD_NO to close a departed client's connection */
    if (strncmp(msg, "Application reported internal error", 35) == 0) return;
    if (strstr(msg, "connection limit")) { /* a flood: one line per 10 s, not one per connection */
        s->n_refused++;
        if (srv_now() - s->t_refused_log < 10) return;
        log_line(s->cfg.json_output, "WARN", NULL, "--max-connections reached: %u connection(s) refused", s->n_refused);
        s->t_refused_log = srv_now();
        s->n_refused = 0;
        return;
    }
    log_line(s->cfg.json_output, "WARN", NULL, "libmicrohttpd: %s", msg);
}

static bool resolve(const char *host, int port, struct sockaddr_storage *ss, char *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, CT_ERRLEN, "--hostname %s: %s", host, gai_strerror(rc));
        return false;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET6) ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    return true;
}

/* A new connection: start its request deadline, and bound the kernel's send buffer by --max-stream-backlog
 * too, so a client that stops reading holds at most about twice that many
 * bytes of ours (our backlog + the socket's), instead of the few MB the
 * kernel's autotuning would otherwise absorb before we notice. */
static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
    srv *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (s->n_sockets-- >= s->max_sockets) s->rerun = true;
        guard_sock_free(*socket_ctx);
        *socket_ctx = NULL;
        return;
    }
    s->n_sockets++;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    int sz = s->cfg.max_stream_backlog < (1u << 30) ? (int)s->cfg.max_stream_backlog : 1 << 30;
    setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    *socket_ctx = guard_sock_new(s, ci->connect_fd); /* the request deadline (--request-timeout) */
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The request path's %XX escapes, decoded in place, except %00: a NUL
 * would cut the path short ("/ui/app.js%00.txt" would become a real file's
 * path), so it stays as the three characters and the path matches nothing.
 * Returns the new length. */
static size_t unescape(void *cls, struct MHD_Connection *mc, char *uri) {
    char *w = uri;
    for (const char *r = uri; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - uri);
}

/* MHD's pool per connection holds the request's headers (plus the
 * answer's): room for --max-header-size twice, so the JSON 431 of
 * routes.c, not MHD's own, answers headers just over the limit. */
static size_t memory_limit(const srv *s) {
    size_t m = 2 * s->cfg.max_header_size + 16384;
    return m < 32768 ? 32768 : m;
}

static bool start_daemon(srv *s, char *err) {
    struct sockaddr_storage ss;
    if (!resolve(s->cfg.hostname, s->cfg.port, &ss, err)) return false;
    if (!guard_tls_load(s, err)) return false;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls[] = {
        {s->tls_cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    s->mhd_err[0] = '\0';
    s->max_sockets = guard_max_connections(s);
    s->d = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, routes_access, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first, or MHD logs on its own */
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, routes_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(s->cfg.idle_timeout + 0.5),
                            MHD_OPTION_CONNECTION_LIMIT, s->max_sockets,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit(s),
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_ARRAY, tls,
                            MHD_OPTION_END);
    if (!s->d && s->tls_cert) {
        snprintf(err, CT_ERRLEN, "cannot serve HTTPS on %s:%d with --ssl-certfile %s --ssl-keyfile %s: %.200s", s->cfg.hostname,
                 s->cfg.port, s->cfg.ssl_certfile, s->cfg.ssl_keyfile,
                 s->mhd_err[0] ? s->mhd_err : "the key does not match the certificate, or the address is in use");
        return false;
    }
    if (!s->d) {
        snprintf(err, CT_ERRLEN, "cannot listen on %s:%d (address in use, or not an address of this host)",
                 s->cfg.hostname, s->cfg.port);
        return false;
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = pi ? pi->port : s->cfg.port;
    return true;
}

bool http_start(srv *s, char *err) {
    if (!start_daemon(s, err)) return false;
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!ei || uv_poll_init(&s->loop, &s->mhd_poll, ei->epoll_fd) != 0) {
        snprintf(err, CT_ERRLEN, "cannot watch libmicrohttpd's epoll descriptor");
        MHD_stop_daemon(s->d);
        s->d = NULL;
        return false;
    }
    guard_init(s); /* before the first MHD_run: connections arrive there */
    s->mhd_poll.data = s;
    uv_poll_start(&s->mhd_poll, UV_READABLE, on_mhd_poll);
    uv_timer_init(&s->loop, &s->mhd_timer);
    s->mhd_timer.data = s;
    uv_async_init(&s->loop, &s->wake, on_wake);
    s->wake.data = s;
    http_drive(s);
    return true;
}

void http_stop_accepting(srv *s) {
    if (!s->d) return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void http_close(srv *s) {
    if (!s->d) return;
    for (conn *c = s->active; c; c = c->next_active) {
        if (!c->suspended) continue;
        if (!c->finished) c->gone = true;
        conn_resume(c);
    }
    MHD_run(s->d);
    MHD_stop_daemon(s->d); /* closes what is left; completions run here */
    s->d = NULL;
    uv_poll_stop(&s->mhd_poll);
    uv_close((uv_handle_t *)&s->mhd_poll, NULL);
    uv_close((uv_handle_t *)&s->mhd_timer, NULL);
    uv_close((uv_handle_t *)&s->wake, NULL);
    guard_close(s);
}
