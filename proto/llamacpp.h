/*
 * llamacpp.h — llama.cpp's server API for POST /infill (the route code
 * editors call: llama.vim, llama.vscode, Continue), as data.
 *
 * Owns: the /infill request body parsed into a plain struct that owns its
 * strings, its checks, the mapping onto the engine's sampler_params, and
 * the encoders of llama.cpp's answers: the final object (non-streaming, or
 * the last SSE event), the partial stream events, and its error envelope
 * {"error":{"code":400,"message":…,"type":"invalid_request_error"}}.
 *
 * Fields (llama.cpp tools/server README, /completion and /infill):
 *   input_prefix, input_suffix (strings, required), input_extra ([{"filename"?,
 *   "text"}]), prompt (a string appended to the prefix: the start of the
 *   current line, as llama.vim sends it); n_predict (or max_tokens; -1 =
 *   until EOS or the context is full), temperature (0.8), top_k (40), top_p
 *   (0.95), min_p (0.05), typical_p (1), repeat_penalty (1),
 *   presence_penalty (0), frequency_penalty (0), seed (-1 = random), stop
 *   (strings), ignore_eos, stream, return_tokens — llama.cpp's defaults in
 *   brackets.  Refused (501, not_supported_error, as llama.cpp answers what it
 *   cannot do): n_probs > 0, grammar, json_schema, logit_bias.  Other fields
 *   (cache_prompt, samplers, t_max_predict_ms, n_indent, …) are accepted and
 *   have no effect.  Wrong types are 400 naming the field (llama.cpp would
 *   fall back to the default).
 */
#ifndef CTGI_LLAMACPP_H
#define CTGI_LLAMACPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "sampling/sampler_params.h"

typedef struct {
    char *filename; /* owned, NULL when absent */
    size_t filename_len;
    char *text;     /* owned */
    size_t text_len;
} lcpp_chunk;

typedef struct {
    char *prefix, *suffix, *prompt; /* owned, NUL-terminated (prompt "" when absent) */
    size_t prefix_len, suffix_len, prompt_len;
    lcpp_chunk *extra;              /* owned (n_extra) */
    int n_extra;
    int32_t n_predict;              /* -1: until EOS or the context is full */
    float temperature, top_p, min_p, typical_p, repeat_penalty, presence_penalty, frequency_penalty;
    int32_t top_k;
    bool has_seed;                  /* seed >= 0 and not 0xFFFFFFFF (llama.cpp's "random") */
    uint64_t seed;
    char **stop;                    /* owned (n_stop) */
    size_t *stop_len;
    int n_stop;
    bool ignore_eos, stream, return_tokens;
} lcpp_infill;

/* Parse and check a body (defaults above).  false + err: 400 for JSON and
 * type errors, missing input_prefix / input_suffix, values out of range
 * (n_predict 0 or < -1, top_p / typical_p outside (0, 1], min_p outside
 * [0, 1], repeat_penalty <= 0, presence / frequency penalties outside
 * [-2, 2], more than 64 stop strings, an empty one); 501 for the refused
 * features.  On failure *r is left empty (safe to lcpp_infill_free). */
bool lcpp_parse_infill(const char *body, size_t len, lcpp_infill *r, proto_error *err);
void lcpp_infill_free(lcpp_infill *r);

/* The engine's parameters: temperature <= 0 → greedy (llama.cpp's rule),
 * top_k <= 0 off; seed_if_unset when the client sent none or -1. */
sampler_params lcpp_sampler_params(const lcpp_infill *r, uint64_t seed_if_unset);

/* ---- answers ------------------------------------------------------------ */

typedef struct {
    uint32_t cache_n;           /* prompt tokens found in the prefix cache */
    uint32_t prompt_n;          /* prompt tokens computed */
    double prompt_ms;
    uint32_t predicted_n;
    double predicted_ms;
} lcpp_timings;

typedef enum { LCPP_STOP_NONE, LCPP_STOP_EOS, LCPP_STOP_WORD, LCPP_STOP_LIMIT } lcpp_stop;

typedef struct {
    proto_str content;          /* "" on the last event of a stream */
    const int32_t *tokens;      /* return_tokens: the generated ids (else none) */
    int n_tokens;
    const char *model;
    uint32_t tokens_predicted, tokens_evaluated, tokens_cached;
    proto_str prompt;           /* the prompt's text, special tokens written out */
    bool has_new_line, truncated;
    lcpp_stop stop_type;
    proto_str stopping_word;
    lcpp_timings timings;
    const lcpp_infill *settings; /* for generation_settings */
    uint64_t seed;              /* the seed used */
    uint32_t n_predict;         /* the token budget used */
} lcpp_final;

/* {"index":0,"content","tokens","id_slot","stop":true,"model",
 * "tokens_predicted","tokens_evaluated","generation_settings","prompt",
 * "has_new_line","truncated","stop_type","stopping_word","tokens_cached",
 * "timings"} (malloc'd; NULL on OOM).  sse: framed as `data: …\n\n`. */
char *lcpp_encode_final(const lcpp_final *f, bool sse, size_t *len);
/* A stream event: `data: {"index":0,"content","tokens","stop":false,
 * "id_slot":-1,"tokens_predicted","tokens_evaluated"}\n\n`. */
char *lcpp_encode_partial(proto_str content, const int32_t *tokens, int n_tokens, uint32_t predicted,
                          uint32_t evaluated, size_t *len);

/* llama.cpp's status and type for an error: 400 (and a TGI-style 422) →
 * 400 invalid_request_error, 401 authentication_error, 404/405
 * not_found_error, 501 not_supported_error, 429/503 unavailable_error,
 * others server_error (status kept). */
int lcpp_http_status(const proto_error *e);
/* {"error":{"code","message","type"}}; sse: as a `data: …\n\n` event. */
char *lcpp_encode_error(const proto_error *e, bool sse, size_t *len);

#endif
