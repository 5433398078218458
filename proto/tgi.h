/*
 * tgi.h — Hugging Face text-generation-inference's native API, as data.
 *
 * Owns: the GenerateRequest body of POST /generate, /generate_stream, / and
 * /tokenize parsed into a plain struct that owns its strings; TGI's
 * validation rules and messages (../shared/reference/api.md §1.2, §1.6)
 * against proto_limits; the mapping onto the engine's sampler_params; and
 * the encoders of every TGI response body: GenerateResponse (object or the
 * one-element array of POST /), StreamResponse SSE events, /tokenize,
 * /info.
 *
 * The order of use for one request:
 *   tgi_parse          bytes → tgi_request          (400 / 422 type errors)
 *   tgi_validate       parameter rules              (422, TGI's order)
 *   (server tokenizes `inputs`)
 *   tgi_validate_lengths  token counts, truncation  (422)
 *   tgi_sampler_params    → engine
 *   tgi_encode_*          engine results → bytes
 * /tokenize only parses (TGI validates nothing there) and applies
 * `truncate`.  Deliberate departures from TGI are listed in proto/README.md.
 */
#ifndef CTGI_TGI_H
#define CTGI_TGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proto.h"
#include "sampling/sampler_params.h"

typedef enum {
    TGI_ROUTE_GENERATE,        /* POST /generate */
    TGI_ROUTE_GENERATE_STREAM, /* POST /generate_stream */
    TGI_ROUTE_COMPAT,          /* POST / (CompatGenerateRequest, has `stream`) */
    TGI_ROUTE_TOKENIZE,        /* POST /tokenize */
} tgi_route;

/* The reserve of new tokens TGI's scheduler makes per round (router v3's
 * DEFAULT_GENERATION_LENGTH); the total-token check uses min(max_new_tokens,
 * this), see tgi_validate_lengths. */
#define TGI_GENERATION_CHUNK 1024u

/* GenerateParameters.  has_x says the field was present and not null. */
typedef struct {
    bool has_best_of;
    uint64_t best_of;
    bool has_temperature;
    float temperature;
    bool has_repetition_penalty;
    float repetition_penalty;
    bool has_frequency_penalty;
    float frequency_penalty;
    bool has_top_k;
    int32_t top_k;
    bool has_top_p;
    float top_p;
    bool has_typical_p;
    float typical_p;
    bool do_sample;
    bool has_max_new_tokens;
    uint32_t max_new_tokens;
    bool has_return_full_text;
    bool return_full_text;
    char **stop;      /* n_stop owned NUL-terminated strings */
    size_t *stop_len; /* their byte lengths (a \u0000 inside is kept) */
    int n_stop;
    bool has_truncate;
    uint64_t truncate;
    bool watermark;
    bool details;
    bool decoder_input_details;
    bool has_seed;
    uint64_t seed;
    bool has_top_n_tokens;
    uint32_t top_n_tokens;
    bool has_grammar;    /* grammar present and not null */
    json_t *grammar;     /* owned copy of it (see tgi_grammar_regex) */
    bool has_adapter_id; /* adapter_id present and not null: a LoRA adapter's name */
    char *adapter_id;
} tgi_parameters;

typedef struct {
    char *inputs; /* owned, NUL-terminated; inputs_len bytes (may hold NULs) */
    size_t inputs_len;
    bool parameters_given; /* false: TGI's default parameters (do_sample true) */
    tgi_parameters p;
    bool add_special_tokens; /* default true */
    bool stream;             /* POST / only; default false */
} tgi_request;

/* Parse a request body for `route`.  On failure *req is left empty (safe to
 * tgi_request_free) and err holds 400 (not JSON) or 422 (wrong shape). */
bool tgi_parse(const char *body, size_t len, tgi_route route, tgi_request *req,
               proto_error *err);
void tgi_request_free(tgi_request *req);

/* Whether the answer is an SSE stream (/generate_stream, or / with stream). */
bool tgi_streaming(const tgi_request *req, tgi_route route);

/* The parameter rules that need no tokens, in TGI's order (stream-only
 * rules first, then best_of, temperature, repetition_penalty,
 * frequency_penalty, top_p, typical_p, top_k, max_new_tokens, stop, seed,
 * top_n_tokens, inputs, truncate), then ctgi's: stop strings non-empty,
 * watermark.  422 on failure.  (adapter_id names one of the server's LoRA
 * adapters: server/gen.c resolves it.)  (The grammar is checked by
 * tgi_grammar_regex.) */
bool tgi_validate(const tgi_request *req, tgi_route route, const proto_limits *lim,
                  proto_error *err);

typedef struct {
    uint32_t input_length;   /* prompt tokens after truncation */
    uint32_t truncate_drop;  /* leading prompt tokens to drop (keep the last) */
    uint32_t max_new_tokens; /* tokens the request may generate */
} tgi_lengths;

/* The token-count rules, given the prompt's length in tokens as the
 * tokenizer produced it (proto cannot tokenize):
 *   input_length = min(truncate, n_prompt_tokens);
 *   max_new_tokens unset → max_total_tokens - input_length;
 *   input_length + min(max_new_tokens, TGI_GENERATION_CHUNK) > max_total_tokens → 422;
 *   input_length > max_input_tokens → 422;
 * and the effective budget is clamped to max_total_tokens - input_length. */
bool tgi_validate_lengths(const tgi_request *req, uint32_t n_prompt_tokens,
                          const proto_limits *lim, tgi_lengths *out, proto_error *err);

