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
 * Speed: for one row (decode) and a few rows the weights are streamed at
 * memory bandwidth; for many rows (prefill) the product runs on register
 * tiles of 4 x rows by 3 w rows over cache-sized blocks (matmul.c).
 * Threads: mm_rows is reentrant; callers split [0, N) between threads.
 */
#ifndef CTGI_MATMUL_H
#define CTGI_MATMUL_H

/* y[m * ldy + n] = dot(x[m], w[n]) (+ bias[n]) for m in [0, M), n in [n0, n1).
 * x: (M, K) row-major; w: (N, K) row-major (one output per row); bias: (N)
 * or NULL.  Columns outside [n0, n1) of y are not touched, so threads may
 * split N between them.  Any alignment. */
void mm_rows(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias, float *y, int ldy);

/* The same product for one (x row, w row) pair, by the scalar reference
 * code: what every path of mm_rows must equal bit for bit (for tests). */
float mm_dot_ref(const float *x, const float *w, int K);

#endif
