/*
 * serve_config.c — the flags of `ctgi serve`: TGI's launcher names, each
 * also read from its upper-case environment variable (--max-input-tokens
 * ↔ MAX_INPUT_TOKENS); a flag beats its variable, a variable beats the
 * default.  One table drives parsing, the environment and --help.
 *
 * HOSTNAME is special: shells and container runtimes set it to the
 * machine's name, which is not a request to listen on that name's
 * address, so it is ignored when it equals gethostname().
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine.h"
#include "sampling/sampler_params.h"
#include "serve_config.h"

typedef enum { K_STR, K_INT, K_U32, K_SIZE, K_SECS, K_BOOL } opt_kind;

typedef struct {
    const char *name; /* flag without dashes; the env var is its upper-case form */
    opt_kind kind;
    size_t off;
    double lo, hi;
    const char *arg, *def, *help;
} opt_def;

#define OFF(f) offsetof(serve_config, f)

static const opt_def OPTS[] = {
    {"model-id", K_STR, OFF(model_id), 0, 0, "PATH|ORG/NAME", "required",
     "the model: a GGUF file, a Hugging Face directory (config.json, *.safetensors, tokenizer.json), or a "
     "Hugging Face Hub repo id, downloaded into the Hub cache first (docs/hub.md)"},
    {"revision", K_STR, OFF(revision), 0, 0, "REV", "main", "the Hub repo's branch, tag or commit sha"},
    {"model-file", K_STR, OFF(model_file), 0, 0, "FILE", "the only .gguf, else the only Q4_K_M one",
     "the .gguf file of a Hub repo (or of a local directory) to serve"},
    {"lora-adapters", K_STR, OFF(lora_adapters), 0, 0, "NAME=PATH[,...]", "none",
     "LoRA adapters to serve beside the base: PEFT folders (adapter_config.json + adapter_model.safetensors) or "
     "llama.cpp GGUF LoRA files, each `name=path` or a bare path (named by it); a request picks one by TGI's "
     "parameters.adapter_id or OpenAI's `model`, and requests of different adapters share one batch"},
    {"hostname", K_STR, OFF(hostname), 0, 0, "ADDR", "127.0.0.1; 0.0.0.0 in a container",
     "address to listen on"},
    {"port", K_INT, OFF(port), 0, 65535, "N", "8080", "TCP port; 0 = any free port (the log says which)"},
    {"max-concurrent-requests", K_U32, OFF(limits.max_concurrent_requests), 1, 1e6, "N", "128",
     "generation and tokenize requests in flight (queued + running); beyond it: 429 with Retry-After"},
    {"max-input-tokens", K_U32, OFF(limits.max_input_tokens), 1, 1e9, "N", "max-total-tokens - 1",
     "longest prompt (after `truncate`), in tokens"},
    {"max-total-tokens", K_U32, OFF(limits.max_total_tokens), 2, 1e9, "N",
     "min(model context, KV-cache capacity)", "prompt + new tokens of one request"},
    {"max-batch-prefill-tokens", K_INT, OFF(max_batch_prefill_tokens), 1, 1 << 30, "N", "4096",
     "tokens fed to the model per step (decode tokens first, then prompt chunks)"},
    {"max-batch-total-tokens", K_INT, OFF(max_batch_total_tokens), 1, 1 << 30, "N",
     "min(16 x context, 25% of RAM)", "KV-cache capacity in tokens (all sequences together)"},
    {"max-batch-size", K_INT, OFF(max_batch_size), 1, 1 << 20, "N", "64", "sequences running at once"},
    {"kv-cache-memory", K_SIZE, OFF(kv_cache_memory), 1, 1e15, "BYTES", "see max-batch-total-tokens",
     "KV-cache size in bytes, used when --max-batch-total-tokens is not given"},
    {"block-size", K_INT, OFF(block_size), 1, 1024, "N", "16", "KV-cache positions per block"},
    {"kv-cache-dtype", K_STR, OFF(kv_cache_dtype), 0, 0, "f32|f16|bf16|q8_0", "f16",
     "element type of cached keys and values: a token takes 2 x layers x kv_heads x head_dim x 4 | 2 | 2 | 34/32 "
     "bytes, so --kv-cache-memory holds 2x (f16, bf16) or 3.76x (q8_0; head_dim must be a multiple of 32) the "
     "tokens of f32; attention reads the type directly"},
    {"no-prefix-caching", K_BOOL, OFF(no_prefix_caching), 0, 0, NULL, "caching on",
     "do not reuse the KV blocks of prompt prefixes already computed"},
    {"speculate", K_INT, OFF(speculate), 0, ENGINE_SPECULATE_MAX, "N", "4",
     "speculative decoding by prompt lookup: each decoding sequence drafts up to N tokens per step from n-grams of "
     "its own prompt and output, verified in the step's one forward pass (the number adapts to how many are "
     "accepted); greedy output is unchanged, sampled output keeps its distribution; 0 = off"},
    {"draft-model", K_STR, OFF(draft_model), 0, 0, "PATH", "none (prompt lookup)",
     "speculative decoding with a draft model: a smaller model with the same vocabulary (checked token by token) "
     "drafts --speculate tokens per sequence and step greedily, instead of prompt lookup"},
    {"matmul", K_STR, OFF(matmul), 0, 0, "invariant|blas", "invariant",
     "weight products: ctgi's fixed-order kernel (a request's tokens never depend on what runs beside it) or "
     "OpenBLAS sgemm (~20% faster prefill; results then vary with the batch)"},
    {"max-stop-sequences", K_U32, OFF(limits.max_stop_sequences), 0, 1e6, "N", "4",
     "most `stop` strings per request"},
    {"max-top-n-tokens", K_U32, OFF(limits.max_top_n_tokens), 0, SAMPLER_MAX_TOP_N, "N", "5",
     "most `top_n_tokens` per request"},
    {"max-best-of", K_U32, OFF(limits.max_best_of), 1, 64, "N", "2", "most `best_of` per request"},
    {"max-n", K_U32, OFF(limits.max_n), 1, 64, "N", "16",
     "most OpenAI `n` / `best_of` choices per prompt"},
    {"chat-template", K_STR, OFF(chat_template), 0, 0, "FILE", "the model's own",
     "Jinja chat template for /v1/chat/completions (a .jinja file, or JSON with a chat_template member)"},
    {"payload-limit", K_SIZE, OFF(payload_limit), 1, 1e12, "BYTES", "2000000",
     "largest request body; beyond it: 413"},
    {"max-stream-backlog", K_SIZE, OFF(max_stream_backlog), 1024, 1e12, "BYTES", "4194304",
     "unsent bytes a streaming client may fall behind by; beyond it the client is dropped and its request cancelled"},
    {"api-key", K_STR, OFF(api_key), 0, 0, "KEY[,KEY...]", "none",
     "require `Authorization: Bearer KEY` (one of the keys, case-sensitive) on POST /, /generate, /generate_stream, "
     "/tokenize, /v1/chat/completions, /v1/completions"},
    {"api-key-file", K_STR, OFF(api_key_file), 0, 0, "FILE", "none",
     "more API keys, one per line ('#' comments and blank lines skipped); unreadable or empty: ctgi exits 2"},
    {"cors-allow-origin", K_STR, OFF(cors_allow_origin), 0, 0, "ORIGINS", "any (*)",
     "comma-separated origins allowed by CORS"},
    {"no-ui", K_BOOL, OFF(no_ui), 0, 0, NULL, "page on",
     "do not serve the chat page (GET / with Accept: text/html, /ui/*); GET / is then the health answer for everyone"},
    {"threads", K_INT, OFF(threads), 1, 1024, "N", "all cores", "compute threads of the engine"},
    {"json-output", K_BOOL, OFF(json_output), 0, 0, NULL, "off", "log JSON lines instead of text"},
    {"graceful-termination-timeout", K_SECS, OFF(graceful_termination_timeout), 0, 1e6, "SECONDS", "90",
     "on SIGTERM/SIGINT, how long in-flight requests may finish before they are cancelled"},
    {"sse-keep-alive", K_SECS, OFF(sse_keep_alive), 0.001, 1e6, "SECONDS", "15",
     "silence after which a stream gets a `:` comment (long prefills, a long queue)"},
    {"idle-timeout", K_SECS, OFF(idle_timeout), 1, 1e6, "SECONDS", "60",
     "an idle keep-alive connection (or a client sending a request this slowly) is closed after it"},
    {"request-timeout", K_SECS, OFF(request_timeout), 0, 1e6, "SECONDS", "idle-timeout + 5",
     "a connection must send a whole request (headers and body) within it, counted from its accept or its previous "
     "answer; slower clients (slow-loris) are disconnected (idle ones too, when it is below --idle-timeout)"},
    {"max-connections", K_U32, OFF(max_connections), 1, 1e6, "N", "10000",
     "open HTTP connections at once; beyond it new ones are not accepted: they wait in the kernel's listen backlog "
     "(1024) until one closes (raises ulimit -n for it if it can, else lowers it to fit)"},
    {"max-header-size", K_SIZE, OFF(max_header_size), 1024, 1 << 20, "BYTES", "16384",
     "request line + headers; beyond it: 431"},
    {"ssl-certfile", K_STR, OFF(ssl_certfile), 0, 0, "FILE", "none (plain HTTP)",
     "PEM certificate (chain) to serve HTTPS with; needs --ssl-keyfile"},
    {"ssl-keyfile", K_STR, OFF(ssl_keyfile), 0, 0, "FILE", "none", "PEM private key of --ssl-certfile"},
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

static serve_config defaults(void) {
    serve_config c = {0};
    bool container = access("/.dockerenv", F_OK) == 0 || access("/run/.containerenv", F_OK) == 0;
    c.hostname = container ? "0.0.0.0" : "127.0.0.1";
    c.port = 8080;
    c.speculate = SERVE_SPECULATE_DEFAULT;
    c.limits = proto_limits_default();
    c.limits.max_input_tokens = c.limits.max_total_tokens = 0; /* from the model */
    c.payload_limit = 2000000;
    c.max_stream_backlog = 4u << 20;
    c.graceful_termination_timeout = 90;
    c.sse_keep_alive = 15;
    c.idle_timeout = 60;
    c.max_connections = 10000;
    c.max_header_size = 16384;
    const char *ct = getenv("COMPUTE_TYPE");
    c.compute_type = ct && *ct ? ct : "cpu";
    const char *delay = getenv("CTGI_DEBUG_LOAD_DELAY_MS");
    c.load_delay_ms = delay ? atoi(delay) : 0;
    const char *fail = getenv("CTGI_DEBUG_FAIL_STEP");
    c.debug_fail_step = fail ? strtoull(fail, NULL, 10) : 0;
    return c;
}

/* Store text as option o's value; false + message on a bad value. */
static bool set(serve_config *c, const opt_def *o, const char *text, const char *from) {
    void *p = (char *)c + o->off;
    if (o->kind == K_STR) {
        *(const char **)p = text;
        return true;
    }
    if (o->kind == K_BOOL) {
        bool t = !strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes") || !strcasecmp(text, "on");
        bool f = !strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no") || !strcasecmp(text, "off");
        if (t || f) {
            *(bool *)p = t;
            return true;
        }
        fprintf(stderr, "ctgi serve: %s: '%s' is not true or false\n", from, text);
        return false;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    bool integral = o->kind != K_SECS;
    if (errno || end == text || *end || !(v >= o->lo && v <= o->hi) || (integral && v != (double)(long long)v)) {
        fprintf(stderr, "ctgi serve: %s: '%s' is not %s in [%g, %g]\n", from, text,
                integral ? "an integer" : "a number", o->lo, o->hi);
        return false;
    }
    switch (o->kind) {
    case K_INT: *(int *)p = (int)v; break;
    case K_U32: *(uint32_t *)p = (uint32_t)v; break;
    case K_SIZE: *(size_t *)p = (size_t)v; break;
    default: *(double *)p = v; break;
    }
    return true;
}

static void env_name(const opt_def *o, char *out, size_t cap) {
    size_t i = 0;
    for (; o->name[i] && i + 1 < cap; i++) out[i] = o->name[i] == '-' ? '_' : (char)(o->name[i] & ~0x20);
    out[i] = '\0';
}

static bool from_env(serve_config *c) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    for (size_t i = 0; i < N_OPTS; i++) {
        char name[64];
        env_name(&OPTS[i], name, sizeof name);
        const char *v = getenv(name);
        if (!v || !*v) continue;
        if (strcmp(name, "HOSTNAME") == 0 && strcmp(v, host) == 0) continue;
        char from[128];
        snprintf(from, sizeof from, "environment variable %s", name);
        if (!set(c, &OPTS[i], v, from)) return false;
    }
    return true;
}

void serve_config_help(FILE *f) {
    fputs("usage: ctgi serve --model-id PATH|ORG/NAME [options]\n"
          "\n"
          "Serve a model over HTTP with Hugging Face text-generation-inference's API:\n"
          "POST / /generate /generate_stream /tokenize, GET /info /health /metrics /openapi.json,\n"
          "OpenAI's /v1/chat/completions /v1/completions /v1/models, and a chat page for browsers at GET /.\n"
          "Every option can also be set by its upper-case environment variable\n"
          "(--max-input-tokens = MAX_INPUT_TOKENS); an option given on the command line wins.\n"
          "\noptions:\n",
          f);
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt_def *o = &OPTS[i];
        char left[64], env[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        env_name(o, env, sizeof env);
        fprintf(f, "  %-38s %s\n  %-38s [env %s; default: %s]\n", left, o->help, "", env, o->def);
    }
    fputs("  --help                                 this text\n"
          "\nother environment: COMPUTE_TYPE (x-compute-type header, default cpu),\n"
          "CTGI_DEBUG_LOAD_DELAY_MS (testing: wait before loading the model),\n"
          "CTGI_DEBUG_FAIL_STEP=N (testing: the engine's Nth step fails, its requests get an error); for Hub repo ids\n"
          "HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE (see ctgi download --help).\n"
          "SIGTERM / SIGINT: stop accepting, /health 503, drain, exit 0 (a second signal cancels at once).\n",
          f);
}

static const opt_def *find_opt(const char *arg, const char **inline_value) {
    *inline_value = NULL;
    if (strncmp(arg, "--", 2) != 0) return NULL;
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t i = 0; i < N_OPTS; i++)
        if (strlen(OPTS[i].name) == n && strncmp(OPTS[i].name, name, n) == 0) {
            if (eq) *inline_value = eq + 1;
            return &OPTS[i];
        }
    return NULL;
}

