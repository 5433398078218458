/*
 * bench_http.c — `ctgi serve` under load over HTTP/SSE, beside the engine
 * alone on the same work (built as build/tools/bench_http; run by
 * scripts/bench.sh / `make bench`).
 *
 *   bench_http [--threads N] [--cache-dir DIR] [--model small|large] [--type TYPE] [--requests N]
 *              [--prompt N] [--gen N] [--concurrency 1,4,16,64] [--quick] [--no-engine]
 *              [--llama-server PATH]
 *
 * Work: text prompts of about `prompt` tokens (random vocabulary pieces,
 * decoded), `gen` new tokens each, greedy.  Concurrency c runs max(8, 4c)
 * requests (at most `requests`), a new one the moment one finishes.
 *   - engine: the same prompts, tokenized as the server does, submitted to
 *     an in-process engine (engine.h) by one client thread;
 *   - http: `ctgi serve` started on a free port, POST /generate_stream from
 *     one libcurl multi handle; each SSE event is stamped when its bytes
 *     arrive.
 * The two run level by level (engine, then HTTP), so that a change in the
 * machine's load affects both sides alike.  Printed per level: aggregate generated tokens/s, time to first token and
 * inter-token latency at p50/p95/p99, http/engine throughput, and the CPU
 * the server's event-loop thread used (the HTTP layer's own cost).
 * --type runs on the bench file of that weight type (bench_quant's files,
 * e.g. Q8_0, Q4_K_M; default the F32 one).  --llama-server (or
 * CTGI_LLAMA_SERVER) also starts llama.cpp's server on the same file, the
 * same threads and one slot per request of the highest concurrency, and
 * drives both servers through the OpenAI route they share
 * (POST /v1/completions, stream, greedy, ignore_eos): the table then puts
 * ctgi's throughput and TTFT beside llama.cpp's.
 * Nothing is asserted.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "engine.h"
#include "model/dtype.h"
#include "model/model_info.h"
#include "support/bench_models.h"
#include "support/bench_util.h"

typedef struct {
    int threads, requests, prompt, gen, conc[8], n_conc;
    const char *cache_dir, *model_key, *type, *llama_server;
    bool engine;
} options;

typedef struct {
    double wall, tps, ttft[3], itl[3], loop_cpu;
    long generated;
} result;

/* p50, p95, p99 of v (sorted in place). */
static void pcts(double *v, long n, double out[3]) {
    static const double P[3] = {0.50, 0.95, 0.99};
    for (int i = 0; i < 3; i++) out[i] = bench_percentile(v, n, P[i]);
}

typedef struct {
    double *ttft, *gaps;
    long n_ttft, n_gaps, generated;
} samples;

static samples samples_new(int n, int gen) {
    samples s = {calloc((size_t)n, sizeof(double)), calloc((size_t)n * (size_t)(gen + 1), sizeof(double)), 0, 0, 0};
    if (!s.ttft || !s.gaps) bench_die("out of memory");
    return s;
}

static result finish(samples *s, double wall) {
    result r = {.wall = wall, .generated = s->generated, .tps = (double)s->generated / wall};
    pcts(s->ttft, s->n_ttft, r.ttft);
    pcts(s->gaps, s->n_gaps, r.itl);
    free(s->ttft);
    free(s->gaps);
    return r;
}

/* ---- the work --------------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* n prompt texts of about `tokens` tokens each: random non-special pieces. */
static char **make_prompts(const model *m, int n, int tokens) {
    char **p = calloc((size_t)n, sizeof *p);
    uint64_t r = 0x5eedbeefu;
    int32_t *ids = malloc((size_t)tokens * sizeof *ids);
    const tokenizer *t = model_tokenizer(m);
    uint64_t vocab = (uint64_t)model_get_info(m).vocab;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < tokens; i++) {
            int32_t id;
            do id = (int32_t)(rnd(&r) % vocab);
            while (tok_is_special(t, id) || (tok_piece(t, id) && tok_piece(t, id)[0] == '<'));
            ids[i] = id;
        }
        p[k] = tok_decode(t, ids, (size_t)tokens, true);
    }
    free(ids);
    return p;
}

/* ---- engine alone ------------------------------------------------------------------------ */

