/*
 * safetensors.h — read-only, memory-mapped safetensors checkpoints, single
 * file or sharded (model.safetensors.index.json + shards).
 *
 * st_open_dir() finds `model.safetensors`, or the index and every shard it
 * names, maps them and validates each header: 8-byte little-endian header
 * length within the file, JSON header, per tensor dtype/shape/data_offsets
 * with begin <= end <= data size and end - begin == elements * dtype size.
 * Tensors are looked up by their Hugging Face name.  Supported dtypes are
 * those with a dt_type (F32 F16 BF16 F64 I8 I16 I32 I64); any other (U8,
 * BOOL, FP8, unsigned) fails the open with a message naming tensor and
 * dtype.  A sharded index opens each distinct shard once and every
 * weight_map entry must be found in the shard it names.  st_tensor_at
 * order: shards by file name, then by data offset.
 */
#ifndef CTGI_SAFETENSORS_H
#define CTGI_SAFETENSORS_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

typedef struct {
    const char *name;  /* NUL-terminated, owned by the st_model */
    uint32_t type;     /* dt_type: DT_F32, DT_F16, DT_BF16, DT_F64, DT_I8.. */
    uint32_t n_dims;
    uint64_t shape[8]; /* safetensors/PyTorch order: shape[0] outermost */
    uint64_t n_elems;
    uint64_t nbytes;
    const void *data;  /* into the mapping */
} st_tensor;

typedef struct st_model st_model;

/* Open a directory holding model.safetensors or
 * model.safetensors.index.json; NULL + err on failure. */
st_model *st_open_dir(const char *dir, char *err);
/* Open one .safetensors file. */
st_model *st_open_file(const char *path, char *err);
void st_close(st_model *m);

uint64_t st_n_tensors(const st_model *m);
const st_tensor *st_tensor_at(const st_model *m, uint64_t i);
const st_tensor *st_find(const st_model *m, const char *name); /* NULL if absent */

#endif
