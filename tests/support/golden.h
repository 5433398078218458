/*
 * golden.h — running a model against a float64 reference of
 * ../shared/models/reference/<model>.json (schema ctgi-reference/1, described in
 * ../shared/models/README.md): one sequence evaluated from an empty KV
 * cache, the top-10 logits of every prompt position and greedy step
 * compared by id within a tolerance, the greedy ids and the text cases'
 * tokenization and continuation checked.
 *
 * The checks fail the running cmocka test, so this file is linked into the
 * test binaries only, not the tools (Makefile: TOOL_SUPPORT_OBJ).
 */
#ifndef CTGI_GOLDEN_H
#define CTGI_GOLDEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/forward.h"

enum { GOLDEN_MAX_TOKENS = 256, GOLDEN_KV_BLOCK = 16, GOLDEN_KV_POSITIONS = 512 };

typedef struct {
    model *m;
    pool *pool;
    fwd_ctx *fwd;
    kv_pool *kv;   /* 512 positions in blocks of 16, no prefix caching */
    kv_seq seq;    /* the one sequence; restarted by golden_eval at position 0 */
    int32_t ids[GOLDEN_KV_POSITIONS]; /* its tokens so far */
    float *logits; /* (GOLDEN_MAX_TOKENS, vocab) */
} golden_runner;

/* Load the model at path (2 threads); false (and a printed error) if it
 * does not load. */
bool golden_open(golden_runner *r, const char *path);
/* The same with a KV cache of type dt (golden_open: KV_F32, what the
 * references assume). */
bool golden_open_kv(golden_runner *r, const char *path, kv_dtype dt);
void golden_close(golden_runner *r);

/* Evaluate ids[0..n) at positions start..; every row's logits into
 * r->logits.  start 0 begins a new sequence. */
void golden_eval(golden_runner *r, const int32_t *ids, int n, int start);

int32_t golden_argmax(const float *x, int n);

/* The integers of a JSON array into out (at most cap); their count. */
int golden_json_ids(json_t *arr, int32_t *out, int cap);

/* Check the model loaded at model_path against the reference ref_rel (a
 * path under the shared models, e.g. "reference/llama-spm-f32.json";
 * model_path NULL: the reference's own model.path there): every prompt's top-10 logits within
 * tolerance.logit_abs_tol, its 48 greedy ids, the text cases (or, for block
 * quantized matrices, golden_run_native).  Prints and
 * returns the largest |logit - reference| seen. */
double golden_run_reference(const char *ref_path, const char *model_path);

/* The same through a KV cache of type dt, with logits held to tol instead
 * of the file's logit_abs_tol: a greedy id may then differ where the step's
 * margin is below 2 tol, which ends that prompt's comparison (tol 0: the
 * exact rules of golden_run_reference). */
double golden_run_reference_kv(const char *ref_path, const char *model_path, kv_dtype dt, double tol);

/* Whether the model multiplies any matrix with int8-quantized activations
 * (wmat.h's block types); golden_run_reference then checks it with
 * golden_run_native: the references' bounds for such kernels
 * (tolerance.native_quantized_kernels) instead of logit_abs_tol.  Returns
 * the largest relative top-10 logit deviation seen. */
bool golden_has_block_weights(const model *m);
double golden_run_native(golden_runner *r, json_t *ref, const char *ref_rel);

#endif
