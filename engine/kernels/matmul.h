/*
 * matmul.h — the engine's weight product y = x . w^T (+ bias), with a fixed
 * reduction order per output element.
 *
 * Why it exists.  The continuous-batching scheduler packs rows of many
 * requests into one forward pass, and a request's logits must not depend
 * on who it shares the batch with: computed alone (M=1) or as row 37 of 64,
 * every output must be the same float, bit for bit.  BLAS does not promise
 * that (OpenBLAS 0.3.21's sgemm changes its summation order with M, with
 * the row's offset in the call and with how N is split, and sgemv differs
 * from sgemm), so the engine computes its products here.
 *
 * What it owns: the order of the floating-point operations.  Every output
 * y[m][n] = dot(x[m], w[n]) is computed exactly as
 *
 *   lane[j] = 0 for j in 0..7;
 *   for each chunk of 8 (k = c*8 .. c*8+7), in increasing c:
 *       lane[j] = fma(x[k+j], w[k+j], lane[j])
 *   the last chunk (K % 8 != 0) zero-padded: missing terms are fma(0, 0, lane);
 *   s = ((lane0 + lane1) + (lane2 + lane3)) + ((lane4 + lane5) + (lane6 + lane7));
 *   y = s + bias[n]   (if bias)
 *
 * whatever M, the row's index, the register tile it falls in, the column
 * range [n0, n1) a thread was given, and whether the AVX2/FMA kernels or the
 * portable scalar code run.  K is never split.  Reusing a partial result
 * across calls is therefore safe: the same (x row, w row) always gives the
 * same float.
 *
 * Packed weights.  The products read w in a packed layout made once at
 * load time (model.c): rows in panels of MM_PANEL, each panel K-major in
 * chunks of 8,
 *
 *   panel p = rows [p*MM_PANEL, p*MM_PANEL + W), W = MM_PANEL (fewer in the
 *   last panel); K padded with zeros to Kp = K rounded up to 8;
 *   element (n, k) at  p*MM_PANEL*Kp + (k/8)*W*8 + (n - p*MM_PANEL)*8 + k%8
 *
 * so the 8 lanes of one output's chunk are one vector, the W outputs of a
 * panel sit side by side for each chunk, and a panel — exactly one
 * register tile of the kernel wide — is one contiguous run over K: a
 * decode step streams it front to back, a prefill tile reads it without
 * cache-set conflicts or lines shared with other tiles (matmul.c).  The
 * layout changes where the numbers are, never the order they are added
 * in.  Same size as row-major when K % 8 == 0 (else K is padded to 8).
 *
 * Threads: every function is reentrant; callers split [0, N) between
 * threads (on multiples of MM_PANEL for speed; any split is correct).
 */
#ifndef CTGI_MATMUL_H
#define CTGI_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

#include "kv.h" /* kv_dtype: the element types attention reads */

#define MM_PANEL 3

/* Floats of the packed form of an (N, K) matrix: N * Kp. */
size_t mm_packed_size(int N, int K);

/* Memory for packed weights and big activations, freed with free(): 2 MiB
 * aligned with transparent huge pages requested when it is that large,
 * else 64-byte aligned (a cache line; wm_act buffers need it).
 * The products stream tens of MB; with 4 KiB pages every 4 KiB of a
 * stream is a TLB miss (the kernel's THP mode here is "madvise"). */
void *mm_alloc(size_t bytes);

/* Packs row-major w (N, K) into wp (mm_packed_size floats).  wp == w packs
 * in place (needs K % 8 == 0, so both forms have the same size: a panel
 * occupies the same floats in both), with a temporary panel buffer; false
 * only if that cannot be allocated (w is then unchanged).  Otherwise wp
 * must not overlap w. */
bool mm_pack(const float *w, int N, int K, float *wp);

/* Rows [n0, n1) of packed wp (N, K) as a row-major (n1 - n0, K) matrix. */
void mm_unpack_rows(const float *wp, int N, int K, int n0, int n1, float *out);

/* y[m * ldy + n] = dot(x[m], w[n]) (+ bias[n]) for m in [0, M), n in
 * [n0, n1), w packed (mm_pack) from an (N, K) matrix.  x: (M, K)
 * row-major; bias: (N) or NULL.  Columns outside [n0, n1) of y are not
 * touched, so threads may split N between them.  Any alignment. */
void mm_packed(const float *x, int M, int K, const float *wp, int N, int n0, int n1, const float *bias, float *y,
               int ldy);

/* The same product with w row-major (N, K): packs w's panels on the fly
 * (tests and tools; the engine packs once at load). */
void mm_rows(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias, float *y, int ldy);

/* The same product for one (x row, w row) pair, by the scalar reference
 * code: what every path of mm_packed / mm_rows must equal bit for bit. */
float mm_dot_ref(const float *x, const float *w, int K);

/* Attention's products (matmul_attn.c), on rows at any stride (the KV cache
 * holds a head's keys at stride kv_dim):
 *   mm_dots: y[i] = dot(x, w + i * ldw) over K, for i in [0, n), each
 *            exactly mm_dot_ref(x, w + i * ldw, K);
 *   mm_wsum: acc[k] += wt[i] * v[i * ldv + k] for i in [0, n), k in [0, K):
 *            per element one fma per i, in increasing i, so splitting the
 *            positions over several calls gives the same bits. */
void mm_dots(const float *x, int K, const float *w, size_t ldw, int n, float *y);
void mm_wsum(const float *wt, int n, const float *v, size_t ldv, int K, float *acc);

/* The same two products reading the KV cache's own element type t (kv.h)
 * directly: rows w + i * ldw (v + i * ldv), strides in BYTES (a multiple
 * of 4 for KV_F32; any for the others), K values of type t each (for
 * KV_Q8_0 K is a multiple of 32 and each row starts on a block).  Each element is first widened to f32 exactly (kv_get: f16 and
 * bf16 are exact, q8_0's d * q too), then the f32 order above applies
 * unchanged:
 *   mm_dots_kv: y[i] == mm_dot_ref(x, widen(w_i), K);
 *   mm_wsum_kv: acc[k] = fma(wt[i], widen(v_i)[k], acc[k]), i in order.
 * So a score or an output element depends only on x (wt), the cached rows
 * and K — never on the batch, the tile, the KV block split or the thread —
 * and the vector code (F16C/AVX2: convert in registers) and the portable
 * code (widen 32 values at a time into a buffer) give the same bits.  No
 * f32 copy of the cache is made.  KV_F32 calls mm_dots / mm_wsum. */
void mm_dots_kv(const float *x, int K, const void *w, size_t ldw, kv_dtype t, int n, float *y);
void mm_wsum_kv(const float *wt, int n, const void *v, size_t ldv, kv_dtype t, int K, float *acc);

#endif
