/*
 * wmat.c — choosing the kernel set of wmat.h for this CPU, the activation
 * buffers, and the product entry points.
 *
 * Dispatch is at run time: each set is compiled with its own target
 * attributes (wmat_avx2.c, wmat_avx512.c), so one binary built for a
 * baseline x86-64 (the container image) runs the AVX-512 VNNI kernels on a
 * CPU that has them and the portable C elsewhere.  The choice is made once
 * per process (cpuid through __builtin_cpu_supports, which also checks
 * that the OS saves the wider registers) and can be lowered, never raised,
 * with CTGI_KERNELS=portable|avx2|avx512|amx (tests and comparisons).
 * So is the decode prefetch distance of the vector sets (wm_prefetch_bytes).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* arch_prctl codes for AMX (Linux >= 5.16, asm/prctl.h) */
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

#include "model/dtype.h"
#include "wmat.h"
#include "wmat_internal.h"

static const char *const kernel_names[WM_N_KERNELS] = {"portable", "avx2", "avx512-vnni", "avx512-vnni+amx"};

const char *wm_kernel_name(wm_kernel_set k) { return k >= 0 && k < WM_N_KERNELS ? kernel_names[k] : "?"; }

#if defined(__x86_64__)
/* Linux hands out AMX tile state only on request (arch_prctl, once per
 * process, before any thread touches a tile; quant-formats.md §4.4). */
static bool amx_granted;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_request(void) {
    uint64_t mask = 0;
    amx_granted = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 &&
                  syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) == 0 && (mask >> XFEATURE_XTILEDATA & 1);
}

/* clang before 16 rejects "f16c", "amx-tile" and "amx-int8" in
 * __builtin_cpu_supports (the fuzz build, tests/fuzz/, uses clang 14):
 * there those three bits come from cpuid directly. */
#if defined(__clang__) && __clang_major__ < 16
static bool cpuid_bit(unsigned leaf, bool edx, int bit) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(leaf, 0, &a, &b, &c, &d)) return false;
    return ((edx ? d : c) >> bit) & 1;
}
#define CPU_F16C() cpuid_bit(1, false, 29)
#define CPU_AMX_TILE() cpuid_bit(7, true, 24)
#define CPU_AMX_INT8() cpuid_bit(7, true, 25)
#else
#define CPU_F16C() __builtin_cpu_supports("f16c")
#define CPU_AMX_TILE() __builtin_cpu_supports("amx-tile")
#define CPU_AMX_INT8() __builtin_cpu_supports("amx-int8")
#endif

static bool amx_permitted(void) {
    pthread_once(&amx_once, amx_request);
    return amx_granted;
}
#endif

bool wm_kernel_available(wm_kernel_set k) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CPU_F16C();
    switch (k) {
    case WM_PORTABLE: return true;
    case WM_AVX2: return avx2;
    case WM_AVX512:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case WM_AMX:
        return wm_kernel_available(WM_AVX512) && CPU_AMX_TILE() && CPU_AMX_INT8() && amx_permitted();
    default: return false;
    }
#else
    return k == WM_PORTABLE;
#endif
}


static wm_kernel_set chosen = WM_PORTABLE;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    wm_kernel_set best = WM_PORTABLE;
    for (int k = WM_N_KERNELS - 1; k > WM_PORTABLE; k--)
        if (wm_kernel_available((wm_kernel_set)k)) { best = (wm_kernel_set)k; break; }
    const char *want = getenv("CTGI_KERNELS");
    for (int k = 0; want && k < WM_N_KERNELS; k++)
        if ((strcmp(want, kernel_names[k]) == 0 || (k == WM_AVX512 && strcmp(want, "avx512") == 0) ||
             (k == WM_AMX && strcmp(want, "amx") == 0)) && k < (int)best)
            best = (wm_kernel_set)k;
    chosen = best;
}

wm_kernel_set wm_kernels(void) {
    pthread_once(&chosen_once, choose);
    return chosen;
}

