/*
 * openai_validate.c — OpenAI's parameter ranges (and vLLM's extras) against
 * proto_limits, the vocabulary checks, the context-length rule, and the
 * mapping of a valid request onto the engine's sampler_params.
 *
 * Every rule answers 400 with `param` naming the field, except requests for
 * features ctgi does not have yet (functions), which are 422 with code
 * "unsupported_parameter": the request is valid, the server cannot honour
 * it.  (`suffix` is the server's to check: whether the model has
 * fill-in-the-middle tokens.)  Comparisons are written as
 * !(x in range) so NaN fails them.
 */
#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "openai_read.h"
#include "structured.h"

/* 400 "`name` must be <rule>. Given: <x>" with x spelled as JSON would. */
static bool range_fail(proto_error *err, const char *param, const char *rule, float x) {
    char num[40];
    jw_format_f32(x, num);
    return oai_bad(err, param, "`%s` must be %s. Given: %s", param, rule, num);
}

/* ---- messages ----------------------------------------------------------- */

static bool valid_role(const char *r) {
    static const char *const ROLES[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; i < sizeof ROLES / sizeof ROLES[0]; i++)
        if (strcmp(r, ROLES[i]) == 0) return true;
    return false;
}

/* An assistant turn that only calls tools may have null content. */
static bool calls_tools(const json_t *m) {
    const json_t *tc = json_object_get(m, "tool_calls");
    return (json_is_array(tc) && json_array_size(tc) > 0) ||
           json_is_object(json_object_get(m, "function_call"));
}

static bool validate_messages(const json_t *msgs, proto_error *err) {
    size_t n = json_array_size(msgs);
    if (n == 0) return oai_bad(err, "messages", "`messages` must contain at least one message");
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(msgs, i);
        const json_t *role = json_object_get(m, "role");
        if (!json_is_string(role))
            return oai_bad(err, "messages",
                           "messages[%zu].role must be a string: one of system, developer, "
                           "user, assistant, tool", i);
        const char *r = json_string_value(role);
        if (!valid_role(r))
            return oai_bad(err, "messages",
                           "messages[%zu].role \"%.40s\" is not one of system, developer, "
                           "user, assistant, tool", i, r);
        bool tool_turn = strcmp(r, "assistant") == 0 && calls_tools(m);
        if (json_is_null(json_object_get(m, "content")) && !tool_turn)
            return oai_bad(err, "messages",
                           "messages[%zu].content is required: a string or a list of text "
                           "parts (null only for an assistant message with tool_calls)", i);
    }
    return true;
}

/* ---- parameters ------------------------------------------------------------ */

static bool validate_counts(const oai_request *r, const proto_limits *l, proto_error *err) {
    if (r->n < 1 || r->n > l->max_n)
        return oai_bad(err, "n", "`n` must be >= 1 and <= %u. Given: %u", l->max_n, r->n);
    uint32_t per_prompt = r->n;
    if (r->has_best_of) {
        if (r->best_of < r->n || r->best_of > l->max_n)
            return oai_bad(err, "best_of", "`best_of` must be >= `n` (%u) and <= %u. Given: %u",
                           r->n, l->max_n, r->best_of);
        if (r->stream && r->best_of != r->n)
            return oai_bad(err, "best_of", "`best_of` must equal `n` when streaming");
        per_prompt = r->best_of;
    }
    uint64_t seqs = (uint64_t)(r->n_prompts > 0 ? r->n_prompts : 1) * per_prompt;
    if (seqs > l->max_concurrent_requests)
        return oai_bad(err, r->has_best_of ? "best_of" : "n",
                       "this request asks for %llu sequences (%d prompts x %u), more than the "
                       "%u this server runs at once",
                       (unsigned long long)seqs, r->n_prompts > 0 ? r->n_prompts : 1, per_prompt,
                       l->max_concurrent_requests);
    return true;
}