/* The constraint parameters.grammar asks for, as a regex of the engine's
 * constraint dialect (structured.h): *regex malloc'd, NULL without a
 * grammar.  422 for a malformed grammar, schema or regex and for schema
 * keywords ctgi cannot enforce. */
bool tgi_grammar_regex(const tgi_request *req, char **regex, proto_error *err);

/* Whether tokens are sampled rather than chosen greedily: do_sample, or any
 * warper set to a non-neutral value (TGI's `do_sample or has_warpers`). */
bool tgi_sampling(const tgi_request *req);

/* The engine's parameters for a validated request.  seed_if_unset is used
 * when the client sent none (the server draws it; echo it in details only
 * when tgi_sampling, as TGI does). */
sampler_params tgi_sampler_params(const tgi_request *req, uint64_t seed_if_unset);

/* return_full_text with its route default: false on /generate and
 * /generate_stream, true on / (TGI: pipeline tag "text-generation" or none). */
bool tgi_return_full_text(const tgi_request *req, tgi_route route);

/* ---- responses ---------------------------------------------------------- */

typedef enum {
    TGI_FINISH_LENGTH,
    TGI_FINISH_EOS_TOKEN,
    TGI_FINISH_STOP_SEQUENCE,
} tgi_finish_reason;

const char *tgi_finish_name(tgi_finish_reason r); /* "length" | "eos_token" | "stop_sequence" */

/* One token as TGI reports it.  logprob NaN is written as null (the first
 * prefill token has none).  `special` is not written for prefill tokens. */
typedef struct {
    int32_t id;
    proto_str text;
    float logprob;
    bool special;
} tgi_token;

/* A generated token with the top-n alternatives of its position. */
typedef struct {
    tgi_token token;
    const tgi_token *top;
    int n_top;
} tgi_generated;

typedef struct {
    tgi_finish_reason reason;
    uint32_t generated_tokens;
    bool has_seed; /* false → "seed":null */
    uint64_t seed;
} tgi_finish;

/* One finished sequence (the answer, or one of best_of's others). */
typedef struct {
    proto_str generated_text; /* already prompt-prefixed if return_full_text */
    tgi_finish finish;
    const tgi_token *prefill; /* decoder_input_details; else n_prefill = 0 → [] */
    int n_prefill;
    const tgi_generated *tokens;
    int n_tokens;
    bool top_tokens; /* top_n_tokens > 0: write "top_tokens", one list per token */
} tgi_sequence;

typedef struct {
    tgi_sequence seq; /* the answer (with best_of, the best one) */
    bool details;     /* write "details" */
    const tgi_sequence *others; /* best_of_sequences (omitted when n_others == 0) */
    int n_others;
} tgi_generate_response;

/* {"generated_text":…,"details":{…}}; as_array wraps it in [ ] (POST /). */
char *tgi_encode_generate(const tgi_generate_response *r, bool as_array, size_t *len);

/* One StreamResponse SSE event, `data:{…}\n\n`:
 * {"index":n,"token":{…},["top_tokens":[…],]"generated_text":null|"…",
 *  "details":null|{"finish_reason","generated_tokens","seed","input_length"}} */
typedef struct {
    uint32_t index; /* 1-based */
    tgi_generated token;
    bool last;                 /* the final event: generated_text is set */
    proto_str generated_text;  /* last only */
    bool details;              /* last only: write StreamDetails */
    tgi_finish finish;         /* with details */
    uint32_t input_length;     /* with details */
} tgi_stream_event;

char *tgi_encode_stream_event(const tgi_stream_event *e, size_t *len);

/* /tokenize: [{"id","text","start","stop"}], byte offsets into `inputs`. */
typedef struct {
    int32_t id;
    proto_str text;
    size_t start, stop;
} tgi_simple_token;

char *tgi_encode_tokenize(const tgi_simple_token *t, int n, size_t *len);
/* POST /chat_tokenize: {"tokenize_response":[…as above…],"templated_text":"…"} */
char *tgi_encode_chat_tokenize(const tgi_simple_token *t, int n, proto_str templated, size_t *len);

/* /info.  NULL strings are written as null.  TGI's fields come first in
 * TGI's order; ctgi's additions (dtype, device, architecture, batching
 * budgets, top-n cap, chat template origin, KV cache type) follow. */
typedef struct {
    const char *model_id;
    const char *model_sha;
    const char *model_pipeline_tag;
    proto_limits limits;
    uint32_t validation_workers;
    uint32_t max_client_batch_size;
    const char *router;
    const char *version;
    const char *sha;
    const char *docker_label;
    const char *model_dtype;
    const char *kernels;      /* ctgi: the CPU kernel set (e.g. "avx512-vnni") */
    const char *model_device_type;
    const char *architecture;
    uint64_t max_batch_prefill_tokens;
    uint64_t max_batch_total_tokens;
    uint32_t max_batch_size; /* 0 → null (no cap) */
    const char *chat_template;     /* where the chat template came from ("fallback" = none shipped); NULL = omitted */
    const char *kv_cache_dtype;    /* element type of the KV cache ("f16", ...); NULL = omitted */
    const proto_adapter *adapters; /* (n_adapters) LoRA adapters: "lora_adapters" (ctgi's) when > 0 */
    int n_adapters;
} tgi_info;

char *tgi_encode_info(const tgi_info *info, size_t *len);

#endif
