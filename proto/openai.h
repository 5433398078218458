/*
 * openai.h — the OpenAI-compatible API (POST /v1/chat/completions,
 * POST /v1/completions, GET /v1/models), as data.
 *
 * Owns: the ChatCompletion / Completion request bodies parsed into a plain
 * struct that owns its strings (chat messages normalised into a jansson
 * array ready for the chat template), OpenAI's validation ranges (plus
 * vLLM's extra sampling fields) against proto_limits, the mapping onto the
 * engine's sampler_params, the prompt/max_tokens length rule, and the
 * encoders of every OpenAI response body: chat.completion,
 * chat.completion.chunk, text_completion (whole and streamed), the usage
 * chunk, the model list, and OpenAI's error envelope
 * {"error":{"message","type","param","code"}}.
 *
 * The order of use for one request:
 *   oai_parse            bytes → oai_request       (400; 422 for what ctgi
 *                                                  does not support yet)
 *   oai_validate         OpenAI/vLLM ranges        (400)
 *   oai_check_vocab      ids against the vocabulary (400)
 *   (server renders `messages` with the chat template, or tokenizes prompts)
 *   oai_max_new_tokens   prompt + max_tokens vs the context (400)
 *   oai_sampler_params   → engine (choice i of n: seed + i)
 *   oai_encode_*         engine results → bytes
 *
 * Status policy: a request that is wrong is 400 (as OpenAI answers it); a
 * well-formed request asking for something ctgi does not do yet
 * (functions, response_format, images, custom tools) or the model cannot do
 * (a `suffix` without fill-in-the-middle tokens) is 422; both have type
 * "invalid_request_error".  Every proto_error these functions fill has
 * `param` set to the top-level field at fault (or NULL).  Departures from
 * TGI's OpenAI layer are listed in proto/README.md.
 */
#ifndef CTGI_OPENAI_H
#define CTGI_OPENAI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "sampling/sampler_params.h"
#include "tgi.h"
#include "toolcall.h"

typedef enum {
    OAI_CHAT,       /* POST /v1/chat/completions */
    OAI_COMPLETION, /* POST /v1/completions */
} oai_kind;

/* One completions prompt: text, or token ids (OpenAI and vLLM accept
 * `prompt` as an id array or an array of id arrays). */
typedef struct {
    char *text; /* owned, NUL-terminated (text_len bytes, may hold NULs); NULL for ids */
    size_t text_len;
    int32_t *ids; /* owned; n_ids >= 0 when text is NULL */
    int n_ids;
} oai_prompt;

/* tool_choice, resolved: absent is auto with tools, none without. */
typedef enum {
    OAI_TOOL_CHOICE_NONE,     /* no tools for the template, no calls parsed */
    OAI_TOOL_CHOICE_AUTO,     /* the model may call tools or answer */
    OAI_TOOL_CHOICE_REQUIRED, /* it must call one or more of them */
    OAI_TOOL_CHOICE_FUNCTION, /* it must call tool_choice_name */
} oai_tool_choice;

