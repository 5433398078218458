/*
 * tgi_util.h — helpers shared by the proto/tgi tests: small limits that make
 * every bound reachable, and "this body parses / fails with exactly this
 * status and message / validates / is rejected with this rule's message".
 */
#ifndef CTGI_TEST_TGI_UTIL_H
#define CTGI_TEST_TGI_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tgi.h"

#define DESER "Failed to deserialize the JSON body into the target type: "
#define INVALID "Input validation error: "

/* Small limits so every bound is reachable with short bodies. */
static inline proto_limits limits(void) {
    proto_limits l = proto_limits_default();
    l.max_input_tokens = 100;
    l.max_total_tokens = 200;
    return l;
}

static inline tgi_request parse_ok(const char *body, tgi_route route) {
    tgi_request r;
    proto_error e = {0};
    bool ok = tgi_parse(body, strlen(body), route, &r, &e);
    if (!ok) fail_msg("parse failed: %s", e.message);
    return r;
}

static inline void parse_fails(const char *body, tgi_route route, int status, const char *type,
                        const char *msg) {
    tgi_request r;
    proto_error e = {0};
    assert_false(tgi_parse(body, strlen(body), route, &r, &e));
    assert_int_equal(e.status, status);
    assert_string_equal(e.error_type, type);
    assert_string_equal(e.message, msg);
    assert_null(r.inputs); /* left empty */
    tgi_request_free(&r);
}

static inline void type_error(const char *body, const char *msg) {
    char full[PROTO_ERRLEN];
    snprintf(full, sizeof full, DESER "%s", msg);
    parse_fails(body, TGI_ROUTE_GENERATE, 422, "validation", full);
}

/* Parses, then tgi_validate fails with 422 "Input validation error: msg". */
static inline void invalid_on(const char *body, tgi_route route, const proto_limits *l,
                       const char *msg) {
    tgi_request r = parse_ok(body, route);
    proto_error e = {0};
    assert_false(tgi_validate(&r, route, l, &e));
    assert_int_equal(e.status, 422);
    assert_string_equal(e.error_type, "validation");
    char full[PROTO_ERRLEN];
    snprintf(full, sizeof full, INVALID "%s", msg);
    assert_string_equal(e.message, full);
    tgi_request_free(&r);
}

static inline void invalid(const char *body, const char *msg) {
    proto_limits l = limits();
    invalid_on(body, TGI_ROUTE_GENERATE, &l, msg);
}

static inline void valid_on(const char *body, tgi_route route) {
    proto_limits l = limits();
    tgi_request r = parse_ok(body, route);
    proto_error e = {0};
    if (!tgi_validate(&r, route, &l, &e)) fail_msg("rejected %s: %s", body, e.message);
    tgi_request_free(&r);
}

static inline void valid(const char *body) { valid_on(body, TGI_ROUTE_GENERATE); }

#endif
