/*
 * hub_http.h — the Hub's HTTP side for hub.c (internal to the hub module):
 * the revision listing, a file's metadata from its /resolve/ URL, and a
 * resumable, verified download into a blob's .incomplete file.  HTTP and
 * transport failures become hub_status values with a message.
 */
#ifndef CTGI_HUB_HTTP_H
#define CTGI_HUB_HTTP_H

#include <stddef.h>

#include "hub.h"

/* A file's metadata from the first response of its /resolve/ URL. */
typedef struct {
    char commit[64];     /* X-Repo-Commit */
    char etag[128];      /* X-Linked-Etag, else ETag; quotes and W/ removed */
    long long size;      /* X-Linked-Size, else Content-Length; -1 = not given */
    char url[4096];      /* where the bytes are: the redirect's Location, else the /resolve/ URL */
} hub_meta;

/* GET {endpoint}/api/models/{repo}/revision/{revision}; *body is the JSON
 * text (malloc'd, NUL-terminated). */
hub_status hub_http_listing(const hub *h, const char *repo_id, const char *revision, char **body, char *err);

/* HEAD {endpoint}/{repo}/resolve/{commit}/{file}, following relative
 * redirects only (a renamed repo); an absolute one (a CDN) ends the walk
 * and becomes m->url. */
hub_status hub_http_meta(const hub *h, const char *repo_id, const char *commit, const char *file, hub_meta *m,
                         char *err);

/* Fetch m->url into the file at path (appended: a partial file is resumed
 * with Range, and so is a transfer that breaks off), then check the size
 * and, when the etag is a sha256 (LFS), the digest; a mismatch deletes the
 * file.  label names the file in messages and the progress bar. */
hub_status hub_http_download(const hub *h, const hub_meta *m, const char *path, const char *label, char *err);

/* A progress line to h->note (nothing when it is NULL). */
void hub_note(const hub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* snprintf that tells whether the text fit (a function call, so the sizes
 * of paths are checked where they matter rather than warned about). */
bool hub_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Lower-case hex of exactly n digits. */
bool hub_is_hex(const char *s, size_t n);

#endif
