/*
 * engine.h — the seam between the HTTP server and the model: submit a
 * request, pull its events, cancel it, read statistics.
 *
 * The public face of engine/ is this header and the few it names; server/
 * and proto/ include no other engine header (tests/include_rule_test.sh):
 *     model/model_info.h        load a model (opaque), what it is, its tokenizer
 *     tokenizer/tokenizer.h     text <-> ids, streaming decode
 *     template/chat_template.h  the model's chat template
 *     sampling/sampler_params.h what a request asks of the sampler
 *     constraint/constraint.h   constrained decoding (regex -> token masks)
 *     perplexity.h              evaluation, itself a client of this header
 *     common.h                  error buffers, clock, file reads
 *
 * An engine owns one model's serving machinery: ONE engine thread, the
 * thread pool it computes with (pool.h), the forward-pass scratch
 * (forward.h), the paged KV cache with its prefix cache (kv.h), and the
 * continuous-batching scheduler (scheduler.h).  The caller's threads never run
 * model code: engine_submit validates and copies the request, queues it
 * (mutex + condition variable) and returns a handle at once; the engine
 * thread takes it at its next step.
 *
 * Events.  Every request produces, in order:
 *     TOKEN*  then exactly one of  FINAL | ERROR
 * and nothing after the FINAL/ERROR.  Events wait in the request's outbox
 * (under the request's own lock) until the caller pulls them with
 * engine_next_event; a `notify` callback, if given, is called on the
 * engine thread each time new events are queued, so an event loop can wake
 * up (the HTTP server calls uv_async_send in it).
 *
 * Cancellation.  engine_cancel may be called from any thread at any time;
 * it takes effect at the engine's next step: the sequence leaves the batch,
 * its KV blocks go back to the pool (full blocks to the prefix cache) and
 * an ERROR event with `cancelled` set and message "cancelled" ends the
 * stream.  (ERROR rather than FINAL: the finish reasons stay exactly TGI's
 * three.)  A request that finished before the cancel was seen keeps its
 * FINAL.
 *
 * Lifetimes.  A handle has two owners: the caller, until engine_release,
 * and the engine, until it has queued the FINAL/ERROR and dropped the
 * sequence.  The memory goes when both are done.  After engine_release the
 * caller must not touch the handle, and `notify` is never called again
 * (the release and the notify call are serialised by the request's lock).
 * engine_free ends every unfinished request with an ERROR "engine shut
 * down"; handles stay valid until the caller releases them.
 *
 * Determinism.  A request's tokens depend only on the request (its prompt,
 * parameters and seed), never on what else runs beside it, the step token
 * budget, a preemption or a prefix-cache hit: every row of the forward pass
 * is computed the same way whatever the batch (fixed reduction order), and
 * the per-request sampler draws random numbers only when it samples.
 * The same holds for prompt logprobs: a prompt row's logits are computed
 * the same way in any batch, whichever rows share its output-head tile.
 * Speculative decoding (engine_config.speculate) keeps all of this: a
 * verified row's logits are those of plain decoding, and its token is
 * drawn with the same random number (the draft is accepted when it is the
 * token drawn).
 */
#ifndef CTGI_ENGINE_H
#define CTGI_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "constraint/constraint.h"
#include "model/model_info.h"
#include "sampling/sampler_params.h"

/* ---- configuration ---------------------------------------------------------- */

/* What the KV cache stores each key/value element as (attention reads it
 * in that type and widens it exactly; activations stay f32).  Bytes per
 * cached token = 2 (K, V) x layers x n_kv_heads x head_dim x
 *     4 (F32) | 2 (F16, BF16) | 34/32 (Q8_0: blocks of 32 int8 + an f16 scale),
 * so one byte budget holds 2x the tokens at F16/BF16 and 3.76x at Q8_0 as
 * at F32.  F16 (the default, llama.cpp's too) moves logits by a few 1e-3
 * on small models; BF16 keeps f32's range with 8 bits of precision; Q8_0
 * needs head_dim % 32 == 0 (engine_create refuses it otherwise). */
