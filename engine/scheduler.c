/*
 * scheduler.c — one scheduler step: cancellations, decode reservations with
 * preemption, chunked prefill and admission with prefix attach, the fused
 * forward pass (after the encoder pass of the encoder-decoder sequences
 * admitted in the step: encdec.h), and per-sequence sampling and
 * finishing.  See scheduler.h.
 */
#include "scheduler.h"

#include "spec_draft.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Rows per output-head tile for prompt logprobs (at least max_batch_size:
 * the tile buffer is also the sampling rows' logits buffer). */
#define SCHED_PROMPT_TILE 32

/* One sequence's share of a step. */
typedef struct {
    engine_req *h;
    int chunk;   /* tokens fed this step, from h->kv.n_computed on */
    bool decode; /* a decode token (else prompt / recompute chunk) */
    bool want;   /* the chunk reaches the end of h's tokens: sample after it */
    int draft;   /* speculative decoding: drafted tokens at the chunk's end (decode slots) */
    int row;     /* with want: its first sampling row in s->logits (1 + draft rows) */
} sched_slot;

struct sched {
    const model *m;
    pool *pool;
    sched_config cfg;
    kv_pool *kv;
    fwd_ctx *fwd;
    int max_step_tokens;

    engine_req **waiting; /* FIFO; index 0 is the head */
    int n_waiting, cap_waiting;
    engine_req **running; /* admission order: the newest last (cap max_batch_size) */
    int n_running;
    uint64_t admit_counter;

    /* the step being composed, and the forward pass's inputs */
    sched_slot *slots; /* (max_batch_size) */
    int n_slots, n_step_tokens;
    int32_t *b_tok;
    int *b_pos, *b_seq;
    int *b_adapter; /* (T) each row's LoRA adapter (engine_request.adapter) */
    const kv_seq **b_seqs;
    /* encoder-decoder models: each slot's cross table, the sequences to
     * encode this step, and the encoder tokens planned in it */
    const kv_seq **b_cross;
    ed_state **b_enc;
    int n_enc_tokens;
    /* the output head runs over tiles of at most logit_rows rows: the
     * sampling rows (<= max_batch_size), or prompt rows of prompt_logprobs
     * requests; memory is bounded by the tile, not by the prompt */
    int logit_rows;
    int *tile_row;  /* (logit_rows) batch row of each tile row */
    int *tile_slot; /* (logit_rows) its slot */
    float *logits;  /* (logit_rows, vocab) */
    int *samp_row;  /* (max_batch_size) each sampling slot's first row in logits */
    int draft_cap;  /* drafted rows a step may add (logit_rows - max_batch_size) */
    int n_drafted;  /* ... added to the step being composed */
    spec_cost cost;         /* what a row of an all-decode step costs (spec_gate prices drafts by it) */
    spec_drafter *drafter;  /* with a draft model, else NULL */
    spec_draft_job *jobs;   /* (max_batch_size) its jobs of a step */
    int *job_slot;          /* (max_batch_size) the slot of each job */

    uint64_t preemptions, steps, prefilled, decoded, generated, finished, failed, drafted, accepted;
    int used_peak;
    double last_step, total_step, total_sample;
};

/* ---- setup ------------------------------------------------------------------- */

