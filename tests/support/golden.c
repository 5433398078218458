/*
 * golden.c — see golden.h.
 */
#include "golden.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

bool golden_open(golden_runner *r, const char *path) { return golden_open_kv(r, path, KV_F32); }

bool golden_open_kv(golden_runner *r, const char *path, kv_dtype dt) {
    char err[CT_ERRLEN];
    memset(r, 0, sizeof *r);
    r->m = model_load(path, err);
    if (!r->m) {
        print_error("model_load(%s): %s\n", path, err);
        return false;
    }
    r->pool = pool_create(2, 0);
    r->fwd = fwd_create(r->m, r->pool, GOLDEN_MAX_TOKENS);
    r->kv = kv_pool_create(r->m->cfg.n_layers, r->m->cfg.n_kv_heads * r->m->cfg.head_dim,
                           GOLDEN_KV_BLOCK, GOLDEN_KV_POSITIONS / GOLDEN_KV_BLOCK, dt, false);
    kv_seq_init(&r->seq);
    r->logits = malloc((size_t)GOLDEN_MAX_TOKENS * r->m->cfg.vocab * sizeof(float));
    return r->pool && r->fwd && r->kv && r->logits;
}

void golden_close(golden_runner *r) {
    free(r->logits);
    if (r->kv) kv_seq_release(r->kv, &r->seq);
    kv_pool_free(r->kv);
    fwd_free(r->fwd);
    pool_free(r->pool);
    model_free(r->m);
}

void golden_eval(golden_runner *r, const int32_t *ids, int n, int start) {
    int pos[GOLDEN_MAX_TOKENS], seq[GOLDEN_MAX_TOKENS] = {0};
    const kv_seq *seqs[1] = {&r->seq};
    assert_true(n <= GOLDEN_MAX_TOKENS && start + n <= GOLDEN_KV_POSITIONS);
    if (start == 0) kv_seq_release(r->kv, &r->seq);
    for (int i = 0; i < n; i++) {
        pos[i] = start + i;
        r->ids[start + i] = ids[i];
    }
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = n};
    assert_true(kv_seq_reserve(r->kv, &r->seq, start + n));
    assert_true(fwd_eval(r->fwd, kv_pool_store(r->kv), &b, r->logits));
    kv_seq_commit(r->kv, &r->seq, r->ids, start + n);
}

int32_t golden_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* max |logit[id] - ref| over a top10 list [[id, logit], ...]: by id, not
 * by rank (near-equal logits may swap).  A nan logit counts as infinitely
 * far (a comparison with nan would pass any tolerance). */
static double top10_diff(const float *logits, json_t *top10) {
    double worst = 0;
    size_t i;
    json_t *pair;
    json_array_foreach(top10, i, pair) {
        int id = (int)json_integer_value(json_array_get(pair, 0));
        double d = fabs(logits[id] - json_number_value(json_array_get(pair, 1)));
        if (isnan(d)) d = INFINITY;
        if (d > worst) worst = d;
    }
    return worst;
}

int golden_json_ids(json_t *arr, int32_t *out, int cap) {
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (n < cap) out[n++] = (int32_t)json_integer_value(v);
    return n;
}

/* How one run is judged: logits within tol of the reference; a greedy id
 * that differs is a failure unless the step's margin (the reference's, or
 * for text cases the engine's own top1 - top2) is below 2 tol, which ends
 * that prompt's comparison.  exact: every greedy id must match. */
typedef struct {
    const char *ref;
    double tol;
    bool exact;
    double worst;  /* max |logit - reference| seen */
    int diverged;  /* prompts ended early at a small-margin divergence */
} judge;

static double top2_margin(const float *x, int n) {
    float a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (x[i] > a) b = a, a = x[i];
        else if (x[i] > b) b = x[i];
    }
    return (double)a - b;
}

/* The greedy id at a step: true to go on, false to end the prompt here. */
static bool greedy_ok(judge *j, const char *name, int step, int32_t got, int32_t want, double margin) {
    if (got == want) return true;
    if (!j->exact && margin < 2 * j->tol) {
        print_message("# %s %s: greedy step %d: %d vs reference %d under margin %.3g: compared up to here\n", j->ref,
                      name, step, got, want, margin);
        j->diverged++;
        return false;
    }
    fail_msg("%s %s: greedy step %d: got id %d, reference %d (margin %.3g)", j->ref, name, step, got, want, margin);
    return false;
}

static void judge_logits(judge *j, const float *logits, json_t *top10, const char *name, const char *what, int at) {
    double d = top10_diff(logits, top10);
    if (d > j->worst) j->worst = d;
    if (d > j->tol) fail_msg("%s %s: %s %d: logit diff %.3g > %.3g", j->ref, name, what, at, d, j->tol);
}

