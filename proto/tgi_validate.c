/*
 * tgi_validate.c — TGI's request validation (router v3's `validate` and the
 * generate handlers' checks), its exact messages, and the mapping of a
 * valid request onto the engine's sampler_params.
 *
 * Comparisons are written as !(x in range) so NaN fails them (a JSON number
 * cannot be NaN, but a struct built by hand can).
 */
#include <math.h>
#include <string.h>

#include "tgi.h"
#include "structured.h"

/* Rules only the streaming handlers apply, before anything else. */
static bool validate_stream(const tgi_parameters *p, proto_error *err) {
    if (p->has_best_of && p->best_of != 1)
        return proto_invalid(err, "`best_of` != 1 is not supported when streaming tokens");
    if (p->decoder_input_details)
        return proto_invalid(err,
                             "`decoder_input_details` == true is not supported when streaming tokens");
    return true;
}

/* validate_best_of, which TGI's /generate runs before the other checks.
 * best_of 0 is rejected here (TGI lets it through as 1, contradicting its
 * own message "must be > 0"). */
static bool validate_best_of(const tgi_parameters *p, const proto_limits *lim,
                             proto_error *err) {
    if (!p->has_best_of || p->best_of == 1) return true;
    if (lim->max_best_of == 1)
        return proto_invalid(err, "`best_of` != 1 is not allowed for this endpoint");
    if (p->best_of == 0 || p->best_of > lim->max_best_of)
        return proto_invalid(err, "`best_of` must be > 0 and <= %u. Given: %llu",
                             lim->max_best_of, (unsigned long long)p->best_of);
    return true;
}

/* The sampling knobs, in TGI's order. top_p and typical_p accept 1.0 (the
 * neutral value, as OpenAI and vLLM do); TGI rejects it (issue #2222). */
static bool validate_sampling(const tgi_parameters *p, proto_error *err) {
    bool sampling = p->do_sample || p->has_temperature || p->has_top_k || p->has_top_p ||
                    p->has_typical_p;
    if (p->has_best_of && p->best_of > 1 && !sampling)
        return proto_invalid(err, "you must use sampling when `best_of` is > 1");
    if (p->has_temperature && !(p->temperature > 0.0f))
        return proto_invalid(err, "`temperature` must be strictly positive");
    if (p->has_repetition_penalty && !(p->repetition_penalty > 0.0f))
        return proto_invalid(err, "`repetition_penalty` must be strictly positive");
    if (p->has_frequency_penalty &&
        !(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f))
        return proto_invalid(err, "`frequency_penalty` must be >= -2.0 and <= 2.0");
    if (p->has_top_p && !(p->top_p > 0.0f && p->top_p <= 1.0f))
        return proto_invalid(err, "`top_p` must be > 0.0 and <= 1.0");
    if (p->has_typical_p && !(p->typical_p > 0.0f && p->typical_p <= 1.0f))
        return proto_invalid(err, "`typical_p` must be > 0.0 and <= 1.0");
    if (p->has_top_k && p->top_k <= 0)
        return proto_invalid(err, "`top_k` must be strictly positive");
    return true;
}

/* Everything after the sampling knobs that needs no tokens. */
static bool validate_rest(const tgi_request *req, const proto_limits *lim, proto_error *err) {
    const tgi_parameters *p = &req->p;
    if (p->has_max_new_tokens && p->max_new_tokens == 0)
        return proto_invalid(err, "`max_new_tokens` must be strictly positive");
    if ((uint32_t)p->n_stop > lim->max_stop_sequences)
        return proto_invalid(err, "`stop` supports up to %u stop sequences. Given: %d",
                             lim->max_stop_sequences, p->n_stop);
    if (p->has_seed && p->has_best_of && p->best_of > 1)
        return proto_invalid(err, "`seed` must not be set when `best_of` > 1");
    if (p->has_top_n_tokens && p->top_n_tokens > lim->max_top_n_tokens)
        return proto_invalid(err, "`top_n_tokens` must be >= 0 and <= %u. Given: %u",
                             lim->max_top_n_tokens, p->top_n_tokens);
    if (req->inputs_len == 0) return proto_invalid(err, "`inputs` cannot be empty");
    if (p->has_truncate && (p->truncate == 0 || p->truncate > lim->max_input_tokens))
        return proto_invalid(err,
                             "`truncate` must be strictly positive and less than %u. Given: %llu",
                             lim->max_input_tokens, (unsigned long long)p->truncate);
    return true;
}

/* What TGI accepts and ctgi cannot honour gets a clear 422 rather than
 * being silently ignored. */
