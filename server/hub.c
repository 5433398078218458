/*
 * hub.c — the Hub cache (see hub.h for the layout and the environment):
 * settings, repo id / revision / file name checks, resolving a revision
 * (listing online, refs + snapshots offline or when the endpoint is
 * unreachable), and hub_fetch: cache hit, or blob download under a lock
 * and a relative snapshot symlink.  HTTP lives in hub_fetch.c.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub_http.h"

#define MAX_FILES 100000

const char *hub_status_name(hub_status s) {
    static const char *N[] = {"ok", "usage", "auth", "not found", "network", "disk", "checksum", "offline", "protocol"};
    return (unsigned)s < sizeof N / sizeof N[0] ? N[s] : "?";
}

void hub_note(const hub *h, const char *fmt, ...) {
    if (!h->note) return;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->note(h->note_ud, msg);
}

/* ---- settings ------------------------------------------------------------------------------ */

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool env_true(const char *name) {
    const char *v = env(name);
    return v && (!strcasecmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

/* path with a leading "~/" expanded */
static void expand(const char *path, char *out, size_t cap) {
    const char *home = env("HOME");
    if (path[0] == '~' && (path[1] == '/' || !path[1]) && home) hub_fmt(out, cap, "%s%s", home, path + 1);
    else hub_fmt(out, cap, "%s", path);
}

static bool env_seconds(const char *name, long def, long *out, char *err) {
    const char *v = env(name);
    char *end;
    *out = def;
    if (!v) return true;
    double x = strtod(v, &end);
    if (*end || end == v || !(x >= 1 && x <= 86400)) {
        hub_fmt(err, HUB_ERRLEN, "%s: '%s' is not a number of seconds in [1, 86400]", name, v);
        return false;
    }
    *out = (long)(x + 0.5);
    return true;
}

static char *read_token_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[512] = "";
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line) return NULL;
    buf[strcspn(buf, "\r\n \t")] = '\0';
    return buf[0] ? strdup(buf) : NULL;
}

hub_status hub_init(hub *h, char *err) {
    *h = (hub){0};
    const char *ep = env("HF_ENDPOINT");
    hub_fmt(h->endpoint, sizeof h->endpoint, "%s", ep ? ep : "https://huggingface.co");
    for (size_t n = strlen(h->endpoint); n && h->endpoint[n - 1] == '/';) h->endpoint[--n] = '\0';
    if (strncmp(h->endpoint, "http://", 7) != 0 && strncmp(h->endpoint, "https://", 8) != 0) {
        hub_fmt(err, HUB_ERRLEN, "HF_ENDPOINT '%s' is not an http:// or https:// URL", ep);
        return HUB_E_USAGE;
    }
    char home[PATH_MAX], tmp[PATH_MAX];
    if (env("HF_HOME")) expand(env("HF_HOME"), home, sizeof home);
    else if (env("XDG_CACHE_HOME")) hub_fmt(home, sizeof home, "%s/huggingface", env("XDG_CACHE_HOME"));
    else if (env("HOME")) hub_fmt(home, sizeof home, "%s/.cache/huggingface", env("HOME"));
    else {
        hub_fmt(err, HUB_ERRLEN, "no cache directory: set HF_HOME or HF_HUB_CACHE (HOME is not set)");
        return HUB_E_USAGE;
    }
    const char *cache = env("HF_HUB_CACHE") ? env("HF_HUB_CACHE") : env("HUGGINGFACE_HUB_CACHE");
    if (cache) expand(cache, h->cache, sizeof h->cache);
    else hub_fmt(h->cache, sizeof h->cache, "%.*s/hub", PATH_MAX - 8, home);
    if (strlen(h->cache) > PATH_MAX - 1400) {
        hub_fmt(err, HUB_ERRLEN, "the Hub cache path %.200s... is too long", h->cache);
        return HUB_E_USAGE;
    }
    const char *tok = env("HF_TOKEN") ? env("HF_TOKEN") : env("HUGGING_FACE_HUB_TOKEN");
    if (tok) h->token = strdup(tok);
    else {
        if (env("HF_TOKEN_PATH")) expand(env("HF_TOKEN_PATH"), tmp, sizeof tmp);
        else hub_fmt(tmp, sizeof tmp, "%.*s/token", PATH_MAX - 8, home);
        h->token = read_token_file(tmp);
    }
    for (const char *t = h->token; t && *t; t++)
        if ((unsigned char)*t <= 0x20 || *t == 0x7f) {
            hub_free(h);
            hub_fmt(err, HUB_ERRLEN, "HF_TOKEN contains a space or control character");
            return HUB_E_USAGE;
        }
    h->offline = env_true("HF_HUB_OFFLINE");
    h->progress = isatty(2) && !env_true("HF_HUB_DISABLE_PROGRESS_BARS");
    if (!env_seconds("HF_HUB_ETAG_TIMEOUT", 10, &h->etag_timeout, err) ||
        !env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10, &h->download_timeout, err)) {
        hub_free(h);
        return HUB_E_USAGE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hub_free(h);
        hub_fmt(err, HUB_ERRLEN, "cannot initialise libcurl");
        return HUB_E_NETWORK;
    }
    return HUB_OK;
}

