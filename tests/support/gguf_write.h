/*
 * gguf_write.h — tiny writers for test and benchmark model files.
 *
 * gw_*: GGUF v3 (or v2) files.  Metadata is serialised as it is added, in
 * call order; tensors are laid out in call order, each at the next multiple
 * of the alignment.  The writer checks nothing about the values it is given
 * (types, shapes, sizes are written as passed), so tests can also build
 * deliberately broken files.
 *
 *     gw_writer *w = gw_new();
 *     gw_add_str(w, "general.architecture", "llama");
 *     gw_add_u32(w, "llama.embedding_length", 64);
 *     const char *toks[] = {"<unk>", "<s>", "</s>"};
 *     gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
 *     uint64_t ne[2] = {64, 3};              // ggml order: ne[0] = row length
 *     gw_add_tensor(w, "token_embd.weight", 2, ne, DT_F32, data, 64 * 3 * 4, false);
 *     bool ok = gw_write(w, "/tmp/x.gguf", err);  // err: CT_ERRLEN bytes
 *     gw_free(w);
 *
 * sw_*: single-file safetensors: 8-byte little-endian header length, JSON
 * header padded with spaces to a multiple of 8, then the tensors' bytes in
 * call order.
 *
 *     sw_writer *s = sw_new();
 *     uint64_t shape[2] = {3, 64};           // PyTorch order: outermost first
 *     sw_add(s, "model.embed_tokens.weight", "F32", 2, shape, data, 3 * 64 * 4);
 *     sw_write(s, "/tmp/model.safetensors", err);
 *     sw_free(s);
 *
 * All add functions copy keys, names and strings; they return false only
 * when out of memory (a failed writer still has to be freed).
 */
#ifndef CTGI_GGUF_WRITE_H
#define CTGI_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "model/dtype.h"
#include "model/gguf.h"

/* ------------------------------------------------------------- GGUF */

typedef struct gw_writer gw_writer;

gw_writer *gw_new(void);
void gw_free(gw_writer *w);

/* Header version field (default 3).  v2 and v3 share the little-endian
 * layout, so this only changes the number written. */
void gw_set_version(gw_writer *w, uint32_t version);
/* Data alignment (default 32).  Also adds a "general.alignment" UINT32
 * key, as llama.cpp does for non-default alignments. */
bool gw_set_alignment(gw_writer *w, uint32_t alignment);

bool gw_add_u8(gw_writer *w, const char *key, uint8_t v);
bool gw_add_i8(gw_writer *w, const char *key, int8_t v);
bool gw_add_u16(gw_writer *w, const char *key, uint16_t v);
bool gw_add_i16(gw_writer *w, const char *key, int16_t v);
bool gw_add_u32(gw_writer *w, const char *key, uint32_t v);
bool gw_add_i32(gw_writer *w, const char *key, int32_t v);
bool gw_add_u64(gw_writer *w, const char *key, uint64_t v);
bool gw_add_i64(gw_writer *w, const char *key, int64_t v);
bool gw_add_f32(gw_writer *w, const char *key, float v);
bool gw_add_f64(gw_writer *w, const char *key, double v);
bool gw_add_bool(gw_writer *w, const char *key, bool v);
bool gw_add_str(gw_writer *w, const char *key, const char *v);
/* A string with explicit length (may contain NUL bytes). */
bool gw_add_strn(gw_writer *w, const char *key, const char *v, uint64_t len);

/* Array of n fixed-size elements of type elem (GGUF_T_UINT8 ... FLOAT64,
 * BOOL as 1 byte each), packed little-endian at data. */
bool gw_add_arr(gw_writer *w, const char *key, gguf_type elem, const void *data, uint64_t n);
/* Array of n NUL-terminated strings. */
bool gw_add_arr_str(gw_writer *w, const char *key, const char *const *strs, uint64_t n);

/* A tensor: n_dims (1..4) sizes in ggml order, a dt_type id and its bytes.
 * copy=false keeps a reference to data, which must then outlive gw_write;
 * copy=true takes a private copy.  nbytes is written as given (normally
 * dt_bytes of the element count). */
bool gw_add_tensor(gw_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                   uint32_t type, const void *data, uint64_t nbytes, bool copy);
/* A tensor info with no data of its own, whose offset field (relative to
 * the data section) is written verbatim: for building broken files. */
bool gw_add_tensor_raw(gw_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset);

/* The whole file as a malloc'd buffer (caller frees); NULL if out of
 * memory. */
uint8_t *gw_serialize(const gw_writer *w, size_t *len_out);
/* Write the file; false + err (CT_ERRLEN bytes, may be NULL) on failure. */
bool gw_write(const gw_writer *w, const char *path, char *err);

/* ------------------------------------------------------ safetensors */

typedef struct sw_writer sw_writer;

sw_writer *sw_new(void);
void sw_free(sw_writer *s);

/* A tensor: dtype as spelled in safetensors ("F32", "F16", "BF16", ...;
 * written as given, so unknown names make broken files), shape in PyTorch
 * order (n_dims up to 8, 0 for a scalar), nbytes of data (copied). */
bool sw_add(sw_writer *s, const char *name, const char *dtype, uint32_t n_dims,
            const uint64_t *shape, const void *data, uint64_t nbytes);
/* A "__metadata__" string entry. */
bool sw_add_meta(sw_writer *s, const char *key, const char *value);
bool sw_write(const sw_writer *s, const char *path, char *err);

#endif
