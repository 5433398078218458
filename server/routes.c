/*
 * routes.c — what each HTTP request gets: the route table, CORS and OPTIONS
 * preflights, `--api-key` on the generation routes (auth.c), 404 / 405 /
 * 413 / 415 / 431 (--max-header-size), the body reader with --payload-limit
 * (chunked bodies too), the GET routes (/health, /info,
 * /metrics, /openapi.json, and the chat page's files of ui.h at / and /ui/),
 * and the life of a conn from MHD's first access-handler call to
 * NOTIFY_COMPLETED.
 *
 * Responses are queued on the handler's second call at the earliest
 * (runtime-notes P2: queueing on the first call costs the keep-alive),
 * except the early 431 and 413, which close the connection on purpose.
 * The chat page's files are found by exact match in ui.h's table, never
 * on disk, so no path can reach a file (MHD decodes %XX first, but not
 * %00: see http_loop.c).  A
 * response built while the connection is parked (conn_answer_later) waits
 * in conn.pending until the resumed connection calls the handler again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "openapi.h"
#include "server.h"
#include "ui.h"

typedef struct {
    const char *path;
    const char *method;
    route_id id;
    bool auth;
} route_def;

static const route_def ROUTES[] = {
    {"/", "POST", RT_COMPAT, true},
    {"/generate", "POST", RT_GENERATE, true},
    {"/generate_stream", "POST", RT_GENERATE_STREAM, true},
    {"/tokenize", "POST", RT_TOKENIZE, true},
    {"/v1/chat/completions", "POST", RT_CHAT, true},
    {"/v1/completions", "POST", RT_COMPLETIONS, true},
    {"/infill", "POST", RT_INFILL, true},
    {"/chat_tokenize", "POST", RT_CHAT_TOKENIZE, false},
    {"/v1/models", "GET", RT_MODELS, false},
    {"/info", "GET", RT_INFO, false},
    {"/health", "GET", RT_HEALTH, false},
    {"/", "GET", RT_ROOT, false},       /* TGI's health alias, or the chat page for a browser */
    {"/ping", "GET", RT_HEALTH, false},
    {"/metrics", "GET", RT_METRICS, false},
    {"/openapi.json", "GET", RT_OPENAPI, false},
    {"/ui/app.js", "GET", RT_UI, false},
    {"/ui/style.css", "GET", RT_UI, false},
};
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

/* The route serving method on path, or NULL.  *methods (if not NULL) gets
 * the methods path accepts, for a 405's Allow header ("" = unknown path). */
static const route_def *find_route(const char *path, const char *method, char methods[32]) {
    const route_def *hit = NULL;
    if (methods) methods[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(ROUTES[i].path, path) != 0) continue;
        if (strcmp(ROUTES[i].method, method) == 0) hit = &ROUTES[i];
        if (methods) {
            size_t n = strlen(methods);
            snprintf(methods + n, 32 - n, "%s%s", n ? ", " : "", ROUTES[i].method);
        }
    }
    return hit;
}

/* ---- responses ------------------------------------------------------------------------- */

static bool origin_listed(const char *list, const char *origin) {
    size_t n = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t k = strcspn(p, ",");
        size_t t = k;
        while (t > 0 && p[t - 1] == ' ') t--;
        if (t > 0 && ((t == 1 && p[0] == '*') || (t == n && strncmp(p, origin, n) == 0))) return true;
        p += k;
    }
    return false;
}

void resp_add_cors(conn *c, struct MHD_Response *r) {
    const char *allow = c->s->cfg.cors_allow_origin;
    if (!allow) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        return;
    }
    const char *origin = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Origin");
    if (origin && origin_listed(allow, origin)) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

struct MHD_Response *resp_buffer(conn *c, const char *body, size_t len, const char *ctype) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return NULL;
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    resp_add_cors(c, r);
    return r;
}

