/*
 * serve_ui_test.c — the built-in chat page over HTTP (server/ui.c and its
 * routes; the browser side is chat_ui_test.sh):
 *   - ui.h's rules: which Accept headers ask for HTML, If-None-Match
 *     matching, the embedded files equal the files in server/ui/, and the page asks
 *     only for embedded files;
 *   - the real `ctgi serve` on stories260K: GET / is the page for a
 *     browser (with its headers; 304 on a matching ETag) and TGI's health
 *     answer for everyone else, /ui/app.js and /ui/style.css; the page is
 *     served while the model loads (the health answer is then 503);
 *   - --no-ui and NO_UI=1: the health answer for browsers too, /ui/app.js and /ui/style.css 404.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve_util.h"
#include "support/testutil.h"
#include "ui.h"

static su_server S;
#define HTML "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"

static int setup(void **st) { return su_start_shared(&S, "stories260K.gguf", "--threads 1") ? 0 : -1; }

static int teardown(void **st) {
    assert_int_equal(su_stop(&S, SIGTERM, 10), 0);
    return 0;
}

/* ---- ui.h ----------------------------------------------------------------------------- */

static void test_accepts_html(void **st) {
    assert_true(ui_accepts_html("text/html"));
    assert_true(ui_accepts_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")); /* Chrome */
    assert_true(ui_accepts_html("application/json, TEXT/HTML ; charset=utf-8"));
    assert_true(ui_accepts_html("text/html;level=1;q=0.5"));
    assert_false(ui_accepts_html(NULL));
    assert_false(ui_accepts_html(""));
    assert_false(ui_accepts_html("*/*"));                   /* curl */
    assert_false(ui_accepts_html("application/json"));      /* openai, TGI clients */
    assert_false(ui_accepts_html("text/*"));
    assert_false(ui_accepts_html("text/htmlx, xtext/html")); /* whole media types only */
    assert_false(ui_accepts_html("text/html;q=0, */*"));     /* explicitly refused */
    assert_false(ui_accepts_html("text/html; q=0.000"));
}

static void test_etag_matches(void **st) {
    const char *tag = "\"ctgi-0123456789abcdef\"";
    assert_true(ui_etag_matches(tag, tag));
    assert_true(ui_etag_matches("\"x\", W/\"ctgi-0123456789abcdef\"", tag));
    assert_true(ui_etag_matches("*", tag));
    assert_false(ui_etag_matches(NULL, tag));
    assert_false(ui_etag_matches("\"ctgi-0123456789abcdee\"", tag));
    assert_false(ui_etag_matches("ctgi-0123456789abcdef", tag)); /* unquoted */
}

/* The embedded bytes are the files in server/ui/, NUL-terminated, with a
 * content type each and an ETag that tells them apart. */
static void test_embedded_files(void **st) {
    static const char *files[][3] = {{"/", "server/ui/index.html", "text/html; charset=utf-8"},
                                     {"/ui/app.js", "server/ui/app.js", "text/javascript; charset=utf-8"},
                                     {"/ui/style.css", "server/ui/style.css", "text/css; charset=utf-8"}};
    char etags[3][24];
    for (int i = 0; i < 3; i++) {
        ui_file f;
        assert_true(ui_find(files[i][0], &f));
        assert_string_equal(f.content_type, files[i][2]);
        assert_int_equal(f.data[f.len], '\0');
        FILE *fp = fopen(files[i][1], "rb");
        assert_non_null(fp);
        char *disk = malloc(f.len + 1);
        size_t n = fread(disk, 1, f.len + 1, fp);
        fclose(fp);
        assert_int_equal(n, f.len);
        assert_memory_equal(disk, f.data, f.len);
        free(disk);
        assert_int_equal(strlen(f.etag), 23);
        strcpy(etags[i], f.etag);
    }
    assert_string_not_equal(etags[0], etags[1]);
    assert_string_not_equal(etags[1], etags[2]);
    ui_file f;
    assert_false(ui_find("/ui/", &f));
    assert_false(ui_find("/ui/app.js.map", &f));
    assert_false(ui_find("/index.html", &f));
}

/* Every src= / href= of the page is either embedded or a data: URL (the
 * page must work offline), and the page has no inline script or style. */
static void test_page_needs_only_embedded_files(void **st) {
    ui_file page, f;
    assert_true(ui_find("/", &page));
    assert_null(strstr(page.data, "<script>"));
    assert_null(strstr(page.data, "<style"));
    assert_null(strstr(page.data, " style="));
    for (const char *p = page.data; (p = strstr(p, " on")); p++) { /* no onclick= and the like */
        size_t k = strspn(p + 3, "abcdefghijklmnopqrstuvwxyz");
        if (k > 0 && p[3 + k] == '=') fail_msg("an inline event handler: %.20s", p);
    }
    int refs = 0;
    for (const char *p = page.data; (p = strpbrk(p, "sh"));) {
        const char *v = NULL;
        if (strncmp(p, "src=\"", 5) == 0) v = p + 5;
        if (strncmp(p, "href=\"", 6) == 0) v = p + 6;
        p++;
        if (!v) continue;
        char url[128];
        size_t n = strcspn(v, "\"");
        assert_true(n < sizeof url - 1);
        snprintf(url, sizeof url, "/%.*s", (int)n, v);
        if (strncmp(url, "/data:", 6) == 0) continue;
        if (!ui_find(url, &f)) fail_msg("the page refers to %s, which is not embedded", url);
        refs++;
    }
    assert_int_equal(refs, 2); /* ui/style.css, ui/app.js */
}

/* ---- the server ------------------------------------------------------------------------ */

static void assert_health(const su_resp *r, long status) {
    assert_int_equal(r->status, status);
    char *ct = su_header(r, "Content-Type");
    assert_true(!ct || !strstr(ct, "html"));
    free(ct);
    if (status == 200) assert_int_equal(r->len, 0);
}

static void test_root_by_accept(void **st) {
    su_resp r = su_req(&S, "GET", "/", NULL, NULL); /* curl's Accept: * / * */
    assert_health(&r, 200);
    char *vary = su_header(&r, "Vary");
    assert_non_null(vary);
    assert_non_null(strstr(vary, "Accept"));
    free(vary);
    su_resp_free(&r);
    r = su_req(&S, "GET", "/", NULL, "Accept: application/json");
    assert_health(&r, 200);
    su_resp_free(&r);
    r = su_req(&S, "GET", "/", NULL, "Accept: text/html;q=0, */*");
    assert_health(&r, 200);
    su_resp_free(&r);
    r = su_req(&S, "GET", "/health", NULL, HTML); /* only / is the page */
    assert_health(&r, 200);
    su_resp_free(&r);
}

static void assert_header(const su_resp *r, const char *name, const char *want) {
    char *v = su_header(r, name);
    if (!v || strcmp(v, want) != 0) fail_msg("%s: got '%s', want '%s'", name, v ? v : "(none)", want);
    free(v);
}

static void test_page_and_headers(void **st) {
    ui_file page;
    assert_true(ui_find("/", &page));
    su_resp r = su_req(&S, "GET", "/", NULL, HTML);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, page.len);
    assert_memory_equal(r.body, page.data, page.len);
    assert_header(&r, "Content-Type", "text/html; charset=utf-8");
    assert_header(&r, "Content-Security-Policy", UI_CSP);
    assert_header(&r, "Cache-Control", "no-cache");
    assert_header(&r, "X-Content-Type-Options", "nosniff");
    assert_header(&r, "ETag", page.etag);
    assert_non_null(strstr(UI_CSP, "script-src 'self';")); /* no 'unsafe-inline' */
    assert_null(strstr(UI_CSP, "unsafe"));
    su_resp_free(&r);

    char hdr[160];
    snprintf(hdr, sizeof hdr, HTML "\nIf-None-Match: %s", page.etag);
    r = su_req(&S, "GET", "/", NULL, hdr);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    assert_header(&r, "ETag", page.etag);
    su_resp_free(&r);
    r = su_req(&S, "GET", "/", NULL, HTML "\nIf-None-Match: \"ctgi-0000000000000000\"");
    assert_int_equal(r.status, 200);
    su_resp_free(&r);

    static const char *assets[][2] = {{"/ui/app.js", "text/javascript; charset=utf-8"},
                                      {"/ui/style.css", "text/css; charset=utf-8"}};
    for (int i = 0; i < 2; i++) {
        ui_file f;
        assert_true(ui_find(assets[i][0], &f));
        r = su_req(&S, "GET", assets[i][0], NULL, NULL); /* whatever the Accept */
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, f.len);
        assert_header(&r, "Content-Type", assets[i][1]);
        assert_header(&r, "Cache-Control", "no-cache");
        assert_header(&r, "ETag", f.etag);
        su_resp_free(&r);
    }
    r = su_req(&S, "POST", "/ui/app.js", "{}", NULL);
    assert_int_equal(r.status, 405);
    su_resp_free(&r);
    r = su_req(&S, "GET", "/ui/missing.js", NULL, NULL);
    assert_int_equal(r.status, 404);
    su_resp_free(&r);
}

