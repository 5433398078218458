/*
 * scheduler.h — the continuous-batching scheduler: one step at a time, on the
 * engine thread (internal to engine/; engine.c drives it, tests may too).
 *
 * Owns: the waiting queue, the running set (in admission order), the paged
 * KV pool (kv.h) and the forward-pass context.  Every step:
 *
 *   1. cancellations: a cancelled sequence leaves (blocks back, ERROR);
 *   2. decode first: every running sequence whose only pending token is its
 *      last sampled one gets that token in the batch, reserving a block
 *      when it crosses a block boundary.  If the pool is dry, the most
 *      recently admitted running sequence is preempted (blocks released,
 *      back to the HEAD of the waiting queue, its generated tokens, sampler
 *      and stop state kept: it will re-feed prompt + generated tokens and
 *      carry on, so its client only sees a pause), repeated until the
 *      decode fits;
 *   3. prefill: the rest of the step's token budget (max_prefill_tokens
 *      minus the decode tokens) goes first come first served to partially
 *      fed running sequences, then to waiting ones (chunked prefill), while
 *      fewer than max_batch_size sequences run.  Admission attaches the
 *      longest cached prefix of the sequence's tokens and reserves blocks
 *      for the chunk (a shorter chunk if the pool is short) — a
 *      prompt_logprobs request attaches only rows whose logits it already
 *      recorded (none at first; after a preemption, those).  The head of
 *      the queue that cannot get a block waits; nothing overtakes it;
 *   4. one forward pass over every token of the step; logits only for the
 *      last token of each sequence that reaches its end, and for the prompt
 *      rows a prompt_logprobs request still wants (the output head runs a
 *      tile of rows at a time and each row's log_softmax is recorded at
 *      once, so memory is bounded by the tile, not by the prompt);
 *   2b. speculative decoding (speculate > 0): decoding sequences append the
 *      tokens prompt lookup drafts for them (spec.h), within the budget and
 *      as far as they pay for their rows at the step's measured cost;
 *   5. the sampling rows' tokens are chosen (req_sample), on the pool's
 *      threads when there are several: each sequence's sampler is its own,
 *      so a token does not depend on the thread or on its neighbours; then,
 *      per sequence in order: commit the new K/V rows (full blocks go to
 *      the prefix cache), take the token, detokenize, stop rules, events;
 *      finished sequences release their blocks.  A sequence that drafted
 *      has a row per draft too: while the token chosen at a row is that
 *      row's draft, the next row's token is chosen and taken the same way
 *      (so penalties, bans, masks and stop rules see every token in order),
 *      and its KV keeps only the accepted drafts' rows.
 *
 * No deadlock: if a step could feed nothing while sequences run (their
 * blocks starve each other), the newest is preempted until one can move; a
 * sequence alone always fits, because a request that could not fit the
 * whole cache was refused at submit.  A sequence only samples when its
 * whole token list has been fed, so re-feeding after a preemption never
 * advances its random generator; and re-fed prompt rows whose logprobs
 * were recorded skip the output head, so nothing is recorded twice.
 */
#ifndef CTGI_SCHEDULER_H
#define CTGI_SCHEDULER_H

#include "engine.h"
#include "model/forward.h"
#include "pool.h"
#include "request.h"

typedef struct {
    int block_size;
    int n_blocks;           /* KV pool size */
    int max_prefill_tokens; /* tokens per step (decode tokens first) */
    int max_batch_size;     /* sequences admitted at once */
    bool prefix_caching;
    bool blas_matmul;       /* FWD_MM_BLAS instead of FWD_MM_INVARIANT */
    kv_dtype kv_dtype;      /* element type of the KV pool (0 = F32) */
    int pool_min_logits;    /* a step's logits rows (samples, prompt logprobs) go to the
                               pool when there are two or more holding at least this
                               many logits in all (SCHED_POOL_MIN_LOGITS; 0: always) */
    int speculate;          /* drafted tokens per sequence and step, at most (0: off) */
    const model *draft_model; /* drafts from this model (spec_draft.h) instead of prompt lookup; NULL */
    uint64_t fail_step;     /* testing: this step's forward pass fails (engine_config.debug_fail_step) */
    bool speculate_unpriced; /* testing: no spec_gate (engine_config.debug_speculate_unpriced) */
} sched_config;

/* Drafted rows one step may add (speculative decoding): the logits buffer
 * holds max_batch_size + this many rows when speculate is on. */
#define SCHED_DRAFT_ROWS 64

/* Rows the weight kernels compute together (wmat's tiles of x rows): in a
 * batch of several sequences a step's cost grows by tiles, so a drafted
 * row that opens a new tile costs a tile's share of the step, and one that
 * fills the last tile costs little.  A sequence whose last drafts all
 * missed (spec_state.cold) drafts, when SCHED_ROW_TILE or more sequences
 * decode, only into the rows the step's last tile leaves free. */
#define SCHED_ROW_TILE 4

/* Below this many logits, waking the workers for the rows' samplers costs
 * about what it saves: a 32k row takes 10-50 us, and a worker that has gone
 * to sleep or lost its core to another process takes 50-500 us to join on
 * a busy machine.  2^18 = 8 rows of a 32k vocabulary, 2 of a 152k one. */
#ifndef SCHED_POOL_MIN_LOGITS /* -D to compare, e.g. 0x7fffffff: never */
#define SCHED_POOL_MIN_LOGITS (1 << 18)
#endif

typedef struct sched sched;

/* Uses (does not own) m and p.  NULL + err on bad config or out of memory. */
sched *sched_create(const model *m, pool *p, const sched_config *c, char *err);
/* Ends every sequence still held (ERROR "engine shut down") and frees. */
void sched_free(sched *s);

/* Positions the whole KV pool holds (the submit-time limit). */
int sched_kv_positions(const sched *s);
/* Append h to the waiting queue; the scheduler takes over the engine's
 * reference and drops it when h has ended. */
void sched_add(sched *s, engine_req *h);
/* Anything waiting or running? */
bool sched_has_work(const sched *s);
/* One step (see above). */
void sched_step(sched *s);
/* Counters and the KV pool's state (waiting/running of this scheduler). */
void sched_stats(const sched *s, engine_stats *out);
/* For tests: the KV pool's own consistency walk (kv_pool_check), plus the
 * scheduler's invariants: waiting sequences hold no blocks, at most
 * max_batch_size run, every running sequence has a token to feed, and the
 * blocks held by running sequences account for every used block. */
bool sched_check(const sched *s);

#endif