static bool validate_sampling(const oai_request *r, proto_error *err) {
    if (r->has_temperature && !(r->temperature >= 0.0f && r->temperature <= 2.0f))
        return range_fail(err, "temperature", ">= 0 and <= 2", r->temperature);
    if (r->has_top_p && !(r->top_p > 0.0f && r->top_p <= 1.0f))
        return range_fail(err, "top_p", "> 0 and <= 1", r->top_p);
    if (r->has_presence_penalty && !(r->presence_penalty >= -2.0f && r->presence_penalty <= 2.0f))
        return range_fail(err, "presence_penalty", ">= -2 and <= 2", r->presence_penalty);
    if (r->has_frequency_penalty &&
        !(r->frequency_penalty >= -2.0f && r->frequency_penalty <= 2.0f))
        return range_fail(err, "frequency_penalty", ">= -2 and <= 2", r->frequency_penalty);
    for (int i = 0; i < r->n_logit_bias; i++) {
        float b = r->logit_bias[i].bias;
        if (!(b >= -100.0f && b <= 100.0f)) {
            char num[40];
            jw_format_f32(b, num);
            return oai_bad(err, "logit_bias",
                           "`logit_bias` values must be >= -100 and <= 100. Given: %s for "
                           "token %d", num, (int)r->logit_bias[i].id);
        }
    }
    if (r->has_top_k && r->top_k < -1)
        return oai_bad(err, "top_k", "`top_k` must be -1 or 0 (off), or >= 1. Given: %d",
                       (int)r->top_k);
    if (r->has_min_p && !(r->min_p >= 0.0f && r->min_p <= 1.0f))
        return range_fail(err, "min_p", ">= 0 and <= 1", r->min_p);
    if (r->has_repetition_penalty && !(r->repetition_penalty > 0.0f))
        return range_fail(err, "repetition_penalty", "> 0", r->repetition_penalty);
    return true;
}

static bool validate_logprobs(const oai_request *r, const proto_limits *l, proto_error *err) {
    bool chat = r->kind == OAI_CHAT;
    if (chat && r->has_top_logprobs && !r->logprobs)
        return oai_bad(err, "top_logprobs", "`top_logprobs` requires `logprobs` to be true");
    if ((chat ? r->has_top_logprobs : r->logprobs) && r->top_logprobs > l->max_top_n_tokens)
        return oai_bad(err, chat ? "top_logprobs" : "logprobs",
                       "`%s` must be >= 0 and <= %u. Given: %u",
                       chat ? "top_logprobs" : "logprobs", l->max_top_n_tokens,
                       r->top_logprobs);
    return true;
}