void hub_free(hub *h) {
    free(h->token);
    h->token = NULL;
}

/* ---- names --------------------------------------------------------------------------------- */

static bool name_part_ok(const char *s, size_t n) {
    if (n == 0 || n > 96 || strchr("-.", s[0]) || strchr("-.", s[n - 1])) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.';
        if (!ok || (i && (c == '-' || c == '.') && s[i - 1] == c)) return false;
    }
    return true;
}

bool hub_repo_id_check(const char *id, char *err) {
    const char *slash = strchr(id, '/');
    bool ok = slash && !strchr(slash + 1, '/') && name_part_ok(id, (size_t)(slash - id)) &&
              name_part_ok(slash + 1, strlen(slash + 1));
    if (!ok)
        hub_fmt(err, HUB_ERRLEN,
                 "'%.200s' is not a Hub repo id: expected org/name, each part of letters, digits, '-', '_', '.' "
                 "(no leading or trailing '-' or '.', no '--' or '..', at most 96 characters)",
                 id);
    return ok;
}

/* A relative path without empty, "." or ".." parts, control characters or
 * backslashes: safe to join under a snapshot (file) or refs/ (revision). */
static bool rel_path_ok(const char *p) {
    if (!*p || *p == '/' || strlen(p) > 1000) return false;
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '\\' || *s == 0x7f) return false;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
        s += n;
        if (*s == '/') s++;
        if (!*s && s[-1] == '/') return false;
    }
    return true;
}

bool hub_repo_has(const hub_repo *r, const char *file) {
    for (int i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i], file) == 0) return true;
    return false;
}

/* ---- the cache on disk --------------------------------------------------------------------- */

/* mkdir -p of path's directories (the last part too when whole). */
static bool mkdirs(const char *path, bool whole) {
    char p[PATH_MAX];
    hub_fmt(p, sizeof p, "%s", path);
    if (!whole) {
        char *slash = strrchr(p, '/');
        if (!slash) return true;
        *slash = '\0';
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return false;
        if (!c) return true;
        *s = c;
    }
}

static hub_status disk_err(const char *what, const char *path, char *err) {
    int e = errno;
    hub_fmt(err, HUB_ERRLEN, "cannot %s %s: %s%s", what, path, strerror(e),
             e == ENOSPC || e == EDQUOT ? " (disk full)" : e == EACCES || e == EROFS ? " (set HF_HOME or HF_HUB_CACHE to a writable place)" : "");
    return HUB_E_DISK;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* a regular file of size bytes (size < 0: any) */
static bool is_blob(const char *path, long long size) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size < 0 || st.st_size == size);
}

