/*
 * fuzz_request.c — libFuzzer target: request bodies of every route that
 * takes one (proto/tgi.h, proto/openai.h).
 *
 * The first input byte picks the route (POST /generate, /generate_stream,
 * /, /tokenize, /v1/chat/completions and /chat_tokenize, /v1/completions);
 * the rest is the body.  A body is parsed, validated and, when it passes,
 * walked through everything the server does next without a model: the
 * token-length rules with a few prompt lengths, the vocabulary check, the
 * mapping onto sampler_params (and the sampler's own check), the tool-call
 * constraint of a forced tool_choice, and the error envelopes (TGI and
 * OpenAI, plain and as SSE) of any failure.
 */
#include <stdint.h>
#include <stdlib.h>

#include "openai.h"
#include "template/jinja.h"
#include "tgi.h"
#include "toolcall.h"

/* A ChatML template the chat messages are rendered with, as the server
 * renders them (the chat_template_kwargs become variables too). */
static const char CHATML[] =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content if m.content is string else "
    "m.content | tojson }}{% if m.tool_calls %}{{ m.tool_calls | tojson }}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

static void render_chat(const oai_request *req) {
    static jinja_template *tpl;
    char err[CT_ERRLEN];
    if (!tpl && !(tpl = jinja_parse(CHATML, sizeof CHATML - 1, NULL, err))) abort();
    json_t *ctx = json_object();
    if (req->chat_template_kwargs) json_object_update(ctx, req->chat_template_kwargs);
    json_object_set(ctx, "messages", req->messages);
    json_object_set_new(ctx, "add_generation_prompt", json_true());
    jinja_limits lim = jinja_limits_default();
    lim.max_steps = 20000;
    size_t n;
    free(jinja_render(tpl, ctx, &lim, &n, err));
    json_decref(ctx);
}

/* The tool-call constraint of a forced tool_choice, in every format. */
static void tool_constraint(const oai_request *req) {
    json_t *forced = oai_forced_tools(req);
    (void)oai_template_tools(req);
    for (int f = TC_GENERIC; forced && f <= TC_MISTRAL; f++) {
        char err[CT_ERRLEN];
        free(tc_constraint_regex((tc_format)f, forced, req->parallel_tool_calls, err));
    }
    json_decref(forced);
}

static void encode_errors(const proto_error *e) {
    size_t n;
    free(proto_encode_error(e, &n));
    free(proto_sse_error(e, &n));
    free(oai_encode_error(e, &n));
    free(oai_sse_error(e, &n));
}

static void run_tgi(const char *body, size_t len, tgi_route route, const proto_limits *lim) {
    tgi_request req;
    proto_error err = {0};
    bool ok = tgi_parse(body, len, route, &req, &err) && tgi_validate(&req, route, lim, &err);
    if (ok) {
        static const uint32_t lens[] = {0, 1, 7, 1023, 1024, 5000};
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            tgi_lengths out;
            proto_error e2 = {0};
            if (!tgi_validate_lengths(&req, lens[i], lim, &out, &e2)) encode_errors(&e2);
        }
        (void)tgi_streaming(&req, route);
        (void)tgi_sampling(&req);
        (void)tgi_return_full_text(&req, route);
        sampler_params sp = tgi_sampler_params(&req, 42);
        char serr[256];
        (void)sampler_params_validate(&sp, 512, serr);
        (void)oai_utf8_chars(req.inputs, req.inputs_len);
    } else {
        encode_errors(&err);
    }
    tgi_request_free(&req);
}

static void run_oai(const char *body, size_t len, oai_kind kind, const proto_limits *lim) {
    oai_request req;
    proto_error err = {0};
    bool ok = oai_parse(kind, body, len, &req, &err) && oai_validate(&req, lim, &err) &&
              oai_check_vocab(&req, 512, &err);
    if (ok) {
        static const uint32_t lens[] = {0, 1, 1023, 1024, 5000};
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            uint32_t out;
            proto_error e2 = {0};
            if (!oai_max_new_tokens(&req, lens[i], lim, &out, &e2)) encode_errors(&e2);
        }
        (void)oai_sampling(&req);
        sampler_params sp = oai_sampler_params(&req, 7);
        char serr[256];
        (void)sampler_params_validate(&sp, 512, serr);
        if (req.kind == OAI_CHAT && req.messages) render_chat(&req);
        if (req.kind == OAI_CHAT) tool_constraint(&req);
        for (int p = 0; p < req.n_prompts; p++) (void)oai_utf8_chars(req.prompts[p].text, req.prompts[p].text_len);
    } else {
        encode_errors(&err);
    }
    oai_request_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    proto_limits lim = proto_limits_default();
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 6) {
    case 0: run_tgi(body, len, TGI_ROUTE_GENERATE, &lim); break;
    case 1: run_tgi(body, len, TGI_ROUTE_GENERATE_STREAM, &lim); break;
    case 2: run_tgi(body, len, TGI_ROUTE_COMPAT, &lim); break;
    case 3: run_tgi(body, len, TGI_ROUTE_TOKENIZE, &lim); break;
    case 4: run_oai(body, len, OAI_CHAT, &lim); break;
    default: run_oai(body, len, OAI_COMPLETION, &lim); break;
    }
    return 0;
}