int resp_status(const conn *c, const proto_error *e) {
    return c->api == API_OAI ? oai_http_status(e) : c->api == API_LCPP ? lcpp_http_status(e) : e->status;
}

struct MHD_Response *resp_error(conn *c, const proto_error *e) {
    size_t n;
    char *body = c->api == API_OAI    ? oai_encode_error(e, &n)
                 : c->api == API_LCPP ? lcpp_encode_error(e, false, &n)
                                      : proto_encode_error(e, &n);
    struct MHD_Response *r = body ? resp_buffer(c, body, n, "application/json") : NULL;
    free(body);
    if (r && e->status == 429) MHD_add_response_header(r, "Retry-After", "1");
    return r;
}

static enum MHD_Result answer(conn *c, struct MHD_Response *r, int status) {
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c->mc, (unsigned)status, r);
    MHD_destroy_response(r);
    c->queued = true;
    c->status = status;
    return ret;
}

static enum MHD_Result answer_error(conn *c, int status, const char *type, const char *fmt, const char *arg) {
    proto_error e;
    proto_fail(&e, status, type, fmt, arg);
    return answer(c, resp_error(c, &e), status);
}

static enum MHD_Result answer_413(conn *c) {
    char limit[32];
    snprintf(limit, sizeof limit, "%zu", c->s->cfg.payload_limit);
    c->outcome = "payload_too_large";
    return answer_error(c, 413, "payload_too_large", "Payload Too Large: the body exceeds --payload-limit (%s bytes)",
                        limit);
}

void conn_answer_later(conn *c, struct MHD_Response *r, int status) {
    if (!r) c->gone = true; /* out of memory: close rather than leave it parked */
    if (c->pending) MHD_destroy_response(c->pending);
    c->pending = r;
    c->pending_status = status;
    conn_resume(c);
}

/* ---- life of a conn --------------------------------------------------------------------- */

static conn *conn_new(srv *s, struct MHD_Connection *mc, const char *url, const char *method) {
    conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->s = s;
    c->mc = mc;
    c->refs = 1; /* MHD's, dropped at NOTIFY_COMPLETED */
    c->t_start = srv_now();
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->path, sizeof c->path, "%s", url);
    c->outcome = "ok";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    c->sock = ci ? ci->socket_context : NULL;
    const route_def *r = find_route(url, method, NULL);
    c->route = r ? r->id : RT_NONE;
    /* OpenAI's routes (and unknown /v1/ paths) answer errors in OpenAI's envelope */
    c->api = c->route == RT_CHAT || c->route == RT_COMPLETIONS || c->route == RT_MODELS ||
                     c->route == RT_CHAT_TOKENIZE || strncmp(url, "/v1/", 4) == 0
                 ? API_OAI
             : strcmp(url, "/infill") == 0 ? API_LCPP
                                           : API_TGI;
    s->n_conns++;
    return c;
}

void conn_unref(conn *c) {
    if (--c->refs > 0) return;
    if (c->pending) MHD_destroy_response(c->pending);
    gen_free(c);
    sse_free(c);
    free(c->body);
    free(c);
}

static bool body_route(const conn *c) {
    return c->route == RT_COMPAT || c->route == RT_GENERATE || c->route == RT_GENERATE_STREAM ||
           c->route == RT_TOKENIZE || c->route == RT_CHAT || c->route == RT_COMPLETIONS ||
           c->route == RT_CHAT_TOKENIZE || c->route == RT_INFILL;
}

/* First handler call: only the early 431 and 413 are answered now (they
 * close the connection, which is what an oversized request deserves).
 * Headers far over --max-header-size do not get here: MHD's pool
 * (http_loop.c) cannot hold them, and MHD answers 431 itself. */
