/*
 * server.h — the state of `ctgi serve` shared by the server's files: the
 * resolved configuration, the server (srv: one per process, owned by
 * cli_serve's frame), and one HTTP request in flight (conn).
 *
 * Threads.  Everything here is touched only by the libuv loop thread, with
 * two exceptions, both named where they are declared: the ready list (the
 * engine thread's notify callback pushes onto it under ready_mu) and the
 * fields a validation worker (uv_queue_work) fills while the connection is
 * parked (conn "work" fields: the loop does not touch them until
 * after_work runs).
 *
 * Ownership.  A conn has loop-thread reference counts: MHD's (dropped at
 * NOTIFY_COMPLETED), the validation work's, the SSE response's (its free
 * callback) and the disconnect watcher's (its close callback).  Engine
 * handles are the conn's and are released at NOTIFY_COMPLETED, after which
 * the engine never calls notify for them again.
 */
#ifndef CTGI_SERVER_H
#define CTGI_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "constraint/constraint.h"
#include "template/chat_template.h"
#include "auth.h"
#include "engine.h"
#include "fim.h"
#include "llamacpp.h"
#include "metrics.h"
#include "openai.h"
#include "proto.h"
#include "serve_config.h"
#include "tgi.h"
#include "toolcall.h"

#define CTGI_VERSION "0.1.0"
/* OpenAI's system_fingerprint: the build that produced an answer */
#define CTGI_FINGERPRINT "ctgi-" CTGI_VERSION "-cpu"

/* ---- one request -------------------------------------------------------------------- */

typedef enum {
    RT_NONE = 0,
    RT_COMPAT,          /* POST / */
    RT_GENERATE,        /* POST /generate */
    RT_GENERATE_STREAM, /* POST /generate_stream */
    RT_TOKENIZE,        /* POST /tokenize */
    RT_INFO,            /* GET /info */
    RT_HEALTH,          /* GET /health */
    RT_METRICS,         /* GET /metrics */
    RT_OPENAPI,         /* GET /openapi.json */
    RT_CHAT,            /* POST /v1/chat/completions */
    RT_COMPLETIONS,     /* POST /v1/completions */
    RT_CHAT_TOKENIZE,   /* POST /chat_tokenize */
    RT_MODELS,          /* GET /v1/models */
    RT_ROOT,            /* GET /: the chat page for browsers, else the health answer */
    RT_UI,              /* GET /ui/app.js, /ui/style.css: the chat page's script and style */
    RT_INFILL,          /* POST /infill: llama.cpp's fill-in-the-middle */
} route_id;

/* A generated token as the wire shows it (texts owned). */
typedef struct {
    tgi_generated g;   /* g.token.text → text; g.top → tops */
    char *text;
    tgi_token *tops;
    char *top_text;    /* the tops' texts, back to back */
} gen_tok;

/* A generated token as OpenAI's logprobs show it: the token's own bytes
 * (not the text it released) and its alternatives (texts owned). */
typedef struct {
    oai_token_logprob lp; /* lp.text → text; lp.top → top */
    char *text;
    oai_top_logprob top[SAMPLER_MAX_TOP_N];
    char *top_text;       /* the alternatives' texts, back to back */
} oai_tok;

/* One sequence of a generation (TGI's best_of, OpenAI's n / best_of and
 * prompts run several). */
typedef struct {
    engine_req *h;
    uint64_t seed;
    int prompt;        /* OpenAI: the prompt it continues (index into conn_oai.prompts) */
    oai_tok *otoks;    /* OpenAI, non-streaming with logprobs: every token */
    int n_otoks, cap_otoks;
    oai_tok *ptoks;    /* OpenAI echo + logprobs: the prompt's tokens */
    int n_ptoks;
    double lp_sum;     /* OpenAI: sum of the tokens' logprobs (best_of ranks by the mean) */
    size_t n_chars;    /* OpenAI streaming completions: code points sent (text_offset) */
    gen_tok *toks;     /* non-streaming: every token */
    int n_toks, cap_toks;
    bool ended, failed, cancelled;
    engine_final fin;  /* valid when ended && !failed (fin.text owned) */
    char error[160];
    double t_first, t_last; /* loop arrival of first/last token */
    /* OpenAI with tools (oai_tools.c): the text the tool-call parser sees
     * (control tokens kept, EOS left out), non-streaming; the incremental
     * parser and how many calls it opened, streaming */
    char *tool_text;
    size_t tool_len, tool_cap;
    tc_stream *tcs;
    int n_calls_sent;
} gen_seq;

