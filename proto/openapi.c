/*
 * openapi.c — embeds proto/openapi.json (see openapi.h).
 *
 * The assembler's .incbin copies the file into .rodata, followed by a NUL
 * so the bytes are also a C string.  The path is relative to the directory
 * make runs in (the repository root); the Makefile lists the JSON file as a
 * prerequisite of this object so an edit to it rebuilds the binary.
 */
#include "openapi.h"

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        ".type ctgi_openapi_start, @object\n"
        "ctgi_openapi_start:\n"
        ".incbin \"proto/openapi.json\"\n"
        "ctgi_openapi_end:\n"
        ".byte 0\n"
        ".size ctgi_openapi_start, . - ctgi_openapi_start\n"
        ".popsection\n");

extern const char ctgi_openapi_start[] __attribute__((visibility("hidden")));
extern const char ctgi_openapi_end[] __attribute__((visibility("hidden")));

const char *proto_openapi_json(size_t *len) {
    if (len) *len = (size_t)(ctgi_openapi_end - ctgi_openapi_start);
    return ctgi_openapi_start;
}