typedef enum { ENGINE_KV_F32 = 0, ENGINE_KV_F16, ENGINE_KV_BF16, ENGINE_KV_Q8_0 } engine_kv_dtype;

/* "f32" | "f16" | "bf16" | "q8_0"; NULL for a value out of range. */
const char *engine_kv_dtype_name(engine_kv_dtype t);
/* The type with that name; false (out untouched) for any other string. */
bool engine_kv_dtype_parse(const char *name, engine_kv_dtype *out);

typedef struct {
    int n_threads;                /* pool threads, the engine thread included; 0 = online cores */
    int block_size;               /* KV positions per block (default 16) */
    /* KV cache capacity in tokens, rounded up to whole blocks.  0 = from
     * kv_cache_bytes; both 0 = the smaller of 16 x the model's context and
     * what fits in 25% of physical memory (never less than one block). */
    int max_batch_total_tokens;
    size_t kv_cache_bytes;        /* K+V bytes, at kv_dtype's real size per token */
    engine_kv_dtype kv_dtype;     /* element type of the KV cache (default F16) */
    /* Tokens fed to the model per step: decode tokens of running sequences
     * first, prompt chunks in what remains (default 4096). */
    int max_batch_prefill_tokens;
    int max_batch_size;           /* sequences admitted at once (default 64) */
    bool prefix_caching;          /* reuse cached prompt prefixes (default true) */
    /* Weight products through OpenBLAS sgemm instead of ctgi's fixed-order
     * kernel (default false): prefill runs ~20% faster, but a row's rounding
     * then depends on the batch it is computed in, so the determinism
     * promise below no longer holds. */
    bool blas_matmul;
    /* Speculative decoding by prompt lookup (TGI's --speculate): each
     * decoding sequence may draft up to this many tokens per step from
     * n-grams of its own prompt and output; the model verifies them in the
     * step's one forward pass (extra rows, counted against
     * max_batch_prefill_tokens) and keeps the longest prefix its sampler
     * agrees with, plus one token of its own.  Tokens and logprobs are
     * exactly those without it, greedy or seeded sampling alike.  The
     * number drafted adapts to each sequence's acceptance and to what a
     * row costs (spec.h).  0 = off; at most ENGINE_SPECULATE_MAX. */
    int speculate;
    /* Speculative decoding with a draft model (TGI/vLLM/llama.cpp's draft
     * model, `--draft-model`): a smaller model with the same vocabulary
     * (engine_create checks every token) drafts `speculate` tokens per
     * sequence and step greedily, with its own KV cache, instead of prompt
     * lookup.  Verification, adaptivity and the guarantees are those above.
     * Must outlive the engine; NULL = prompt lookup. */
    const model *draft_model;
    /* Testing only (fault injection): the forward pass of the engine's
     * step number debug_fail_step (1-based, counting the steps that ran a
     * batch) fails as if out of memory, so every sequence in that batch
     * ends with an ERROR "forward pass failed (injected fault)" and gives
     * its blocks back; later steps run normally.  0 = never (the default).
     * `ctgi serve` takes it from CTGI_DEBUG_FAIL_STEP. */
    uint64_t debug_fail_step;
    /* Testing only: drafts as many tokens as the acceptance controller
     * wants, whatever a row costs (spec.h spec_gate is skipped), so that
     * tests on tiny models, whose rows cost what a draft may save, still
     * verify drafts.  false (the default): drafts that do not pay for
     * their rows are not made. */
    bool debug_speculate_unpriced;
} engine_config;

#define ENGINE_SPECULATE_MAX 16

engine_config engine_config_default(void);

/* ---- requests --------------------------------------------------------------- */

