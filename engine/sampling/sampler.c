/*
 * sampler.c — one request's sampler: parameters and their validation, the
 * seeded generator, the penalty history, steps 1-4 of sampler.h (penalties,
 * bias, temperature, the greedy decision) and the results (logprob, top-n).
 * The passes over the vocabulary are in sampler_vocab.c, the candidate sets
 * of the warpers and the draw in sampler_select.c.
 *
 * A call does only the O(V) work its request needs (V up to ~150k):
 *   - greedy: one clean-up + argmax pass; the log-sum-exp pass only when
 *     the caller wants the logprob (out != NULL), the top-n scan only when
 *     top_n > 0;
 *   - sampling: the same pass, an exp-sum pass (the logprob's normaliser
 *     and top-p's target), then the candidates the warpers need
 *     (sampler_select.c: top-k and the top-p window look at a small part of
 *     the row one token at a time).
 * Penalties and bias touch only the ids they name.
 *
 * Memory: one sampler owns its copy of the logit biases, the penalty
 * history (only when a penalty is active) and, when it samples, candidate
 * and weight scratch of V entries each.  No global mutable state.
 */
#include "sampler.h"
#include "sampler_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sampler {
    sampler_params p;   /* p.logit_bias points at `bias` below */
    sampler_bias *bias; /* owned copy of the request's biases */
    int n_vocab;
    uint64_t rng[4];    /* xoshiro256** state */
    uint8_t *seen;      /* [n_vocab] or NULL: id is in prompt or generated */
    int32_t *gen_count; /* [n_vocab] or NULL: times each id was generated */
    int32_t *hist;      /* the distinct ids with seen[id] set */
    int n_hist, cap_hist;
    smp_cand *cand;     /* [n_vocab] candidates, NULL for greedy requests */
    float *w;           /* [n_vocab] weights e^(l - max), NULL for greedy requests */
};

/* ---- random numbers ---------------------------------------------------
 * splitmix64 expands the 64-bit seed into the 256-bit xoshiro256** state
 * (it never yields an all-zero state in practice, and is the seeding its
 * authors recommend).  Uniform doubles use the top 53 bits: [0, 1). */

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t st[4]) {
    uint64_t out = rotl64(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return out;
}

static double rng_uniform(uint64_t st[4]) { return (double)(rng_next(st) >> 11) * 0x1.0p-53; }

/* ---- parameters ---------------------------------------------------- */

sampler_params sampler_params_default(void) {
    return (sampler_params){
        .do_sample = false,
        .temperature = 1.0f,
        .top_k = 0,
        .top_p = 1.0f,
        .typical_p = 1.0f,
        .min_p = 0.0f,
        .repetition_penalty = 1.0f,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .logit_bias = NULL,
        .n_logit_bias = 0,
        .seed = 0,
        .top_n = 0,
        .no_logprob = false,
    };
}

static bool validate_bias(const sampler_params *p, int n_vocab, char *err) {
    if (p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return ct_err(err, "`logit_bias` is malformed (%d entries)", p->n_logit_bias);
    for (int i = 0; i < p->n_logit_bias; i++) {
        const sampler_bias *b = &p->logit_bias[i];
        if (b->id < 0 || b->id >= n_vocab)
            return ct_err(err, "`logit_bias` token id %d is out of range [0, %d)", (int)b->id,
                          n_vocab);
        /* -inf bans a token; NaN or +inf would poison the distribution */
        if (isnan(b->bias) || b->bias == INFINITY)
            return ct_err(err, "`logit_bias` for token id %d must be a number or -inf",
                          (int)b->id);
    }
    return true;
}

/* Comparisons are written as !(x in range) so NaN fails every check. */
bool sampler_params_validate(const sampler_params *p, int n_vocab, char *err) {
    if (!p) return ct_err(err, "sampler parameters missing");
    if (n_vocab <= 0) return ct_err(err, "vocabulary size must be positive. Given: %d", n_vocab);
    if (!(p->temperature >= 0.0f && isfinite(p->temperature)))
        return ct_err(err, "`temperature` must be >= 0.0 (0 means greedy)");
    if (!(p->repetition_penalty > 0.0f && isfinite(p->repetition_penalty)))
        return ct_err(err, "`repetition_penalty` must be strictly positive");
    if (!(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f))
        return ct_err(err, "`frequency_penalty` must be >= -2.0 and <= 2.0");
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f))
        return ct_err(err, "`presence_penalty` must be >= -2.0 and <= 2.0");
    if (p->top_k < 0) return ct_err(err, "`top_k` must be strictly positive (or 0 to disable it)");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return ct_err(err, "`top_p` must be > 0.0 and <= 1.0");
    if (!(p->typical_p > 0.0f && p->typical_p <= 1.0f))
        return ct_err(err, "`typical_p` must be > 0.0 and <= 1.0");
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return ct_err(err, "`min_p` must be >= 0.0 and <= 1.0");
    if (p->top_n < 0 || p->top_n > SAMPLER_MAX_TOP_N)
        return ct_err(err, "`top_n_tokens` must be >= 0 and <= %d. Given: %d", SAMPLER_MAX_TOP_N,
                      p->top_n);
    return validate_bias(p, n_vocab, err);
}

