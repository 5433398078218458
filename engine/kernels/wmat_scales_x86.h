/*
 * wmat_scales_x86.h — the 6-bit sub-block scales of Q3_K, Q4_K and Q5_K,
 * decoded for all 16 rows of a group block at once from their scale planes
 * (wmat_layout.h), for the AVX2 and AVX-512 kernel sets.  Internal to
 * engine/kernels.
 *
 * Why planes.  A group block keeps each row's 12 packed scale bytes as the
 * file has them, so the packed matrix is exactly the file's size (a decode
 * step reads every weight byte once: unpacked scales were 2.3-3.6 % more
 * bytes).  Plane k is byte k of the 16 rows, so each decoding rule of
 * model/dtype.h (dt_q4k_scale_min, dt_q3k_scale) becomes the same rule on 16
 * lanes: a few byte operations per 32-element block, in registers.
 *
 * Only SSE2 (baseline x86-64), so the helpers inline into either set's
 * target functions.  Byte shifts are 16-bit shifts whose bits crossing a
 * byte boundary are masked off.
 */
#ifndef CTGI_WMAT_SCALES_X86_H
#define CTGI_WMAT_SCALES_X86_H

#include <emmintrin.h>
#include <stdint.h>

#define WX_INLINE static inline __attribute__((always_inline))

WX_INLINE __m128i wx_plane(const uint8_t *planes, int k) { return _mm_loadu_si128((const __m128i *)(planes + 16 * k)); }

WX_INLINE __m128i wx_bytes(int v) { return _mm_set1_epi8((char)v); }

/* Q4_K / Q5_K: the scales (*sc) and mins (*mn) of 32-block j (0..7), one
 * unsigned byte per row: dt_q4k_scale_min on 16 lanes. */
WX_INLINE void wx_k4_scale_min(const uint8_t *planes, int j, __m128i *sc, __m128i *mn) {
    if (j < 4) {
        *sc = _mm_and_si128(wx_plane(planes, j), wx_bytes(63));
        *mn = _mm_and_si128(wx_plane(planes, j + 4), wx_bytes(63));
        return;
    }
    __m128i lo = wx_plane(planes, j + 4); /* low 4 bits of the scale | of the min << 4 */
    __m128i top_sc = _mm_and_si128(_mm_srli_epi16(wx_plane(planes, j - 4), 2), wx_bytes(0x30)); /* bits 6-7 -> 4-5 */
    __m128i top_mn = _mm_and_si128(_mm_srli_epi16(wx_plane(planes, j), 2), wx_bytes(0x30));
    *sc = _mm_or_si128(_mm_and_si128(lo, wx_bytes(15)), top_sc);
    *mn = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(lo, 4), wx_bytes(15)), top_mn);
}

/* Q3_K: the signed scale (-32..31) of 16-element sub-block s (0..15), one
 * int8 per row: dt_q3k_scale on 16 lanes. */
WX_INLINE __m128i wx_q3k_scale(const uint8_t *planes, int s) {
    __m128i lo = s < 8 ? wx_plane(planes, s) : _mm_srli_epi16(wx_plane(planes, s - 8), 4);
    __m128i hi = wx_plane(planes, 8 + s % 4); /* the two top bits sit at bits 2(s/4)..2(s/4)+1 */
    switch (s / 4) {
    case 0: hi = _mm_slli_epi16(hi, 4); break;
    case 1: hi = _mm_slli_epi16(hi, 2); break;
    case 2: break;
    default: hi = _mm_srli_epi16(hi, 2); break;
    }
    __m128i v = _mm_or_si128(_mm_and_si128(lo, wx_bytes(15)), _mm_and_si128(hi, wx_bytes(0x30)));
    return _mm_sub_epi8(v, wx_bytes(32));
}

#endif