sched *sched_create(const model *m, pool *p, const sched_config *c, char *err) {
    if (c->block_size < 1 || c->n_blocks < 1 || c->max_prefill_tokens < 1 || c->max_batch_size < 1) {
        ct_err(err, "bad scheduler config: block_size %d, blocks %d, max_batch_prefill_tokens %d, max_batch_size %d",
               c->block_size, c->n_blocks, c->max_prefill_tokens, c->max_batch_size);
        return NULL;
    }
    sched *s = calloc(1, sizeof *s);
    if (!s) {
        ct_err(err, "out of memory");
        return NULL;
    }
    const model_config *mc = &m->cfg;
    s->m = m;
    s->pool = p;
    s->cfg = *c;
    /* decode tokens (one per running sequence) may exceed the budget */
    s->max_step_tokens = c->max_prefill_tokens > c->max_batch_size ? c->max_prefill_tokens : c->max_batch_size;
    size_t T = (size_t)s->max_step_tokens, B = (size_t)c->max_batch_size;
    s->logit_rows = c->max_batch_size > SCHED_PROMPT_TILE ? c->max_batch_size : SCHED_PROMPT_TILE;
    /* drafted rows want logits too: room for SCHED_DRAFT_ROWS of them */
    if (c->speculate > 0) s->logit_rows = c->max_batch_size + SCHED_DRAFT_ROWS;
    if (s->logit_rows > s->max_step_tokens) s->logit_rows = s->max_step_tokens;
    size_t L = (size_t)s->logit_rows;
    s->kv = kv_pool_create(mc->n_layers, mc->n_kv_heads * mc->head_dim, c->block_size, c->n_blocks, c->kv_dtype,
                           c->prefix_caching);
    s->fwd = fwd_create(m, p, s->max_step_tokens);
    if (s->fwd && c->blas_matmul) fwd_set_matmul(s->fwd, FWD_MM_BLAS);
    s->running = calloc(B, sizeof *s->running);
    s->slots = calloc(B, sizeof *s->slots);
    s->b_tok = malloc(T * sizeof *s->b_tok);
    s->b_pos = malloc(T * sizeof *s->b_pos);
    s->b_seq = malloc(T * sizeof *s->b_seq);
    s->b_adapter = malloc(T * sizeof *s->b_adapter);
    s->b_seqs = malloc(B * sizeof *s->b_seqs);
    s->b_cross = malloc(B * sizeof *s->b_cross);
    s->b_enc = malloc(B * sizeof *s->b_enc);
    s->tile_row = malloc(L * sizeof *s->tile_row);
    s->tile_slot = malloc(L * sizeof *s->tile_slot);
    s->samp_row = malloc(B * sizeof *s->samp_row);
    if (c->speculate > 0 && c->draft_model) {
        s->drafter = spec_drafter_create(c->draft_model, p, c->n_blocks, c->block_size, c->max_batch_size, err);
        if (!s->drafter) {
            sched_free(s);
            return NULL;
        }
        s->jobs = calloc(B, sizeof *s->jobs);
        s->job_slot = calloc(B, sizeof *s->job_slot);
    }
    s->draft_cap = s->logit_rows - c->max_batch_size > 0 ? s->logit_rows - c->max_batch_size : 0;
    s->logits = malloc(L * (size_t)mc->vocab * sizeof(float));
    if (!s->kv || !s->fwd || !s->running || !s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_adapter || !s->b_seqs ||
        !s->b_cross || !s->b_enc || !s->tile_row || !s->tile_slot || !s->logits ||
        !s->samp_row || (s->drafter && (!s->jobs || !s->job_slot))) {
        ct_err(err, "out of memory (KV cache of %d blocks x %d positions, %d tokens per step)", c->n_blocks,
               c->block_size, s->max_step_tokens);
        sched_free(s);
        return NULL;
    }
    return s;
}

/* h's blocks go back: its own, an encoder-decoder's cross K/V, and its
 * draft model's. */
static void release_blocks(sched *s, engine_req *h) {
    kv_seq_release(s->kv, &h->kv);
    if (h->enc) kv_seq_release(s->kv, &h->enc->cross);
    if (s->drafter) spec_drafter_release(s->drafter, &h->dseq);
}

/* h leaves the scheduler: its blocks go back, the engine's reference goes. */
static void drop(sched *s, engine_req *h) {
    release_blocks(s, h);
    req_unref(h);
}

void sched_free(sched *s) {
    if (!s) return;
    for (int i = 0; i < s->n_running; i++) {
        req_fail(s->running[i], "engine shut down", false);
        drop(s, s->running[i]);
    }
    for (int i = 0; i < s->n_waiting; i++) {
        req_fail(s->waiting[i], "engine shut down", false);
        drop(s, s->waiting[i]);
    }
    kv_pool_free(s->kv);
    fwd_free(s->fwd);
    free(s->waiting);
    free(s->running);
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_adapter);
    free(s->b_seqs);
    free(s->b_cross);
    free(s->b_enc);
    free(s->tile_row);
    free(s->tile_slot);
    free(s->samp_row);
    spec_drafter_free(s->drafter);
    free(s->jobs);
    free(s->job_slot);
    free(s->logits);
    free(s);
}

int sched_kv_positions(const sched *s) { return s->cfg.n_blocks * s->cfg.block_size; }

bool sched_has_work(const sched *s) { return s->n_waiting > 0 || s->n_running > 0; }

/* ---- queues -------------------------------------------------------------------- */

/* The waiting array always has room for every sequence the scheduler
 * holds, so moving a running one back (preemption) never allocates. */