typedef struct {
    engine_req *h;
    double t0, t_last;
    int n;
    bool done;
} eclient;

static void engine_submit_one(engine *e, const model *m, const char *text, int gen, eclient *c, bench_waker *w) {
    char err[CT_ERRLEN];
    int32_t *ids = NULL;
    int n = tok_encode(model_tokenizer(m), text, strlen(text), true, true, &ids, err);
    if (n < 1) bench_die("tokenize: %s", err);
    engine_request r = engine_request_default();
    r.prompt = ids;
    r.n_prompt = n;
    r.max_new_tokens = gen;
    r.notify = bench_wake;
    r.ud = w;
    memset(c, 0, sizeof *c);
    c->t0 = ct_now();
    if (!(c->h = engine_submit(e, &r, err))) bench_die("engine_submit: %s", err);
    free(ids);
}

static void engine_drain(eclient *c, samples *s) {
    engine_event ev;
    while (engine_next_event(c->h, &ev, false)) {
        double now = ct_now();
        if (ev.kind == ENGINE_EVENT_TOKEN) {
            if (c->n++ == 0) s->ttft[s->n_ttft++] = now - c->t0;
            else s->gaps[s->n_gaps++] = now - c->t_last;
            c->t_last = now;
            s->generated++;
        } else {
            if (ev.kind == ENGINE_EVENT_ERROR) bench_die("engine: %s", ev.error.message);
            c->done = true;
        }
        engine_event_clear(&ev);
    }
}

static result run_engine(const model *m, const options *o, char **prompts, int n, int conc) {
    char err[CT_ERRLEN];
    engine_config cfg = engine_config_default();
    cfg.n_threads = o->threads;
    engine *e = engine_create(m, &cfg, err);
    if (!e) bench_die("engine_create: %s", err);
    bench_waker w = BENCH_WAKER_INIT;
    eclient *cs = calloc((size_t)n, sizeof *cs);
    samples s = samples_new(n, o->gen);
    int next = 0, active = 0, done = 0;
    double t0 = ct_now();
    while (done < n) {
        for (; active < conc && next < n; next++, active++) engine_submit_one(e, m, prompts[next], o->gen, &cs[next], &w);
        bench_wait(&w);
        for (int i = 0; i < next; i++) {
            if (cs[i].done) continue;
            engine_drain(&cs[i], &s);
            if (cs[i].done) {
                engine_release(cs[i].h);
                done++, active--;
            }
        }
    }
    result r = finish(&s, ct_now() - t0);
    engine_free(e);
    free(cs);
    return r;
}

/* ---- the server ---------------------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;
    char log[64];
    bool openai; /* driven through /v1/completions (llama.cpp's server, or ctgi beside it) */
} server;

static void server_start(server *sv, const char *model_path, int threads) {
    const char *bin = getenv("CTGI_BIN");
    if (!bin || !*bin) bin = "build/ctgi";
    snprintf(sv->log, sizeof sv->log, "/tmp/ctgi-bench-http-XXXXXX");
    int fd = mkstemp(sv->log);
    char th[16];
    snprintf(th, sizeof th, "%d", threads);
    if (fd < 0 || (sv->pid = fork()) < 0) bench_die("cannot start %s", bin);
    if (sv->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a bench that dies (bench_die) takes its servers along */
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "serve", "--model-id", model_path, "--hostname", "127.0.0.1", "--port", "0", "--threads", th,
              "--max-concurrent-requests", "4096", "--sse-keep-alive", "100000", (char *)NULL);
        _exit(127);
    }
    close(fd);
    for (double t0 = ct_now(); ct_now() - t0 < 120; usleep(20000)) {
        size_t n;
        char *log = ct_read_file(sv->log, &n, NULL);
        const char *p = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
        if (p) sv->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        bool ready = log && strstr(log, "INFO ready in");
        free(log);
        if (ready && sv->port) return;
        int st;
        if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) break;
    }
    bench_die("ctgi serve did not start (log: %s)", sv->log);
}

