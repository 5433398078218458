/*
 * forward_test.c — properties of the batched forward pass that the golden
 * tests do not pin: a prompt evaluated in one call, in chunks, or token by
 * token gives the same logits; two sequences in one batch (interleaved, at
 * different positions) give what each gives alone; only the rows asked for
 * produce logits; bad batches are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "support/testutil.h"

typedef struct {
    model *m;
    pool *p;
    fwd_ctx *f;
    kv_cache *kv;
    int vocab;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN], *path = tu_model_path("synth/qwen2-bpe-f32.gguf");
    fx->m = model_load(path, err);
    free(path);
    if (!fx->m) { print_error("%s\n", err); free(fx); return -1; }
    fx->p = pool_create(2, 0);
    fx->f = fwd_create(fx->m, fx->p, 64);
    fx->kv = kv_create(fx->m->cfg.n_layers, fx->m->cfg.n_kv_heads * fx->m->cfg.head_dim, 128, 2);
    fx->vocab = fx->m->cfg.vocab;
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    kv_free(fx->kv);
    fwd_free(fx->f);
    pool_free(fx->p);
    model_free(fx->m);
    free(fx);
    return 0;
}

static void prompt(int32_t *ids, int n, int salt) {
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((i * 104729 + salt * 7919) % 50000);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}

/* logits of all n tokens of seq 0, evaluated `step` tokens per call */
static float *run_stepped(fixture *fx, const int32_t *ids, int n, int step) {
    float *out = malloc((size_t)n * fx->vocab * sizeof(float));
    int pos[64], seq[64] = {0};
    for (int s = 0; s < n; s += step) {
        int len = n - s < step ? n - s : step;
        for (int i = 0; i < len; i++) pos[i] = s + i;
        fwd_batch b = {ids + s, pos, seq, len, NULL};
        assert_true(fwd_eval(fx->f, fx->kv, &b, out + (size_t)s * fx->vocab));
    }
    return out;
}

static void test_chunking_does_not_change_logits(void **state) {
    fixture *fx = *state;
    int32_t ids[40];
    prompt(ids, 40, 1);
    float *whole = run_stepped(fx, ids, 40, 40);
    int steps[] = {1, 3, 16};
    for (int i = 0; i < 3; i++) {
        float *part = run_stepped(fx, ids, 40, steps[i]);
        double d = max_diff(whole, part, (size_t)40 * fx->vocab);
        print_message("# step %d: max diff %.2e\n", steps[i], d);
        assert_true(d < 1e-4);
        free(part);
    }
    free(whole);
}

static void test_two_sequences_in_one_batch(void **state) {
    fixture *fx = *state;
    int32_t a[20], b[12];
    prompt(a, 20, 2);
    prompt(b, 12, 3);
    float *alone_a = run_stepped(fx, a, 20, 20);
    float *alone_b = run_stepped(fx, b, 12, 12);
    /* a's first 8 tokens alone, then a's remaining 12 interleaved with all of b (seq 1) */
    int pos[64], seq[64];
    int32_t ids[64];
    float *out = malloc((size_t)64 * fx->vocab * sizeof(float));
    for (int i = 0; i < 8; i++) { ids[i] = a[i]; pos[i] = i; seq[i] = 0; }
    fwd_batch first = {ids, pos, seq, 8, NULL};
    assert_true(fwd_eval(fx->f, fx->kv, &first, out));
    int n = 0;
    for (int i = 0; i < 12; i++) {
        ids[n] = a[8 + i]; pos[n] = 8 + i; seq[n] = 0; n++;
        ids[n] = b[i]; pos[n] = i; seq[n] = 1; n++;
    }
    fwd_batch mixed = {ids, pos, seq, n, NULL};
    assert_true(fwd_eval(fx->f, fx->kv, &mixed, out));
    for (int i = 0; i < 12; i++) {
        assert_true(max_diff(out + (size_t)(2 * i) * fx->vocab, alone_a + (size_t)(8 + i) * fx->vocab, fx->vocab) < 1e-4);
        assert_true(max_diff(out + (size_t)(2 * i + 1) * fx->vocab, alone_b + (size_t)i * fx->vocab, fx->vocab) < 1e-4);
    }
    free(out);
    free(alone_a);
    free(alone_b);
}

static void test_want_logits_selects_rows(void **state) {
    fixture *fx = *state;
    int32_t ids[10];
    prompt(ids, 10, 4);
    float *all = run_stepped(fx, ids, 10, 10);
    int pos[10], seq[10] = {0};
    bool want[10] = {false};
    want[3] = want[9] = true;
    for (int i = 0; i < 10; i++) pos[i] = i;
    float *two = malloc((size_t)2 * fx->vocab * sizeof(float));
    fwd_batch b = {ids, pos, seq, 10, want};
    assert_true(fwd_eval(fx->f, fx->kv, &b, two));
    assert_true(max_diff(two, all + (size_t)3 * fx->vocab, fx->vocab) < 1e-4); /* sgemv vs sgemm rounding */
    assert_true(max_diff(two + fx->vocab, all + (size_t)9 * fx->vocab, fx->vocab) < 1e-4); /* sgemv vs sgemm rounding */
    free(two);
    free(all);
}

static void test_oversized_batch_refused(void **state) {
    fixture *fx = *state;
    int32_t ids[65] = {0};
    int pos[65] = {0}, seq[65] = {0};
    fwd_batch b = {ids, pos, seq, 65, NULL};
    assert_false(fwd_eval(fx->f, fx->kv, &b, NULL));
    b.n = 0;
    assert_false(fwd_eval(fx->f, fx->kv, &b, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunking_does_not_change_logits),
        cmocka_unit_test(test_two_sequences_in_one_batch),
        cmocka_unit_test(test_want_logits_selects_rows),
        cmocka_unit_test(test_oversized_batch_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
