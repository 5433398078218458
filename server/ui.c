/*
 * ui.c — the chat page's files, embedded with the assembler's .incbin
 * (like proto/openapi.c), and the small header logic of ui.h: Accept
 * negotiation for GET / and ETag comparison.
 *
 * The .incbin paths are relative to the directory make runs in (the
 * repository root); the Makefile lists the files in server/ui/ as prerequisites of
 * this object so that an edit to the page rebuilds the binary.  Each file
 * is followed by a NUL so that its bytes are also a C string.
 */
#include "ui.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UI_EMBED(sym, file)                                                                        \
    __asm__(".pushsection .rodata\n"                                                               \
            ".balign 16\n"                                                                         \
            ".type " #sym "_start, @object\n" #sym "_start:\n"                                     \
            ".incbin \"" file "\"\n" #sym "_end:\n"                                                \
            ".byte 0\n"                                                                            \
            ".size " #sym "_start, . - " #sym "_start\n"                                           \
            ".popsection\n");                                                                      \
    extern const char sym##_start[] __attribute__((visibility("hidden")));                         \
    extern const char sym##_end[] __attribute__((visibility("hidden")))

UI_EMBED(ctgi_ui_index, "server/ui/index.html");
UI_EMBED(ctgi_ui_app, "server/ui/app.js");
UI_EMBED(ctgi_ui_style, "server/ui/style.css");

/* FNV-1a, 64 bits: enough to tell two builds' files apart. */
static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

static void fill(ui_file *f, const char *path, const char *ctype, const char *start, const char *end) {
    f->path = path;
    f->content_type = ctype;
    f->data = start;
    f->len = (size_t)(end - start);
    snprintf(f->etag, sizeof f->etag, "\"ctgi-%016llx\"", (unsigned long long)fnv1a(f->data, f->len));
}

bool ui_find(const char *path, ui_file *out) {
    if (strcmp(path, "/") == 0)
        fill(out, "/", "text/html; charset=utf-8", ctgi_ui_index_start, ctgi_ui_index_end);
    else if (strcmp(path, "/ui/app.js") == 0)
        fill(out, "/ui/app.js", "text/javascript; charset=utf-8", ctgi_ui_app_start, ctgi_ui_app_end);
    else if (strcmp(path, "/ui/style.css") == 0)
        fill(out, "/ui/style.css", "text/css; charset=utf-8", ctgi_ui_style_start, ctgi_ui_style_end);
    else
        return false;
    return true;
}

/* [*p, end) without the spaces and tabs around it. */
static void trim(const char **p, const char **end) {
    while (*p < *end && (**p == ' ' || **p == '\t')) (*p)++;
    while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t')) (*end)--;
}

/* The q of one media range's parameters [p, end) (1 if none is given). */
static double range_q(const char *p, const char *end) {
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end, *s = p;
        trim(&s, &e);
        if (e - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
            char num[16];
            size_t n = (size_t)(e - s - 2) < sizeof num - 1 ? (size_t)(e - s - 2) : sizeof num - 1;
            memcpy(num, s + 2, n);
            num[n] = '\0';
            return strtod(num, NULL);
        }
        p = semi ? semi + 1 : end;
    }
    return 1;
}

bool ui_accepts_html(const char *accept) {
    if (!accept) return false;
    const char *p = accept, *stop = accept + strlen(accept);
    while (p < stop) {
        const char *comma = memchr(p, ',', (size_t)(stop - p));
        const char *end = comma ? comma : stop;
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *s = p, *e = semi ? semi : end;
        trim(&s, &e);
        if (e - s == 9 && strncasecmp(s, "text/html", 9) == 0) return !semi || range_q(semi + 1, end) > 0;
        p = comma ? comma + 1 : stop;
    }
    return false;
}

bool ui_etag_matches(const char *if_none_match, const char *etag) {
    if (!if_none_match) return false;
    size_t n = strlen(etag);
    const char *p = if_none_match, *stop = p + strlen(p);
    while (p < stop) {
        const char *comma = memchr(p, ',', (size_t)(stop - p));
        const char *s = p, *e = comma ? comma : stop;
        trim(&s, &e);
        if (e - s >= 2 && s[0] == 'W' && s[1] == '/') s += 2;
        if ((e - s == 1 && *s == '*') || ((size_t)(e - s) == n && memcmp(s, etag, n) == 0)) return true;
        p = comma ? comma + 1 : stop;
    }
    return false;
}
