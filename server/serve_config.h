/*
 * serve_config.h — the resolved settings of `ctgi serve` (flags, their
 * environment variables, defaults) and their parser / --help text.
 */
#ifndef CTGI_SERVE_CONFIG_H
#define CTGI_SERVE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "proto.h"

/* --speculate when not given (README: measured on the bench models) */
#define SERVE_SPECULATE_DEFAULT 4

typedef struct {
    const char *model_id;
    const char *hostname;
    int port;
    proto_limits limits;          /* token limits 0 = derive from the model */
    int max_batch_prefill_tokens; /* 0 = engine default */
    int max_batch_total_tokens;   /* 0 = engine default */
    int max_batch_size;           /* 0 = engine default */
    size_t kv_cache_memory;       /* KV-cache bytes when max_batch_total_tokens is 0; 0 = default */
    int block_size;               /* KV positions per block; 0 = engine default (16) */
    bool no_prefix_caching;       /* turn the prefix cache off */
    const char *draft_model;      /* GGUF / HF directory of a draft model; NULL = prompt lookup */
    int speculate;                /* prompt-lookup drafts per step, at most; 0 = off (SERVE_SPECULATE_DEFAULT) */
    const char *matmul;           /* "invariant" (default) | "blas" */
    const char *kv_cache_dtype;   /* "f32" | "f16" | "bf16" | "q8_0"; NULL = engine default (f16) */
    size_t payload_limit;
    size_t max_stream_backlog;    /* unsent bytes a streaming client may fall behind by before it is dropped */
    const char *api_key;          /* comma-separated keys; NULL (and no api_key_file) = no auth */
    const char *api_key_file;     /* one key per line; NULL = none */
    const char *cors_allow_origin; /* comma-separated origins; NULL = any */
    int threads;                  /* 0 = all cores */
    bool json_output;
    double graceful_termination_timeout; /* seconds */
    double sse_keep_alive;        /* seconds of silence before a ":" comment */
    double idle_timeout;          /* seconds an idle keep-alive connection is kept */
    double request_timeout;       /* seconds a connection has to send a whole request; 0 = idle_timeout + 5 */
    unsigned max_connections;     /* open connections at once (MHD_OPTION_CONNECTION_LIMIT) */
    size_t max_header_size;       /* request line + headers, bytes; beyond it: 431 */
    const char *ssl_certfile;     /* PEM certificate (chain); with ssl_keyfile: HTTPS */
    const char *ssl_keyfile;      /* PEM private key */
    int load_delay_ms;            /* testing: sleep before loading (CTGI_DEBUG_LOAD_DELAY_MS) */
    unsigned long long debug_fail_step; /* testing: the engine step that fails (CTGI_DEBUG_FAIL_STEP; 0 = none) */
    const char *compute_type;     /* x-compute-type (env COMPUTE_TYPE, default "cpu") */
    const char *chat_template;    /* --chat-template FILE; NULL = the model's own */
    bool no_ui;                   /* --no-ui: no chat page; GET / is the health answer for everyone */
    const char *revision;         /* a Hub repo's revision; NULL = main */
    const char *model_file;       /* the .gguf of a Hub repo or local directory; NULL = pick */
    const char *lora_adapters;    /* "name=path,path2,..." LoRA adapters (LORA_ADAPTERS); NULL = none */
} serve_config;

/* Defaults, then the environment, then argv (argv[0] = "serve").
 * 0 = run; 1 = --help printed (exit 0); 2 = usage error (message printed). */
int serve_config_parse(int argc, char **argv, serve_config *c);
void serve_config_help(FILE *f);

#endif
