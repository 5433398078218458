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

/* The packed sub-block scales of the K-quants, shared by the dequantizers
 * (dtype.c) and the portable kernel set (kernels/wmat_ref.c; the vector sets
 * decode the same rules on 16 rows in kernels/wmat_scales_x86.h). */

/* Q4_K's 8 pairs (scale, min) of 6 bits each are packed into 12 bytes:
 *   j < 4:  scale = s[j] & 63,         min = s[j+4] & 63
 *   j >= 4: scale = (s[j+4] & 15) | (s[j-4] >> 6) << 4,
 *           min   = (s[j+4] >> 4)  | (s[j]   >> 6) << 4
 * i.e. bytes 0-7 hold the low 6 bits of scales 0-3 / mins 0-3 and lend
 * their top 2 bits to pairs 4-7, whose low 4 bits live in bytes 8-11.
 * Q5_K packs its scales the same way. */
static inline void dt_q4k_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Q3_K's 16 signed six-bit scales in 12 bytes: byte k (0-7) holds the low
 * 4 bits of scale k (bits 0-3) and of scale k+8 (bits 4-7); byte 8+i holds
 * the top 2 bits of scales i, i+4, i+8, i+12 in bit pairs 0-1 .. 6-7.
 * The six bits are offset by 32: S in -32..31. */
static inline int dt_q3k_scale(const uint8_t *sc, int s) {
    const int lo = s < 8 ? sc[s] & 0x0f : sc[s - 8] >> 4;
    const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (lo | hi << 4) - 32;
}

#endif
