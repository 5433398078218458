/*
 * bench_rig.c — the forward pass driven directly for the kernel
 * benchmarks (bench_rig.h).
 */
#include "support/bench_rig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "support/bench_util.h"

void bench_rig_open(bench_rig *r, const model *m, int threads, int max_tokens, int kv_positions) {
    const model_config *c = &m->cfg;
    *r = (bench_rig){.m = m, .max_tokens = max_tokens};
    r->pool = pool_create(threads, 0);
    r->fwd = r->pool ? fwd_create(m, r->pool, max_tokens) : NULL;
    r->kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, BENCH_KV_BLOCK,
                           kv_positions / BENCH_KV_BLOCK + 1, KV_F16, false);
    r->logits = malloc((size_t)BENCH_MAX_SEQS * c->vocab * sizeof(float));
    kv_seq_init(&r->cross);
    if (!r->pool || !r->fwd || !r->kv || !r->logits) bench_die("out of memory");
}

void bench_rig_close(bench_rig *r) {
    kv_seq_release(r->kv, &r->cross);
    free(r->logits);
    kv_pool_free(r->kv);
    fwd_free(r->fwd);
    pool_free(r->pool);
}

int32_t bench_token(int i, int vocab) { return (int32_t)(259 + (i * 7919) % (vocab - 300)); }

static bool encdec(const bench_rig *r) { return model_is_encdec(&r->m->cfg); }

/* An encoder-decoder's encoder over ids[0, n) into r->cross. */
static void encode(bench_rig *r, const int32_t *ids, int n) {
    int *pos = malloc((size_t)n * sizeof *pos), *seq = calloc((size_t)n, sizeof *seq);
    if (!pos || !seq) bench_die("out of memory");
    const kv_seq *tabs[1] = {&r->cross};
    kv_seq_release(r->kv, &r->cross);
    for (int i = 0; i < n; i++) pos[i] = i;
    if (!kv_seq_reserve(r->kv, &r->cross, n)) bench_die("KV pool exhausted");
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = tabs, .n = n};
    if (!fwd_encode(r->fwd, kv_pool_store(r->kv), &b)) bench_die("fwd_encode failed");
    kv_seq_commit_private(r->kv, &r->cross, n);
    free(pos);
    free(seq);
}

/* n tokens of sequence s at positions start.., logits for the last. */
static void run_seq(bench_rig *r, kv_seq *s, const int32_t *ids, int n, int start) {
    int *pos = malloc((size_t)n * sizeof *pos), *seq = calloc((size_t)n, sizeof *seq);
    bool *want = calloc((size_t)n, sizeof *want);
    if (!pos || !seq || !want) bench_die("out of memory");
    const kv_seq *seqs[1] = {s}, *cross[1] = {&r->cross};
    for (int i = 0; i < n; i++) pos[i] = start + i;
    want[n - 1] = true;
    if (!kv_seq_reserve(r->kv, s, start + n)) bench_die("KV pool exhausted");
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = n, .want_logits = want,
                   .cross = encdec(r) ? cross : NULL};
    if (!fwd_eval(r->fwd, kv_pool_store(r->kv), &b, r->logits)) bench_die("fwd_eval failed");
    s->n_computed = start + n;
    free(pos);
    free(seq);
    free(want);
}

/* One step of n sequences, one token each at position `at`. */
static void run_step(bench_rig *r, kv_seq *s, int n, int at) {
    int32_t ids[BENCH_MAX_SEQS];
    int pos[BENCH_MAX_SEQS], seq[BENCH_MAX_SEQS];
    const kv_seq *seqs[BENCH_MAX_SEQS], *cross[BENCH_MAX_SEQS];
    for (int i = 0; i < n; i++) {
        ids[i] = bench_token(at * 31 + i, r->m->cfg.vocab);
        pos[i] = at;
        seq[i] = i;
        seqs[i] = &s[i];
        cross[i] = &r->cross;
        if (!kv_seq_reserve(r->kv, &s[i], at + 1)) bench_die("KV pool exhausted");
    }
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = n, .cross = encdec(r) ? cross : NULL,
                   .adapter = r->adapter};
    if (!fwd_eval(r->fwd, kv_pool_store(r->kv), &b, r->logits)) bench_die("fwd_eval failed");
}

double bench_decode_one(bench_rig *r, int prompt, int steps) {
    kv_seq s;
    kv_seq_init(&s);
    int32_t *ids = malloc((size_t)prompt * sizeof *ids);
    if (!ids) bench_die("out of memory");
    for (int i = 0; i < prompt; i++) ids[i] = bench_token(i, r->m->cfg.vocab);
    int next = prompt; /* the decoder's next position */
    if (encdec(r)) {
        encode(r, ids, prompt);
        run_seq(r, &s, &r->m->cfg.dec_start_id, 1, 0);
        next = 1;
    } else {
        run_seq(r, &s, ids, prompt, 0);
    }
    free(ids);
    double t0 = ct_now();
    for (int k = 0; k < steps; k++) {
        int32_t t = bench_token(prompt + k, r->m->cfg.vocab);
        run_seq(r, &s, &t, 1, next + k);
    }
    double tps = steps / (ct_now() - t0);
    kv_seq_release(r->kv, &s);
    return tps;
}

double bench_prefill(bench_rig *r, int n, int runs) {
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) bench_die("out of memory");
    double best = 1e30;
    for (int i = 0; i < n; i++) ids[i] = bench_token(i, r->m->cfg.vocab);
    for (int k = 0; k < runs; k++) {
        kv_seq s;
        kv_seq_init(&s);
        double t0 = ct_now();
        if (encdec(r)) encode(r, ids, n);
        else run_seq(r, &s, ids, n, 0);
        double t = ct_now() - t0;
        best = t < best ? t : best;
        kv_seq_release(r->kv, &s);
    }
    free(ids);
    return n / best;
}

double bench_decode_many(bench_rig *r, int n, int prompt, int steps) {
    kv_seq s[BENCH_MAX_SEQS];
    for (int i = 0; i < n; i++) kv_seq_init(&s[i]);
    if (encdec(r)) { /* one input for all; the decoders start from it */
        int32_t *ids = malloc((size_t)(prompt > 0 ? prompt : 1) * sizeof *ids);
        if (!ids) bench_die("out of memory");
        for (int i = 0; i < (prompt > 0 ? prompt : 1); i++) ids[i] = bench_token(i, r->m->cfg.vocab);
        encode(r, ids, prompt > 0 ? prompt : 1);
        free(ids);
    }
    for (int p = 0; p < prompt; p++) run_step(r, s, n, p); /* the prompts, one position per step */
    double t0 = ct_now();
    for (int k = 0; k < steps; k++) run_step(r, s, n, prompt + k);
    double tps = (double)n * steps / (ct_now() - t0);
    for (int i = 0; i < n; i++) kv_seq_release(r->kv, &s[i]);
    return tps;
}

bool bench_in_child(void (*fn)(const void *arg, void *out), const void *arg, void *out, size_t size) {
    int fds[2];
    if (pipe(fds) != 0) bench_die("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        fn(arg, out);
        ssize_t w = write(fds[1], out, size);
        _exit(w == (ssize_t)size ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    for (ssize_t n; got < size && (n = read(fds[0], (char *)out + got, size - got)) > 0;) got += (size_t)n;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return got == size;
}