/* llama.cpp's server on the same file: np slots of prompt + gen tokens. */
static void llama_start(server *sv, const char *bin, const char *model_path, int threads, int np, int ctx) {
    snprintf(sv->log, sizeof sv->log, "/tmp/ctgi-bench-llama-XXXXXX");
    int fd = mkstemp(sv->log);
    sv->port = 18000 + (int)(getpid() % 1000);
    sv->openai = true;
    char th[16], slots[16], c[16], port[16];
    snprintf(th, sizeof th, "%d", threads);
    snprintf(slots, sizeof slots, "%d", np);
    snprintf(c, sizeof c, "%d", ctx * np);
    snprintf(port, sizeof port, "%d", sv->port);
    if (fd < 0 || (sv->pid = fork()) < 0) bench_die("cannot start %s", bin);
    if (sv->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "-m", model_path, "-t", th, "-np", slots, "-c", c, "--host", "127.0.0.1", "--port", port,
              (char *)NULL);
        _exit(127);
    }
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", sv->port);
    for (double t0 = ct_now(); ct_now() - t0 < 120; usleep(50000)) { /* 503 while the model loads */
        CURL *h = curl_easy_init();
        long code = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(h);
        if (code == 200) return;
        int st;
        if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) break;
    }
    bench_die("llama-server did not start (log: %s)", sv->log);
}

static void server_stop(server *sv) {
    kill(sv->pid, SIGTERM);
    int st;
    waitpid(sv->pid, &st, 0);
    unlink(sv->log);
}

/* CPU seconds of the server's main thread (the event loop). */
static double loop_cpu(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- HTTP clients ------------------------------------------------------------------------- */

typedef struct {
    CURL *h;
    double t0, t_last;
    int events;
    char prev; /* last byte of the previous chunk: events end with "\n\n" */
    bool openai;
    char ev[512]; /* OpenAI: the start of the current event */
    size_t ev_len;
    samples *s;
} hclient;

/* A token arrived at `now`. */
static void on_token(hclient *c, double now) {
    if (c->events++ == 0) c->s->ttft[c->s->n_ttft++] = now - c->t0;
    else c->s->gaps[c->s->n_gaps++] = now - c->t_last;
    c->t_last = now;
    c->s->generated++;
}

/* OpenAI completion chunks carry a token when their text is not empty (the
 * closing chunk with finish_reason and "[DONE]" carry none). */
static bool openai_token(const char *ev) {
    const char *t = strstr(ev, "\"text\":\"");
    return t && t[8] != '"';
}

static size_t on_sse(char *p, size_t sz, size_t nm, void *ud) {
    hclient *c = ud;
    size_t n = sz * nm;
    double now = ct_now();
    for (size_t i = 0; i < n; i++) {
        char before = i ? p[i - 1] : c->prev;
        if (c->openai && c->ev_len + 1 < sizeof c->ev) c->ev[c->ev_len++] = p[i];
        if (p[i] != '\n' || before != '\n') continue;
        c->ev[c->ev_len] = '\0';
        if (!c->openai || openai_token(c->ev)) on_token(c, now);
        c->ev_len = 0;
    }
    if (n) c->prev = p[n - 1];
    return n;
}

static void http_add(CURLM *m, hclient *c, struct curl_slist *hdr, const char *url, const char *body, samples *s,
                     bool openai) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->openai = openai;
    c->h = curl_easy_init();
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    c->t0 = ct_now();
    curl_multi_add_handle(m, c->h);
}

static char *request_body(const char *text, int gen, bool openai) {
    json_t *j = openai ? json_pack("{s:s, s:s, s:i, s:b, s:f, s:b}", "model", "bench", "prompt", text, "max_tokens", gen,
                                   "stream", 1, "temperature", 0.0, "ignore_eos", 1)
                       : json_pack("{s:s, s:{s:i}}", "inputs", text, "parameters", "max_new_tokens", gen);
    char *b = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!b) bench_die("cannot encode a request");
    return b;
}

