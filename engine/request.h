/*
 * request.h — one request inside the engine (internal to engine/).
 *
 * Owns: the validated copy of what the caller submitted, the request's
 * outbox of events, the two-owner reference count, and the per-sequence
 * generation state (token list, sampler, stop matcher, stop ids,
 * constraint matcher, incremental decoder, KV block table, the prompt
 * logprobs recorded so far; an encoder-decoder's encoder state, encdec.h).
 *
 * Two halves with different rules:
 *   - the outbox half (outbox, ended, released, refs, notify) is shared by
 *     the caller and the engine thread and is touched only under `mu`;
 *     `cancel` is an atomic flag any thread may set;
 *   - the sequence half is touched only by the engine thread, except that
 *     req_sample (the sampler and `sample`) may run on a pool thread while
 *     the engine thread waits for the step's samples (pool_run).
 */
#ifndef CTGI_REQUEST_H
#define CTGI_REQUEST_H

#include <pthread.h>
#include <stdatomic.h>

#include "constraint/constraint.h"
#include "encdec.h"
#include "engine.h"
#include "kv.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "spec.h"
#include "sampling/stop.h"
#include "tokenizer/tokenizer.h"

typedef struct req_node {
    struct req_node *next;
    engine_event ev;
} req_node;

struct engine_req {
    /* ---- shared: under mu ---- */
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* signalled when an event is queued */
    req_node *head, *tail;    /* events not yet taken */
    req_node *terminal;       /* allocated at submit so FINAL/ERROR can never fail */
    bool ended;               /* FINAL/ERROR queued: nothing follows */
    bool released;            /* the caller let go: no more notify */
    int refs;                 /* caller + engine */
    void (*notify)(void *ud);
    void *ud;
    atomic_bool cancel;

    /* ---- engine thread only ---- */
    int max_new_tokens;
    int min_new_tokens;
    bool ignore_eos;
    int32_t *stop_ids;        /* (n_stop_ids) copied */
    int n_stop_ids;
    int top_n;                /* sampling.top_n: alternatives per prompt position too */
    engine_prompt_token *plp; /* (n_prompt) prompt logprobs, NULL unless asked; moves to the FINAL */
    int n_plp;                /* prompt rows [0, n_plp) had their logits recorded (entries 1..n_plp),
                                 or were not wanted (before prompt_logprobs_from) */
    size_t stop_base;         /* text_len when the stop matcher was first fed (min_new_tokens) */
    bool stop_exclude;        /* OpenAI stop semantics (engine_request.stop_exclude) */
    int stop_index;           /* the stops entry that matched (engine_final.stop_index), -1 */
    size_t n_released;        /* stop_exclude: bytes of text handed out in TOKEN events */
    int32_t *tokens;          /* prompt then generated; capacity n_prompt + max_new_tokens */
    int n_tokens;
    int n_prompt;
    int n_generated;
    sampler *smp;
    int adapter;              /* engine_request.adapter: 0 base, k the model's k-th LoRA adapter */
    cons_matcher *cons;       /* engine_request.constraint's matcher (holds the grammar), or NULL */
    bool cons_stuck;          /* req_sample: the constraint left no token (sample.id -1) */
    sample_result sample;     /* req_sample's choice, until req_on_sample takes it */
    /* speculative decoding (spec.h): this step's drafted tokens (also written
     * after the token list, where the forward pass reads them), the draft the
     * next req_sample verifies (-1: none) and whether its token was it */
    int32_t draft[SPEC_MAX_K];
    int n_draft;
    int32_t verify;
    bool verify_hit;
    spec_state spec;
    int n_drafted, n_accepted; /* over the request's life (engine_final) */
    stop_matcher *stop;
    tok_stream ts;
    char *text;               /* all generated text */
    size_t text_len, text_cap;
    kv_seq kv;                /* kv.n_computed = tokens whose K/V are in the cache */
    ed_state *enc;            /* encoder-decoder models: the encoder's input (the prompt) and its cross
                                 K/V; tokens then start with the decoder's start id, n_prompt 1.  NULL
                                 for a decoder-only model */
    kv_seq dseq;              /* with a draft model: its KV of this sequence (spec_draft.h) */
    uint64_t admit_order;     /* larger = admitted more recently */
    bool admitted_once;
    int n_cached_prompt;
    double t_submit, t_admit, t_first, t_last;
};