static bool waiting_room(sched *s, int need) {
    if (need <= s->cap_waiting) return true;
    int cap = s->cap_waiting ? s->cap_waiting : 64;
    while (cap < need) cap *= 2;
    engine_req **w = realloc(s->waiting, (size_t)cap * sizeof *w);
    if (!w) return false;
    s->waiting = w;
    s->cap_waiting = cap;
    return true;
}

void sched_add(sched *s, engine_req *h) {
    if (!waiting_room(s, s->n_waiting + s->n_running + 1)) {
        req_fail(h, "out of memory (waiting queue)", false);
        s->failed++;
        drop(s, h);
        return;
    }
    s->waiting[s->n_waiting++] = h;
}

static void waiting_remove(sched *s, int i) {
    memmove(s->waiting + i, s->waiting + i + 1, (size_t)(s->n_waiting - i - 1) * sizeof *s->waiting);
    s->n_waiting--;
}

static void running_remove(sched *s, int i) {
    memmove(s->running + i, s->running + i + 1, (size_t)(s->n_running - i - 1) * sizeof *s->running);
    s->n_running--;
}

/* h leaves the running set and the scheduler (it has ended). */
static void retire(sched *s, engine_req *h) {
    for (int i = 0; i < s->n_running; i++)
        if (s->running[i] == h) {
            running_remove(s, i);
            break;
        }
    drop(s, h);
}

/* The newest running sequence gives its blocks back and goes to the head of
 * the waiting queue; it keeps its tokens and sampler, so it will re-feed
 * prompt + generated tokens and continue where it stopped (waiting_room
 * guarantees the queue has room). */
static bool preempt_newest(sched *s) {
    if (s->n_running == 0) return false;
    engine_req *h = s->running[--s->n_running];
    release_blocks(s, h);
    memmove(s->waiting + 1, s->waiting, (size_t)s->n_waiting * sizeof *s->waiting);
    s->waiting[0] = h;
    s->n_waiting++;
    s->preemptions++;
    return true;
}

static void take_cancellations(sched *s) {
    for (int i = s->n_running - 1; i >= 0; i--) {
        engine_req *h = s->running[i];
        if (!atomic_load(&h->cancel)) continue;
        running_remove(s, i);
        req_fail(h, "cancelled", true);
        s->failed++;
        drop(s, h);
    }
    for (int i = s->n_waiting - 1; i >= 0; i--) {
        engine_req *h = s->waiting[i];
        if (!atomic_load(&h->cancel)) continue;
        waiting_remove(s, i);
        req_fail(h, "cancelled", true);
        s->failed++;
        drop(s, h);
    }
}

/* ---- composing a step ------------------------------------------------------------ */

static void add_slot(sched *s, engine_req *h, int chunk, bool decode) {
    s->slots[s->n_slots++] = (sched_slot){h, chunk, decode, chunk == req_pending(h), 0, 0};
    s->n_step_tokens += chunk;
}

/* Reserve blocks for the next n tokens of h, or for as many as the pool can
 * give now.  Returns the tokens covered (0: none, nothing reserved). */
static int fit_chunk(sched *s, engine_req *h, int n) {
    int start = h->kv.n_computed;
    if (kv_seq_reserve(s->kv, &h->kv, start + n)) return n;
    int can = (h->kv.n_table + kv_available(s->kv)) * s->cfg.block_size - start;
    if (can <= 0) return 0;
    if (can < n) n = can;
    return kv_seq_reserve(s->kv, &h->kv, start + n) ? n : 0;
}

/* Step 2: one token for every decoding sequence, oldest first; preempt the
 * newest while the pool cannot supply a needed block.  Victims are always
 * newer than the sequence being served (or that sequence itself), so no
 * planned slot is ever taken away. */
static void plan_decodes(sched *s) {
    for (int i = 0; i < s->n_running; i++) {
        engine_req *h = s->running[i];
        if (!req_is_decoding(h)) continue;
        for (;;) {
            if (kv_seq_reserve(s->kv, &h->kv, h->n_tokens)) {
                add_slot(s, h, 1, true);
                break;
            }
            bool self = s->running[s->n_running - 1] == h;
            if (!preempt_newest(s) || self) break;
        }
    }
}