/* has_x says the field was present and not null. */
typedef struct {
    oai_kind kind;
    char *model; /* owned; NULL when absent (the server answers with its own id) */

    /* chat: a jansson array (one reference, owned) of message objects, each
     * a deep copy of the client's with "content" normalised to a string
     * (text parts concatenated) or null (an assistant turn with tool_calls).
     * Every other member (name, tool_call_id, reasoning_content, …) is kept
     * so templates may read it.  Roles are kept as sent ("developer" is not
     * renamed "system": templates that know it handle it). */
    json_t *messages;
    /* chat: vLLM's / TGI's chat_template_kwargs (an object, owned, or NULL):
     * extra variables for the template, e.g. {"enable_thinking": false} */
    json_t *chat_template_kwargs;
    /* chat: `tools`, a checked deep copy (one owned reference), NULL when
     * absent, null or empty: [{"type":"function","function":{"name",
     * "description"?,"parameters","strict"?}}], `parameters` always an
     * object ({"type":"object","properties":{}} when the client sent none),
     * names unique, [a-zA-Z0-9_-]{1,64}.  has_tools says it is non-empty. */
    json_t *tools;
    bool has_tool_choice;         /* tool_choice was sent */
    oai_tool_choice tool_choice;
    char *tool_choice_name;       /* owned: the function of OAI_TOOL_CHOICE_FUNCTION */
    bool parallel_tool_calls;     /* default true; false: at most one call */

    /* structured outputs (structured.h; owned copies, NULL when absent or
     * null): OpenAI's response_format, vLLM's guided_* and
     * structured_outputs.  oai_constraint_regex turns them into a regex. */
    json_t *response_format;
    json_t *guided_json, *guided_regex, *guided_choice, *guided_grammar;
    json_t *structured_outputs;

    /* completions */
    oai_prompt *prompts; /* n_prompts >= 1 after a successful parse */
    int n_prompts;
    bool echo;         /* prepend the prompt text to each choice */
    bool has_best_of;  /* generate best_of, return the n with the best mean logprob */
    uint32_t best_of;
    /* fill-in-the-middle: the text after the insertion (owned, suffix_len
     * bytes, NUL-terminated); has_suffix for any string, "" included (the
     * server builds a FIM prompt on a model with FIM tokens; an empty one
     * is a plain completion on a model without) */
    bool has_suffix;
    char *suffix;
    size_t suffix_len;

    /* sampling (OpenAI) */
    bool has_temperature;
    float temperature; /* 0 → greedy; default 1 (sampling, as OpenAI) */
    bool has_top_p;
    float top_p;
    bool has_presence_penalty;
    float presence_penalty;
    bool has_frequency_penalty;
    float frequency_penalty;
    sampler_bias *logit_bias; /* owned; ids parsed from the map's keys */
    int n_logit_bias;
    bool has_seed;
    uint64_t seed; /* a negative JSON seed is kept as its two's complement */
    uint32_t n;    /* choices per prompt; default 1 */

    /* sampling (vLLM extras) */
    bool has_top_k;
    int32_t top_k; /* -1 or 0 = off */
    bool has_min_p;
    float min_p;
    bool has_repetition_penalty;
    float repetition_penalty;
    bool ignore_eos;
    bool has_min_tokens;
    uint32_t min_tokens;
    int32_t *stop_token_ids; /* owned */
    int n_stop_token_ids;
    bool skip_special_tokens; /* default true */

    /* stopping */
    char **stop;      /* n_stop owned NUL-terminated strings (`stop` string → one) */
    size_t *stop_len;
    int n_stop;
    bool has_max_tokens; /* max_completion_tokens, else max_tokens */
    uint32_t max_tokens;

    /* logprobs: chat `logprobs` true / completions `logprobs` not null */
    bool logprobs;
    bool has_top_logprobs; /* chat: top_logprobs given (needs logprobs true) */
    uint32_t top_logprobs; /* alternatives per token (completions: `logprobs` value) */

    /* streaming */
    bool stream;
    bool has_stream_options; /* only valid with stream */
    bool include_usage;

    /* has_tools: `tools` above is non-empty; not supported yet (422): a
     * functions list */
    bool has_tools;
    bool has_functions;
} oai_request;

/* Parse a body.  Unknown fields are ignored; known fields of the wrong type
 * are 400 naming the field.  On failure *req is left empty (safe to
 * oai_request_free) and err is filled (400, or 422 for unsupported content
 * parts such as images). */
bool oai_parse(oai_kind kind, const char *body, size_t len, oai_request *req, proto_error *err);
void oai_request_free(oai_request *req);

/* OpenAI's ranges and ctgi's limits (400 with param):
 * temperature 0..2, top_p (0,1], presence/frequency_penalty -2..2,
 * 1 <= n <= max_n, best_of n..max_n (not with stream unless == n),
 * (n_prompts × max(n, best_of)) <= max_concurrent_requests, logprobs counts
 * <= max_top_n_tokens (chat top_logprobs needs logprobs true), logit_bias
 * values -100..100, 1..max_stop_sequences non-empty stop strings without
 * NUL, max_tokens >= 1, min_p 0..1, top_k -1 or >= 0, repetition_penalty
 * > 0, min_tokens <= max_tokens, stop_token_ids >= 0, stream_options only
 * with stream; chat messages non-empty, roles system/developer/user/
 * assistant/tool, content a string (null only for an assistant turn with
 * tool_calls); tool_choice "required" or a named function only with
 * tools, and the named function among them.  Then the unsupported
 * feature (422): functions. */
bool oai_validate(const oai_request *req, const proto_limits *lim, proto_error *err);

/* ---- tools -------------------------------------------------------------- */

/* The `tools` to render the chat template with (chat_render_opts.tools):
 * req->tools, or NULL when tool_choice is none (or there are none). */
const json_t *oai_template_tools(const oai_request *req);
/* The tools a call must go to, for tc_constraint_regex (with
 * parallel = req->parallel_tool_calls): every tool for "required", the
 * named one for a function choice (a new reference; json_decref it), NULL
 * for auto and none (the model answers freely; parse its text). */
json_t *oai_forced_tools(const oai_request *req);
/* tool.function.name of one of req->tools. */
const char *oai_tool_name(const json_t *tool);

