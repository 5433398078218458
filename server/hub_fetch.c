/*
 * hub_fetch.c — the Hub over libcurl (see hub_http.h): the listing, a
 * file's metadata (HEAD on /resolve/, first hop), and blob downloads with
 * resume (Range from the partial file's size, after a dropped connection
 * too), a stall timeout, a free-space check, a progress bar on a terminal,
 * and the size / sha256 check.  The token goes only to the endpoint's own
 * origin: never to the CDN a /resolve/ URL redirects to.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hub_http.h"
#include "sha256.h"

#define MAX_LISTING (64 << 20) /* bytes of JSON a listing may take */
#define MAX_HOPS 5             /* relative redirects followed by HEAD */
#define CONNECT_S 5L           /* connection timeout of a metadata request (at most) */
#define STALL_TRIES 5          /* attempts in a row that bring no byte before giving up */
#define UA "ctgi/0.1.0 (huggingface_hub-compatible cache)"

bool hub_fmt(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

bool hub_is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[n] == '\0';
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Percent-encode everything but RFC 3986's unreserved characters (and '/'
 * when keep_slash). */
static void url_escape(const char *s, bool keep_slash, char *out, size_t cap) {
    static const char HEX[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                     strchr("-._~", ch) || (keep_slash && ch == '/');
        if (plain) out[o++] = (char)ch;
        else out[o++] = '%', out[o++] = HEX[ch >> 4], out[o++] = HEX[ch & 15];
    }
    out[o] = '\0';
}

/* ---- requests and their headers ------------------------------------------------------------ */

typedef struct {
    char commit[64], etag[128], linked_etag[128], location[4096], err_code[64], err_msg[256];
    long long length, linked_size;
} resp_hdrs;

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    while (n && *v == ' ') v++, n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    resp_hdrs *x = ud;
    size_t len = sz * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response: forget the last one's */
        *x = (resp_hdrs){.length = -1, .linked_size = -1};
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon) return len;
    size_t kn = (size_t)(colon - p), vn = len - kn - 1;
    const char *v = colon + 1;
    char num[32];
#define IS(name) (kn == sizeof name - 1 && strncasecmp(p, name, kn) == 0)
    if (IS("X-Repo-Commit")) copy_value(x->commit, sizeof x->commit, v, vn);
    else if (IS("ETag")) copy_value(x->etag, sizeof x->etag, v, vn);
    else if (IS("X-Linked-Etag")) copy_value(x->linked_etag, sizeof x->linked_etag, v, vn);
    else if (IS("Location")) copy_value(x->location, sizeof x->location, v, vn);
    else if (IS("X-Error-Code")) copy_value(x->err_code, sizeof x->err_code, v, vn);
    else if (IS("X-Error-Message")) copy_value(x->err_msg, sizeof x->err_msg, v, vn);
    else if (IS("Content-Length")) copy_value(num, sizeof num, v, vn), x->length = atoll(num);
    else if (IS("X-Linked-Size")) copy_value(num, sizeof num, v, vn), x->linked_size = atoll(num);
#undef IS
    return len;
}

