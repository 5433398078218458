/*
 * attn_kv_test.c — attention over a KV cache of f16, bf16 or q8_0
 * (matmul.h: mm_dots_kv, mm_wsum_kv; forward.c's store and attention).
 *
 *   - the kernels read the cache's own type and equal the f32 order on the
 *     exactly widened rows (kv_get), bit for bit: every score is
 *     mm_dot_ref(x, widen(row)), every output element one fma per position
 *     in order, whether the positions come in one call or split (KV
 *     blocks), at any byte stride, with a K % 8 tail for the 16-bit types;
 *   - the forward pass with each cache type: a sequence's logits are
 *     bit-identical whether its tokens are evaluated alone, one at a time,
 *     or interleaved with other sequences' tokens in one batch, on 1 or 2
 *     threads and with another KV block size; and the typed caches do
 *     change the logits (the type took effect), by little.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "model/forward.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* uniform in [-1, 1) */
static float rng_float(uint64_t *s) { return (float)((rng_next(s) >> 40) * (1.0 / (1 << 23))) - 1.0f; }

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- the kernels ------------------------------------------------------------------ */

/* n rows of K values of type t at a stride of ld bytes (row_bytes plus 5,
 * so rows start at odd addresses; f32 rows stay whole floats apart), and
 * the same rows widened to f32. */
typedef struct {
    uint8_t *rows;
    float *wide; /* (n, K) */
    size_t ld;
} typed_rows;

static typed_rows make_rows(kv_dtype t, int n, int K, uint64_t *s) {
    typed_rows r = {NULL, malloc((size_t)n * K * sizeof(float)), kv_bytes(t, (size_t)K) + (t == KV_F32 ? 12 : 5)};
    r.rows = calloc((size_t)n, r.ld);
    float *x = malloc((size_t)K * sizeof(float));
    assert_true(r.rows && r.wide && x);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < K; k++) x[k] = rng_float(s) * 4.0f;
        kv_put(t, x, r.rows + i * r.ld, K);
        kv_get(t, r.rows + i * r.ld, r.wide + (size_t)i * K, K);
    }
    free(x);
    return r;
}

static void test_kernels_match_widened_reference(void **state) {
    (void)state;
    uint64_t s = 0x6b76u;
    const int Ks[] = {8, 18, 32, 64, 72, 96, 100, 128}; /* q8_0: 1, 2, 2 + 1 and 4 blocks */
    for (kv_dtype t = KV_F32; t < KV_N_DTYPES; t++)
        for (int ki = 0; ki < 8; ki++)
            for (int n = 1; n <= 21; n += 4) {
                int K = Ks[ki];
                if (K % kv_dtype_align(t)) continue;
                typed_rows w = make_rows(t, n, K, &s);
                float x[128], wt[21], y[21], acc[128], ref[128];
                for (int k = 0; k < K; k++) x[k] = rng_float(&s);
                for (int i = 0; i < n; i++) wt[i] = rng_float(&s);
                mm_dots_kv(x, K, w.rows, w.ld, t, n, y);
                for (int i = 0; i < n; i++)
                    if (!same_bits(y[i], mm_dot_ref(x, w.wide + (size_t)i * K, K)))
                        fail_msg("mm_dots_kv %s K=%d n=%d row %d", kv_dtype_name(t), K, n, i);
                for (int k = 0; k < K; k++) acc[k] = ref[k] = rng_float(&s);
                for (int i = 0; i < n; i++)
                    for (int k = 0; k < K; k++) ref[k] = fmaf(wt[i], w.wide[(size_t)i * K + k], ref[k]);
                int cut = n / 3;
                mm_wsum_kv(wt, cut, w.rows, w.ld, t, K, acc);
                mm_wsum_kv(wt + cut, n - cut, w.rows + cut * w.ld, w.ld, t, K, acc);
                for (int k = 0; k < K; k++)
                    if (!same_bits(acc[k], ref[k]))
                        fail_msg("mm_wsum_kv %s K=%d n=%d element %d", kv_dtype_name(t), K, n, k);
                free(w.rows);
                free(w.wide);
            }
}

/* ---- the forward pass -------------------------------------------------------------- */

typedef struct {
    model *m18; /* qwen2, head_dim 18: the kernels' K % 8 tail (f32, f16, bf16) */
    model *m32; /* llama, head_dim 32: every type, q8_0 included */
} fwd_fixture;

static model *write_and_load(synth_config c, char *err) {
    char *dir = tu_mkdtemp(), *path = NULL, *vocab = tu_model_path("stories260K.gguf");
    model *m = NULL;
    c.vocab_gguf = vocab;
    if (asprintf(&path, "%s/m.gguf", dir) >= 0 && synth_write_gguf(&c, path, err)) m = model_load(path, err);
    tu_rmrf(dir);
    free(dir);
    free(path);
    free(vocab);
    return m;
}