typedef struct {
    const int32_t *prompt;        /* (n_prompt) token ids, copied; n_prompt >= 1 */
    int n_prompt;
    sampler_params sampling;      /* copied, logit_bias included; sampling.top_n =
                                     alternatives reported per token */
    /* >= 1; or 0 with prompt_logprobs: a scoring request, whose prompt is
     * fed and scored and which ends with a FINAL (reason LENGTH, no TOKEN;
     * its prompt tokens must fit the context and the KV cache) */
    int max_new_tokens;
    bool ignore_eos;              /* keep generating past EOS ids */
    const char *const *stops;     /* (n_stops) stop strings, copied */
    int n_stops;
    /* vLLM's stop_token_ids: generating one of these ids (each in the
     * vocabulary) ends the request with reason EOS, even with ignore_eos;
     * the id is sent as the last TOKEN, text included, like EOS.  Copied. */
    const int32_t *stop_ids;
    int n_stop_ids;
    /* vLLM's min_tokens (0 = off, <= max_new_tokens): while fewer tokens
     * than this were generated, the EOS ids (unless ignore_eos) and
     * stop_ids get logit -inf before sampling (like a logit_bias of -inf:
     * they get no probability mass and are not listed as alternatives),
     * and stop strings are not matched: the matcher is fed from token
     * number min_new_tokens on (1-based), so a stop string lying wholly or
     * partly in the text of earlier tokens is not found. */
    int min_new_tokens;
    /* TGI's decoder_input_details / OpenAI echo + logprobs: the FINAL
     * carries a logprob (and sampling.top_n alternatives) for every prompt
     * token; see engine_prompt_token.  Such a request never attaches
     * prefix-cache blocks whose logits it still needs (n_cached_prompt is
     * 0 unless prompt_logprobs_from skips rows), but offers its own full
     * blocks to the cache as usual. */
    bool prompt_logprobs;
    /* With prompt_logprobs: the first prompt position whose entry is
     * wanted (0 or 1 = every entry; at most n_prompt).  Entries before it
     * are left empty (logprob NAN, n_top 0) and their rows skip the output
     * head — a scorer that needs only the tail (perplexity scores the
     * second half of each chunk) pays only for the tail; the rows before
     * it may come from the prefix cache. */
    int prompt_logprobs_from;
    /* OpenAI's stop semantics instead of TGI's: a matched stop string and
     * everything after it are left out of the text, and text that may
     * still turn out to begin a stop string is held back (a later token's
     * text releases it; the last token releases whatever remains). */
    bool stop_exclude;
    /* vLLM's skip_special_tokens false: control tokens' text (e.g. "</s>")
     * is part of the text; by default it is left out. */
    bool keep_special_text;
    /* Constrained decoding: the generated text must be a string of this
     * grammar's language (constraint/constraint.h; engine_constraint makes
     * one for the engine's model).  Before each sample, after the
     * min_new_tokens bans, every token that cannot continue the text gets
     * logit -inf (no probability mass, never an alternative; logprobs are
     * those of the masked row), and so do the EOS ids unless the text so
     * far is in the language (always, with ignore_eos).  When the text is
     * complete (in the language, and nothing may follow) the request ends
     * with reason EOS at once, without sampling an EOS token.  When no
     * token can continue the text the request ends with the ERROR
     * "constraint: no token can continue the text".  Length, stop strings
     * and stop ids still end a request early (its text is then a prefix of
     * the language).  The grammar must be compiled for the model's
     * tokenizer.  NULL = free generation; the engine takes its own
     * reference (the caller may unref right after engine_submit). */
    cons_grammar *constraint;
    /* LoRA: 0 = the base model alone; k = the model's k-th adapter
     * (model_info.h, model_lora_load / model_lora_find).  Requests of
     * different adapters share one batch; a request's tokens do not depend
     * on the adapters of its neighbours; the prefix cache keeps each
     * adapter's blocks apart (a prompt's K/V depends on the adapter). */
    int adapter;
    /* Called on the engine thread, with the request's lock held, whenever
     * events were queued for this request.  It must only wake someone up
     * (e.g. uv_async_send) and never call engine functions.  May be NULL. */
    void (*notify)(void *ud);
    void *ud;
} engine_request;