static result run_http(const server *sv, const options *o, char **prompts, int n, int conc) {
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", sv->port, sv->openai ? "/v1/completions" : "/generate_stream");
    struct curl_slist *hdr = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"), "Expect:");
    CURLM *m = curl_multi_init();
    hclient *cs = calloc((size_t)n, sizeof *cs);
    samples s = samples_new(n, o->gen);
    int next = 0, active = 0, done = 0;
    double t0 = ct_now(), cpu0 = loop_cpu(sv->pid);
    while (done < n) {
        for (; active < conc && next < n; next++, active++) {
            char *body = request_body(prompts[next], o->gen, sv->openai);
            http_add(m, &cs[next], hdr, url, body, &s, sv->openai);
            free(body);
        }
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q))) {
            if (msg->msg != CURLMSG_DONE) continue;
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200) bench_die("request failed: HTTP %ld, curl %d", code, msg->data.result);
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            done++, active--;
        }
        if (done < n) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double wall = ct_now() - t0;
    result r = finish(&s, wall);
    r.loop_cpu = (loop_cpu(sv->pid) - cpu0) / wall;
    curl_multi_cleanup(m);
    curl_slist_free_all(hdr);
    free(cs);
    return r;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr, "usage: bench_http [--threads N] [--cache-dir DIR] [--model small|large] [--type TYPE] [--requests N]\n"
                    "                  [--prompt N] [--gen N] [--concurrency 1,4,16,64] [--quick] [--no-engine]\n"
                    "                  [--llama-server PATH]\n"
                    "  defaults: all cores, bench-models, small (110M), at most 128 requests a level, 128/128 tokens,\n"
                    "  concurrency 1,4,16,64 (level c runs max(8, 4c) requests); --quick: 64/32 tokens\n");
    exit(2);
}

static options parse(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {ncpu > 0 ? (int)ncpu : 1, 128, 128, 128, {1, 4, 16, 64}, 4, "bench-models", "small", NULL,
                 getenv("CTGI_LLAMA_SERVER"), true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) { o.prompt = 64; o.gen = 32; continue; }
        if (!strcmp(a, "--no-engine")) { o.engine = false; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--threads")) o.threads = atoi(v);
        else if (!strcmp(a, "--cache-dir")) o.cache_dir = v;
        else if (!strcmp(a, "--model")) o.model_key = v;
        else if (!strcmp(a, "--type")) o.type = v;
        else if (!strcmp(a, "--llama-server")) o.llama_server = v;
        else if (!strcmp(a, "--requests")) o.requests = atoi(v);
        else if (!strcmp(a, "--prompt")) o.prompt = atoi(v);
        else if (!strcmp(a, "--gen")) o.gen = atoi(v);
        else if (!strcmp(a, "--concurrency")) {
            o.n_conc = 0;
            for (char *p = (char *)v, *end; *p && o.n_conc < 8; p = *end ? end + 1 : end)
                if ((o.conc[o.n_conc++] = (int)strtol(p, &end, 10)) < 1) usage();
        } else usage();
    }
    if (o.threads < 1 || o.requests < 1 || o.prompt < 1 || o.gen < 1) usage();
    if (o.llama_server && !*o.llama_server) o.llama_server = NULL;
    return o;
}

