/*
 * ui.h — the built-in chat page (docs/ui.md): its static files, compiled
 * into the binary, and the rule deciding who gets the page at GET /.
 *
 * Nothing here touches HTTP: routes.c turns a ui_file into a response with
 * the headers below.  The files are read-only data that live as long as
 * the process.
 */
#ifndef CTGI_UI_H
#define CTGI_UI_H

#include <stdbool.h>
#include <stddef.h>

/* One embedded file. */
typedef struct {
    const char *path;         /* URL path: "/" (the page), "/ui/app.js", "/ui/style.css" */
    const char *content_type; /* with charset */
    const char *data;         /* len bytes, followed by a NUL */
    size_t len;
    char etag[24];            /* a quoted strong validator of the bytes, e.g. "\"ctgi-0123abcd4567ef89\"" */
} ui_file;

/* The file served at path (the page is "/"); false if there is none. */
bool ui_find(const char *path, ui_file *out);

/* Whether an Accept header asks for HTML: one of its media ranges is
 * text/html (any case, parameters allowed) without q=0.  Browsers send
 * that when they navigate; curl (* / *), TGI's clients and health probes
 * do not, and keep getting TGI's health answer at GET /. */
bool ui_accepts_html(const char *accept);

/* Whether an If-None-Match header matches etag (a list, or "*"; weak
 * validators W/"..." compare equal too, as RFC 9110 says for GET). */
bool ui_etag_matches(const char *if_none_match, const char *etag);

/* The headers every UI file is sent with.  The policy lets the page run
 * only its own script and style files and talk only to its own origin:
 * no inline script, so text that ever slipped into the DOM as markup
 * still could not run. */
#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
/* Revalidate every time (the ETag makes that a 304): a new binary's page
 * is never hidden behind an old cached copy. */
#define UI_CACHE_CONTROL "no-cache"

#endif