static bool validate_stopping(const oai_request *r, const proto_limits *l, proto_error *err) {
    if ((uint32_t)r->n_stop > l->max_stop_sequences)
        return oai_bad(err, "stop", "`stop` supports up to %u stop sequences. Given: %d",
                       l->max_stop_sequences, r->n_stop);
    for (int i = 0; i < r->n_stop; i++) {
        /* an empty stop string would end every generation at once; a NUL
         * inside one cannot be matched by the engine's C-string matcher */
        if (r->stop_len[i] == 0)
            return oai_bad(err, "stop", "`stop` sequences must not be empty (index %d)", i);
        if (strlen(r->stop[i]) != r->stop_len[i])
            return oai_bad(err, "stop", "`stop` sequences must not contain NUL (index %d)", i);
    }
    if (r->has_max_tokens && r->max_tokens < 1)
        return oai_bad(err, "max_tokens", "`max_tokens` must be >= 1. Given: 0");
    if (r->has_min_tokens && r->has_max_tokens && r->min_tokens > r->max_tokens)
        return oai_bad(err, "min_tokens", "`min_tokens` must be <= `max_tokens` (%u). Given: %u",
                       r->max_tokens, r->min_tokens);
    for (int i = 0; i < r->n_stop_token_ids; i++)
        if (r->stop_token_ids[i] < 0)
            return oai_bad(err, "stop_token_ids", "`stop_token_ids` must be >= 0. Given: %d",
                           (int)r->stop_token_ids[i]);
    if (r->has_stream_options && !r->stream)
        return oai_bad(err, "stream_options",
                       "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
    return true;
}

static bool validate_unsupported(const oai_request *r, proto_error *err) {
    const char *u = "unsupported_parameter";
    if (r->has_functions)
        return oai_unsupported(err, "functions", u, "`functions` is not supported yet: this "
                               "server has no tool calling");
    return true;
}

bool oai_validate(const oai_request *r, const proto_limits *l, proto_error *err) {
    if (r->kind == OAI_CHAT && (!validate_messages(r->messages, err) || !oai_validate_tools(r, err)))
        return false;
    return validate_counts(r, l, err) && validate_sampling(r, err) &&
           validate_logprobs(r, l, err) && validate_stopping(r, l, err) &&
           validate_unsupported(r, err);
}

bool oai_check_vocab(const oai_request *r, int n_vocab, proto_error *err) {
    for (int i = 0; i < r->n_logit_bias; i++)
        if (r->logit_bias[i].id >= n_vocab)
            return oai_bad(err, "logit_bias", "`logit_bias`: token id %d is out of range (the "
                           "vocabulary has %d tokens)", (int)r->logit_bias[i].id, n_vocab);
    for (int i = 0; i < r->n_stop_token_ids; i++)
        if (r->stop_token_ids[i] >= n_vocab)
            return oai_bad(err, "stop_token_ids", "`stop_token_ids`: token id %d is out of range "
                           "(the vocabulary has %d tokens)", (int)r->stop_token_ids[i], n_vocab);
    for (int p = 0; p < r->n_prompts; p++)
        for (int k = 0; k < r->prompts[p].n_ids; k++)
            if (r->prompts[p].ids[k] >= n_vocab)
                return oai_bad(err, "prompt", "`prompt`: token id %d is out of range (the "
                               "vocabulary has %d tokens)", (int)r->prompts[p].ids[k], n_vocab);
    return true;
}

/* ---- lengths and sampling ---------------------------------------------------- */

bool oai_max_new_tokens(const oai_request *r, uint32_t n_prompt, const proto_limits *l,
                        uint32_t *out, proto_error *err) {
    bool chat = r->kind == OAI_CHAT;
    const char *what = chat ? "messages" : "prompt";
    if (n_prompt == 0)
        return oai_bad(err, what, "The %s resulted in no tokens: there is nothing to continue",
                       what);
    if (n_prompt > l->max_input_tokens) {
        oai_bad(err, what, "This model's maximum input length is %u tokens. However, your %s "
                "resulted in %u tokens. Please reduce the length of the %s.",
                l->max_input_tokens, what, n_prompt, what);
        if (err) err->code = "context_length_exceeded";
        return false;
    }
    uint32_t room = l->max_total_tokens - n_prompt; /* > 0: max_input < max_total */
    if (r->has_max_tokens && r->max_tokens > room) {
        if (!err) return false;
        oai_bad(err, "max_tokens", "This model's maximum context length is %u tokens. However, "
                "you requested %llu tokens (%u in the %s, %u in the completion). Please reduce "
                "the length of the %s or completion.",
                l->max_total_tokens, (unsigned long long)n_prompt + r->max_tokens, n_prompt, what,
                r->max_tokens, what);
        err->code = "context_length_exceeded";
        return false;
    }
    *out = r->has_max_tokens ? r->max_tokens : room;
    return true;
}

bool oai_sampling(const oai_request *r) {
    return !(r->has_temperature && r->temperature < SAMPLER_GREEDY_EPS);
}

sampler_params oai_sampler_params(const oai_request *r, uint64_t seed_if_unset) {
    sampler_params s = sampler_params_default();
    s.do_sample = oai_sampling(r);
    if (r->has_temperature && s.do_sample) s.temperature = r->temperature;
    if (r->has_top_p) s.top_p = r->top_p;
    if (r->has_top_k && r->top_k > 0) s.top_k = r->top_k; /* -1 and 0 are "off" */
    if (r->has_min_p) s.min_p = r->min_p;
    if (r->has_repetition_penalty) s.repetition_penalty = r->repetition_penalty;
    if (r->has_frequency_penalty) s.frequency_penalty = r->frequency_penalty;
    if (r->has_presence_penalty) s.presence_penalty = r->presence_penalty;
    s.logit_bias = r->logit_bias;
    s.n_logit_bias = r->n_logit_bias;
    s.seed = r->has_seed ? r->seed : seed_if_unset;
    s.top_n = r->logprobs ? (int)r->top_logprobs : 0;
    /* the logprob is read for the response, or to rank best_of > n sequences */
    s.no_logprob = !r->logprobs && !(r->has_best_of && r->best_of > r->n);
    return s;
}

/* ---- statuses ------------------------------------------------------------------ */

int oai_http_status(const proto_error *e) {
    /* kept at 422: what ctgi does not support yet, and the chat template's
     * own errors (the issue of the model's template, not of the request) */
    bool keep = e->code && (strncmp(e->code, "unsupported", 11) == 0 || strcmp(e->code, "template_error") == 0);
    return e->status == 422 && !keep ? 400 : e->status;
}

const char *oai_error_type(int status) {
    if (status == 429) return "requests";
    if (status == 424 || status >= 500) return "server_error";
    return "invalid_request_error";
}

bool oai_constraint_regex(const oai_request *r, char **regex, proto_error *err) {
    so_openai_fields f = {r->response_format, r->guided_json,  r->guided_regex,
                          r->guided_choice,   r->guided_grammar, r->structured_outputs};
    return so_openai(&f, regex, err);
}