/* Step 2b, speculative decoding: each decoding slot, oldest first, drafts
 * as many tokens as its controller wants (spec.h), within what it may
 * still generate (the last row's token always comes on top), the step's
 * token budget, the draft rows of the logits buffer and the blocks it
 * holds or the pool can give without preempting anyone: by prompt lookup,
 * or with the draft model (all slots' drafts in one batched round,
 * spec_drafter_run).  The drafts go after its token list (h->tokens has room for
 * max_new_tokens), where the forward pass reads them as the chunk's extra
 * rows. */
static void plan_drafts(sched *s, int *budget) {
    s->n_drafted = 0;
    /* an encoder-decoder's decoder does not speculate: its rows' K/V are
     * private (kv_seq_commit_private) and its drafts were never measured */
    if (s->cfg.speculate <= 0 || model_is_encdec(&s->m->cfg)) return;
    int n_jobs = 0, room_left = *budget;
    double bar = spec_cost_bar(&s->cost, s->n_step_tokens); /* what a drafted row must bring */
    for (int j = 0; j < s->n_slots; j++) {
        sched_slot *sl = &s->slots[j];
        engine_req *h = sl->h;
        h->n_draft = 0;
        if (!sl->decode) continue;
        int room = s->draft_cap - s->n_drafted, left = h->max_new_tokens - h->n_generated - 1;
        if (room > room_left) room = room_left;
        if (room > left) room = left;
        if (room <= 0) continue;
        int k = spec_want(&h->spec, s->cfg.speculate);
        if (!s->cfg.speculate_unpriced) k = spec_gate(&h->spec, k, bar);
        if (k > room) k = room;
        int rows = s->n_step_tokens + s->n_drafted, slack = (SCHED_ROW_TILE - rows % SCHED_ROW_TILE) % SCHED_ROW_TILE;
        if (h->spec.cold && s->n_step_tokens >= SCHED_ROW_TILE && k > slack) k = slack;
        int n = s->drafter ? k : spec_lookup(h->tokens, h->n_tokens, k, h->draft);
        if (n > 0 && !kv_seq_reserve(s->kv, &h->kv, h->n_tokens + n)) {
            int held = h->kv.n_table * s->cfg.block_size - h->n_tokens; /* no new block: draft less */
            n = held < n ? held : n;
        }
        if (n <= 0) continue;
        if (s->drafter) { /* the draft model fills them in below */
            s->jobs[n_jobs] = (spec_draft_job){h->tokens, h->n_tokens, &h->dseq, n, h->draft};
            s->job_slot[n_jobs++] = j;
        } else {
            h->n_draft = sl->draft = n;
        }
        s->n_drafted += n;
        room_left -= n;
    }
    if (n_jobs > 0) {
        spec_drafter_run(s->drafter, s->jobs, n_jobs);
        s->n_drafted = 0;
        for (int i = 0; i < n_jobs; i++) {
            s->slots[s->job_slot[i]].draft = s->jobs[i].k;
            s->slots[s->job_slot[i]].h->n_draft = s->jobs[i].k;
            s->n_drafted += s->jobs[i].k;
        }
    }
    for (int j = 0; j < s->n_slots; j++) {
        sched_slot *sl = &s->slots[j];
        if (sl->draft <= 0) continue;
        engine_req *h = sl->h;
        memcpy(h->tokens + h->n_tokens, h->draft, (size_t)sl->draft * sizeof *h->draft);
        sl->chunk += sl->draft;
        s->n_step_tokens += sl->draft;
        *budget -= sl->draft;
    }
}

/* Step 3a: partially fed running sequences, oldest first. */
static void plan_partials(sched *s, int *budget) {
    for (int i = 0; i < s->n_running && *budget > 0; i++) {
        engine_req *h = s->running[i];
        if (req_is_decoding(h)) continue;
        int pending = req_pending(h);
        int chunk = fit_chunk(s, h, pending < *budget ? pending : *budget);
        if (chunk == 0) continue;
        add_slot(s, h, chunk, false);
        *budget -= chunk;
    }
}

/* True when a running sequence is still computing full blocks that h's
 * tokens share with it (a common system prompt, say).  Admitting h now
 * would compute them a second time in the same step; a step later they are
 * in the prefix cache and h attaches them.  Only full blocks count, and
 * only those h would attach (req_attach_limit). */
static bool prefix_in_flight(const sched *s, const engine_req *h) {
    if (!s->cfg.prefix_caching || h->enc) return false;
    int attach = req_attach_limit(h);
    for (int i = 0; i < s->n_running; i++) {
        const engine_req *r = s->running[i];
        int lim = attach < r->n_tokens ? attach : r->n_tokens, common = 0;
        while (common < lim && h->tokens[common] == r->tokens[common]) common++;
        int shared = common / s->cfg.block_size * s->cfg.block_size;
        if (shared > r->kv.n_computed) return true;
    }
    return false;
}