static bool validate_unsupported(const tgi_parameters *p, proto_error *err) {
    for (int i = 0; i < p->n_stop; i++) {
        /* an empty stop string would end every generation at once; a NUL
         * inside one cannot be matched by the engine's C-string matcher */
        if (p->stop_len[i] == 0)
            return proto_invalid(err, "`stop` sequences must not be empty. Given: an empty "
                                      "string at index %d", i);
        if (strlen(p->stop[i]) != p->stop_len[i])
            return proto_invalid(err, "`stop` sequences must not contain NUL characters. "
                                      "Given: one at index %d", i);
    }
    if (p->watermark) return proto_invalid(err, "`watermark` == true is not supported");
    /* adapter_id is resolved against the served adapters by the server (gen.c) */
    return true;
}

bool tgi_validate(const tgi_request *req, tgi_route route, const proto_limits *lim,
                  proto_error *err) {
    const tgi_parameters *p = &req->p;
    if (tgi_streaming(req, route) && !validate_stream(p, err)) return false;
    if (route != TGI_ROUTE_TOKENIZE && !validate_best_of(p, lim, err)) return false;
    return validate_sampling(p, err) && validate_rest(req, lim, err) &&
           validate_unsupported(p, err);
}

bool tgi_validate_lengths(const tgi_request *req, uint32_t n_prompt_tokens,
                          const proto_limits *lim, tgi_lengths *out, proto_error *err) {
    const tgi_parameters *p = &req->p;
    uint32_t input = n_prompt_tokens;
    if (p->has_truncate && p->truncate < input) input = (uint32_t)p->truncate;
    uint64_t room = lim->max_total_tokens > input ? lim->max_total_tokens - input : 0;
    uint64_t budget = p->has_max_new_tokens ? p->max_new_tokens : room;
    /* TGI reserves at most one chunk of new tokens per scheduling round and
     * checks only that chunk against the total; a larger max_new_tokens is
     * accepted and generation stops at the total (finish_reason "length"). */
    uint64_t chunk = budget < TGI_GENERATION_CHUNK ? budget : TGI_GENERATION_CHUNK;
    if ((uint64_t)input + chunk > lim->max_total_tokens)
        return proto_invalid(err,
                             "`inputs` tokens + `max_new_tokens` must be <= %u. Given: %u "
                             "`inputs` tokens and %llu `max_new_tokens`",
                             lim->max_total_tokens, input, (unsigned long long)chunk);
    /* "less than" is TGI's wording; equal is accepted, as TGI does */
    if (input > lim->max_input_tokens)
        return proto_invalid(err, "`inputs` must have less than %u tokens. Given: %u",
                             lim->max_input_tokens, input);
    out->input_length = input;
    out->truncate_drop = n_prompt_tokens - input;
    out->max_new_tokens = (uint32_t)(budget < room ? budget : room);
    return true;
}

bool tgi_sampling(const tgi_request *req) {
    const tgi_parameters *p = &req->p;
    return p->do_sample || (p->has_temperature && p->temperature != 1.0f) ||
           (p->has_top_k && p->top_k != 0) || (p->has_top_p && p->top_p < 1.0f) ||
           (p->has_typical_p && p->typical_p < 1.0f);
}

sampler_params tgi_sampler_params(const tgi_request *req, uint64_t seed_if_unset) {
    const tgi_parameters *p = &req->p;
    sampler_params s = sampler_params_default();
    s.do_sample = tgi_sampling(req);
    if (p->has_temperature) s.temperature = p->temperature;
    if (p->has_top_k) s.top_k = p->top_k;
    if (p->has_top_p) s.top_p = p->top_p;
    if (p->has_typical_p) s.typical_p = p->typical_p;
    if (p->has_repetition_penalty) s.repetition_penalty = p->repetition_penalty;
    if (p->has_frequency_penalty) s.frequency_penalty = p->frequency_penalty;
    s.seed = p->has_seed ? p->seed : seed_if_unset;
    s.top_n = p->has_top_n_tokens ? (int)p->top_n_tokens : 0;
    return s;
}

bool tgi_return_full_text(const tgi_request *req, tgi_route route) {
    if (req->p.has_return_full_text) return req->p.return_full_text;
    return route == TGI_ROUTE_COMPAT;
}

bool tgi_grammar_regex(const tgi_request *req, char **regex, proto_error *err) {
    *regex = NULL;
    if (!req->p.has_grammar) return true;
    return so_tgi_grammar(req->p.grammar, regex, err);
}