static bool read_ref(const hub_repo *r, char commit[41]) {
    char path[PATH_MAX * 2];
    hub_fmt(path, sizeof path, "%s/refs/%s", r->dir, r->revision);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char buf[64] = "";
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    buf[strcspn(buf, "\r\n ")] = '\0';
    if (!ok || !hub_is_hex(buf, 40)) return false;
    memcpy(commit, buf, 41);
    return true;
}

/* refs/{revision} := commit, written whole (temp file + rename). */
static hub_status write_ref(const hub_repo *r, char *err) {
    if (strcmp(r->revision, r->commit) == 0) return HUB_OK;
    char path[PATH_MAX * 2], tmp[PATH_MAX * 2 + 32];
    hub_fmt(path, sizeof path, "%s/refs/%s", r->dir, r->revision);
    hub_fmt(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    if (!mkdirs(path, false)) return disk_err("create the directory of", path, err);
    FILE *f = fopen(tmp, "w");
    if (!f) return disk_err("write", tmp, err);
    bool ok = fputs(r->commit, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        hub_status s = disk_err("write", path, err);
        unlink(tmp);
        return s;
    }
    return HUB_OK;
}

static bool add_file(hub_repo *r, const char *name) {
    if (r->n_files >= MAX_FILES) return false;
    char **f = realloc(r->files, (size_t)(r->n_files + 1) * sizeof *f);
    if (!f) return false;
    r->files = f;
    return (r->files[r->n_files] = strdup(name)) != NULL && ++r->n_files;
}

/* The files under dir/rel that resolve to regular files, as relative paths. */
static void list_snapshot(hub_repo *r, const char *dir, const char *rel, int depth) {
    DIR *d = opendir(dir);
    if (!d || depth > 16) {
        if (d) closedir(d);
        return;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        char full[PATH_MAX], name[PATH_MAX];
        hub_fmt(full, sizeof full, "%.2000s/%.1000s", dir, e->d_name);
        hub_fmt(name, sizeof name, "%s%s%.1000s", rel, *rel ? "/" : "", e->d_name);
        struct stat st;
        if (stat(full, &st) != 0) continue; /* a dangling link: not there */
        if (S_ISDIR(st.st_mode)) list_snapshot(r, full, name, depth + 1);
        else if (S_ISREG(st.st_mode)) add_file(r, name);
    }
    closedir(d);
}

static hub_status open_cached(hub *h, hub_repo *r, const char *why, char *err) {
    char snap[PATH_MAX * 2];
    bool ok = false;
    if (hub_is_hex(r->revision, 40)) {
        hub_fmt(snap, sizeof snap, "%s/snapshots/%s", r->dir, r->revision);
        struct stat st;
        if ((ok = stat(snap, &st) == 0 && S_ISDIR(st.st_mode))) memcpy(r->commit, r->revision, 41);
    }
    if (!ok && read_ref(r, r->commit)) {
        hub_fmt(snap, sizeof snap, "%s/snapshots/%s", r->dir, r->commit);
        struct stat st;
        ok = stat(snap, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!ok) {
        hub_fmt(err, HUB_ERRLEN, "%s (revision %s) is not in the cache %s, and %s; download it first "
                 "(ctgi download %s) or unset HF_HUB_OFFLINE", r->repo_id, r->revision, h->cache, why, r->repo_id);
        return HUB_E_OFFLINE;
    }
    hub_fmt(r->snapshot, sizeof r->snapshot, "%s/snapshots/%s", r->dir, r->commit);
    list_snapshot(r, r->snapshot, "", 0);
    r->from_cache = true;
    return HUB_OK;
}

/* sha and siblings[].rfilename of a listing */
static hub_status parse_listing(hub_repo *r, const char *body, char *err) {
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    const char *sha = json_string_value(json_object_get(j, "sha"));
    json_t *sib = json_object_get(j, "siblings");
    hub_status s = HUB_OK;
    if (!sha || !hub_is_hex(sha, 40) || !json_is_array(sib)) {
        hub_fmt(err, HUB_ERRLEN, "%s (revision %s): the listing has no commit sha or siblings (%s)", r->repo_id,
                 r->revision, j ? "unexpected JSON" : je.text);
        s = HUB_E_PROTOCOL;
    } else {
        memcpy(r->commit, sha, 41);
        size_t i;
        json_t *e;
        json_array_foreach(sib, i, e) {
            const char *name = json_string_value(json_object_get(e, "rfilename"));
            if (name && rel_path_ok(name) && !add_file(r, name)) {
                hub_fmt(err, HUB_ERRLEN, "%s: too many files in the listing", r->repo_id);
                s = HUB_E_PROTOCOL;
                break;
            }
        }
    }
    json_decref(j);
    return s;
}

hub_status hub_open(hub *h, const char *repo_id, const char *revision, hub_repo *r, char *err) {
    *r = (hub_repo){0};
    if (!revision || !*revision) revision = "main";
    if (!hub_repo_id_check(repo_id, err)) return HUB_E_USAGE;
    if (!rel_path_ok(revision) || strlen(revision) > 255) {
        hub_fmt(err, HUB_ERRLEN, "'%.300s' is not a usable revision (a branch, tag or commit sha)", revision);
        return HUB_E_USAGE;
    }
    r->repo_id = strdup(repo_id);
    r->revision = strdup(revision);
    if (!r->repo_id || !r->revision) return hub_fmt(err, HUB_ERRLEN, "out of memory"), HUB_E_DISK;
    const char *slash = strchr(repo_id, '/');
    hub_fmt(r->dir, sizeof r->dir, "%.3000s/models--%.*s--%s", h->cache, (int)(slash - repo_id), repo_id, slash + 1);
    if (h->offline) return open_cached(h, r, "HF_HUB_OFFLINE is set", err);
    char *body = NULL;
    hub_status s = hub_http_listing(h, repo_id, r->revision, &body, err);
    if (s == HUB_E_NETWORK) {
        char why[HUB_ERRLEN];
        hub_fmt(why, sizeof why, "%s", err);
        if (open_cached(h, r, "the Hub cannot be reached", err) != HUB_OK) {
            hub_fmt(err, HUB_ERRLEN, "%s (and the cache %s has no copy of it)", why, h->cache);
            return HUB_E_NETWORK;
        }
        hub_note(h, "warning: %s; using the cached snapshot %s", why, r->commit);
        return HUB_OK;
    }
    if (s == HUB_OK) s = parse_listing(r, body, err);
    free(body);
    if (s != HUB_OK) return s;
    hub_fmt(r->snapshot, sizeof r->snapshot, "%s/snapshots/%s", r->dir, r->commit);
    return write_ref(r, err);
}

void hub_repo_close(hub_repo *r) {
    for (int i = 0; i < r->n_files; i++) free(r->files[i]);
    free(r->files);
    free(r->repo_id);
    free(r->revision);
    *r = (hub_repo){0};
}

/* ---- one file ------------------------------------------------------------------------------ */

/* snapshot/file -> ../../blobs/etag (one more ../ per directory level in
 * file), replaced atomically. */
static hub_status link_snapshot(const hub_repo *r, const char *file, const char *etag, char *err) {
    char path[PATH_MAX * 2], tmp[PATH_MAX * 2 + 32], target[PATH_MAX] = "";
    hub_fmt(path, sizeof path, "%s/%s", r->snapshot, file);
    for (const char *s = file; (s = strchr(s, '/')); s++) strcat(target, "../");
    hub_fmt(target + strlen(target), sizeof target - strlen(target), "../../blobs/%s", etag);
    hub_fmt(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    if (!mkdirs(path, false)) return disk_err("create the directory of", path, err);
    unlink(tmp);
    if (symlink(target, tmp) != 0) return disk_err("create the symlink", tmp, err);
    if (rename(tmp, path) != 0) {
        hub_status s = disk_err("create the symlink", path, err);
        unlink(tmp);
        return s;
    }
    return HUB_OK;
}

/* blobs/{etag}: downloaded into .incomplete under .locks/…/{etag}.lock
 * (another process may be fetching the same blob), then renamed. */
static hub_status fetch_blob(hub *h, const hub_repo *r, const hub_meta *m, const char *blob, const char *label,
                             char *err) {
    char lock[PATH_MAX * 2], part[PATH_MAX + 16];
    hub_fmt(lock, sizeof lock, "%s/.locks/%s/%s.lock", h->cache, strrchr(r->dir, '/') + 1, m->etag);
    hub_fmt(part, sizeof part, "%s.incomplete", blob);
    if (!mkdirs(lock, false)) return disk_err("create the directory of", lock, err);
    if (!mkdirs(blob, false)) return disk_err("create the directory of", blob, err);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return disk_err("create the lock", lock, err);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        hub_note(h, "%s: another process is downloading it; waiting", label);
        flock(fd, LOCK_EX);
    }
    hub_status s = HUB_OK;
    if (!is_blob(blob, m->size)) {
        unlink(blob); /* a blob of the wrong size is not this file */
        s = hub_http_download(h, m, part, label, err);
        if (s == HUB_OK && rename(part, blob) != 0) s = disk_err("rename", part, err);
    }
    close(fd); /* releases the lock; the lock file stays, as huggingface_hub leaves it */
    return s;
}

hub_status hub_fetch(hub *h, const hub_repo *r, const char *file, bool *fetched, char *err) {
    if (fetched) *fetched = false;
    if (!rel_path_ok(file)) {
        hub_fmt(err, HUB_ERRLEN, "'%.300s' is not a usable file name in a repo", file);
        return HUB_E_USAGE;
    }
    char path[PATH_MAX * 2], label[600];
    hub_fmt(path, sizeof path, "%s/%s", r->snapshot, file);
    hub_fmt(label, sizeof label, "%.200s/%.380s", r->repo_id, file);
    if (is_file(path)) return HUB_OK;
    if (r->from_cache) {
        hub_fmt(err, HUB_ERRLEN, "%s (revision %s, commit %s) is not in the cache %s%s", label, r->revision,
                 r->commit, h->cache, h->offline ? " and HF_HUB_OFFLINE is set" : " and the Hub cannot be reached");
        return HUB_E_OFFLINE;
    }
    if (!hub_repo_has(r, file)) {
        hub_fmt(err, HUB_ERRLEN, "%s: 404 file not found: %s (revision %s) has no such file", label, r->repo_id,
                 r->revision);
        return HUB_E_NOT_FOUND;
    }
    hub_meta m;
    hub_status s = hub_http_meta(h, r->repo_id, r->commit, file, &m, err);
    if (s != HUB_OK) return s;
    bool etag_ok = strlen(m.etag) <= 100 && strspn(m.etag, "0123456789abcdefABCDEF-_.") == strlen(m.etag) &&
                   m.etag[0] != '.';
    if (!etag_ok) return hub_fmt(err, HUB_ERRLEN, "%s: unusable ETag '%.100s'", label, m.etag), HUB_E_PROTOCOL;
    if (m.commit[0] && strcmp(m.commit, r->commit) != 0)
        hub_note(h, "warning: %s: the Hub serves commit %s for %s", label, m.commit, r->commit);
    char blob[PATH_MAX * 2];
    hub_fmt(blob, sizeof blob, "%s/blobs/%s", r->dir, m.etag);
    if (!is_blob(blob, m.size)) {
        s = fetch_blob(h, r, &m, blob, label, err);
        if (s != HUB_OK) return s;
        if (fetched) *fetched = true;
        if (!h->progress) hub_note(h, "%s: downloaded (%lld bytes)", label, m.size);
    }
    return link_snapshot(r, file, m.etag, err);
}