/* The page is there while the model loads (it shows the state itself);
 * GET / for a probe is TGI's 503. */
static void test_page_while_loading(void **st) {
    su_server l;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&l, model, "--threads 1", "CTGI_DEBUG_LOAD_DELAY_MS=1500", false));
    free(model);
    su_resp r = su_req(&l, "GET", "/", NULL, NULL);
    assert_health(&r, 503);
    su_resp_free(&r);
    r = su_req(&l, "GET", "/", NULL, HTML);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<!doctype html>"));
    su_resp_free(&r);
    r = su_req(&l, "GET", "/v1/models", NULL, NULL); /* what the page polls until ready */
    assert_int_equal(r.status, 503);
    su_resp_free(&r);
    assert_int_equal(su_stop(&l, SIGTERM, 10), 0);
}

static void check_no_ui(const char *args, const char *env) {
    su_server x;
    char *model = tu_model_path("stories260K.gguf");
    assert_true(su_start(&x, model, args, env, true));
    free(model);
    su_resp r = su_req(&x, "GET", "/", NULL, HTML);
    assert_health(&r, 200);
    char *vary = su_header(&r, "Vary");
    assert_true(!vary || !strstr(vary, "Accept")); /* the answer no longer depends on it */
    free(vary);
    su_resp_free(&r);
    for (int i = 0; i < 2; i++) {
        r = su_req(&x, "GET", i ? "/ui/style.css" : "/ui/app.js", NULL, NULL);
        assert_int_equal(r.status, 404);
        json_t *j = su_json(&r);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "error_type")), "not_found");
        json_decref(j);
        su_resp_free(&r);
    }
    assert_int_equal(su_stop(&x, SIGTERM, 10), 0);
}

static void test_no_ui_flag(void **st) { check_no_ui("--threads 1 --no-ui", NULL); }
static void test_no_ui_env(void **st) { check_no_ui("--threads 1", "NO_UI=1"); }

static void test_help_names_flag(void **st) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s serve --help 2>&1", tu_ctgi_bin());
    int status;
    char *out = tu_run(cmd, &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "--no-ui"));
    assert_non_null(strstr(out, "[env NO_UI; default: page on]"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_html),       cmocka_unit_test(test_etag_matches),
        cmocka_unit_test(test_embedded_files),     cmocka_unit_test(test_page_needs_only_embedded_files),
        cmocka_unit_test(test_root_by_accept),     cmocka_unit_test(test_page_and_headers),
        cmocka_unit_test(test_page_while_loading), cmocka_unit_test(test_no_ui_flag),
        cmocka_unit_test(test_no_ui_env),          cmocka_unit_test(test_help_names_flag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