static bool same_origin(const hub *h, const char *url) {
    size_t n = strlen(h->endpoint);
    return strncmp(url, h->endpoint, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

/* A handle for url: timeouts (meta: the whole request; else a stall
 * limit), identity encoding, the token on the endpoint's origin. */
static CURL *easy(const hub *h, const char *url, bool meta, struct curl_slist **hl, char *errbuf, resp_hdrs *x) {
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, UA);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    long connect = meta ? (h->etag_timeout < CONNECT_S ? h->etag_timeout : CONNECT_S) : h->download_timeout;
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect);
    if (meta) curl_easy_setopt(c, CURLOPT_TIMEOUT, h->etag_timeout);
    else {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->download_timeout);
    }
    *hl = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (h->token && same_origin(h, url)) {
        char *auth = NULL;
        if (asprintf(&auth, "Authorization: Bearer %s", h->token) > 0) *hl = curl_slist_append(*hl, auth);
        free(auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    *x = (resp_hdrs){.length = -1, .linked_size = -1};
    return c;
}

/* ---- errors -------------------------------------------------------------------------------- */

static hub_status http_fail(const hub *h, long status, const resp_hdrs *x, const char *what, char *err) {
    const char *detail = x && x->err_msg[0] ? x->err_msg : "";
    const char *sep = detail[0] ? " — the Hub says: " : "";
    if (status == 401) {
        hub_fmt(err, HUB_ERRLEN,
                 "%s: 401 Unauthorized: the repo is private or gated, or does not exist; %s%s%s", what,
                 h->token ? "HF_TOKEN is set but the Hub refused it (expired, or without access to this repo)"
                          : "set HF_TOKEN to a token with access (https://huggingface.co/settings/tokens)",
                 sep, detail);
        return HUB_E_AUTH;
    }
    if (status == 403) {
        hub_fmt(err, HUB_ERRLEN,
                 "%s: 403 Forbidden: access is restricted (a gated repo: accept its conditions on its Hub page "
                 "with the account of the HF_TOKEN you use%s)%s%s",
                 what, h->token ? "" : "; HF_TOKEN is not set", sep, detail);
        return HUB_E_AUTH;
    }
    if (status == 404) {
        const char *code = x ? x->err_code : "";
        const char *kind = !strcmp(code, "RevisionNotFound") ? "revision not found"
                           : !strcmp(code, "EntryNotFound")  ? "file not found"
                           : !strcmp(code, "RepoNotFound")   ? "repo not found"
                                                             : "not found";
        hub_fmt(err, HUB_ERRLEN, "%s: 404 %s on %s%s%s", what, kind, h->endpoint, sep, detail);
        return HUB_E_NOT_FOUND;
    }
    hub_fmt(err, HUB_ERRLEN, "%s: the Hub at %s answered HTTP %ld%s%s%s", what, h->endpoint, status,
             status >= 500 ? " (the Hub is unavailable; try again later)" : "", sep, detail);
    return status >= 500 ? HUB_E_NETWORK : HUB_E_PROTOCOL;
}

static hub_status curl_fail(const hub *h, CURLcode rc, const char *errbuf, const char *what, char *err) {
    hub_fmt(err, HUB_ERRLEN,
             "%s: cannot reach the Hub at %s (%s%s%s); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 "
             "to use the cache",
             what, h->endpoint, curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
    return HUB_E_NETWORK;
}

/* ---- listing and metadata ------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
} membuf;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    membuf *b = ud;
    size_t len = sz * n;
    if (b->n + len + 1 > MAX_LISTING) return 0;
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q) return 0;
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, p, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

hub_status hub_http_listing(const hub *h, const char *repo_id, const char *revision, char **body, char *err) {
    char rev[512], url[2048], errbuf[CURL_ERROR_SIZE], what[600];
    url_escape(revision, false, rev, sizeof rev);
    hub_fmt(url, sizeof url, "%s/api/models/%s/revision/%s", h->endpoint, repo_id, rev);
    hub_fmt(what, sizeof what, "%s (revision %s)", repo_id, revision);
    struct curl_slist *hl;
    resp_hdrs x;
    membuf b = {0};
    CURL *c = easy(h, url, true, &hl, errbuf, &x);
    if (!c) return hub_fmt(err, HUB_ERRLEN, "cannot start libcurl"), HUB_E_NETWORK;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_HOPS);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    hub_status st = HUB_OK;
    if (rc == CURLE_WRITE_ERROR) hub_fmt(err, HUB_ERRLEN, "%s: the listing is too large", what), st = HUB_E_PROTOCOL;
    else if (rc != CURLE_OK) st = curl_fail(h, rc, errbuf, what, err);
    else if (status != 200) st = http_fail(h, status, &x, what, err);
    else if (!b.p) hub_fmt(err, HUB_ERRLEN, "%s: empty listing from %s", what, url), st = HUB_E_PROTOCOL;
    if (st != HUB_OK) free(b.p);
    else *body = b.p;
    return st;
}

static void strip_etag(const char *in, char *out, size_t cap) {
    if (strncmp(in, "W/", 2) == 0) in += 2;
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') in++, n -= 2;
    copy_value(out, cap, in, n);
}

hub_status hub_http_meta(const hub *h, const char *repo_id, const char *commit, const char *file, hub_meta *m,
                         char *err) {
    char path[2048], errbuf[CURL_ERROR_SIZE], what[1200];
    url_escape(file, true, path, sizeof path);
    hub_fmt(m->url, sizeof m->url, "%s/%s/resolve/%s/%s", h->endpoint, repo_id, commit, path);
    hub_fmt(what, sizeof what, "%s: %s", repo_id, file);
    for (int hop = 0;; hop++) {
        struct curl_slist *hl;
        resp_hdrs x;
        CURL *c = easy(h, m->url, true, &hl, errbuf, &x);
        if (!c) return hub_fmt(err, HUB_ERRLEN, "cannot start libcurl"), HUB_E_NETWORK;
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        char *next = NULL;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next);
        char next_url[sizeof m->url] = "";
        if (next) hub_fmt(next_url, sizeof next_url, "%s", next);
        curl_easy_cleanup(c);
        curl_slist_free_all(hl);
        if (rc != CURLE_OK) return curl_fail(h, rc, errbuf, what, err);
        bool redirect = status >= 300 && status < 400 && next_url[0];
        if (!redirect && (status < 200 || status >= 300)) return http_fail(h, status, &x, what, err);
        if (redirect && x.location[0] == '/') { /* a renamed repo: ask its new name */
            if (hop + 1 >= MAX_HOPS) return hub_fmt(err, HUB_ERRLEN, "%s: too many redirects", what), HUB_E_PROTOCOL;
            hub_fmt(m->url, sizeof m->url, "%s", next_url);
            continue;
        }
        hub_fmt(m->commit, sizeof m->commit, "%s", x.commit);
        strip_etag(x.linked_etag[0] ? x.linked_etag : x.etag, m->etag, sizeof m->etag);
        m->size = x.linked_size >= 0 ? x.linked_size : redirect ? -1 : x.length;
        if (redirect) hub_fmt(m->url, sizeof m->url, "%s", next_url);
        if (!m->etag[0])
            return hub_fmt(err, HUB_ERRLEN, "%s: the Hub's answer has no ETag (is HF_ENDPOINT a Hub?)", what),
                   HUB_E_PROTOCOL;
        return HUB_OK;
    }
}