/* The constraint the structured-output fields ask for, as a regex of the
 * engine's constraint dialect (structured.h): *regex malloc'd, NULL when
 * none.  400 for malformed values or two constraints at once, 422 (code
 * "unsupported_value") for schema keywords ctgi cannot enforce and GBNF. */
bool oai_constraint_regex(const oai_request *req, char **regex, proto_error *err);

/* The rules that need the vocabulary size: logit_bias keys, stop_token_ids
 * and token-id prompts must be < n_vocab (400). */
bool oai_check_vocab(const oai_request *req, int n_vocab, proto_error *err);

/* The engine's parameters: temperature 0 → greedy, otherwise sampling at
 * the given temperature (default 1.0); top_k -1 → 0 (off); presence and
 * frequency penalties additive; logit_bias borrowed from req (valid while
 * req lives; sampler_create copies it); top_n = top_logprobs when
 * logprobs.  seed_if_unset is used when the client sent no seed. */
sampler_params oai_sampler_params(const oai_request *req, uint64_t seed_if_unset);

/* The token budget of one prompt of n_prompt tokens:
 *   n_prompt == 0 → 400 "The prompt is empty…";
 *   n_prompt > max_input_tokens, or n_prompt + max_tokens > max_total_tokens
 *     → 400 "This model's maximum context length is N tokens. However, you
 *       requested M tokens (P in the messages, C in the completion). Please
 *       reduce the length of the messages or completion." (param "messages"
 *       or "prompt"; code "context_length_exceeded");
 *   max_tokens absent → max_total_tokens - n_prompt (the remaining context). */
bool oai_max_new_tokens(const oai_request *req, uint32_t n_prompt, const proto_limits *lim,
                        uint32_t *out, proto_error *err);

/* Sampling rather than greedy (temperature absent or > 0). */
bool oai_sampling(const oai_request *req);

/* ---- ids ---------------------------------------------------------------- */

#define OAI_ID_CHARS 29 /* base62 characters after the prefix, as OpenAI's */
#define OAI_ID_MAX 48   /* prefix (<= 16 bytes) + OAI_ID_CHARS + NUL fits */

/* prefix ("chatcmpl-", "cmpl-") + OAI_ID_CHARS base62 characters drawn
 * from the 128 random bits r0, r1 (the server supplies them). */
void oai_make_id(char out[OAI_ID_MAX], const char *prefix, uint64_t r0, uint64_t r1);

/* ---- errors ------------------------------------------------------------- */

/* The status to answer on an OpenAI route: a 422 from a TGI-style check
 * becomes 400; the 422s made here for unsupported features (code
 * "unsupported_parameter"/"unsupported_value") and the server's chat
 * template errors (code "template_error") stay 422; every other status is
 * unchanged. */
int oai_http_status(const proto_error *e);

/* OpenAI's error type for a status (as OpenAI's own API answers):
 *   429 → "requests" (code "rate_limit_exceeded" unless set),
 *   424 and 5xx → "server_error",
 *   every other status (400, 401 with code "invalid_api_key" unless set,
 *   404, 405, 413, 415, 422) → "invalid_request_error". */
const char *oai_error_type(int status);

/* {"error":{"message":…,"type":…,"param":null|…,"code":null|…}} (malloc'd,
 * NUL-terminated; *len its length, len may be NULL; NULL on OOM). */
char *oai_encode_error(const proto_error *e, size_t *len);
/* The same envelope as an SSE event (`data: {…}\n\n`), for an error after
 * the stream started; follow it with OAI_SSE_DONE. */
char *oai_sse_error(const proto_error *e, size_t *len);

/* ---- responses ---------------------------------------------------------- */

#define OAI_SSE_DONE "data: [DONE]\n\n"

typedef enum {
    OAI_FINISH_NONE,   /* still running: finish_reason null */
    OAI_FINISH_STOP,   /* eos token or a stop sequence */
    OAI_FINISH_LENGTH, /* max_tokens or the context ran out */
    OAI_FINISH_TOOL_CALLS, /* the answer is tool calls ("tool_calls") */
} oai_finish;

oai_finish oai_finish_from_tgi(tgi_finish_reason r); /* length → length, others → stop */
const char *oai_finish_name(oai_finish f);           /* NULL for NONE */

/* What every response object starts with. */
typedef struct {
    const char *id;                 /* "chatcmpl-…" / "cmpl-…" */
    uint64_t created;               /* unix seconds */
    const char *model;              /* echoed request model, or the served id */
    const char *system_fingerprint; /* NULL → null */
} oai_meta;