/* An encoder-decoder sequence's encoder input at admission: its tokens
 * count against the step's budget, except that the first of a step may
 * overrun it (a prompt is encoded whole, never in chunks, and must not
 * wait forever behind the decodes); blocks for its cross K/V.  The
 * decoder tokens it may feed this step; 0: not now. */
static int admit_encoder(sched *s, engine_req *h, int budget) {
    int n = h->enc->n;
    if ((n + 1 > budget && s->n_enc_tokens > 0) || !kv_seq_reserve(s->kv, &h->enc->cross, n)) return 0;
    s->n_enc_tokens += n;
    return budget - n > 1 ? budget - n : 1;
}

/* Step 3b: admit from the head of the queue while budget, slots and blocks
 * last. */
static void plan_admissions(sched *s, int *budget) {
    while (*budget > 0 && s->n_waiting > 0 && s->n_running < s->cfg.max_batch_size) {
        engine_req *h = s->waiting[0];
        if (prefix_in_flight(s, h)) return; /* nothing overtakes the head */
        /* share the longest cached run of full blocks; at least one token is
         * left to feed, so the sequence gets fresh logits (and a
         * prompt_logprobs request computes the rows it still needs).  An
         * encoder-decoder's decoder shares nothing (encdec.h) */
        int cached = h->enc ? 0 : kv_seq_attach_prefix(s->kv, &h->kv, h->tokens, req_attach_limit(h));
        int room = h->enc ? admit_encoder(s, h, *budget) : *budget, pending = req_pending(h);
        int chunk = room > 0 ? fit_chunk(s, h, pending < room ? pending : room) : 0;
        if (chunk == 0) { /* wait for blocks; nothing overtakes the head */
            if (h->enc && h->enc->cross.n_table > 0) {
                s->n_enc_tokens -= h->enc->n;
                kv_seq_release(s->kv, &h->enc->cross);
            }
            kv_seq_detach_prefix(s->kv, &h->kv);
            return;
        }
        waiting_remove(s, 0);
        s->running[s->n_running++] = h;
        h->admit_order = ++s->admit_counter;
        if (!h->admitted_once) {
            h->admitted_once = true;
            h->t_admit = ct_now();
            h->n_cached_prompt = cached < h->n_prompt ? cached : h->n_prompt;
        }
        add_slot(s, h, chunk, false);
        *budget -= chunk + (h->enc ? h->enc->n : 0);
    }
}

static void compose(sched *s) {
    for (;;) {
        s->n_slots = s->n_step_tokens = s->n_enc_tokens = 0;
        plan_decodes(s);
        int budget = s->cfg.max_prefill_tokens - s->n_step_tokens;
        plan_drafts(s, &budget);
        plan_partials(s, &budget);
        plan_admissions(s, &budget);
        if (s->n_slots > 0 || s->n_running == 0) return;
        /* the running sequences' blocks starve each other and nothing can
         * move: free the newest and try again (one sequence alone fits) */
        if (!preempt_newest(s)) return;
    }
}

/* ---- running a step ---------------------------------------------------------------- */

/* Encoder-decoder models: the encoders of the sequences admitted this
 * step, in one pass before the decoders' (it needs the batch arrays first). */
static bool encode(sched *s) {
    int n = 0;
    for (int j = 0; j < s->n_slots; j++)
        if (ed_needs_encode(s->slots[j].h->enc)) s->b_enc[n++] = s->slots[j].h->enc;
    if (n == 0) return true;
    if (!ed_encode(s->fwd, s->kv, s->b_enc, n, s->b_tok, s->b_pos, s->b_seq, s->b_seqs)) return false;
    s->prefilled += (uint64_t)s->n_enc_tokens; /* the prompts, fed to the encoder */
    return true;
}

/* The slots' tokens in one batch, through every layer (the output head
 * comes after, in tiles). */
