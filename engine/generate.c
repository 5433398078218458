/*
 * generate.c — a single request run to completion on the calling thread
 * (see generate.h): chunked prefill, then the decode loop with sampling,
 * incremental detokenisation and the three stop rules.
 */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "stop.h"

#define GEN_PREFILL_CHUNK 512
#define GEN_KV_BLOCK 16 /* positions per KV block */

const char *gen_finish_name(gen_finish f) {
    switch (f) {
    case GEN_FINISH_EOS: return "eos_token";
    case GEN_FINISH_STOP: return "stop_sequence";
    default: return "length";
    }
}

void gen_result_free(gen_result *r) {
    for (int i = 0; i < r->n_tokens; i++) free(r->tokens[i].text);
    free(r->tokens);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* Everything one run owns, released in one place. */
typedef struct {
    fwd_ctx *fwd;
    kv_pool *kv;   /* blocks for the whole context; no prefix caching (one request) */
    kv_seq kseq;
    int32_t *ids;  /* (n_prompt + max_new_tokens) prompt, then generated tokens */
    sampler *smp;
    stop_matcher *stop;
    float *logits;
    int *pos, *seq;
} gen_state;

static void state_free(gen_state *s) {
    fwd_free(s->fwd);
    if (s->kv) kv_seq_release(s->kv, &s->kseq);
    kv_pool_free(s->kv);
    free(s->ids);
    sampler_free(s->smp);
    stop_free(s->stop);
    free(s->logits);
    free(s->pos);
    free(s->seq);
}

/* Evaluate ids[start, start+len) at positions start.. of the one sequence:
 * blocks first, the pass, then the positions count as computed. */
static bool eval_span(gen_state *s, int start, int len, const bool *want) {
    const kv_seq *seqs[1] = {&s->kseq};
    for (int i = 0; i < len; i++) s->pos[i] = start + i;
    fwd_batch b = {.tokens = s->ids + start, .pos = s->pos, .seq = s->seq, .seqs = seqs, .n = len,
                   .want_logits = want};
    if (!kv_seq_reserve(s->kv, &s->kseq, start + len) || !fwd_eval(s->fwd, kv_pool_store(s->kv), &b, s->logits))
        return false;
    kv_seq_commit(s->kv, &s->kseq, s->ids, start + len);
    return true;
}

/* Feed the prompt s->ids[0..n) through the model; logits of the last token remain. */
static bool prefill(gen_state *s, int n) {
    int chunk = fwd_max_tokens(s->fwd);
    bool want[GEN_PREFILL_CHUNK];
    for (int start = 0; start < n; start += chunk) {
        int len = n - start < chunk ? n - start : chunk;
        for (int i = 0; i < len; i++) want[i] = start + i == n - 1;
        if (!eval_span(s, start, len, want)) return false;
    }
    return true;
}

static bool append(gen_result *r, const char *piece, size_t len, size_t *cap) {
    if (r->text_len + len + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256) + len;
        char *nt = realloc(r->text, nc);
        if (!nt) return false;
        r->text = nt;
        *cap = nc;
    }
    memcpy(r->text + r->text_len, piece, len);
    r->text_len += len;
    r->text[r->text_len] = '\0';
    return true;
}

/* Record token t (sampled as `res`) and decide whether generation ends. */
static bool emit(const model *m, gen_state *s, tok_stream *ts, const gen_params *gp,
                 const sample_result *res, gen_result *r, size_t *cap, bool *done) {
    gen_token *t = &r->tokens[r->n_tokens++];
    memset(t, 0, sizeof *t);
    t->id = res->id;
    t->logprob = res->logprob;
    t->special = tok_is_special(m->tok, res->id);
    t->n_top = res->n_top;
    memcpy(t->top, res->top, sizeof t->top);
    size_t len = 0;
    t->text = NULL;
    bool eos = !gp->ignore_eos && model_is_eos(m, res->id);
    tok_stream_push(ts, res->id, &t->text, &len);
    if (eos || r->n_tokens == gp->max_new_tokens) tok_stream_flush(ts, &t->text, &len);
    if (!t->text && !(t->text = calloc(1, 1))) return false;
    stop_result sr;
    if (stop_feed(s->stop, t->text, len, &sr)) {
        /* TGI keeps the matched stop string in the text; drop what follows */
        size_t keep = sr.match_end - r->text_len;
        t->text[keep] = '\0';
        len = keep;
        r->finish = GEN_FINISH_STOP;
        *done = true;
    } else if (eos) {
        r->finish = GEN_FINISH_EOS;
        *done = true;
    } else if (r->n_tokens == gp->max_new_tokens) {
        r->finish = GEN_FINISH_LENGTH;
        *done = true;
    }
    return append(r, t->text, len, cap);
}

