/*
 * golden_native.c — a model with block-quantized matrices against its
 * float64 reference (golden.h: golden_run_native).
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

#include "kernels/wmat.h"
#include "support/golden.h"


/* ---- native quantized kernels --------------------------------------------------
 *
 * Block-type weights multiply int8-quantized activations (wmat.h), as
 * llama.cpp's CPU kernels do, so the logits move by much more than
 * logit_abs_tol; the references bound that motion by twice what llama.cpp
 * itself shows (tolerance.native_quantized_kernels): every top-10 logit
 * relative to the top one within rel_tol, their mean deviation within
 * mean_tol.  The greedy steps are fed the reference's own ids (so every
 * step's top-10 stays comparable) and the argmax must agree up to the
 * first step whose reference margin is below rel_tol. */
typedef struct {
    double rel_tol, mean_tol;
    double worst, sum;
    long n;
} native_stats;

static void native_compare(const float *logits, json_t *top10, native_stats *st, const char *what, int at) {
    int top = (int)json_integer_value(json_array_get(json_array_get(top10, 0), 0));
    double ref_top = json_number_value(json_array_get(json_array_get(top10, 0), 1));
    size_t i;
    json_t *pair;
    json_array_foreach(top10, i, pair) {
        int id = (int)json_integer_value(json_array_get(pair, 0));
        double d = fabs((logits[id] - logits[top]) - (json_number_value(json_array_get(pair, 1)) - ref_top));
        if (d > st->worst) st->worst = d;
        st->sum += d;
        st->n++;
        if (d > st->rel_tol) fail_msg("%s %d: relative logit of id %d off by %.3g > %.3g", what, at, id, d, st->rel_tol);
    }
}

static void check_prompt_native(golden_runner *r, json_t *p, native_stats *st) {
    const char *name = json_string_value(json_object_get(p, "name"));
    int32_t ids[GOLDEN_MAX_TOKENS], want[64];
    int n = golden_json_ids(json_object_get(p, "ids"), ids, GOLDEN_MAX_TOKENS), vocab = r->m->cfg.vocab;
    json_t *greedy = json_object_get(p, "greedy"), *margin = json_object_get(greedy, "margin");
    golden_eval(r, ids, n, 0);
    for (int i = 0; i < n; i++)
        native_compare(r->logits + (size_t)i * vocab, json_array_get(json_object_get(p, "top10"), i), st, name, i);
    int n_want = golden_json_ids(json_object_get(greedy, "ids"), want, 64);
    float *last = malloc((size_t)vocab * sizeof(float));
    memcpy(last, r->logits + (size_t)(n - 1) * vocab, (size_t)vocab * sizeof(float));
    bool comparing = true;
    for (int k = 0; k < n_want; k++) {
        native_compare(last, json_array_get(json_object_get(greedy, "top10"), k), st, name, n + k);
        comparing = comparing && json_number_value(json_array_get(margin, k)) >= st->rel_tol;
        if (comparing && golden_argmax(last, vocab) != want[k])
            fail_msg("%s: greedy step %d: got id %d, reference %d", name, k, golden_argmax(last, vocab), want[k]);
        golden_eval(r, &want[k], 1, n + k);
        memcpy(last, r->logits, (size_t)vocab * sizeof(float));
    }
    free(last);
}

/* rel_tol / mean_tol from the reference, or (files made before those
 * fields) twice llama.cpp's native max |logit diff| and no mean bound. */
static bool native_tolerance(json_t *ref, native_stats *st) {
    json_t *nq = json_object_get(json_object_get(ref, "tolerance"), "native_quantized_kernels");
    if (nq) {
        st->rel_tol = json_number_value(json_object_get(nq, "rel_logit_abs_tol"));
        st->mean_tol = json_number_value(json_object_get(nq, "rel_logit_mean_abs_tol"));
        return true;
    }
    json_t *run = json_object_get(json_object_get(json_object_get(ref, "summary"), "llamacpp"), "native/kv_f32");
    if (!run) return false;
    st->rel_tol = 2 * json_number_value(json_object_get(run, "max_abs_logit_diff"));
    st->mean_tol = INFINITY;
    return st->rel_tol > 0;
}

/* Whether the model multiplies any matrix with quantized activations. */
bool golden_has_block_weights(const model *m) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        const wmat *mats[] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (wmat_quantized(mats[i]->type)) return true;
    }
    return wmat_quantized(m->output.type);
}

double golden_run_native(golden_runner *r, json_t *ref, const char *ref_name) {
    native_stats st = {0};
    if (!native_tolerance(ref, &st)) fail_msg("%s: no tolerance for native quantized kernels", ref_name);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(ref, "prompts"), i, p) check_prompt_native(r, p, &st);
    double mean = st.sum / (double)st.n;
    printf("# %s (native int8 kernels, %s): relative top-10 logits max %.3f (tolerance %.2g), mean %.3f "
           "(tolerance %.2g) over %ld\n", ref_name, wm_kernel_name(wm_kernels()), st.worst, st.rel_tol, mean,
           st.mean_tol, st.n);
    assert_true(mean <= st.mean_tol);
    return st.worst;
}