/* ---- downloads ----------------------------------------------------------------------------- */

typedef struct {
    const hub *h;
    CURL *c;
    int fd;
    bool lfs;
    sha256_ctx sha;
    long long have, start, total; /* bytes in the file; at this attempt's start; expected (-1 unknown) */
    int werrno;                   /* a failed write's errno */
    const char *label;
    double t0, t_drawn;
    bool drawn;
} dl;

/* "12.3 MB" */
static void human(double bytes, char out[16]) {
    const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    for (; bytes >= 1000 && u < 4; u++) bytes /= 1000;
    hub_fmt(out, 16, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

static void draw(dl *d, bool final) {
    double t = now_s();
    if (!d->h->progress || (!final && t - d->t_drawn < 0.1)) return;
    d->t_drawn = t, d->drawn = true;
    char have[16], total[16], rate[16], bar[21] = "--------------------";
    human((double)d->have, have);
    human(d->total > 0 ? (double)d->total : 0, total);
    human((double)(d->have - d->start) / (t - d->t0 + 1e-9), rate);
    int pct = d->total > 0 ? (int)(100.0 * (double)d->have / (double)d->total) : 0;
    for (int i = 0; i < pct / 5 && i < 20; i++) bar[i] = '#';
    size_t n = strlen(d->label); /* the end of a long label: the file name matters most */
    const char *dots = n > 36 ? "..." : "", *label = n > 36 ? d->label + n - 33 : d->label;
    if (d->total > 0)
        fprintf(stderr, "\r%s%-*s %3d%% [%s] %9s / %-9s %9s/s%s", dots, 36 - (int)strlen(dots), label, pct, bar,
                have, total, rate, final ? "\n" : "");
    else fprintf(stderr, "\r%s%-*s %9s %9s/s%s", dots, 36 - (int)strlen(dots), label, have, rate, final ? "\n" : "");
    fflush(stderr);
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    draw(ud, false);
    return 0;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
    dl *d = ud;
    size_t len = sz * n;
    long status = 0;
    curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 && d->have > 0 && d->have == d->start) { /* Range ignored: start over */
        if (ftruncate(d->fd, 0) != 0) return d->werrno = errno, 0;
        d->have = d->start = 0;
        sha256_init(&d->sha);
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(d->fd, p + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return d->werrno = w < 0 ? errno : ENOSPC, 0;
        off += (size_t)w;
    }
    if (d->lfs) sha256_update(&d->sha, p, len);
    d->have += (long long)len;
    return len;
}

/* Hash what a partial file already holds (resume). */
static bool hash_existing(dl *d) {
    char buf[1 << 16];
    if (lseek(d->fd, 0, SEEK_SET) < 0) return false;
    for (long long left = d->have; left > 0;) {
        ssize_t r = read(d->fd, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf);
        if (r <= 0) return false;
        sha256_update(&d->sha, buf, (size_t)r);
        left -= r;
    }
    return true;
}

static hub_status disk_fail(int e, const char *path, char *err) {
    hub_fmt(err, HUB_ERRLEN, "cannot write %s: %s%s", path, strerror(e),
             e == ENOSPC || e == EDQUOT ? " (disk full: free some space or point HF_HOME / HF_HUB_CACHE elsewhere)" : "");
    return HUB_E_DISK;
}

static bool transient(CURLcode rc) {
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT || rc == CURLE_HTTP2 ||
           rc == CURLE_HTTP2_STREAM || rc == CURLE_SSL_CONNECT_ERROR;
}

/* One GET from d->have on; the curl code, the HTTP status in *status. */
static CURLcode transfer(dl *d, const hub_meta *m, long *status, char *errbuf) {
    struct curl_slist *hl;
    resp_hdrs x;
    CURL *c = d->c = easy(d->h, m->url, false, &hl, errbuf, &x);
    if (!c) return CURLE_FAILED_INIT;
    char range[64];
    hub_fmt(range, sizeof range, "%lld-", d->have);
    if (d->have > 0) curl_easy_setopt(c, CURLOPT_RANGE, range);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    d->start = d->have;
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    d->c = NULL;
    return rc;
}

/* Transfer until the file is whole, resuming after each break. */
static hub_status fill(dl *d, const hub_meta *m, const char *path, char *err) {
    char errbuf[CURL_ERROR_SIZE];
    for (int idle = 0;;) {
        if (d->total >= 0 && d->have == d->total) return HUB_OK;
        long status;
        long long before = d->have;
        CURLcode rc = transfer(d, m, &status, errbuf);
        if (d->werrno) return disk_fail(d->werrno, path, err);
        if (rc == CURLE_OK && (d->total < 0 || d->have >= d->total)) return HUB_OK;
        if (rc == CURLE_HTTP_RETURNED_ERROR && status == 416 && d->have > 0) { /* more than the file: restart */
            if (ftruncate(d->fd, 0) != 0) return disk_fail(errno, path, err);
            d->have = 0;
            sha256_init(&d->sha);
            continue;
        }
        if (rc == CURLE_HTTP_RETURNED_ERROR && status < 500) return http_fail(d->h, status, NULL, d->label, err);
        if (rc != CURLE_OK && rc != CURLE_HTTP_RETURNED_ERROR && !transient(rc))
            return curl_fail(d->h, rc, errbuf, d->label, err);
        idle = d->have > before ? 0 : idle + 1;
        if (idle >= STALL_TRIES) {
            if (rc == CURLE_HTTP_RETURNED_ERROR) return http_fail(d->h, status, NULL, d->label, err);
            return curl_fail(d->h, rc == CURLE_OK ? CURLE_PARTIAL_FILE : rc, errbuf, d->label, err);
        }
        if (d->drawn) fputc('\n', stderr), d->drawn = false;
        hub_note(d->h, "%s: the transfer broke off at byte %lld; resuming (attempt %d)", d->label, d->have, idle + 1);
        struct timespec ts = {0, 200000000L * (1L << (idle < 3 ? idle : 3)) % 1000000000L};
        if (idle >= 3) ts.tv_sec = 1;
        nanosleep(&ts, NULL);
    }
}

static hub_status check_space(const char *path, long long need, char *err) {
    char dir[PATH_MAX];
    hub_fmt(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    struct statvfs v;
    if (need <= 0 || statvfs(dir, &v) != 0) return HUB_OK;
    long long avail = (long long)v.f_bavail * (long long)v.f_frsize;
    if (avail >= need) return HUB_OK;
    hub_fmt(err, HUB_ERRLEN, "not enough disk space in %s: %.1f MB needed, %.1f MB free (disk full: free some "
             "space or point HF_HOME / HF_HUB_CACHE elsewhere)", dir, (double)need / 1e6, (double)avail / 1e6);
    return HUB_E_DISK;
}

hub_status hub_http_download(const hub *h, const hub_meta *m, const char *path, const char *label, char *err) {
    dl d = {.h = h, .total = m->size, .label = label, .lfs = hub_is_hex(m->etag, 64)};
    sha256_init(&d.sha);
    d.fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (d.fd < 0) return disk_fail(errno, path, err);
    struct stat st;
    hub_status s = HUB_OK;
    if (fstat(d.fd, &st) != 0) s = disk_fail(errno, path, err);
    d.have = s == HUB_OK ? (long long)st.st_size : 0;
    if (s == HUB_OK && d.total >= 0 && d.have > d.total) { /* longer than the file: not ours */
        if (ftruncate(d.fd, 0) != 0) s = disk_fail(errno, path, err);
        d.have = 0;
    }
    if (s == HUB_OK && d.have > 0 && d.lfs && !hash_existing(&d)) s = disk_fail(errno ? errno : EIO, path, err);
    if (s == HUB_OK && d.have > 0) hub_note(h, "%s: resuming a partial download at byte %lld", label, d.have);
    if (s == HUB_OK && d.total >= 0) s = check_space(path, d.total - d.have, err);
    d.t0 = now_s();
    d.start = d.have;
    if (s == HUB_OK) s = fill(&d, m, path, err);
    if (s == HUB_OK && fsync(d.fd) != 0) s = disk_fail(errno, path, err);
    if (d.drawn || (s == HUB_OK && h->progress)) draw(&d, true);
    close(d.fd);
    if (s != HUB_OK) return s; /* a partial file stays for the next run to resume */
    char got[65];
    if (d.total >= 0 && d.have != d.total)
        hub_fmt(err, HUB_ERRLEN, "%s: size mismatch: received %lld bytes, the Hub announced %lld; the download was "
                 "deleted, run again", label, d.have, d.total), s = HUB_E_CHECKSUM;
    else if (d.lfs && (sha256_hex(&d.sha, got), strcmp(got, m->etag) != 0))
        hub_fmt(err, HUB_ERRLEN, "%s: checksum mismatch: sha256 %s, the Hub's ETag says %s; the download was "
                 "deleted, run again", label, got, m->etag), s = HUB_E_CHECKSUM;
    if (s != HUB_OK) unlink(path);
    return s;
}