static bool decode_loop(const model *m, gen_state *s, int n_prompt, const gen_params *gp,
                        gen_token_fn on_token, void *ud, gen_result *r, char *err) {
    tok_stream ts;
    tok_stream_init(&ts, m->tok, true);
    ts.first = false; /* the prompt came first: keep the generated text's leading space */
    size_t cap = 0;
    bool done = gp->max_new_tokens == 0;
    while (!done) {
        sample_result res;
        int32_t id = sampler_sample(s->smp, s->logits, &res);
        if (id < 0) return ct_err(err, "every token is banned (logit bias / penalties leave no candidate)");
        if (!sampler_accept(s->smp, id) || !emit(m, s, &ts, gp, &res, r, &cap, &done))
            return ct_err(err, "out of memory");
        if (on_token) on_token(ud, &r->tokens[r->n_tokens - 1]);
        if (done) break;
        int pos = n_prompt + r->n_tokens - 1;
        s->ids[pos] = id;
        if (!eval_span(s, pos, 1, NULL)) return ct_err(err, "forward pass failed");
    }
    if (!r->text && !(r->text = calloc(1, 1))) return ct_err(err, "out of memory");
    return true;
}

bool gen_run(const model *m, pool *p, const int32_t *prompt, int n_prompt, const gen_params *gp,
             gen_token_fn on_token, void *ud, gen_result *out, char *err) {
    memset(out, 0, sizeof *out);
    const model_config *c = &m->cfg;
    if (n_prompt <= 0) return ct_err(err, "the prompt is empty");
    if (n_prompt >= c->ctx_len)
        return ct_err(err, "the prompt has %d tokens, the model's context is %d", n_prompt, c->ctx_len);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= c->vocab)
            return ct_err(err, "prompt token %d (id %d) is outside the vocabulary [0, %d)", i, prompt[i], c->vocab);
    if (!sampler_params_validate(&gp->sp, c->vocab, err)) return false;
    if (!stop_validate(gp->stops, gp->n_stops, err)) return false;

    gen_params g = *gp;
    if (g.max_new_tokens > c->ctx_len - n_prompt) g.max_new_tokens = c->ctx_len - n_prompt;
    int chunk = n_prompt < GEN_PREFILL_CHUNK ? n_prompt : GEN_PREFILL_CHUNK, n_ctx = n_prompt + g.max_new_tokens;
    gen_state s = {
        .fwd = fwd_create(m, p, chunk),
        .kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, GEN_KV_BLOCK,
                             (n_ctx + GEN_KV_BLOCK - 1) / GEN_KV_BLOCK, false),
        .ids = malloc((size_t)n_ctx * sizeof(int32_t)),
        .smp = sampler_create(&g.sp, c->vocab, prompt, n_prompt),
        .stop = stop_create(g.stops, g.n_stops),
        .logits = malloc((size_t)c->vocab * sizeof(float)),
        .pos = malloc(GEN_PREFILL_CHUNK * sizeof(int)),
        .seq = calloc(GEN_PREFILL_CHUNK, sizeof(int)),
    };
    out->tokens = calloc((size_t)g.max_new_tokens + 1, sizeof(gen_token));
    out->n_prompt = n_prompt;
    kv_seq_init(&s.kseq);
    if (s.fwd && g.blas_matmul) fwd_set_matmul(s.fwd, FWD_MM_BLAS);
    bool ok = s.fwd && s.kv && s.ids && s.smp && s.stop && s.logits && s.pos && s.seq && out->tokens;
    if (!ok) ct_err(err, "out of memory (context of %d tokens)", n_ctx);
    else memcpy(s.ids, prompt, (size_t)n_prompt * sizeof(int32_t));
    double t0 = ct_now();
    if (ok && !(ok = prefill(&s, n_prompt))) ct_err(err, "forward pass failed");
    double t1 = ct_now();
    if (ok) ok = decode_loop(m, &s, n_prompt, &g, on_token, ud, out, err);
    out->prefill_seconds = t1 - t0;
    out->decode_seconds = ct_now() - t1;
    state_free(&s);
    if (!ok) gen_result_free(out);
    return ok;
}