static bool is_greedy(const sampler_params *p) {
    return !p->do_sample || !(p->temperature >= SAMPLER_GREEDY_EPS);
}

/* ---- lifetime and history --------------------------------------------- */

/* Mark id as present in prompt/generated text (once per distinct id). */
static bool history_add(sampler *s, int32_t id) {
    if (s->seen[id]) return true;
    if (s->n_hist == s->cap_hist) {
        int cap = s->cap_hist ? s->cap_hist * 2 : 64;
        if (cap > s->n_vocab) cap = s->n_vocab; /* distinct ids never exceed V */
        int32_t *h = realloc(s->hist, (size_t)cap * sizeof *h);
        if (!h) return false;
        s->hist = h;
        s->cap_hist = cap;
    }
    s->seen[id] = 1;
    s->hist[s->n_hist++] = id;
    return true;
}

/* Allocate the state the active features need, and nothing else. */
static bool alloc_state(sampler *s) {
    const sampler_params *p = &s->p;
    size_t v = (size_t)s->n_vocab;
    bool additive = p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f;
    if (p->n_logit_bias > 0) {
        s->bias = malloc((size_t)p->n_logit_bias * sizeof *s->bias);
        if (!s->bias) return false;
        memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    }
    s->p.logit_bias = s->bias;
    if ((p->repetition_penalty != 1.0f || additive) && !(s->seen = calloc(v, 1))) return false;
    if (additive && !(s->gen_count = calloc(v, sizeof *s->gen_count))) return false;
    if (!is_greedy(p) && (!(s->cand = malloc(v * sizeof *s->cand)) || !(s->w = malloc(v * sizeof *s->w))))
        return false;
    return true;
}

sampler *sampler_create(const sampler_params *p, int n_vocab, const int32_t *prompt,
                        int n_prompt) {
    if (!sampler_params_validate(p, n_vocab, NULL)) return NULL;
    if (n_prompt < 0 || (n_prompt > 0 && !prompt)) return NULL;
    sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = smp_splitmix64(&x);
    if (!alloc_state(s)) goto fail;
    for (int i = 0; i < n_prompt; i++) {
        if (prompt[i] < 0 || prompt[i] >= n_vocab) goto fail;
        if (s->seen && !history_add(s, prompt[i])) goto fail;
    }
    return s;
fail:
    sampler_free(s);
    return NULL;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->bias);
    free(s->seen);
    free(s->gen_count);
    free(s->hist);
    free(s->cand);
    free(s->w);
    free(s);
}