static int level_requests(const options *o, int conc) {
    int n = 4 * conc < 8 ? 8 : 4 * conc;
    return n < o->requests ? n : o->requests;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    const bench_spec *spec = bench_spec_find(o.model_key);
    if (!spec) usage();
    char err[CT_ERRLEN];
    uint32_t type = DT_F32;
    if (o.type && !bench_type_parse(o.type, &type)) bench_die("unknown weight type '%s'", o.type);
    char *path = bench_model_ensure_type(spec, type, o.cache_dir, err);
    if (!path) bench_die("%s", err);
    model *m = model_load(path, err);
    if (!m) bench_die("%s", err);
    char **prompts = make_prompts(m, o.requests, o.prompt);
    result eng[8] = {0}, web[8] = {0}, peer[8] = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    server sv = {0}, lc = {0};
    server_start(&sv, path, o.threads);
    sv.openai = o.llama_server != NULL; /* the route both servers have */
    if (o.llama_server) {
        int most = 1;
        for (int k = 0; k < o.n_conc; k++) most = o.conc[k] > most ? o.conc[k] : most;
        llama_start(&lc, o.llama_server, path, o.threads, most, o.prompt + o.gen + 64);
    }
    /* warm-up (page cache, first-touch faults, thread start-up), not measured */
    options warm = o;
    warm.gen = 8;
    if (o.engine) run_engine(m, &warm, prompts, 2, 2);
    run_http(&sv, &warm, prompts, 2, 2);
    if (o.llama_server) run_http(&lc, &warm, prompts, 2, 2);
    /* level by level, engine then HTTP (then llama.cpp), so a change in the machine's load hits all */
    for (int k = 0; k < o.n_conc; k++) {
        int n = level_requests(&o, o.conc[k]);
        if (o.engine) eng[k] = run_engine(m, &o, prompts, n, o.conc[k]);
        web[k] = run_http(&sv, &o, prompts, n, o.conc[k]);
        if (o.llama_server) peer[k] = run_http(&lc, &o, prompts, n, o.conc[k]);
        fprintf(stderr, "bench_http: concurrency %d done\n", o.conc[k]);
    }
    server_stop(&sv);
    if (o.llama_server) server_stop(&lc);
    curl_global_cleanup();
    model_free(m);

    printf("\n== HTTP serving (%s, %s): ~%d-token prompts, %d new tokens, greedy, threads=%d, %s\n", spec->label, path,
           o.prompt, o.gen, o.threads, sv.openai ? "POST /v1/completions" : "POST /generate_stream");
    printf("%5s %4s | %9s %9s %7s | %27s | %27s | %6s\n", "conc", "reqs", "engine t/s", "http t/s", "http/eng",
           "TTFT p50/p95/p99 (ms) http", "ITL p50/p95/p99 (ms) http", "loop");
    for (int k = 0; k < o.n_conc; k++) {
        const result *h = &web[k], *e = &eng[k];
        char ratio[16] = "-", et[16] = "-";
        if (o.engine) {
            snprintf(et, sizeof et, "%.1f", e->tps);
            snprintf(ratio, sizeof ratio, "%.3f", h->tps / e->tps);
        }
        printf("%5d %4d | %9s %9.1f %7s | %8.1f %8.1f %9.1f | %8.1f %8.1f %9.1f | %5.1f%%\n", o.conc[k],
               level_requests(&o, o.conc[k]), et, h->tps, ratio, h->ttft[0] * 1e3, h->ttft[1] * 1e3, h->ttft[2] * 1e3,
               h->itl[0] * 1e3, h->itl[1] * 1e3, h->itl[2] * 1e3, h->loop_cpu * 100);
    }
    if (o.llama_server) {
        printf("llama.cpp's server on the same file (%s), both through POST /v1/completions:\n", o.llama_server);
        printf("%5s | %9s %9s %7s | %27s | %27s | %s\n", "conc", "ctgi t/s", "llama t/s", "ratio",
               "TTFT p50/p95/p99 (ms) llama", "ITL p50/p95/p99 (ms) llama", "TTFT p95 ctgi/llama");
        for (int k = 0; k < o.n_conc; k++)
            printf("%5d | %9.1f %9.1f %6.2fx | %8.1f %8.1f %9.1f | %8.1f %8.1f %9.1f | %.2f\n", o.conc[k], web[k].tps,
                   peer[k].tps, web[k].tps / peer[k].tps, peer[k].ttft[0] * 1e3, peer[k].ttft[1] * 1e3,
                   peer[k].ttft[2] * 1e3, peer[k].itl[0] * 1e3, peer[k].itl[1] * 1e3, peer[k].itl[2] * 1e3,
                   web[k].ttft[1] / peer[k].ttft[1]);
    }
    if (o.engine) {
        printf("engine alone, same work:\n");
        for (int k = 0; k < o.n_conc; k++)
            printf("%5d      TTFT p50/p95/p99 %.1f/%.1f/%.1f ms   ITL p50/p95/p99 %.1f/%.1f/%.1f ms\n", o.conc[k],
                   eng[k].ttft[0] * 1e3, eng[k].ttft[1] * 1e3, eng[k].ttft[2] * 1e3, eng[k].itl[0] * 1e3,
                   eng[k].itl[1] * 1e3, eng[k].itl[2] * 1e3);
    }
    printf("  t/s: generated tokens / wall time of the level; http/eng: throughput over HTTP relative to the\n"
           "  engine alone on the same prompts; TTFT from sending the request (http) or submitting it (engine);\n"
           "  ITL: gaps between a request's tokens as the client sees them; loop: CPU of the server's event-loop\n"
           "  thread / wall time (parsing, validation hand-off, SSE encoding and writes).\n");
    for (int i = 0; i < o.requests; i++) free(prompts[i]);
    free(prompts);
    free(path);
    return 0;
}