static enum MHD_Result first_call(conn *c) {
    const union MHD_ConnectionInfo *hi = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (hi && hi->header_size > c->s->cfg.max_header_size) {
        char limit[32];
        snprintf(limit, sizeof limit, "%zu", c->s->cfg.max_header_size);
        c->outcome = "headers_too_large";
        return answer_error(c, 431, "headers_too_large",
                            "Request Header Fields Too Large: the request line and headers exceed --max-header-size (%s bytes)",
                            limit);
    }
    if (!body_route(c) || strcmp(c->method, "POST") != 0) return MHD_YES;
    const char *cl = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > c->s->cfg.payload_limit) {
        c->body_too_large = true;
        return answer_413(c);
    }
    return MHD_YES;
}

static void body_append(conn *c, const char *data, size_t n) {
    if (c->body_too_large) return;
    if (c->body_len + n > c->s->cfg.payload_limit) {
        c->body_too_large = true;
        free(c->body);
        c->body = NULL;
        c->body_len = c->body_cap = 0;
        return;
    }
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + n + 1) cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b) {
            c->body_too_large = true; /* answered as 413: we could not hold it */
            return;
        }
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
}

/* ---- GET routes ------------------------------------------------------------------------- */

static bool serving(const srv *s) { return s->state == SRV_READY; }

static struct MHD_Response *health_response(conn *c, int *status) {
    *status = 200;
    if (serving(c->s)) return resp_buffer(c, "", 0, NULL);
    proto_error e;
    proto_err_unhealthy(&e);
    *status = e.status;
    return resp_error(c, &e);
}

static enum MHD_Result get_health(conn *c) {
    int status;
    struct MHD_Response *r = health_response(c, &status);
    return answer(c, r, status);
}

/* The model's LoRA adapters as proto shows them: *n entries pointing into
 * *infos (both malloc'd by it, NULL when there are none). */
static proto_adapter *adapters_of(const model *m, model_lora_info **infos, int *n) {
    *n = model_lora_count(m);
    proto_adapter *a = *n ? calloc((size_t)*n, sizeof *a) : NULL;
    *infos = *n ? calloc((size_t)*n, sizeof **infos) : NULL;
    if (!a || !*infos) {
        free(a);
        free(*infos);
        *infos = NULL;
        *n = 0;
        return NULL;
    }
    for (int k = 1; k <= *n; k++) {
        model_lora_info *in = &(*infos)[k - 1];
        *in = model_lora_get(m, k);
        a[k - 1] = (proto_adapter){in->name, in->path, in->format, in->targets, in->rank, in->alpha};
    }
    return a;
}

static enum MHD_Result get_info(conn *c) {
    srv *s = c->s;
    if (!s->engine_ready) return get_health(c);
    const model_info mi = model_get_info(s->m);
    tgi_info info = {
        .model_id = s->cfg.model_id,
        .model_sha = s->model_sha[0] ? s->model_sha : NULL,
        .model_pipeline_tag = mi.encoder_decoder ? "text2text-generation" : "text-generation",
        .limits = s->limits,
        .validation_workers = 4, /* libuv's thread pool */
        .max_client_batch_size = 4,
        .router = "text-generation-router",
        .version = CTGI_VERSION,
        .model_dtype = mi.weight_type,
        .model_device_type = "cpu",
        .architecture = mi.architecture,
        .kernels = mi.kernels,
        .max_batch_prefill_tokens = (uint64_t)s->ecfg.max_batch_prefill_tokens,
        .max_batch_total_tokens = (uint64_t)s->ecfg.max_batch_total_tokens,
        .max_batch_size = (uint32_t)s->ecfg.max_batch_size,
        .chat_template = chat_template_origin(s->ct),
        .kv_cache_dtype = engine_kv_dtype_name(s->ecfg.kv_dtype),
    };
    model_lora_info *li;
    proto_adapter *ad = adapters_of(s->m, &li, &info.n_adapters);
    info.adapters = ad;
    size_t n;
    char *body = tgi_encode_info(&info, &n);
    free(ad);
    free(li);
    struct MHD_Response *r = body ? resp_buffer(c, body, n, "application/json") : NULL;
    free(body);
    return answer(c, r, 200);
}