static int fwd_setup(void **state) {
    fwd_fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN] = "";
    synth_config a = synth_default(), b = synth_default();
    a.arch = "qwen2";
    a.dim = 76;
    a.head_dim = 18;
    a.ffn_dim = 203;
    a.seed = 78;
    b.head_dim = 32;
    b.seed = 79;
    fx->m18 = write_and_load(a, err);
    if (fx->m18) fx->m32 = write_and_load(b, err);
    *state = fx;
    if (!fx->m32) print_error("%s\n", err);
    return fx->m32 ? 0 : -1;
}

static int fwd_teardown(void **state) {
    fwd_fixture *fx = *state;
    model_free(fx->m18);
    model_free(fx->m32);
    free(fx);
    return 0;
}

enum { N_SEQ = 3, SEQ_LEN = 24, MAX_T = 64 };

typedef struct {
    int seq, i; /* token i of sequence seq */
} slot;

/* The batches (lens[b] slots each) on a fresh cache of type t and block
 * size bs, on n_threads; logits of token i of sequence s go to
 * out[(s * SEQ_LEN + i) * vocab]. */
static void run_schedule(const model *m, kv_dtype t, int bs, int n_threads, const int32_t ids[N_SEQ][SEQ_LEN],
                         const slot *slots, const int *lens, int n_batches, float *out) {
    const model_config *c = &m->cfg;
    int vocab = c->vocab;
    pool *p = pool_create(n_threads, 0);
    fwd_ctx *f = fwd_create(m, p, MAX_T);
    kv_pool *kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, bs, N_SEQ * (SEQ_LEN / bs + 1), t, false);
    float *logits = malloc((size_t)MAX_T * vocab * sizeof(float));
    assert_true(p && f && kv && logits);
    kv_seq seqs[N_SEQ];
    const kv_seq *seqp[N_SEQ];
    for (int q = 0; q < N_SEQ; q++) {
        kv_seq_init(&seqs[q]);
        seqp[q] = &seqs[q];
    }
    int32_t tok[MAX_T];
    int pos[MAX_T], seq[MAX_T];
    for (int b = 0, at = 0; b < n_batches; at += lens[b], b++) {
        for (int k = 0; k < lens[b]; k++) {
            const slot *sl = &slots[at + k];
            tok[k] = ids[sl->seq][sl->i];
            pos[k] = sl->i;
            seq[k] = sl->seq;
            assert_true(kv_seq_reserve(kv, &seqs[sl->seq], sl->i + 1));
        }
        fwd_batch fb = {.tokens = tok, .pos = pos, .seq = seq, .seqs = seqp, .n = lens[b]};
        assert_true(fwd_eval(f, kv_pool_store(kv), &fb, logits));
        for (int k = 0; k < lens[b]; k++) {
            const slot *sl = &slots[at + k];
            memcpy(out + ((size_t)sl->seq * SEQ_LEN + sl->i) * vocab, logits + (size_t)k * vocab,
                   (size_t)vocab * sizeof(float));
        }
    }
    for (int q = 0; q < N_SEQ; q++) kv_seq_release(kv, &seqs[q]);
    free(logits);
    kv_pool_free(kv);
    fwd_free(f);
    pool_free(p);
}

/* Rounds in which sequence q contributes up to chunk[q] tokens,
 * interleaved token by token (a different sequence first each round). */
static int build_rounds(const int chunk[N_SEQ], slot *slots, int *lens) {
    int done[N_SEQ] = {0}, n = 0, nb = 0;
    while (done[0] < SEQ_LEN || done[1] < SEQ_LEN || done[2] < SEQ_LEN) {
        int start = n;
        for (int k = 0; k < SEQ_LEN; k++)
            for (int r = 0; r < N_SEQ; r++) {
                int q = (nb + r) % N_SEQ;
                if (k < chunk[q] && done[q] < SEQ_LEN) slots[n++] = (slot){q, done[q]++};
            }
        lens[nb++] = n - start;
    }
    return nb;
}

static void check_same(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i])) fail_msg("%s: logit %zu differs: %a vs %a", what, i, (double)a[i], (double)b[i]);
}

/* Each sequence alone in one call (blocks of 4) is the reference; then one
 * token per call, interleaved chunks on 1 and 2 threads, blocks of 16. */