/* How far ahead decode prefetches depends on the core first: the distance
 * has to cover the memory latency at the rate one core consumes, and the
 * cores keep different numbers of L2 misses in flight.  Within a core the
 * best distance still differed between the block types, the K-quants and
 * F16/BF16, so each class has its own.
 * Measured on the 1.1B decode and on M=1 products over 1.2 GB of one type
 * (2 threads, % of the bandwidth probe, medians of interleaved runs):
 *   Intel Xeon (AVX-512 VNNI, no AMX, 15 GB/s per core):
 *     Q4_K, prefetches spread over the super-block's 8 blocks: 3 KiB 85,
 *       4.5 KiB 94, 6 KiB 94 (all of them at the super-block's start: 3 KiB
 *       87, 4.5 KiB 83, 6 KiB 81); Q6_K 88 at 3 to 6 KiB;
 *     Q4_0: 3 KiB 90, 4.5 KiB 83, 6 KiB 82; Q8_0 ~100 at 3 to 6 KiB;
 *     F16 (4 streams): none 84, 2 KiB 90, 4 KiB 92, 8 KiB 89;
 *     (earlier, another Intel kind, Q4_K_M: 3 KiB 90.7, 1 KiB into L1 85.5)
 *   AMD Zen 4, Q4_K_M: 3 KiB 86.6, 6 KiB 93.2, 8 KiB 93.1, 12 KiB 82.6, 16 KiB 90.2
 *     Q4_0: 3 KiB 83.4, 6 KiB 93.4, 8 KiB 90.7; Q8_0: 78.1, 92.4, 91.3;
 *     F16 without prefetch already at ~100 %, so none.
 * CTGI_PREFETCH_BYTES (0 to 65536, a multiple of 64) overrides every type. */
typedef struct {
    int blocks, superblocks, halves; /* 32-element block types, K-quants, F16/BF16 */
} prefetch_table;

static prefetch_table prefetch = {3072, 4608, 4096};
static pthread_once_t prefetch_once = PTHREAD_ONCE_INIT;

static void choose_prefetch(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d) && b == 0x68747541u /* "Auth" enticAMD */)
        prefetch = (prefetch_table){6144, 6144, 0};
#endif
    const char *want = getenv("CTGI_PREFETCH_BYTES");
    if (want && *want) {
        char *end;
        long v = strtol(want, &end, 10);
        if (!*end && v >= 0 && v <= 65536 && v % 64 == 0) prefetch = (prefetch_table){(int)v, (int)v, (int)v};
    }
}

int wm_prefetch_bytes(uint32_t type) {
    pthread_once(&prefetch_once, choose_prefetch);
    if (type == DT_F16 || type == DT_BF16) return prefetch.halves;
    return dt_block_elems(type) > WM_QB ? prefetch.superblocks : prefetch.blocks;
}

/* ---- activations ---------------------------------------------------------------- */

static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

size_t wm_act_bytes(int M, int K) {
    return up64((size_t)M * K) + up64((size_t)M * (K / WM_QB) * sizeof(float)) +
           up64((size_t)M * (K / 16) * sizeof(int16_t));
}

void wm_act_init(wm_act *a, void *buf, int M, int K) {
    uint8_t *p = buf;
    a->q = (int8_t *)p;
    p += up64((size_t)M * K);
    a->d = (float *)p;
    p += up64((size_t)M * (K / WM_QB) * sizeof(float));
    a->s = (int16_t *)p;
    a->M = M;
    a->K = K;
}

void wm_act_quantize(wm_act *a, const float *x, int m0, int m1) {
    if (wm_kernels() >= WM_AVX512)
        wm_act_quantize_avx512(a, x, m0, m1);
    else
        wm_act_quantize_portable(a, x, m0, m1);
}

/* ---- products ---------------------------------------------------------------------- */

void wm_matmul_with(wm_kernel_set k, const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1,
                    const float *bias, float *y, int ldy) {
    if (g1 > wm_groups(w->rows)) g1 = wm_groups(w->rows);
    if (g0 >= g1 || M <= 0) return;
    switch (k) {
    case WM_AMX: wm_matmul_amx(w, x, a, M, g0, g1, y, ldy); break;
    case WM_AVX512: wm_matmul_avx512(w, x, a, M, g0, g1, y, ldy); break;
    case WM_AVX2: wm_matmul_avx2(w, x, a, M, g0, g1, y, ldy); break;
    default: wm_matmul_portable(w, x, a, M, g0, g1, y, ldy); break;
    }
    if (!bias) return;
    int n1 = g1 * WM_GROUP < w->rows ? g1 * WM_GROUP : w->rows;
    for (int m = 0; m < M; m++)
        for (int n = g0 * WM_GROUP; n < n1; n++) y[(size_t)m * ldy + n] += bias[n];
}

void wm_matmul(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, const float *bias, float *y,
               int ldy) {
    wm_matmul_with(wm_kernels(), w, x, a, M, g0, g1, bias, y, ldy);
}