/* Neutral request: greedy sampling_params_default(), max_new_tokens 100,
 * no stops, no stop ids, min_new_tokens 0, no prompt logprobs, no notify;
 * the caller fills the prompt.  (A zeroed request has the same
 * new-feature fields off.) */
engine_request engine_request_default(void);

typedef enum { ENGINE_FINISH_LENGTH = 0, ENGINE_FINISH_EOS, ENGINE_FINISH_STOP } engine_finish;

/* "length" | "eos_token" | "stop_sequence" (TGI's names) */
const char *engine_finish_name(engine_finish f);

typedef enum { ENGINE_EVENT_TOKEN = 0, ENGINE_EVENT_FINAL, ENGINE_EVENT_ERROR } engine_event_kind;

typedef struct {
    int32_t id;
    char *text;                   /* owned; the UTF-8-complete text this token released (may be
                                     ""); a matched stop string is kept, text after it cut */
    size_t text_len;
    float logprob;                /* see sampler.h "Logprobs" */
    bool special;                 /* a control token (its text is not shown) */
    int n_top;
    sampler_token top[SAMPLER_MAX_TOP_N];
} engine_token;

/* One prompt position of a prompt_logprobs request.  Position i (>= 1):
 * log p(prompt[i] | prompt[<i]) = log_softmax of the model's raw logits at
 * position i - 1 (no penalties, bias or temperature), and the top
 * sampling.top_n tokens of that same distribution (by logprob descending,
 * ties by lower id).  Position 0 has no context: logprob NAN, n_top 0. */
typedef struct {
    float logprob;
    int n_top;
    sampler_token top[SAMPLER_MAX_TOP_N];
} engine_prompt_token;

typedef struct {
    engine_finish reason;
    int32_t stop_token_id;        /* the stop_ids entry that ended it (reason EOS), else -1 */
    int stop_index;               /* the stops entry that matched (reason STOP; the first of equal
                                     strings), else -1 */
    int n_prompt;                 /* prompt tokens */
    int n_generated;              /* tokens generated (TOKEN events sent) */
    int n_cached_prompt;          /* prompt tokens taken from the prefix cache at admission */
    int n_drafted;                /* speculative decoding: tokens drafted for it */
    int n_accepted;               /* ... and accepted (tokens it got without a step of their own) */
    double queue_seconds;         /* submit -> first admission into the batch */
    double prefill_seconds;       /* admission -> first token */
    double decode_seconds;        /* first token -> last token */
    char *text;                   /* owned; the whole generated text (concatenated pieces) */
    size_t text_len;
    engine_prompt_token *prompt;  /* owned; (n_prompt) if prompt_logprobs was asked, else NULL */
} engine_final;

typedef struct {
    engine_event_kind kind;
    engine_token token;           /* kind == TOKEN */
    engine_final final;           /* kind == FINAL */
    struct {
        bool cancelled;           /* ended by engine_cancel / engine_release */
        char message[160];
    } error;                      /* kind == ERROR */
} engine_event;

/* Free the owned parts of an event (texts, prompt logprobs); safe on a
 * zeroed event. */
void engine_event_clear(engine_event *ev);

/* ---- the engine ------------------------------------------------------------- */

typedef struct engine engine;
typedef struct engine_req engine_req;

/* Starts the engine thread.  m must outlive the engine.  NULL + err (the
 * offending setting and its value, or the allocation that failed). */
engine *engine_create(const model *m, const engine_config *c, char *err);
/* Ends every request (ERROR "engine shut down"), joins the thread, frees
 * everything but the handles the caller still holds. */
void engine_free(engine *e);
/* The configuration in effect (defaults resolved, KV capacity in whole
 * blocks). */
