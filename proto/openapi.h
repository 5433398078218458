/*
 * openapi.h — the OpenAPI 3 document of ctgi's TGI routes, served at
 * GET /openapi.json.
 *
 * Owns: nothing but access to proto/openapi.json, which is embedded in the
 * binary at build time (so the document a reviewer edits is plain JSON and
 * the server needs no file at run time).  tests/proto/openapi_test.c checks
 * it is valid JSON, OpenAPI 3.x, lists exactly the routes below and that
 * every $ref resolves; the server's tests check the same list against its
 * router.
 */
#ifndef CTGI_OPENAPI_H
#define CTGI_OPENAPI_H

#include <stddef.h>

/* The document's bytes (NUL-terminated); *len gets its length (len may be NULL). */
const char *proto_openapi_json(size_t *len);

#endif
