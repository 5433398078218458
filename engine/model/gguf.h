/*
 * gguf.h — read-only, memory-mapped GGUF v2/v3 files.
 *
 * gguf_open() maps the file and validates everything before anyone uses it:
 * header, every metadata key/value (all 13 value types, nested arrays are
 * rejected), tensor infos (name, rank <= 4, dims > 0, element count without
 * overflow, known type, row size a multiple of the block size), alignment
 * (general.alignment, default 32, power of two; every tensor offset a
 * multiple of it), that every tensor's data lies inside the file, and that
 * no key or tensor name appears twice.  v1 and big-endian files are
 * rejected with a message saying so.  After a successful open every accessor is
 * safe: pointers point into the mapping and stay valid until gguf_close().
 * Strings in the file are not NUL-terminated; accessors return (ptr, len).
 */
#ifndef CTGI_GGUF_H
#define CTGI_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef enum {
    GGUF_T_UINT8 = 0,
    GGUF_T_INT8 = 1,
    GGUF_T_UINT16 = 2,
    GGUF_T_INT16 = 3,
    GGUF_T_UINT32 = 4,
    GGUF_T_INT32 = 5,
    GGUF_T_FLOAT32 = 6,
    GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8,
    GGUF_T_ARRAY = 9,
    GGUF_T_UINT64 = 10,
    GGUF_T_INT64 = 11,
    GGUF_T_FLOAT64 = 12,
} gguf_type;

typedef struct {
    const char *ptr; /* into the mapping, not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct {
    gguf_str key;
    gguf_type type;     /* value type; GGUF_T_ARRAY for arrays */
    gguf_type arr_type; /* element type when type == GGUF_T_ARRAY */
    uint64_t arr_n;     /* element count when type == GGUF_T_ARRAY */
    const uint8_t *data; /* first byte of the value (after the array header);
                          * for a STRING that is its u64 length.  Not
                          * necessarily aligned: read through memcpy. */
} gguf_kv;

typedef struct {
    char name[256];   /* NUL-terminated copy of the tensor name */
    uint32_t n_dims;
    uint64_t ne[4];   /* ggml order: ne[0] is the fastest-varying (row length) */
    uint32_t type;    /* dt_type */
    uint64_t n_elems;
    uint64_t nbytes;
    const void *data; /* into the mapping, aligned */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Open and validate; NULL + err on any problem (err names the problem). */
gguf_file *gguf_open(const char *path, char *err);
/* The same on a GGUF image already in memory (size bytes at data, which
 * must stay valid and unchanged until gguf_close).  `name` stands in for
 * the path in error messages and gguf_path().  Used by tests and tools. */
gguf_file *gguf_open_mem(const void *data, size_t size, const char *name, char *err);
void gguf_close(gguf_file *f);

/* "UINT8", "STRING", "ARRAY", ... ("unknown" outside the enum). */
const char *gguf_type_name(uint32_t type);

uint32_t gguf_version(const gguf_file *f);
const char *gguf_path(const gguf_file *f);

/* Metadata. */
uint64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
const gguf_kv *gguf_find(const gguf_file *f, const char *key); /* NULL if absent */

/* Typed getters: return false if the key is absent or not convertible.
 * Integer getters accept any integer type whose value fits (and bool);
 * float getters accept FLOAT32/FLOAT64 and integers. */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* malloc'd NUL-terminated copy of a string value, NULL if absent. */
char *gguf_get_strdup(const gguf_file *f, const char *key);

/* Arrays: element type and count; false if absent or not an array. */
bool gguf_get_arr(const gguf_file *f, const char *key, gguf_type *type, uint64_t *n);
/* Element i of an array of strings.  O(1): every string array is indexed
 * (one pointer per element) while it is validated at open. */
bool gguf_arr_str(const gguf_file *f, const char *key, uint64_t i, gguf_str *out);
/* Pointer to the packed elements of a numeric array (little-endian, not
 * necessarily aligned for the element type: read through memcpy).  NULL if
 * absent or an array of strings. */
const void *gguf_arr_data(const gguf_file *f, const char *key);
/* Element i of a numeric array converted like the scalar getters: any
 * integer/bool element type for _i64 (u64 values above INT64_MAX fail),
 * any numeric type for _f32.  False if absent, out of range or mismatched. */
bool gguf_arr_i64(const gguf_file *f, const char *key, uint64_t i, int64_t *out);
bool gguf_arr_f32(const gguf_file *f, const char *key, uint64_t i, float *out);

/* Tensors. */
uint64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

#endif
