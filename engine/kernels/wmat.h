/*
 * wmat.h — weight matrices kept in their file's type (F16, BF16 and the GGUF
 * block quantizations), and the products y = x . w^T that read them.
 *
 * Why.  Decoding one token reads every weight once, so a CPU decodes at
 * (memory bandwidth) / (bytes of weights): keeping a Q4_K file's 4.5 bits
 * per weight instead of converting them to f32 is a 7x smaller read.  The
 * products therefore work on the stored blocks directly: for the block
 * types the activations are quantized too (per row, blocks of 32 int8 with
 * an f32 scale, wm_act) and each block's dot product is an exact integer;
 * F16/BF16 weights are converted in registers and multiplied with the f32
 * activations.
 *
 * Layout.  A matrix of N rows (outputs) and K columns (inputs) is held in
 * groups of WM_GROUP = 16 rows: for each group, its K/QK blocks in order,
 * each block of the 16 rows stored together (a "group block") with the 16
 * rows' scales side by side and their quants transposed by dwords, so that
 * one 64-byte vector holds 4 consecutive quants of each of the 16 rows (the
 * operand layout of VPDPBUSD with a broadcast activation dword, and of AMX
 * tiles).  wmat_pack makes this from the file's row-major blocks; it moves
 * bytes, never rounds: the same quants and scales, so the bytes are the
 * file's size (the K-quants' 6-bit scales stay packed, wmat_layout.h)
 * except where N is padded to a multiple of 16.
 * F16/BF16: group blocks of 16 rows x 1 column (32 bytes).
 *
 * Arithmetic (the contract every kernel meets, bit for bit).  For block
 * types, with u(e) the stored quant of element e as an unsigned byte, a(e)
 * the int8 activation, S_h the activation's sum over half h (16 elements)
 * of a 32-element block and da its scale, one output accumulates block by
 * block in increasing order:
 *
 *   D_h = sum_{e in half h} u(e) a(e)                       (exact int)
 *   I   = c_0 (D_0 - o S_0) + c_1 (D_1 - o S_1)             (exact int)
 *   acc = fmaf((float)I, ws * da, acc)
 *   (types with a min)  M = m_0 S_0 + m_1 S_1,  acc = fmaf((float)M, wm * da, acc)
 *
 * where o is the type's quant offset, c_h / m_h its integer sub-block
 * scales / mins and ws / wm its float scale / min for that block
 * (wmat_pack.c has the table).  F16/BF16: acc = fmaf(x[k], w[n][k], acc) for
 * k = 0, 1, ... K-1.  Every path (portable C, AVX2, AVX-512, AMX) computes
 * exactly this, for any M, any row of the batch and any split of the
 * groups between threads: a token's logits do not depend on what it is
 * batched with, nor on which kernel set the CPU got.  Bias is added after.
 *
 * Threads: every function is reentrant; callers split the groups.
 */
#ifndef CTGI_WMAT_H
#define CTGI_WMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_GROUP 16 /* rows per group */
#define WM_QB 32    /* elements per activation block */

typedef struct {
    uint32_t type;        /* dt_type of the stored weights (model/dtype.h) */
    int rows, cols;       /* N (outputs), K (inputs) */
    const uint8_t *data;  /* the group layout; wmat_bytes(type, N, K) */
} wmat;

/* True for the types wmat holds: F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K
 * Q3_K Q4_K Q5_K Q6_K IQ4_NL. */
bool wmat_supported(uint32_t type);

/* True when the products quantize the activations (every block type). */
bool wmat_quantized(uint32_t type);

/* Bytes of the packed form of an (N, K) matrix; 0 if the type is not
 * supported or K is not a multiple of its block size. */
size_t wmat_bytes(uint32_t type, int N, int K);

/* Packs row-major file rows (N rows of K values of `type`, as the file
 * stores them) into dst (wmat_bytes).  Packed row n is file row row_map[n]
 * (NULL: n).  Rows past N in the last group are zeros. */
void wmat_pack(uint32_t type, int N, int K, const uint8_t *src, const int *row_map, uint8_t *dst);

/* ---- activations ---------------------------------------------------------- */

/* M rows of K f32 activations quantized for the block types: per row, K
 * int8 and per 32-element block an f32 scale and the sums of its two
 * halves.  Caller-owned buffers sized by wm_act_bytes. */
typedef struct {
    int8_t *q;     /* (M, K) */
    float *d;      /* (M, K/32) */
    int16_t *s;    /* (M, K/16) sum of each half-block */
    int M, K;
} wm_act;

size_t wm_act_bytes(int M, int K);
/* Points a's arrays into buf (wm_act_bytes(M, K) bytes, 64-aligned). */
void wm_act_init(wm_act *a, void *buf, int M, int K);
/* Quantizes rows [m0, m1) of x (M, K) into a (K % 32 == 0):
 * d = max|x| / 127, q = round-to-nearest-even(x * (1/d)). */
void wm_act_quantize(wm_act *a, const float *x, int m0, int m1);

/* ---- products ------------------------------------------------------------- */

/* y[m * ldy + n] = dot(x[m], w[n]) (+ bias[n]) for m in [0, M) and the rows n
 * of groups [g0, g1) (n < N).  Block types read a (quantized from x by
 * wm_act_quantize); F16/BF16 read x (M, K) f32.  The kernel set is the
 * CPU's best (wm_kernels). */
void wm_matmul(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, const float *bias, float *y,
               int ldy);

/* Groups of an N-row matrix. */
static inline int wm_groups(int N) { return (N + WM_GROUP - 1) / WM_GROUP; }

/* ---- kernel sets ----------------------------------------------------------- */

typedef enum { WM_PORTABLE = 0, WM_AVX2 = 1, WM_AVX512 = 2, WM_AMX = 3, WM_N_KERNELS } wm_kernel_set;

/* The set wm_matmul uses: the best this CPU runs (cpuid + OS support),
 * unless CTGI_KERNELS=portable|avx2|avx512|amx asks for a lower one.  AMX
 * is the AVX-512 set with tile products for batches of several rows. */
wm_kernel_set wm_kernels(void);
const char *wm_kernel_name(wm_kernel_set k);
/* Whether this CPU can run set k. */
bool wm_kernel_available(wm_kernel_set k);
/* The same product with an explicit set (tests compare them). */
void wm_matmul_with(wm_kernel_set k, const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1,
                    const float *bias, float *y, int ldy);

#endif