static enum MHD_Result get_metrics(conn *c) {
    srv *s = c->s;
    metrics_gauges g = {s->n_permits, s->n_conns, (int)s->limits.max_concurrent_requests, serving(s)};
    engine_stats st;
    if (s->engine_ready) st = engine_get_stats(s->e);
    size_t n;
    char *body = metrics_render(s->met, s->engine_ready ? &st : NULL, s->engine_ready ? &s->ecfg : NULL, &g, &n);
    struct MHD_Response *r = body ? resp_buffer(c, body, n, "text/plain; version=0.0.4; charset=utf-8") : NULL;
    free(body);
    return answer(c, r, 200);
}

static enum MHD_Result get_models(conn *c) {
    srv *s = c->s;
    if (!s->engine_ready) return get_health(c);
    size_t n;
    int na;
    model_lora_info *li;
    proto_adapter *ad = adapters_of(s->m, &li, &na);
    char *body =
        oai_encode_models(s->cfg.model_id, (uint64_t)s->t_ready_wall, s->limits.max_total_tokens, ad, na, &n);
    free(ad);
    free(li);
    struct MHD_Response *r = body ? resp_buffer(c, body, n, "application/json") : NULL;
    free(body);
    return answer(c, r, 200);
}

static enum MHD_Result get_openapi(conn *c) {
    size_t n;
    const char *doc = proto_openapi_json(&n);
    return answer(c, resp_buffer(c, doc, n, "application/json"), 200);
}

/* A file of the chat page (the page itself at "/"), whatever the model's
 * state: the page shows that state itself.  404 with --no-ui. */