typedef struct {
    uint32_t prompt_tokens;
    uint32_t completion_tokens; /* total_tokens is their sum */
} oai_usage;

/* One alternative.  text is the token's exact bytes: chat writes it as
 * "token" (invalid UTF-8 → U+FFFD) and "bytes" (exact); completions use
 * the repaired text as the top_logprobs key. */
typedef struct {
    proto_str text;
    float logprob;
} oai_top_logprob;

/* One generated token with its logprob and alternatives. */
typedef struct {
    proto_str text;
    float logprob;
    const oai_top_logprob *top;
    int n_top;
} oai_token_logprob;

/* One finished choice (non-streaming). */
typedef struct {
    uint32_t index;
    proto_str text;    /* chat: message.content; completions: text (echo included) */
    oai_finish finish; /* STOP or LENGTH */
    bool logprobs;     /* write the logprobs object, else null */
    const oai_token_logprob *tokens;
    int n_tokens;
    size_t text_offset; /* completions: characters before the first token
                           (the echoed prompt's length in code points) */
    /* chat: the calls (tc_parse's), written as message.tool_calls
     * [{"id","type":"function","function":{"name","arguments"}}] after
     * "content", which is then null when text is empty (finish is normally
     * OAI_FINISH_TOOL_CALLS) */
    const tc_call *tool_calls;
    int n_tool_calls;
} oai_choice;

/* chat.completion / text_completion with usage. */
char *oai_encode_chat(const oai_meta *m, const oai_choice *c, int n, const oai_usage *u,
                      size_t *len);
char *oai_encode_completion(const oai_meta *m, const oai_choice *c, int n, const oai_usage *u,
                            size_t *len);

/* One tool-call fragment of a chat delta (a tc_stream event):
 *   opening a call (id and name set): {"index":index,"id":…,"type":"function",
 *     "function":{"name":…,"arguments":…}} (arguments "" normally: §1.3 of
 *     the reference opens with the whole name and empty arguments);
 *   a piece of its arguments (id and name NULL): {"index":index,
 *     "function":{"arguments":…}}. */
typedef struct {
    uint32_t index; /* the call's index in the choice */
    const char *id, *name;
    proto_str arguments;
} oai_tool_delta;

/* One streamed piece of one choice.  Chat deltas: the choice's first chunk
 * sets role (and has_content with an empty text): {"role":"assistant",
 * "content":""}; then has_content chunks {"content":"…"}; the last chunk
 * neither, with finish set: {} + finish_reason.  A chunk with `tool` adds
 * "tool_calls":[fragment] to the delta, after role/content; with role and
 * no has_content it writes "content":null, as OpenAI's first chunk of a
 * tool-call answer: {"role":"assistant","content":null,"tool_calls":[…]}.
 * Completions chunks write `text` (empty on the finish chunk). */
typedef struct {
    uint32_t index;
    bool role;
    bool has_content;
    proto_str content;
    oai_finish finish;
    bool logprobs; /* write the tokens' logprobs, else null */
    const oai_token_logprob *tokens;
    int n_tokens;
    size_t text_offset; /* completions: characters before tokens[0] in the choice */
    const oai_tool_delta *tool; /* chat: one tool-call fragment, or NULL */
} oai_delta;

/* Complete SSE frames `data: {…}\n\n`.  include_usage adds "usage":null to
 * every chunk (as OpenAI does when stream_options.include_usage is set);
 * the usage chunk ({"choices":[],"usage":{…}}) then ends the stream. */
char *oai_encode_chat_chunk(const oai_meta *m, const oai_delta *d, bool include_usage,
                            size_t *len);
char *oai_encode_completion_chunk(const oai_meta *m, const oai_delta *d, bool include_usage,
                                  size_t *len);
char *oai_encode_usage_chunk(oai_kind kind, const oai_meta *m, const oai_usage *u,
                             size_t *len);

/* GET /v1/models: {"object":"list","data":[{"id","object":"model",
 * "created","owned_by":"ctgi","max_model_len"}, then per LoRA adapter (as
 * vLLM lists them) {"id": its name, ..., "root": its path, "parent":
 * model_id}]}. */
char *oai_encode_models(const char *model_id, uint64_t created, uint32_t max_model_len,
                        const proto_adapter *adapters, int n_adapters, size_t *len);

/* `data: ` + json + `\n\n` (OpenAI and vLLM write the space). */
char *oai_sse_frame(const char *json, size_t json_len, size_t *len);

/* Code points in s[0..n): bytes that are not UTF-8 continuation bytes, so
 * a character split across tokens is counted once (text_offset). */
size_t oai_utf8_chars(const char *s, size_t n);

#endif