bool sampler_accept(sampler *s, int32_t id) {
    if (!s || id < 0 || id >= s->n_vocab) return false;
    if (s->seen && !history_add(s, id)) return false;
    if (s->gen_count && s->gen_count[id] < INT32_MAX) s->gen_count[id]++;
    return true;
}

/* ---- steps 1-4: penalties, bias, temperature ----------------------------- */

/* Repetition penalty once per distinct id of prompt+generated (HF gathers
 * and scatters, so repeats do not compound), then OpenAI's additive
 * penalties on ids that were generated. */
static void apply_penalties(const sampler *s, float *logits) {
    if (!s->seen) return;
    float rp = s->p.repetition_penalty;
    float fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
    for (int i = 0; i < s->n_hist; i++) {
        int32_t id = s->hist[i];
        float l = logits[id];
        if (rp != 1.0f) l = l > 0.0f ? l / rp : l * rp;
        if (s->gen_count && s->gen_count[id] > 0) l -= (float)s->gen_count[id] * fp + pp;
        logits[id] = l;
    }
}

static void apply_bias(const sampler *s, float *logits) {
    for (int i = 0; i < s->p.n_logit_bias; i++) logits[s->bias[i].id] += s->bias[i].bias;
}

/* ---- steps 5-9: candidates, warpers, the draw ---------------------------- */

/* Steps 5-8 on the processed logits whose max is mx; z = sum of the
 * weights over the whole vocabulary (smp_exp_sum; unused with top_k), which
 * are in s->w unless top_k is on.  The survivors are s->cand[0, n) (n
 * returned), or -1 when every token survives with its weight in s->w. */
static int warped_set(sampler *s, const float *logits, float mx, double z) {
    const sampler_params *p = &s->p;
    int n = smp_rank_cut(logits, s->w, s->n_vocab, mx, z, p->top_k, p->top_p, s->cand);
    if (n < 0) {
        if (p->typical_p >= 1.0f && p->min_p <= 0.0f) return -1;
        n = smp_gather_weights(logits, s->w, s->n_vocab, s->cand);
    }
    if (p->typical_p < 1.0f) n = smp_typical_cut(s->cand, n, logits, mx, p->typical_p);
    if (p->min_p > 0.0f) n = smp_min_p_cut(s->cand, n, p->min_p);
    return n;
}

/* Step 9: one draw from the survivors. */
static int32_t sample_warped(sampler *s, const float *logits, float mx, double z) {
    int n = warped_set(s, logits, mx, z);
    if (n < 0) return smp_draw_weights(s->w, s->n_vocab, z, rng_uniform(s->rng));
    return smp_draw(s->cand, n, rng_uniform(s->rng));
}

/* Speculative verification of the drafted token d, proposed with
 * certainty (prompt lookup, or a draft model's greedy choice: the draft
 * distribution q is a point mass on d).  The token is drawn from p, the
 * warped distribution step 9 draws from, with the same one uniform a
 * draw without a draft takes, and d is accepted when the draw is d.  That
 * is the rejection sampler's law for a point-mass proposal: d is kept with
 * probability min(1, p(d) / q(d)) = p(d), and otherwise the token follows
 * the residual max(0, p - q) normalised, p without d; so the chosen token
 * is distributed exactly as p.  Drawing it the same way as without a
 * draft also keeps a seeded request's tokens the same with or without
 * speculation, whatever was drafted, in whatever batch. */
static int32_t verify_warped(sampler *s, const float *logits, float mx, double z, int32_t d, bool *accepted) {
    int32_t id = sample_warped(s, logits, mx, z);
    *accepted = id == d;
    return id;
}

/* ---- results ----------------------------------------------------------- */

/* top[] holds raw logits while it is built: one scan that looks one by one
 * only at logits above the k-th best so far (smp_next_above); ids come in
 * ascending order and an equal logit never moves up, so ties stay in id
 * order. */