static bool forward(sched *s) {
    if (!encode(s)) return false;
    int n = 0;
    bool adapted = false;
    for (int j = 0; j < s->n_slots; j++) {
        const sched_slot *sl = &s->slots[j];
        int start = sl->h->kv.n_computed;
        for (int k = 0; k < sl->chunk; k++, n++) {
            s->b_tok[n] = sl->h->tokens[start + k];
            s->b_pos[n] = start + k;
            s->b_seq[n] = j;
            s->b_adapter[n] = sl->h->adapter;
        }
        adapted |= sl->h->adapter != 0;
        s->b_seqs[j] = &sl->h->kv;
        s->b_cross[j] = sl->h->enc ? &sl->h->enc->cross : NULL;
    }
    fwd_batch b = {.tokens = s->b_tok, .pos = s->b_pos, .seq = s->b_seq, .seqs = s->b_seqs, .n = n,
                   .cross = model_is_encdec(&s->m->cfg) ? s->b_cross : NULL, .adapter = adapted ? s->b_adapter : NULL};
    return fwd_run(s->fwd, kv_pool_store(s->kv), &b);
}

/* ---- the rows of s->logits on the pool ---------------------------------------------- */

/* Rows handed out one at a time from a shared counter: they cost different
 * amounts (greedy or not, top-n), so a fixed split would leave a thread
 * idle.  Each row goes to exactly one thread and what it computes depends
 * only on the row and its own request, so the thread changes no bit. */
typedef struct {
    sched *s;
    int n;
    void (*row)(sched *s, int r);
    atomic_int next;
} row_job;