engine_config engine_get_config(const engine *e);
/* The model it serves (the one given to engine_create). */
const model *engine_model(const engine *e);

/* Validate and queue a request.  NULL + err when it can never run: empty
 * prompt, a token id outside the vocabulary, invalid sampling parameters or
 * stop strings, a stop id outside the vocabulary, min_new_tokens < 0 or
 * above max_new_tokens, max_new_tokens < 1 (0 without prompt_logprobs), an
 * adapter the model does not have,
 * prompt_logprobs_from outside [0, n_prompt], prompt + max_new_tokens above
 * the model's context or above the whole KV cache (the message names the
 * numbers), a constraint compiled for another tokenizer, or out of
 * memory.  An encoder-decoder model (model_info.encoder_decoder: T5)
 * encodes the prompt and generates from its decoder start token; it also
 * refuses prompt_logprobs (nothing scores its prompt) and a prompt longer
 * than max_batch_prefill_tokens (encoded in one pass), and counts the
 * prompt's KV positions in whole blocks (the encoder's output is kept as
 * each decoder layer's cross-attention K/V, in the KV cache). */
engine_req *engine_submit(engine *e, const engine_request *r, char *err);

/* The grammar of regex (constraint.h's dialect; the whole generated text
 * must match) for this engine's model: its tokenizer, its EOS ids allowed
 * only where the text is in the language.  From a cache the engine keeps
 * (ENGINE_CONSTRAINT_CACHE grammars, least recently used dropped), so a
 * regex seen again finds its DFA states and token masks already made.  A
 * new reference for the caller: put it in engine_request.constraint,
 * submit, then cons_grammar_unref.  Any thread.  NULL + err ("regex: <what>
 * at offset N") for a regex the dialect refuses, or out of memory. */
#define ENGINE_CONSTRAINT_CACHE 64
cons_grammar *engine_constraint(engine *e, const char *regex, size_t len, char *err);

/* Take the next event.  block: wait until one arrives.  Returns false when
 * no event is available now (block false) or the stream has ended (its
 * FINAL/ERROR was already taken).  The caller owns *ev's parts:
 * engine_event_clear. */
bool engine_next_event(engine_req *h, engine_event *ev, bool block);

/* Ask the engine to stop this request (any thread; idempotent). */
void engine_cancel(engine_req *h);
/* The caller is done with h (cancels it if unfinished). */
void engine_release(engine_req *h);

typedef struct {
    int waiting;                  /* submitted, not admitted (preempted ones included) */
    int running;                  /* admitted: holding KV blocks */
    int block_size;
    int kv_blocks_total, kv_blocks_used, kv_blocks_free, kv_blocks_cached;
    int kv_blocks_used_peak;      /* most blocks held by sequences at once */
    size_t kv_block_bytes;        /* K+V bytes of one block */
    uint64_t prefix_hit_blocks, prefix_miss_blocks, kv_evictions;
    uint64_t preemptions;
    uint64_t steps;
    uint64_t tokens_prefilled;    /* prompt (and recompute) tokens fed (an encoder-decoder's prompts
                                     to the encoder, and its decoders' start tokens) */
    uint64_t tokens_decoded;      /* decode tokens fed */
    uint64_t tokens_generated;    /* tokens sampled */
    uint64_t tokens_drafted;      /* speculative decoding: drafted tokens verified */
    uint64_t tokens_accepted;     /* ... of which accepted */
    uint64_t requests_finished;   /* FINAL sent */
    uint64_t requests_failed;     /* ERROR sent (cancelled included) */
    double last_step_seconds, mean_step_seconds;
    double step_seconds_total;    /* wall time in steps */
    double sample_seconds_total;  /* of which choosing tokens from logits (the samplers) */
} engine_stats;

/* A consistent snapshot taken after the engine's last step (thread-safe).
 * waiting includes requests submitted since. */
engine_stats engine_get_stats(engine *e);

#endif
