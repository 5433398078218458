/*
 * openai_util.h — helpers shared by the proto/openai tests: small limits
 * that make every bound reachable, and "this body parses / fails with
 * exactly this status, param and message / validates / is rejected".
 */
#ifndef CTGI_TEST_OPENAI_UTIL_H
#define CTGI_TEST_OPENAI_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "openai.h"

#define DESER "Failed to deserialize the JSON body into the target type: "

static inline proto_limits olimits(void) {
    proto_limits l = proto_limits_default();
    l.max_input_tokens = 100;
    l.max_total_tokens = 200;
    return l;
}

static inline oai_request oparse(oai_kind k, const char *body) {
    oai_request r;
    proto_error e = {0};
    if (!oai_parse(k, body, strlen(body), &r, &e)) fail_msg("parse failed: %s", e.message);
    return r;
}

static inline void check_err(const proto_error *e, int status, const char *param,
                             const char *msg) {
    assert_int_equal(e->status, status);
    if (param) assert_string_equal(e->param, param);
    else assert_null(e->param);
    assert_string_equal(e->message, msg);
}

/* oai_parse fails with status, param and message; the request is left empty. */
static inline void oparse_fails(oai_kind k, const char *body, int status, const char *param,
                                const char *msg) {
    oai_request r;
    proto_error e = {0};
    assert_false(oai_parse(k, body, strlen(body), &r, &e));
    check_err(&e, status, param, msg);
    assert_null(r.messages);
    assert_null(r.prompts);
    assert_int_equal(r.n_stop, 0);
    oai_request_free(&r);
}

/* Parses, then oai_validate fails with status, param and message. */
static inline void oinvalid_on(oai_kind k, const char *body, const proto_limits *l, int status,
                               const char *param, const char *msg) {
    oai_request r = oparse(k, body);
    proto_error e = {0};
    assert_false(oai_validate(&r, l, &e));
    check_err(&e, status, param, msg);
    oai_request_free(&r);
}

static inline void oinvalid(oai_kind k, const char *body, const char *param, const char *msg) {
    proto_limits l = olimits();
    oinvalid_on(k, body, &l, 400, param, msg);
}

/* Parses, then oai_validate accepts it under limits l. */
static inline void ovalid_on(oai_kind k, const char *body, const proto_limits *l) {
    oai_request r = oparse(k, body);
    proto_error e = {0};
    if (!oai_validate(&r, l, &e)) fail_msg("rejected %s: %s", body, e.message);
    oai_request_free(&r);
}

static inline void ovalid(oai_kind k, const char *body) {
    proto_limits l = olimits();
    ovalid_on(k, body, &l);
}

#define CHAT_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

#endif