typedef struct conn conn;
typedef struct srv srv;
typedef struct guard_sock guard_sock; /* conn_guard.c: one TCP connection */

typedef enum { API_TGI = 0, API_OAI, API_LCPP } api_kind; /* LCPP: llama.cpp's /infill */

/* An OpenAI request (oai.c): filled by the validation worker, then the loop. */
typedef struct {
    oai_request req;
    char *text;            /* chat: the rendered prompt (owned) */
    size_t text_len;
    int32_t **prompts;     /* (n_prompts) token ids, owned */
    int *n_prompt;         /* (n_prompts) */
    int *echo_at, *n_echo; /* (n_prompts) the tokens of the client's prompt: prompts[p][echo_at[p] ..
                              + n_echo[p]) (all of them, or a FIM prompt's prefix) */
    bool fim;              /* completions with `suffix`: fill-in-the-middle prompts (fim.h) */
    int32_t *stop_ids;     /* stop_token_ids + the FIM markers (owned; NULL: the request's own) */
    int n_stop_ids;
    uint32_t *max_new;     /* (n_prompts) */
    int n_prompts;
    int per_prompt;        /* sequences per prompt: best_of, else n */
    char id[OAI_ID_MAX];
    uint64_t created;
    bool role_sent;        /* streaming chat: the role chunks went out */
    bool tools_on;         /* chat with tools and tool_choice not none: parse the output for calls */
    tc_format fmt;         /* the chat template's tool-call format (tools_on) */
} conn_oai;

/* A llama.cpp /infill request (infill.c): filled by the worker, then the loop. */
typedef struct {
    lcpp_infill req;
    fim_prompt fp;         /* the prompt (fp.ids owned) and the markers that end the middle */
    uint32_t max_new;
    uint64_t seed;
    int32_t *ids;          /* return_tokens, non-streaming: the generated ids */
    int n_ids, cap_ids;
    bool has_new_line;     /* streaming: a generated piece held a newline */
} conn_infill;

struct conn {
    srv *s;
    struct MHD_Connection *mc;
    guard_sock *sock;      /* its connection's request deadline (NULL if none) */
    int refs;
    route_id route;
    char method[8];
    char path[64];         /* for the log (truncated) */
    double t_start;

    /* body */
    char *body;
    size_t body_len, body_cap;
    size_t body_seen;      /* bytes received, kept or not */
    bool body_too_large;

    /* connection state */
    bool started;          /* the final handler call happened */
    bool suspended;        /* MHD_suspend_connection in effect */
    bool gone;             /* the client went away (or we drop it) */
    bool completed;        /* NOTIFY_COMPLETED seen */
    bool queued;           /* a response was queued */
    int status;            /* the status answered (log) */
    uv_poll_t *watch;      /* disconnect watcher while suspended (lazy) */
    bool watching;
    struct MHD_Response *pending; /* built off the handler; queued at its next call */
    int pending_status;

    /* generation: filled by the validation worker, then the loop */
    api_kind api;
    conn_oai oai;          /* api == API_OAI */
    conn_infill infill;    /* api == API_LCPP */
    bool permit;           /* counts against --max-concurrent-requests */
    bool in_active;
    conn *prev_active, *next_active;
    uv_work_t work;
    tgi_route troute;
    tgi_request req;
    proto_error err;
    bool work_failed;
    int32_t *prompt;       /* after truncation */
    int n_prompt;
    tgi_lengths lens;
    cons_grammar *grammar; /* the request's constraint (one reference, owned), NULL = none */
    int adapter;           /* the LoRA adapter the request selected (engine_request.adapter), 0 = none */
    char *tok_json;        /* /tokenize answer */
    size_t tok_json_len;
    double t_validated;    /* submitted to the engine */
    bool stream, sampling, full_text;
    gen_seq *seqs;
    int n_seqs, n_ended;
    bool finished;         /* the answer (or the stream's end) was produced */
    const char *outcome;   /* log: "ok", "cancelled", "error", ... */