int sampler_top_logprobs(const float *logits, int n_vocab, double lse, int k, sampler_token *top) {
    int n = 0;
    if (k > SAMPLER_MAX_TOP_N) k = SAMPLER_MAX_TOP_N;
    if (k <= 0) return 0;
    float t = -INFINITY; /* not -inf, not NaN */
    for (int i = smp_next_above(logits, 0, n_vocab, t); i < n_vocab;
         i = smp_next_above(logits, i + 1, n_vocab, t)) {
        float l = logits[i];
        int j = n < k ? n++ : k - 1;
        while (j > 0 && l > top[j - 1].logprob) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = (sampler_token){.id = i, .logprob = l};
        if (n == k) t = top[k - 1].logprob;
    }
    for (int j = 0; j < n; j++) top[j].logprob = (float)((double)top[j].logprob - lse);
    return n;
}

double sampler_log_sum_exp(float *logits, int n_vocab) {
    int32_t best = smp_prepare(logits, n_vocab, 1.0f);
    if (best < 0) return -INFINITY;
    float mx = logits[best];
    return (double)mx + log(smp_exp_sum(logits, NULL, n_vocab, mx));
}

/* Chosen token's logprob and the top_n alternatives. */
static void fill_result(const sampler *s, const float *logits, int32_t id, double lse,
                        sample_result *out) {
    out->n_top = sampler_top_logprobs(logits, s->n_vocab, lse, s->p.top_n, out->top);
    out->id = id;
    out->logprob = (float)((double)logits[id] - lse);
}

/* sampler_sample, and with draft >= 0 the verification of that drafted
 * token (sampler_sample_draft). */
static int32_t sample_or_verify(sampler *s, float *logits, int32_t draft, sample_result *out, bool *accepted) {
    sample_result *res = out; /* where the logprobs go: nowhere when nobody reads them */
    if (out && s->p.no_logprob && s->p.top_n == 0) {
        *out = (sample_result){.logprob = NAN, .n_top = 0};
        res = NULL;
    }
    bool greedy = is_greedy(&s->p);
    apply_penalties(s, logits);
    apply_bias(s, logits);
    int32_t best = smp_prepare(logits, s->n_vocab, greedy ? 1.0f : s->p.temperature);
    if (best < 0) {
        if (out) *out = (sample_result){.id = -1, .logprob = -INFINITY, .n_top = 0};
        return -1;
    }
    if (greedy && !res) { /* the argmax pass was all of it */
        *accepted = best == draft;
        return out ? (out->id = best) : best;
    }
    const sampler_params *p = &s->p;
    float mx = logits[best];
    /* the normaliser: for the logprob, top-p's target and a draw over the
     * whole row; without top_k the candidates' weights are kept on the way
     * (8 lanes at a time, not one exp per candidate later).  top_k alone
     * never needs it */
    bool keep_w = !greedy && p->top_k == 0;
    double z = res || keep_w ? smp_exp_sum(logits, keep_w ? s->w : NULL, s->n_vocab, mx) : 0.0;
    int32_t id;
    if (greedy) {
        id = best;
        *accepted = id == draft;
    } else if (draft >= 0) {
        id = verify_warped(s, logits, mx, z, draft, accepted);
    } else {
        id = sample_warped(s, logits, mx, z);
        *accepted = false;
    }
    if (res) fill_result(s, logits, id, (double)mx + log(z), res);
    else if (out) out->id = id;
    return id;
}

int32_t sampler_sample(sampler *s, float *logits, sample_result *out) {
    bool accepted;
    return sample_or_verify(s, logits, -1, out, &accepted);
}

int32_t sampler_sample_draft(sampler *s, float *logits, int32_t draft, sample_result *out, bool *accepted) {
    *accepted = false;
    if (draft < 0 || draft >= s->n_vocab) return sampler_sample(s, logits, out);
    return sample_or_verify(s, logits, draft, out, accepted);
}
