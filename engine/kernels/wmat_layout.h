/*
 * wmat_layout.h — where things are inside a group block of wmat.h (16 rows
 * x one file block), shared by the packer and every kernel set.  Internal
 * to engine/kernels.
 *
 * Notation: a "vector" is 64 bytes holding dword r = 4 consecutive bytes of
 * row r (r = 0..15), i.e. the file's bytes transposed by dwords; byte i of
 * row r in vector v is at v*64 + r*4 + i.  A "mask" is a u64 whose bit
 * 4r+i is one high bit of element i of such a dword of row r.  Per-row
 * arrays (f16 scales, u8/i8 sub-block scales) hold 16 entries, row order.
 *
 *   type    QK  group block (bytes) and fields (offset: content)
 *   Q8_0    32   544  0: d[16] f16 | 32: 8 vectors of q XOR 0x80
 *   Q4_0    32   288  0: d[16]     | 32: 4 vectors of qs (low nibble: e, high: e+16)
 *   IQ4_NL  32   288  as Q4_0 (the nibble indexes the IQ4 table)
 *   Q4_1    32   320  0: d | 32: m | 64: 4 vectors of qs
 *   Q5_0    32   352  0: d | 32: 8 masks (mask j: high bits of elements 4j..4j+3) | 96: qs
 *   Q5_1    32   384  0: d | 32: m | 64: 8 masks | 128: qs
 *   Q2_K   256  1344  0: d | 32: dmin | 64: scales[16][16] u8 (as stored) | 320: 16 vectors of qs
 *   Q3_K   256  1760  0: d | 32: 12 scale planes | 224: 16 vectors of qs |
 *                     1248: 64 masks (mask 8g+j: hmask bit g of bytes 4j..4j+3)
 *   Q4_K   256  2304  0: d | 32: dmin | 64: 12 scale planes | 256: 32 vectors of qs
 *   Q5_K   256  2816  as Q4_K to 256 | 256: 64 masks (mask 8s+j: qh bit s of bytes 4j..4j+3) |
 *                     768: 32 vectors of qs
 *   Q6_K   256  3360  0: d | 32: scales[16][16] i8 | 288: 32 vectors of ql | 2336: 16 vectors of qh
 *   F16     1    32   the 16 rows' values of one column
 *   BF16    1    32   likewise
 *
 * A "scale plane" k holds byte k of the 16 rows' packed 6-bit scales (the
 * file's 12 bytes per row, model/dtype.h has their format): byte r of plane
 * k is row r's byte k.  They stay packed, so every group block has exactly
 * the file's bytes for its 16 rows; the kernels decode a block's scales
 * for all 16 rows at once with a few byte operations on planes.
 */
#ifndef CTGI_WMAT_LAYOUT_H
#define CTGI_WMAT_LAYOUT_H

#include <stdint.h>
#include <string.h>

#include "model/dtype.h"

/* Q8_0, Q4_0/IQ4_NL, Q4_1, Q5_0, Q5_1 */
#define WL_Q8_0_QS 32
#define WL_Q4_0_QS 32
#define WL_Q4_1_M 32
#define WL_Q4_1_QS 64
#define WL_Q5_0_QH 32
#define WL_Q5_0_QS 96
#define WL_Q5_1_M 32
#define WL_Q5_1_QH 64
#define WL_Q5_1_QS 128
/* K-quants */
#define WL_QK_DMIN 32
#define WL_Q2_K_SC 64
#define WL_Q2_K_QS 320
#define WL_Q3_K_SC 32
#define WL_Q3_K_QS 224
#define WL_Q3_K_HM 1248
#define WL_Q4_K_SC 64
#define WL_Q4_K_QS 256
#define WL_Q5_K_QH 256
#define WL_Q5_K_QS 768
#define WL_Q6_K_SC 32
#define WL_Q6_K_QL 288
#define WL_Q6_K_QH 2336

/* The IQ4_NL / IQ4_XS non-linear table (quant-formats.md §2.2). */
static const int8_t wl_iq4_table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

typedef struct {
    int qk;     /* elements per file block (1 for F16/BF16) */
    int fbytes; /* bytes per file block */
    int gbytes; /* bytes per group block */
} wl_info;

/* Sizes of a supported type; qk = 0 for others. */
static inline wl_info wl_type(uint32_t type) {
    switch (type) {
    case DT_F16: case DT_BF16: return (wl_info){1, 2, 32};
    case DT_Q8_0: return (wl_info){32, 34, 544};
    case DT_Q4_0: case DT_IQ4_NL: return (wl_info){32, 18, 288};
    case DT_Q4_1: return (wl_info){32, 20, 320};
    case DT_Q5_0: return (wl_info){32, 22, 352};
    case DT_Q5_1: return (wl_info){32, 24, 384};
    case DT_Q2_K: return (wl_info){256, 84, 1344};
    case DT_Q3_K: return (wl_info){256, 110, 1760};
    case DT_Q4_K: return (wl_info){256, 144, 2304};
    case DT_Q5_K: return (wl_info){256, 176, 2816};
    case DT_Q6_K: return (wl_info){256, 210, 3360};
    default: return (wl_info){0, 0, 0};
    }
}

static inline uint16_t wl_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint64_t wl_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Byte i of row r's dword in vector v of a field starting at `field`. */
static inline uint8_t wl_vbyte(const uint8_t *field, int v, int r, int i) { return field[v * 64 + r * 4 + i]; }

/* Bit for element i of row r's dword in mask t of a field. */
static inline int wl_mbit(const uint8_t *field, int t, int r, int i) {
    return (int)((wl_u64(field + 8 * t) >> (4 * r + i)) & 1);
}

/* Row r's 12 packed scale bytes, gathered from the 12 planes at `planes`. */
static inline void wl_scale_bytes(const uint8_t *planes, int r, uint8_t out[12]) {
    for (int k = 0; k < 12; k++) out[k] = planes[16 * k + r];
}

#endif