static enum MHD_Result get_ui(conn *c) {
    ui_file f;
    if (c->s->cfg.no_ui || !ui_find(c->path, &f)) return answer_error(c, 404, "not_found", "Not Found: %s", c->path);
    const char *inm = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = ui_etag_matches(inm, f.etag);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(fresh ? 0 : f.len, fresh ? (void *)"" : (void *)f.data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    if (!fresh) MHD_add_response_header(r, "Content-Type", f.content_type);
    MHD_add_response_header(r, "ETag", f.etag);
    MHD_add_response_header(r, "Cache-Control", UI_CACHE_CONTROL);
    MHD_add_response_header(r, "Content-Security-Policy", UI_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (strcmp(f.path, "/") == 0) MHD_add_response_header(r, "Vary", "Accept");
    resp_add_cors(c, r);
    return answer(c, r, fresh ? 304 : 200);
}

/* GET /: TGI's health answer, except for a browser (Accept: text/html)
 * while the page is on.  The answer then depends on Accept, which caches
 * are told with Vary. */
static enum MHD_Result get_root(conn *c) {
    bool ui = !c->s->cfg.no_ui;
    if (ui && ui_accepts_html(MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT)))
        return get_ui(c);
    int status;
    struct MHD_Response *r = health_response(c, &status);
    if (r && ui) MHD_add_response_header(r, "Vary", "Accept");
    return answer(c, r, status);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static enum MHD_Result preflight(conn *c, bool known_path) {
    if (!known_path) return answer_error(c, 404, "not_found", "Not Found: %s", c->path);
    struct MHD_Response *r = resp_buffer(c, "", 0, NULL);
    if (!r) return MHD_NO;
    const char *req_h = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", req_h ? req_h : "authorization, content-type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    return answer(c, r, 204);
}

static bool auth_ok(conn *c) {
    return auth_keys_check(&c->s->keys, MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

static bool json_content(conn *c) {
    const char *ct = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct) return false;
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ') n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

static enum MHD_Result post_route(conn *c) {
    srv *s = c->s;
    if (c->body_too_large) return answer_413(c);
    if (!serving(s)) {
        if (c->route != RT_TOKENIZE) {
            metrics_request(s->met);
            metrics_fail(s->met, MF_UNHEALTHY);
        }
        c->outcome = "unavailable";
        proto_error e;
        proto_fail(&e, 503, "unhealthy", "%s",
                   s->state == SRV_LOADING ? "Model is loading" : "Server is shutting down");
        return answer(c, resp_error(c, &e), 503);
    }
    if (!json_content(c))
        return answer_error(c, 415, "unsupported_media_type", "%s",
                            "Expected request with `Content-Type: application/json`");
    return gen_start(c);
}

static enum MHD_Result dispatch(conn *c) {
    char methods[32];
    const route_def *rd = find_route(c->path, c->method, methods);
    if (strcmp(c->method, "OPTIONS") == 0) return preflight(c, methods[0] != '\0');
    if (!methods[0]) return answer_error(c, 404, "not_found", "Not Found: %s", c->path);
    if (!rd) {
        proto_error e;
        proto_fail(&e, 405, "method_not_allowed", "Method Not Allowed: %s %s accepts %s", c->method, c->path,
                   methods);
        struct MHD_Response *r = resp_error(c, &e);
        if (r) MHD_add_response_header(r, "Allow", methods);
        return answer(c, r, 405);
    }
    if (rd->auth && !auth_ok(c)) {
        c->outcome = "unauthorized";
        if (c->api != API_TGI) /* OpenAI's and llama.cpp's clients read error.message; TGI's answer has no body */
            return answer_error(c, 401, "unauthorized", "%s", "Incorrect or missing API key (Authorization: Bearer <key>)");
        return answer(c, resp_buffer(c, "", 0, NULL), 401);
    }
    switch (rd->id) {
    case RT_HEALTH: return get_health(c);
    case RT_ROOT: return get_root(c);
    case RT_UI: return get_ui(c);
    case RT_INFO: return get_info(c);
    case RT_METRICS: return get_metrics(c);
    case RT_OPENAPI: return get_openapi(c);
    case RT_MODELS: return get_models(c);
    default: return post_route(c);
    }
}

enum MHD_Result routes_access(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
    conn *c = *con_cls;
    if (!c) {
        if (!(c = conn_new(cls, mc, url, method))) return MHD_NO;
        *con_cls = c;
        return first_call(c);
    }
    if (*upload_data_size) {
        body_append(c, upload_data, *upload_data_size);
        c->body_seen += *upload_data_size;
        *upload_data_size = 0;
        /* A chunked upload past --payload-limit is read to its end and
         * dropped, then answered 413 (closing with unread bytes would make
         * the kernel reset the connection, and the client lose the 413);
         * but one far past it is answered now and closed. */
        size_t cut = 2 * c->s->cfg.payload_limit + (1u << 20);
        if (c->body_too_large && c->body_seen > cut && !c->queued) return answer_413(c);
        return MHD_YES;
    }
    if (c->queued) return MHD_YES;
    if (c->pending) {
        struct MHD_Response *r = c->pending;
        c->pending = NULL;
        return answer(c, r, c->pending_status);
    }
    if (c->gone) return MHD_NO;
    if (c->started) { /* woken with nothing to say: park again */
        conn_suspend(c);
        return MHD_YES;
    }
    c->started = true;
    guard_got_request(c->sock); /* the request is in: no deadline while it is answered */
    return dispatch(c);
}

void routes_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe) {
    conn *c = *con_cls;
    if (!c) return;
    *con_cls = NULL;
    srv *s = c->s;
    c->completed = true;
    c->suspended = false;
    conn_watch_close(c);
    bool error = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (c->in_active) {
        gen_completed(c, error); /* logs the request */
    } else {
        if (error && strcmp(c->outcome, "ok") == 0) c->outcome = "aborted";
        log_request l = {c->method, c->path, c->queued ? c->status : 0, c->outcome, -1, -1, NULL, 0, 0,
                         srv_now() - c->t_start, NULL};
        log_request_line(s->cfg.json_output, &l);
    }
    s->n_conns--;
    guard_wait_request(c->sock); /* keep-alive: the next request's deadline */
    conn_unref(c);
}