int serve_config_parse(int argc, char **argv, serve_config *c) {
    *c = defaults();
    if (!from_env(c)) return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            serve_config_help(stdout);
            return 1;
        }
        const char *v;
        const opt_def *o = find_opt(argv[i], &v);
        if (!o) {
            fprintf(stderr, "ctgi serve: unknown option '%s' (see ctgi serve --help)\n", argv[i]);
            return 2;
        }
        if (!v && o->kind == K_BOOL) v = "true";
        if (!v && i + 1 < argc) v = argv[++i];
        if (!v) {
            fprintf(stderr, "ctgi serve: option --%s needs a value\n", o->name);
            return 2;
        }
        char from[128];
        snprintf(from, sizeof from, "--%s", o->name);
        if (!set(c, o, v, from)) return 2;
    }
    if (c->matmul && strcmp(c->matmul, "invariant") != 0 && strcmp(c->matmul, "blas") != 0) {
        fprintf(stderr, "ctgi serve: --matmul must be 'invariant' or 'blas', not '%s'\n", c->matmul);
        return 2;
    }
    if (c->kv_cache_dtype && !engine_kv_dtype_parse(c->kv_cache_dtype, &(engine_kv_dtype){0})) {
        fprintf(stderr, "ctgi serve: --kv-cache-dtype (KV_CACHE_DTYPE) must be f32, f16, bf16 or q8_0, not '%s'\n",
                c->kv_cache_dtype);
        return 2;
    }
    if (!c->model_id) {
        fputs("ctgi serve: --model-id (or MODEL_ID) is required\n", stderr);
        serve_config_help(stderr);
        return 2;
    }
    return 0;
}