    /* streaming (sse.c) */
    char *out;
    size_t out_len, out_pos, out_cap;
    bool stream_done;
    uint32_t index;
    gen_tok held;          /* a token that may be the last one */
    bool has_held;
    char *text;            /* generated text so far (stop-string look-behind) */
    size_t text_len, text_cap;
    double last_write;

    /* ready list (under srv.ready_mu) */
    conn *next_ready;
    bool in_ready;
};

/* ---- the server --------------------------------------------------------------------- */

typedef enum { SRV_LOADING = 0, SRV_READY, SRV_DRAINING, SRV_STOPPING } srv_state;

struct srv {
    serve_config cfg;
    auth_keys keys;            /* --api-key, --api-key-file (none = no auth) */
    char *model_path;          /* what model_load opens: --model-id, or the Hub snapshot's file / directory */
    char model_sha[41];        /* the Hub commit served ("" = a local model) */
    uv_loop_t loop;
    struct MHD_Daemon *d;
    int port;                  /* bound */
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer;
    uv_async_t wake;           /* engine events */
    uv_async_t loaded;         /* the load thread finished */
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    uv_timer_t keepalive_timer;
    bool handles_open;
    int exit_code;

    srv_state state;
    pthread_t load_thread;
    bool load_thread_running;
    model *m;                  /* set by the load thread, read after `loaded` */
    model *draft;              /* --draft-model, loaded beside it (NULL: none) */
    chat_template *ct;         /* the model's chat template (or --chat-template, or the fallback) */
    bool engine_ready;         /* loop thread: m, e, ecfg may be read (the load thread was joined) */
    engine *e;
    char load_err[CT_ERRLEN];
    proto_limits limits;       /* resolved */
    engine_config ecfg;        /* resolved */
    double t_ready;
    time_t t_ready_wall;       /* when the model was ready (unix seconds; /v1/models "created") */

    pthread_mutex_t ready_mu;  /* guards ready and every conn's next_ready/in_ready */
    conn *ready;

    conn *active;              /* conns in a generation / tokenize lifecycle (may park) */
    int n_permits;             /* of them, holding a --max-concurrent-requests permit */
    int n_conns;               /* conns alive (open connections with a request) */
    conn **drain;              /* scratch for the wake callback (loop thread) */
    int cap_drain;
    bool cancel_sent;          /* the drain deadline passed */

    metrics *met;
    uint64_t rng;              /* seeds for requests that bring none */

    /* conn_guard.c */
    guard_sock *dl_head, *dl_tail; /* connections owing a request, oldest deadline first */
    uv_timer_t dl_timer;       /* at dl_head's deadline */
    char *tls_cert, *tls_key;  /* PEM text of --ssl-certfile / --ssl-keyfile (NULL = plain HTTP) */
    unsigned max_sockets;      /* --max-connections in effect */
    unsigned n_sockets;        /* open connections (MHD's NOTIFY_CONNECTION) */
    bool rerun;                /* one closed at the limit: MHD_run again to listen again */
    double t_refused_log;      /* last "connection limit" log line */
    unsigned n_refused;        /* connections refused since */
    char mhd_err[512];         /* libmicrohttpd's last message (start-up errors) */
};

/* ---- http_loop.c -------------------------------------------------------------------- */

bool http_start(srv *s, char *err);
/* Run MHD once and re-arm its timer (never from inside an MHD callback). */
void http_drive(srv *s);
/* Stop accepting new connections (shutdown). */
void http_stop_accepting(srv *s);
/* Resume every suspended connection (marked gone unless finished), run MHD,
 * stop the daemon, close the loop's handles. */
void http_close(srv *s);
/* Park c (inside the access handler or the content reader only) and watch
 * its socket for a disconnect. */
void conn_suspend(conn *c);
/* Un-park c (loop thread, outside MHD callbacks); the caller runs http_drive. */
void conn_resume(conn *c);
/* Close the watcher for good (NOTIFY_COMPLETED, while the fd is still open). */
void conn_watch_close(conn *c);
/* The engine's notify callback (engine thread): put the conn on the ready
 * list and wake the loop. */
void http_engine_notify(void *ud);

/* ---- conn_guard.c --------------------------------------------------------------------- */

void guard_init(srv *s);
void guard_close(srv *s);
/* A connection accepted on fd (NOTIFY_CONNECTION STARTED): its request
 * deadline starts now.  NULL when memory runs out (no deadline then). */
