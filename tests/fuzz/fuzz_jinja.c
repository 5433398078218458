/*
 * fuzz_jinja.c — libFuzzer target: the Jinja parser and renderer
 * (engine/template/jinja.h) with a fuzzed template and fuzzed variables.
 *
 * Input: the template source up to the first NUL byte; after it, a JSON
 * object whose members become the template's variables.  Without a NUL,
 * or when the rest is not a JSON object, the variables are a fixed chat
 * (messages with every role, tools, add_generation_prompt, bos/eos
 * tokens), so the seeds of real chat templates render realistic output.
 * The limits are lowered so one input cannot take seconds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja.h"

static const char CHAT[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are helpful.\"},"
    "{\"role\":\"user\",\"content\":\"Hi \\u00e9\\u4e16 <|im_start|>\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"type\":\"function\",\"function\":"
    "{\"name\":\"f\",\"arguments\":{\"x\":1}}}]},"
    "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"c1\"},"
    "{\"role\":\"assistant\",\"content\":\"Done.\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static json_t *chat;
    if (!chat) chat = json_loads(CHAT, 0, NULL);
    const char *src = (const char *)data;
    const char *nul = memchr(src, '\0', size);
    size_t src_len = nul ? (size_t)(nul - src) : size;
    json_t *ctx = NULL;
    if (nul) {
        ctx = json_loadb(nul + 1, size - src_len - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (ctx && !json_is_object(ctx)) json_decref(ctx), ctx = NULL;
    }
    char err[CT_ERRLEN];
    jinja_options opt = jinja_options_chat();
    jinja_template *t = jinja_parse(src, src_len, &opt, err);
    if (t) {
        jinja_limits lim = jinja_limits_default();
        lim.max_steps = 20000;
        lim.max_output = 1 << 16;
        lim.max_memory = 32u << 20;
        lim.now = 1700000000;
        size_t n;
        free(jinja_render(t, ctx ? ctx : chat, &lim, &n, err));
        jinja_free(t);
    }
    json_decref(ctx);
    return 0;
}