static void batch_invariant(const model *m, kv_dtype t, float *ref) {
    int32_t ids[N_SEQ][SEQ_LEN];
    uint64_t s = 0x70c5u;
    for (int q = 0; q < N_SEQ; q++)
        for (int i = 0; i < SEQ_LEN; i++) ids[q][i] = (int32_t)(3 + rng_next(&s) % (uint64_t)(m->cfg.vocab - 3));
    size_t total = (size_t)N_SEQ * SEQ_LEN * m->cfg.vocab;
    float *got = malloc(total * sizeof(float));
    slot slots[N_SEQ * SEQ_LEN];
    int lens[N_SEQ * SEQ_LEN], n = 0, nb = 0;
    for (int q = 0; q < N_SEQ; q++, nb++) {
        for (int i = 0; i < SEQ_LEN; i++) slots[n++] = (slot){q, i};
        lens[nb] = SEQ_LEN;
    }
    run_schedule(m, t, 4, 2, ids, slots, lens, nb, ref);
    for (n = nb = 0; n < N_SEQ * SEQ_LEN; n++, nb++) {
        slots[n] = (slot){n / SEQ_LEN, n % SEQ_LEN};
        lens[nb] = 1;
    }
    run_schedule(m, t, 4, 1, ids, slots, lens, nb, got);
    check_same(ref, got, total, "one token per call");
    const int chunks[2][N_SEQ] = {{5, 1, 3}, {24, 24, 16}};
    char what[96];
    for (int c = 0; c < 2; c++) {
        nb = build_rounds(chunks[c], slots, lens);
        for (int threads = 1; threads <= 2; threads++) {
            run_schedule(m, t, c == 0 ? 4 : 16, threads, ids, slots, lens, nb, got);
            snprintf(what, sizeof what, "KV %s, chunks %d/%d/%d, %d threads", kv_dtype_name(t), chunks[c][0],
                     chunks[c][1], chunks[c][2], threads);
            check_same(ref, got, total, what);
        }
    }
    free(got);
}

/* Every type on m (F32 first): invariant, and each typed cache moves the
 * logits by something (it is used) but less than max_diff. */
static void check_types(const model *m, const kv_dtype *types, int n_types, double max_diff) {
    size_t total = (size_t)N_SEQ * SEQ_LEN * m->cfg.vocab;
    float *f32 = malloc(total * sizeof(float)), *typed = malloc(total * sizeof(float));
    batch_invariant(m, KV_F32, f32);
    for (int i = 0; i < n_types; i++) {
        batch_invariant(m, types[i], typed);
        double worst = 0;
        for (size_t k = 0; k < total; k++) worst = fmax(worst, fabs((double)typed[k] - f32[k]));
        print_message("# head_dim %d, KV %s: max |logit - KV f32 logit| = %.2e\n", m->cfg.head_dim,
                      kv_dtype_name(types[i]), worst);
        assert_true(worst > 0 && worst < max_diff);
    }
    free(f32);
    free(typed);
}

static void test_forward_invariant_head_dim_18(void **state) {
    fwd_fixture *fx = *state;
    const kv_dtype types[] = {KV_F16, KV_BF16};
    check_types(fx->m18, types, 2, 0.5);
}

static void test_forward_invariant_head_dim_32(void **state) {
    fwd_fixture *fx = *state;
    const kv_dtype types[] = {KV_F16, KV_BF16, KV_Q8_0};
    check_types(fx->m32, types, 3, 0.5);
}

/* A q8_0 cache on a model whose heads are not whole blocks is refused,
 * not read across heads. */
static void test_q8_0_needs_whole_blocks_per_head(void **state) {
    fwd_fixture *fx = *state;
    const model_config *c = &fx->m18->cfg;
    pool *p = pool_create(1, 0);
    fwd_ctx *f = fwd_create(fx->m18, p, 4);
    /* kv_dim 36: not even whole blocks per row */
    assert_null(kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, 4, 4, KV_Q8_0, false));
    /* a row of 64 values is whole blocks, but a head of 18 is not */
    kv_pool *kv = kv_pool_create(c->n_layers, 64, 4, 4, KV_Q8_0, false);
    kv_seq q;
    kv_seq_init(&q);
    assert_true(kv && kv_seq_reserve(kv, &q, 1));
    int32_t tok = 5;
    int pos = 0, seq = 0;
    const kv_seq *seqs[1] = {&q};
    fwd_batch b = {.tokens = &tok, .pos = &pos, .seq = &seq, .seqs = seqs, .n = 1};
    float *logits = malloc((size_t)c->vocab * sizeof(float));
    assert_false(fwd_eval(f, kv_pool_store(kv), &b, logits));
    free(logits);
    kv_seq_release(kv, &q);
    kv_pool_free(kv);
    fwd_free(f);
    pool_free(p);
}

int main(void) {
    const struct CMUnitTest kernel[] = {
        cmocka_unit_test(test_kernels_match_widened_reference),
    };
    const struct CMUnitTest forward[] = {
        cmocka_unit_test(test_forward_invariant_head_dim_18),
        cmocka_unit_test(test_forward_invariant_head_dim_32),
        cmocka_unit_test(test_q8_0_needs_whole_blocks_per_head),
    };
    int failed = cmocka_run_group_tests_name("attn_kv", kernel, NULL, NULL);
    failed += cmocka_run_group_tests_name("attn_kv_forward", forward, fwd_setup, fwd_teardown);
    return failed;
}