/* Validate r against the model and a KV capacity of kv_positions positions,
 * then copy it.  refs = 2 (caller + engine).  NULL + err otherwise. */
engine_req *req_create(const model *m, const engine_request *r, int kv_positions, char *err);
/* Drop one reference; the last one frees everything. */
void req_unref(engine_req *h);

/* ---- caller side ---- */
bool req_next_event(engine_req *h, engine_event *ev, bool block);
void req_release(engine_req *h);

/* ---- engine side ---- */

/* Tokens still to feed before the next sample. */
static inline int req_pending(const engine_req *h) { return h->n_tokens - h->kv.n_computed; }
/* True for a sequence whose only pending token is its last sampled one. */
static inline bool req_is_decoding(const engine_req *h) {
    return h->n_generated > 0 && req_pending(h) == 1;
}

/* Prompt logprobs: the rows of h's prompt whose logits are still wanted
 * are [h->n_plp, req_plp_end(h)) (none unless prompt_logprobs): the row at
 * position p gives the entry of prompt token p + 1; the last prompt row
 * is the first sample's, not a prompt entry. */
static inline int req_plp_end(const engine_req *h) { return h->plp ? h->n_prompt - 1 : 0; }
/* How many leading tokens of h may come from the prefix cache: at least
 * one token is left to feed, so the sequence gets fresh logits, and rows
 * whose prompt logits are still wanted must be computed.  After a
 * preemption the rows already recorded may be attached (their logits are
 * never computed twice). */
static inline int req_attach_limit(const engine_req *h) {
    int lim = h->n_tokens - 1;
    if (h->plp && h->n_plp < req_plp_end(h) && h->n_plp < lim) lim = h->n_plp;
    return lim;
}
/* The raw logits of h's row at prompt position pos arrived: record the
 * log_softmax entry of prompt token pos + 1 (and nothing else, so rows of
 * one request may be recorded by several pool threads at once; the
 * scheduler then moves h->n_plp past them).  row is scratch: NaN becomes
 * -inf, +inf FLT_MAX (as the sampler does). */
void req_prompt_logits(engine_req *h, int pos, float *row, int vocab);

/* The model's next-token logits for h arrived, in two halves:
 *
 * req_sample chooses the token (min_new_tokens bans, the constraint's
 * mask, then the sampler) and keeps the result in h->sample; logits is
 * scratch.  With h->verify >= 0 (a drafted token at this position) the
 * sampler verifies it (sampler_sample_draft) and h->verify_hit says
 * whether the token chosen is the draft.  It touches nothing but h's sampler, constraint matcher (whose
 * grammar is shared, thread-safe) and h->sample and only reads m, so the scheduler runs the
 * calls of one step for different requests on the pool at once (a request
 * is never in two calls at a time).  A scoring request samples nothing.
 *
 * req_on_sample (engine thread, in slot order) takes that token: history,
 * the constraint's matcher, the TOKEN event, detokenization, the stop
 * rules (and the constraint's completion).  *done when the request
 * finished (its FINAL is queued).  false + err when it must fail (every
 * token banned, no token continues the constrained text, out of memory);
 * the caller then ends it with req_fail. */
void req_sample(engine_req *h, const model *m, float *logits);
bool req_on_sample(engine_req *h, const model *m, bool *done, char *err);
/* Queue the ERROR event that ends h (no-op if it already ended). */
void req_fail(engine_req *h, const char *message, bool cancelled);

#endif