/* One prompt: prompt logits, then 48 greedy steps with their logits. */
static void check_prompt(golden_runner *r, json_t *p, judge *j) {
    const char *name = json_string_value(json_object_get(p, "name"));
    int32_t ids[GOLDEN_MAX_TOKENS], want[64];
    int n = golden_json_ids(json_object_get(p, "ids"), ids, GOLDEN_MAX_TOKENS);
    json_t *top10 = json_object_get(p, "top10"), *greedy = json_object_get(p, "greedy");
    json_t *margins = json_object_get(greedy, "margin");
    int vocab = r->m->cfg.vocab;
    golden_eval(r, ids, n, 0);
    for (int i = 0; i < n; i++)
        judge_logits(j, r->logits + (size_t)i * vocab, json_array_get(top10, i), name, "prompt position", i);
    int n_want = golden_json_ids(json_object_get(greedy, "ids"), want, 64);
    json_t *gtop = json_object_get(greedy, "top10");
    float *last = malloc((size_t)vocab * sizeof(float));
    memcpy(last, r->logits + (size_t)(n - 1) * vocab, (size_t)vocab * sizeof(float));
    for (int k = 0; k < n_want; k++) {
        judge_logits(j, last, json_array_get(gtop, k), name, "greedy step", k);
        int32_t got = golden_argmax(last, vocab);
        if (!greedy_ok(j, name, k, got, want[k], json_number_value(json_array_get(margins, k)))) break;
        golden_eval(r, &got, 1, n + k);
        memcpy(last, r->logits, (size_t)vocab * sizeof(float));
    }
    free(last);
}

/* Text cases: tokenization with BOS, then the greedy continuation. */
static void check_text_case(golden_runner *r, json_t *tc, judge *j) {
    const char *text = json_string_value(json_object_get(tc, "text"));
    int32_t want[GOLDEN_MAX_TOKENS], cont[64], *ids = NULL;
    int n_want = golden_json_ids(json_object_get(tc, "ids"), want, GOLDEN_MAX_TOKENS);
    int n_cont = golden_json_ids(json_object_get(tc, "ref_greedy_ids"), cont, 64);
    char err[CT_ERRLEN];
    int n = tok_encode(r->m->tok, text, strlen(text), true, false, &ids, err);
    if (n < 0) fail_msg("tokenize '%s': %s", text, err);
    assert_int_equal(n, n_want);
    for (int i = 0; i < n; i++)
        if (ids[i] != want[i]) fail_msg("'%s': id %d is %d, reference %d", text, i, ids[i], want[i]);
    golden_eval(r, ids, n, 0);
    int vocab = r->m->cfg.vocab;
    const float *row = r->logits + (size_t)(n - 1) * vocab;
    for (int k = 0; k < n_cont; k++) {
        int32_t next = golden_argmax(row, vocab);
        if (!greedy_ok(j, text, k, next, cont[k], top2_margin(row, vocab))) break;
        golden_eval(r, &next, 1, n + k);
        row = r->logits;
    }
    free(ids);
}

double golden_run_reference(const char *ref_rel, const char *model_path) {
    return golden_run_reference_kv(ref_rel, model_path, KV_F32, 0);
}

double golden_run_reference_kv(const char *ref_rel, const char *model_path, kv_dtype dt, double tol) {
    char *ref_path = tu_model_path(ref_rel);
    json_error_t je;
    json_t *ref = json_load_file(ref_path, 0, &je);
    if (!ref) fail_msg("%s: %s", ref_path, je.text);
    char *own = model_path ? NULL
                           : tu_model_path(json_string_value(json_object_get(json_object_get(ref, "model"), "path")));
    golden_runner r;
    assert_true(golden_open_kv(&r, model_path ? model_path : own, dt));
    double worst = 0;
    if (golden_has_block_weights(r.m)) {
        worst = golden_run_native(&r, ref, ref_rel);
    } else {
        judge j = {ref_rel, tol, tol == 0, 0, 0};
        if (j.exact) j.tol = json_number_value(json_object_get(json_object_get(ref, "tolerance"), "logit_abs_tol"));
        assert_true(j.tol > 0);
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(ref, "prompts"), i, p) check_prompt(&r, p, &j);
        json_array_foreach(json_object_get(ref, "text_cases"), i, p) check_text_case(&r, p, &j);
        printf("# %s, KV %s: max |logit - reference| over top-10 = %.2e (tolerance %.0e), %d comparison(s) ended "
               "at a small-margin divergence\n", ref_rel, kv_dtype_name(dt), j.worst, j.tol, j.diverged);
        worst = j.worst;
    }
    golden_close(&r);
    json_decref(ref);
    free(own);
    free(ref_path);
    return worst;
}