static void row_task(void *arg, int ith, int nth) {
    row_job *j = arg;
    for (int r; (r = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n;) j->row(j->s, r);
}

/* row(s, r) for r in [0, n); one row alone, or a few small ones, are not
 * worth waking the workers for (sched_config.pool_min_logits). */
static void run_rows(sched *s, int n, void (*row)(sched *s, int r)) {
    row_job j = {s, n, row, 0};
    if (n > 1 && pool_size(s->pool) > 1 && (long)n * s->m->cfg.vocab >= s->cfg.pool_min_logits)
        pool_run(s->pool, row_task, &j);
    else
        row_task(&j, 0, 1);
}

static float *logits_row(const sched *s, int r) { return s->logits + (size_t)r * (size_t)s->m->cfg.vocab; }

static void prompt_row(sched *s, int r) {
    req_prompt_logits(s->slots[s->tile_slot[r]].h, s->b_pos[s->tile_row[r]], logits_row(s, r), s->m->cfg.vocab);
}

/* Sampling job j: the first row of a sampling slot (a draft's verification
 * when the slot drafted). */
static void sample_row(sched *s, int j) {
    int r = s->samp_row[j];
    engine_req *h = s->slots[s->tile_slot[r]].h;
    h->verify = s->slots[s->tile_slot[r]].draft > 0 ? h->draft[0] : -1;
    req_sample(h, s->m, logits_row(s, r));
}

/* ---- output head, logprobs and samples ---------------------------------------------- */

/* Output head for the n rows of the tile, then each row's log_softmax into
 * its request (on the pool); the rows are in position order, so each
 * request's recorded count ends past its last one. */
static bool prompt_tile(sched *s, int n) {
    if (n == 0) return true;
    if (!fwd_logits(s->fwd, s->tile_row, n, s->logits)) return false;
    run_rows(s, n, prompt_row);
    for (int i = 0; i < n; i++) s->slots[s->tile_slot[i]].h->n_plp = s->b_pos[s->tile_row[i]] + 1;
    return true;
}

/* Prompt logprobs: every row of the step whose prompt logits are still
 * wanted.  A recomputed row (after a preemption) was recorded before and
 * is skipped: nothing is computed or recorded twice. */
static bool prompt_rows(sched *s) {
    int n = 0, row0 = 0;
    for (int j = 0; j < s->n_slots; j++) {
        const sched_slot *sl = &s->slots[j];
        const engine_req *h = sl->h;
        int start = h->kv.n_computed, end = req_plp_end(h);
        int lo = start > h->n_plp ? start : h->n_plp, hi = start + sl->chunk < end ? start + sl->chunk : end;
        for (int p = lo; p < hi; p++) {
            s->tile_row[n] = row0 + p - start;
            s->tile_slot[n++] = j;
            if (n == s->logit_rows) {
                if (!prompt_tile(s, n)) return false;
                n = 0;
            }
        }
        row0 += sl->chunk;
    }
    return prompt_tile(s, n);
}

/* The sampling rows' logits into s->logits, in slot order; tile_slot[r]
 * is row r's slot.  A slot that drafted d tokens has d + 1 rows (its last
 * sampled token's and each draft's), from its `row` on; samp_row lists the
 * first row of each sampling slot (*n_jobs of them). */
static bool sample_rows(sched *s, int *n_jobs) {
    int n = 0, row0 = 0, jobs = 0;
    for (int j = 0; j < s->n_slots; j++) {
        sched_slot *sl = &s->slots[j];
        row0 += sl->chunk;
        if (!sl->want) continue;
        sl->row = n;
        s->samp_row[jobs++] = n;
        for (int i = sl->draft; i >= 0; i--) {
            s->tile_slot[n] = j;
            s->tile_row[n++] = row0 - 1 - i;
        }
    }
    *n_jobs = jobs;
    return fwd_logits(s->fwd, s->tile_row, n, s->logits);
}

/* Step 5a: choose every sampling row's token.  Each request's sampler is
 * used by one thread and shares nothing with the others, so running them
 * on the pool changes no token, only the wall time. */
static void sample_all(sched *s, int n_rows) {
    double t0 = ct_now();
    run_rows(s, n_rows, sample_row);
    s->total_sample += ct_now() - t0;
}

/* The sampled token of slot sl's first row is taken; while it was that
 * row's draft, the next row's token is chosen (the request's sampling path
 * as for any token, now that the draft is in its history) and taken.  The
 * first token that is not the draft, or that ends the request, ends it.
 * Returns the drafts accepted; *ok false when the request must fail. */
static int take_tokens(sched *s, const sched_slot *sl, bool *done, bool *ok, char *err) {
    engine_req *h = sl->h;
    int accepted = 0;
    for (int i = 0;; i++) {
        bool hit = h->verify_hit;
        if (!(*ok = req_on_sample(h, s->m, done, err))) return accepted;
        s->generated++;
        if (*done || i == sl->draft || !hit) return accepted;
        accepted++;
        h->n_accepted++; /* before the token that may end it: its FINAL counts it */
        h->verify = i + 1 < sl->draft ? h->draft[i + 1] : -1; /* the last row's token is a bonus */
        req_sample(h, s->m, logits_row(s, sl->row + i + 1));
    }
}

/* Step 5b for one slot: its tokens are in the cache; the token sampled
 * after them (if it wanted one) goes to its request.  Of a decode slot's
 * drafted rows, only the accepted ones' K/V are kept: n_computed ends past
 * the last accepted draft, and the rejected rows' positions (blocks
 * included) are written over by the next step. */
static void finish_slot(sched *s, const sched_slot *sl) {
    engine_req *h = sl->h;
    if (h->enc) kv_seq_commit_private(s->kv, &h->kv, h->kv.n_computed + sl->chunk - sl->draft);
    else kv_seq_commit(s->kv, &h->kv, h->tokens, h->kv.n_computed + sl->chunk - sl->draft);
    if (sl->decode)
        s->decoded++;
    else
        s->prefilled += (uint64_t)sl->chunk;
    char err[CT_ERRLEN];
    bool done = false, ok = true;
    if (sl->want) {
        h->n_drafted += sl->draft;
        int accepted = take_tokens(s, sl, &done, &ok, err);
        if (sl->draft > 0) {
            kv_seq_commit(s->kv, &h->kv, h->tokens, h->kv.n_computed + accepted);
            spec_update(&h->spec, s->cfg.speculate, sl->draft, accepted);
            /* the draft model saw the drafts: it keeps what was accepted */
            if (s->drafter) spec_drafter_keep(s->drafter, &h->dseq, h->tokens, h->kv.n_computed);
            s->drafted += (uint64_t)sl->draft;
            s->accepted += (uint64_t)accepted;
        }
        h->verify = -1;
        h->n_draft = 0;
    }
    /* the next token's window starts at n_computed - window + 1: the blocks
     * before it are never read again (sliding window on every layer) */
    int win = model_kv_window(&s->m->cfg);
    if (win > 0) kv_seq_drop_before(s->kv, &h->kv, h->kv.n_computed - win + 1);
    if (!ok) {
        req_fail(h, err, false);
        s->failed++;
        retire(s, h);
    } else if (done) {
        s->finished++;
        retire(s, h);
    }
}

void sched_step(sched *s) {
    double t0 = ct_now();
    take_cancellations(s);
    compose(s);
    if (s->n_slots == 0) {
        /* unreachable for requests validated at submit; never spin on one */
        if (s->n_waiting > 0 && s->n_running == 0) {
            engine_req *h = s->waiting[0];
            waiting_remove(s, 0);
            req_fail(h, "the request does not fit the KV cache", false);
            s->failed++;
            drop(s, h);
        }
        return;
    }
    kv_stats ks = kv_pool_stats(s->kv);
    if (ks.used > s->used_peak) s->used_peak = ks.used;
    /* prompt tiles first: they reuse the logits buffer the samples need */
    int n_rows = 0;
    bool injected = s->cfg.fail_step != 0 && s->steps + 1 == s->cfg.fail_step;
    if (injected || !forward(s) || !prompt_rows(s) || !sample_rows(s, &n_rows)) {
        for (int j = 0; j < s->n_slots; j++) {
            req_fail(s->slots[j].h, injected ? "forward pass failed (injected fault)" : "forward pass failed (out of memory)",
                     false);
            s->failed++;
            retire(s, s->slots[j].h);
        }
    } else {
        sample_all(s, n_rows);
        for (int j = 0; j < s->n_slots; j++) finish_slot(s, &s->slots[j]);
    }
    s->steps++;
    s->last_step = ct_now() - t0;
    s->total_step += s->last_step;
    /* the rows' price for drafting: steps that only decoded */
    bool all_decode = true;
    for (int j = 0; j < s->n_slots; j++) all_decode &= s->slots[j].decode;
    if (all_decode && s->cfg.speculate > 0) spec_cost_add(&s->cost, s->n_step_tokens, s->last_step);
}

void sched_stats(const sched *s, engine_stats *o) {
    kv_stats k = kv_pool_stats(s->kv);
    o->waiting = s->n_waiting;
    o->running = s->n_running;
    o->block_size = s->cfg.block_size;
    o->kv_blocks_total = k.total;
    o->kv_blocks_used = k.used;
    o->kv_blocks_free = k.free;
    o->kv_blocks_cached = k.cached;
    o->kv_blocks_used_peak = s->used_peak;
    o->kv_block_bytes = kv_pool_bytes(s->kv) / (size_t)s->cfg.n_blocks;
    o->prefix_hit_blocks = k.prefix_hit_blocks;
    o->prefix_miss_blocks = k.prefix_miss_blocks;
    o->kv_evictions = k.evictions;
    o->preemptions = s->preemptions;
    o->steps = s->steps;
    o->tokens_prefilled = s->prefilled;
    o->tokens_decoded = s->decoded;
    o->tokens_generated = s->generated;
    o->tokens_drafted = s->drafted;
    o->tokens_accepted = s->accepted;
    o->requests_finished = s->finished;
    o->requests_failed = s->failed;
    o->last_step_seconds = s->last_step;
    o->mean_step_seconds = s->steps ? s->total_step / (double)s->steps : 0;
    o->step_seconds_total = s->total_step;
    o->sample_seconds_total = s->total_sample;
}

bool sched_check(const sched *s) {
    if (!kv_pool_check(s->kv) || s->n_running > s->cfg.max_batch_size) return false;
    for (int i = 0; i < s->n_waiting; i++)
        if (s->waiting[i]->kv.n_table != 0 || (s->waiting[i]->enc && s->waiting[i]->enc->cross.n_table != 0))
            return false;
    /* a block shared by k running sequences counts k times in their tables */
    long refs = 0;
    for (int i = 0; i < s->n_running; i++) {
        const engine_req *h = s->running[i];
        if (req_pending(h) < 1) return false;
        const kv_seq *tabs[2] = {&h->kv, h->enc ? &h->enc->cross : NULL};
        for (int k = 0; k < 2 && tabs[k]; k++) { /* blocks a window left are given back (-1) */
            for (int b = tabs[k]->n_dropped; b < tabs[k]->n_table; b++) {
                int rc;
                if (kv_pool_block(s->kv, tabs[k]->table[b], &rc) != KV_BLOCK_USED || rc < 1) return false;
            }
            refs += tabs[k]->n_table - tabs[k]->n_dropped;
        }
        /* a running encoder-decoder sequence was encoded at admission */
        if (h->enc && h->enc->cross.n_computed != h->enc->n) return false;
    }
    long total_rc = 0;
    kv_stats k = kv_pool_stats(s->kv);
    for (int b = 0; b < k.total; b++) {
        int rc;
        kv_pool_block(s->kv, b, &rc);
        total_rc += rc;
    }
    return refs == total_rc;
}