guard_sock *guard_sock_new(srv *s, int fd);
void guard_sock_free(guard_sock *k);
/* The connection answered a request and may send another: a new deadline. */
void guard_wait_request(guard_sock *k);
/* A whole request arrived: no deadline until the answer is sent. */
void guard_got_request(guard_sock *k);
/* --max-connections, raising RLIMIT_NOFILE for it (or lowered to fit). */
unsigned guard_max_connections(srv *s);
/* Read --ssl-certfile / --ssl-keyfile into s->tls_cert / tls_key; true
 * when neither is given.  false + err: one without the other, MHD without
 * TLS, a file unreadable or not PEM. */
bool guard_tls_load(srv *s, char *err);
void guard_tls_free(srv *s);

/* ---- serve.c ------------------------------------------------------------------------ */

/* A permit was returned: if draining and none is left, finish (soon, from
 * a timer: this may run inside MHD_run). */
void serve_check_drained(srv *s);
/* A seed below 2^53 (JavaScript clients can replay it exactly). */
uint64_t serve_seed(srv *s);

/* ---- routes.c ----------------------------------------------------------------------- */

enum MHD_Result routes_access(void *cls, struct MHD_Connection *mc, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls);
void routes_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                      enum MHD_RequestTerminationCode toe);
/* Build (not queue) a response with the CORS headers for c. */
struct MHD_Response *resp_buffer(conn *c, const char *body, size_t len, const char *ctype);
struct MHD_Response *resp_error(conn *c, const proto_error *e);
/* The status e is answered with on c's route (OpenAI's answers a 422 of a
 * TGI-style check as 400, see oai_http_status). */
int resp_status(const conn *c, const proto_error *e);
/* Access-Control-Allow-Origin per --cors-allow-origin and the request's Origin. */
void resp_add_cors(conn *c, struct MHD_Response *r);
/* Keep r for the handler's next call and resume c (the caller drives MHD). */
void conn_answer_later(conn *c, struct MHD_Response *r, int status);
void conn_unref(conn *c);

/* ---- gen.c -------------------------------------------------------------------------- */

/* Start validating (and tokenizing) a generation or /tokenize request on a
 * worker; c is suspended until there is an answer. */
enum MHD_Result gen_start(conn *c);
/* Take the engine events of c (loop thread, from the wake callback). */
void gen_drain(conn *c);
/* Cancel c's sequences (disconnect, shutdown). */
void gen_cancel(conn *c, bool client_gone);
/* NOTIFY_COMPLETED: release the engine handles, count and log. */
void gen_completed(conn *c, bool error);
void gen_free(conn *c);
/* Compile a validated request's constraint regex (taken; NULL = none) for
 * the model into c->grammar, on the validation worker: 422 (TGI) / 400
 * (OpenAI) when the engine's dialect refuses it. */
bool gen_constraint(conn *c, char *regex);
/* TGI's parameters.adapter_id (NULL: none) into c->adapter: one of the
 * --lora-adapters names, or the served model's id (the base); anything
 * else is a 422 naming the adapters there are. */
bool gen_adapter(conn *c, const char *adapter_id);
/* A token event as the wire shows it; ev's texts are taken. */
bool gen_tok_from_event(const model *m, engine_token *et, gen_tok *out);
/* The bytes token id stands for, special tokens' text included (malloc'd,
 * NUL-terminated, *len its length); NULL when memory runs out. */
char *gen_token_text(const model *m, int32_t id, size_t *len);
/* The texts of top[0..n_top) back to back (malloc'd); token i is
 * [off[i], off[i+1]).  NULL when memory runs out. */
char *gen_top_texts(const model *m, const sampler_token *top, int n_top, size_t off[SAMPLER_MAX_TOP_N + 1]);
void gen_tok_free(gen_tok *t);
/* The text a client sees (prompt first when return_full_text), malloc'd. */
char *gen_full_text(const conn *c, const engine_final *f, size_t *len);
tgi_finish gen_finish(const conn *c, const gen_seq *q);
/* Code points of `inputs` (x-compute-characters). */
size_t gen_compute_characters(const conn *c);
/* TGI's x-* timing headers of a non-streaming answer. */
void gen_timing_headers(conn *c, struct MHD_Response *r, const metrics_req *mr);
/* Count a finished generation in the metrics; *mr gets its timings. */
void gen_success(conn *c, const gen_seq *q, metrics_req *mr);
/* Seconds since an arbitrary epoch (monotonic). */
double srv_now(void);

