/*
 * openapi_test.c — proto/openapi: the embedded document is the file
 * proto/openapi.json, valid JSON, OpenAPI 3.x, lists exactly the TGI and
 * OpenAI routes ctgi serves with their methods, every $ref resolves,
 * operation ids are unique, and the OpenAI error examples have OpenAI's
 * envelope and the statuses proto/openai.h gives them.  (The server's tests compare the same list with its router.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi.h"

/* The routes of issue 4 §3, the OpenAI issue and llama.cpp's /infill
 * (issue 14), "METHOD path", sorted. */
static const char *const ROUTES[] = {
    "GET /health", "GET /info",      "GET /metrics",          "GET /openapi.json",
    "GET /v1/models", "POST /",      "POST /chat_tokenize",   "POST /generate",
    "POST /generate_stream", "POST /infill", "POST /tokenize", "POST /v1/chat/completions", "POST /v1/completions",
};
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

static json_t *load(void) {
    size_t len;
    const char *doc = proto_openapi_json(&len);
    assert_non_null(doc);
    assert_int_equal(strlen(doc), len); /* NUL-terminated, no NUL inside */
    json_error_t e;
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) fail_msg("openapi.json: %s at line %d column %d", e.text, e.line, e.column);
    return root;
}

static void test_embedded_matches_file(void **st) {
    /* tests run from the repository root (tests/run.sh cds there) */
    FILE *f = fopen("proto/openapi.json", "rb");
    if (!f) skip();
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    size_t len;
    const char *doc = proto_openapi_json(&len);
    assert_int_equal(n, len);
    assert_memory_equal(buf, doc, n);
    free(buf);
}

static void test_is_openapi3(void **st) {
    json_t *root = load();
    const char *v = json_string_value(json_object_get(root, "openapi"));
    assert_non_null(v);
    assert_true(strncmp(v, "3.", 2) == 0);
    json_t *info = json_object_get(root, "info");
    assert_true(json_is_string(json_object_get(info, "title")));
    assert_true(json_is_string(json_object_get(info, "version")));
    assert_true(json_is_object(json_object_get(root, "paths")));
    json_decref(root);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_exact_routes(void **st) {
    static const char *const methods[] = {"get", "put", "post", "delete",
                                          "options", "head", "patch", "trace"};
    json_t *root = load();
    char *found[64];
    size_t n = 0;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(root, "paths"), path, item) {
        const char *key;
        json_t *op;
        json_object_foreach(item, key, op) {
            for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
                if (strcmp(key, methods[m]) != 0) continue;
                assert_true(n < 64);
                char buf[128];
                snprintf(buf, sizeof buf, "%s %s", key, path);
                for (char *c = buf; *c != ' '; c++) *c = (char)(*c - 'a' + 'A');
                found[n++] = strdup(buf);
                assert_true(json_is_object(json_object_get(op, "responses")));
            }
        }
    }
    qsort(found, n, sizeof found[0], cmp_str);
    for (size_t i = 0; i < n && i < N_ROUTES; i++) assert_string_equal(found[i], ROUTES[i]);
    assert_int_equal(n, N_ROUTES);
    for (size_t i = 0; i < n; i++) free(found[i]);
    json_decref(root);
}

/* Resolve a local JSON pointer "#/a/b" in root. */
static json_t *resolve(json_t *root, const char *ref) {
    if (strncmp(ref, "#/", 2) != 0) return NULL;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ref + 2);
    json_t *at = root;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && at;
         tok = strtok_r(NULL, "/", &save))
        at = json_object_get(at, tok);
    return at;
}

static void check_refs(json_t *root, json_t *v, int *count) {
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) {
            if (strcmp(key, "$ref") == 0) {
                const char *ref = json_string_value(child);
                assert_non_null(ref);
                if (!resolve(root, ref)) fail_msg("unresolved $ref %s", ref);
                (*count)++;
            } else {
                check_refs(root, child, count);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) check_refs(root, child, count);
    }
}

static void test_refs_resolve(void **st) {
    json_t *root = load();
    int count = 0;
    check_refs(root, root, &count);
    assert_true(count > 20);
    json_decref(root);
}

static void test_operation_ids_unique(void **st) {
    json_t *root = load();
    const char *ids[64];
    size_t n = 0;
    const char *path, *method;
    json_t *item, *op;
    json_object_foreach(json_object_get(root, "paths"), path, item) {
        json_object_foreach(item, method, op) {
            const char *id = json_string_value(json_object_get(op, "operationId"));
            assert_non_null(id);
            for (size_t i = 0; i < n; i++) assert_string_not_equal(ids[i], id);
            ids[n++] = id;
        }
    }
    json_decref(root);
}

/* Each OpenAI error response's example is {"error":{message,type,param,code}}
 * with the type oai_error_type gives its status (see openai.h). */
static void test_openai_error_examples(void **st) {
    static const struct {
        const char *name, *type;
    } R[] = {{"OaiBadRequest", "invalid_request_error"},
             {"OaiUnsupported", "invalid_request_error"},
             {"OaiOverloaded", "requests"},
             {"OaiServerError", "server_error"}};
    json_t *root = load();
    json_t *resps = json_object_get(json_object_get(root, "components"), "responses");
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
        json_t *ex = json_object_get(
            json_object_get(json_object_get(json_object_get(resps, R[i].name), "content"),
                            "application/json"),
            "example");
        json_t *e = json_object_get(ex, "error");
        assert_int_equal(json_object_size(ex), 1);
        assert_int_equal(json_object_size(e), 4);
        assert_true(json_is_string(json_object_get(e, "message")));
        assert_string_equal(json_string_value(json_object_get(e, "type")), R[i].type);
        assert_non_null(json_object_get(e, "param"));
        assert_non_null(json_object_get(e, "code"));
    }
    /* each POST /v1 route documents 400 and 422 with those responses */
    const char *paths[] = {"/v1/chat/completions", "/v1/completions"};
    for (size_t i = 0; i < 2; i++) {
        json_t *r = json_object_get(
            json_object_get(json_object_get(json_object_get(root, "paths"), paths[i]), "post"),
            "responses");
        assert_string_equal(json_string_value(json_object_get(json_object_get(r, "400"), "$ref")),
                            "#/components/responses/OaiBadRequest");
        assert_string_equal(json_string_value(json_object_get(json_object_get(r, "422"), "$ref")),
                            "#/components/responses/OaiUnsupported");
    }
    json_decref(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_matches_file),
        cmocka_unit_test(test_is_openapi3),
        cmocka_unit_test(test_exact_routes),
        cmocka_unit_test(test_refs_resolve),
        cmocka_unit_test(test_operation_ids_unique),
        cmocka_unit_test(test_openai_error_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
