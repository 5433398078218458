/*
 * dtype.h — weight element types (ggml's numbering, shared by GGUF and
 * safetensors) and their conversion to f32.
 *
 * Quantised types are stored in blocks: `dt_block_elems` values packed into
 * `dt_block_bytes` bytes.  A row of n elements of a block type must have n a
 * multiple of the block size.  Conversion is exact: bit-identical to
 * ggml's dequantize_row_* (layouts: ../shared/reference/quant-formats.md).
 */
#ifndef CTGI_DTYPE_H
#define CTGI_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DT_F32 = 0,
    DT_F16 = 1,
    DT_Q4_0 = 2,
    DT_Q4_1 = 3,
    DT_Q5_0 = 6,
    DT_Q5_1 = 7,
    DT_Q8_0 = 8,
    DT_Q8_1 = 9,
    DT_Q2_K = 10,
    DT_Q3_K = 11,
    DT_Q4_K = 12,
    DT_Q5_K = 13,
    DT_Q6_K = 14,
    DT_Q8_K = 15,
    DT_IQ2_XXS = 16,
    DT_IQ2_XS = 17,
    DT_IQ3_XXS = 18,
    DT_IQ1_S = 19,
    DT_IQ4_NL = 20,
    DT_IQ3_S = 21,
    DT_IQ2_S = 22,
    DT_IQ4_XS = 23,
    DT_I8 = 24,
    DT_I16 = 25,
    DT_I32 = 26,
    DT_I64 = 27,
    DT_F64 = 28,
    DT_IQ1_M = 29,
    DT_BF16 = 30,
    DT_TQ1_0 = 34,
    DT_TQ2_0 = 35,
    DT_MXFP4 = 39,
    DT_COUNT = 40 /* upper bound of known ids */
} dt_type;

/* Name of a type id ("F32", "Q4_K", ...); "unknown" for ids ggml does not
 * define (callers print the number themselves). */
const char *dt_name(uint32_t type);

/* True when the id is a type ggml defines (its size is known). */
bool dt_known(uint32_t type);

/* True when dt_to_f32 can convert it: every type llama.cpp's quantizer
 * writes for Llama/Qwen2 weights — F32 F16 BF16, Q8_0 Q4_0 Q4_1 Q5_0 Q5_1
 * IQ4_NL (blocks of 32), Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS (blocks of 256).
 * Not: Q8_1/Q8_K (activation formats), the other IQ*, TQ*, MXFP4, ints. */
bool dt_convertible(uint32_t type);

/* Elements per block (1 for plain types) and bytes per block. 0 if unknown. */
uint32_t dt_block_elems(uint32_t type);
uint32_t dt_block_bytes(uint32_t type);

/* Bytes taken by n elements; false if n is not a multiple of the block size,
 * the type is unknown, or the product overflows. */
bool dt_bytes(uint32_t type, uint64_t n, uint64_t *bytes_out);

/* Convert n elements starting at src (n a multiple of the block size) to
 * f32.  Returns false for a type that is not dt_convertible or an n that
 * is not a multiple of the block size.  src needs no particular alignment. */
bool dt_to_f32(uint32_t type, const void *src, float *dst, size_t n);

/* Scalar half/bfloat16 conversions (exact). */
float dt_f16_to_f32(uint16_t h);
float dt_bf16_to_f32(uint16_t h);
uint16_t dt_f32_to_f16(float f);  /* round to nearest even */
uint16_t dt_f32_to_bf16(float f); /* round to nearest even */

#endif