/* ---- oai.c, oai_stream.c --------------------------------------------------------------- */

/* The worker's part of an OpenAI request (parse, validate, chat template,
 * tokenize, lengths); fills c->err and work_failed like gen.c's. */
void oai_work(conn *c);
/* Submit every sequence (n or best_of per prompt); false + c->err. */
bool oai_submit(conn *c);
void oai_on_token(conn *c, gen_seq *q, engine_token *et);
/* q ended with a FINAL (c->n_ended already counts it). */
void oai_on_final(conn *c, gen_seq *q);
void oai_free(conn *c);
oai_meta oai_meta_of(const conn *c);
/* The engine's finish reason in OpenAI's words (length, else stop). */
oai_finish oai_finish_of(engine_finish f);
/* Prompt tokens (every prompt once) and tokens generated by every sequence. */
oai_usage oai_usage_of(const conn *c);
/* The text `echo` puts before prompt p's completions (malloc'd). */
char *oai_echo_text(const conn *c, int p, size_t *len);
bool oai_tok_from_event(const model *m, const engine_token *et, oai_tok *out);
void oai_tok_free(oai_tok *t);
/* Streaming: the opening chunks (chat roles, completions echo), one
 * token's delta, one choice's finish (and the end of the stream after the
 * last one). */
void oai_stream_begin(conn *c);
/* One chunk of c's stream (chat or completions, usage:null when asked). */
void oai_stream_put(conn *c, const oai_delta *d);
void oai_stream_token(conn *c, gen_seq *q, const engine_token *et);
void oai_stream_final(conn *c, gen_seq *q);

/* ---- infill.c ---------------------------------------------------------------------------- */

/* The worker's part of a /infill request: parse, the model's FIM tokens
 * (501 without), the prompt cut to the context (fim.h), the budget. */
void infill_work(conn *c);
bool infill_submit(conn *c);
void infill_on_token(conn *c, gen_seq *q, engine_token *et);
void infill_on_final(conn *c, gen_seq *q);
void infill_free(conn *c);

/* ---- oai_tools.c ------------------------------------------------------------------------ */

/* Worker: the template's tools (opt->tools) and format; *messages a copy
 * with the tools note when the template ignores tools (else NULL). */
bool oai_tools_prepare(conn *c, chat_render_opts *opt, json_t **messages);
/* Worker: the forced-call constraint for tool_choice required / a named
 * function (*regex malloc'd, NULL otherwise); false + c->err (400, 422 for
 * a parameter schema keyword ctgi cannot enforce). */
bool oai_tools_constraint(conn *c, char **regex);
/* A token of a tools_on request: kept for the parser, or streamed through it. */
void oai_tools_token(conn *c, gen_seq *q, const engine_token *et);
/* Streaming: flush the parser at q's end; the choice's finish reason. */
oai_finish oai_tools_stream_final(conn *c, gen_seq *q);
/* Non-streaming: q's content and calls into ch (res owns them until
 * tc_result_clear). */
bool oai_tools_choice(conn *c, gen_seq *q, oai_choice *ch, tc_result *res);
void oai_tools_free(gen_seq *q);

/* ---- sse.c -------------------------------------------------------------------------- */

/* Make *buf (capacity *cap) hold at least need bytes, doubling from 256.
 * false when memory runs out (*buf unchanged). */
bool srv_grow(char **buf, size_t *cap, size_t need);
/* Queue bytes for the client (drops a client that stopped reading). */
void sse_append(conn *c, const char *bytes, size_t n);

/* The SSE response for c (after its sequences were submitted). */
struct MHD_Response *sse_response(conn *c);
/* A token / the end / an error of c's single sequence, as SSE bytes. */
void sse_token(conn *c, gen_tok *t);
void sse_final(conn *c);
void sse_error(conn *c, const proto_error *e);
/* Keep-alive comments for streams silent for --sse-keep-alive seconds. */
void sse_keepalive(srv *s);
void sse_free(conn *c);

#endif
