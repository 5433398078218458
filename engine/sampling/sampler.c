/*
 * sampler.c — per-request next-token selection: penalties, logit bias,
 * temperature, the top-k / top-p / typical-p / min-p warpers, the draw,
 * and the logprobs reported for the chosen token.  See sampler.h for the
 * exact order and semantics.
 *
 * Cost per token is a few O(V) passes over the vocabulary (V up to
 * ~150k, about 1 ms in all); the vocabulary is never sorted:
 *   - top_k keeps a k-entry heap of the best seen (O(V), O(V log k) worst);
 *   - top_p and typical_p keep the shortest prefix of an order (logit
 *     descending / typicality ascending) holding a given probability mass.
 *     That prefix is found by a quickselect on mass: partition around a
 *     pivot, sum the weight of the side before it, and continue only in the
 *     side where the running total crosses the target (expected O(V), and
 *     normally only a <= 16-entry tail is ever sorted).  top_p first
 *     narrows to the candidates within 8 nats of the best logit, which
 *     almost always hold the nucleus.
 * The survivors are left in an order that is a pure function of the
 * logits, and the draw walks them in that order, so a seed fully
 * determines the token.
 *
 * Memory: one sampler owns its copy of the logit biases, the penalty
 * history (only when a penalty is active) and a candidate scratch array of
 * V entries (only when it samples).  No global mutable state.
 */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A sampling candidate.  `key` orders candidates ascending (ties: lower
 * id first): -logit for top-k/top-p, |-log p - H| for typical-p.  `w` is
 * exp(logit - max logit): the unnormalised probability. */
typedef struct {
    float key;
    float w;
    int32_t id;
} cand;

struct sampler {
    sampler_params p;   /* p.logit_bias points at `bias` below */
    sampler_bias *bias; /* owned copy of the request's biases */
    int n_vocab;
    uint64_t rng[4];    /* xoshiro256** state */
    uint8_t *seen;      /* [n_vocab] or NULL: id is in prompt or generated */
    int32_t *gen_count; /* [n_vocab] or NULL: times each id was generated */
    int32_t *hist;      /* the distinct ids with seen[id] set */
    int n_hist, cap_hist;
    cand *scratch;      /* [n_vocab] candidates, NULL for greedy requests */
};

/* ---- random numbers ---------------------------------------------------
 * splitmix64 expands the 64-bit seed into the 256-bit xoshiro256** state
 * (it never yields an all-zero state in practice, and is the seeding its
 * authors recommend).  Uniform doubles use the top 53 bits: [0, 1). */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

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
    if (!is_greedy(p) && !(s->scratch = malloc(v * sizeof *s->scratch))) return false;
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
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
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
    free(s->scratch);
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

/* Divide by temperature (1 = leave alone), map NaN to -inf and +inf to
 * FLT_MAX, and return the argmax (lowest id on ties) or -1 if every logit
 * is -inf. */
static int32_t prepare(float *logits, int n, float temperature) {
    int32_t best = -1;
    float bv = -INFINITY;
    for (int i = 0; i < n; i++) {
        float l = logits[i];
        if (temperature != 1.0f) l /= temperature;
        if (isnan(l)) l = -INFINITY;
        else if (l == INFINITY) l = FLT_MAX;
        logits[i] = l;
        if (l > bv) {
            bv = l;
            best = i;
        }
    }
    return best;
}

/* ---- candidate ordering helpers ----------------------------------------- */

static inline bool before(const cand *a, const cand *b) {
    return a->key < b->key || (a->key == b->key && a->id < b->id);
}

static inline void swap_cand(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Quickselect step on c[lo, hi) (hi - lo >= 3): take the median of three
 * pseudo-randomly placed candidates as pivot, move every candidate
 * `before` it to the front, place the pivot right after them and return
 * its index; *w_before gets their weight.  The positions come from a
 * splitmix64 stream private to this call chain (*h), not the request's
 * generator, so results stay a pure function of the logits; random
 * positions keep structured inputs (sorted runs, long ties broken by id)
 * out of the quadratic case that fixed positions fall into. */
static int partition_pivot(cand *c, int lo, int hi, uint64_t *h, double *w_before) {
    uint64_t span = (uint64_t)(hi - lo);
    int a = lo + (int)(splitmix64(h) % span), b = lo + (int)(splitmix64(h) % span);
    int m = lo + (int)(splitmix64(h) % span), last = hi - 1;
    if (before(&c[b], &c[a])) {
        int t = a;
        a = b;
        b = t;
    }
    /* c[a] <= c[b]: the median is m clamped into [a, b] */
    int med = before(&c[m], &c[b]) ? (before(&c[m], &c[a]) ? a : m) : b;
    swap_cand(&c[med], &c[last]);
    double w = 0.0;
    int store = lo;
    for (int i = lo; i < last; i++) {
        if (before(&c[i], &c[last])) {
            w += c[i].w;
            swap_cand(&c[i], &c[store++]);
        }
    }
    swap_cand(&c[store], &c[last]);
    *w_before = w;
    return store;
}

static int cmp_cand(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void sort_range(cand *c, int lo, int hi) {
    if (hi - lo > 16) {
        qsort(c + lo, (size_t)(hi - lo), sizeof *c, cmp_cand);
        return;
    }
    for (int i = lo + 1; i < hi; i++) {
        cand x = c[i];
        int j = i;
        for (; j > lo && before(&x, &c[j - 1]); j--) c[j] = c[j - 1];
        c[j] = x;
    }
}

/* Quickselect rounds allowed before sorting whatever range is left
 * (introselect-style guard: expected O(n), never worse than O(n log n)). */
static int round_budget(int n) {
    int r = 8;
    for (; n > 1; n >>= 1) r += 2;
    return r;
}

/* Restore the heap property below i in c[0, k), a heap whose root is the
 * LAST of its entries in `before` order (the worst one kept so far). */
static void sift_down(cand *c, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, worst = i;
        if (l < k && before(&c[worst], &c[l])) worst = l;
        if (r < k && before(&c[worst], &c[r])) worst = r;
        if (worst == i) return;
        swap_cand(&c[i], &c[worst]);
        i = worst;
    }
}

/* Rearrange c so its first k entries are the k first in `before` order
 * (in heap order among themselves), in place: heapify the first k, then
 * let every later candidate that beats the worst kept one replace it.
 * One comparison for most candidates, O(n log k) at worst. */
static void select_first_k(cand *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (before(&c[i], &c[0])) {
            swap_cand(&c[i], &c[0]);
            sift_down(c, k, 0);
        }
    }
}

/* ---- steps 5-8: warpers ------------------------------------------------ */

/* The shortest prefix of c in `before` order whose weight reaches target:
 * rearranges c so that prefix comes first and returns its length.  A
 * quickselect on mass — each round partitions around a pivot and keeps
 * only the side where the cumulative weight crosses target — so it is
 * expected O(n) and normally sorts only a <= 16-entry tail.  If rounding
 * leaves the total just short of target, everything up to the last
 * boundary is kept.  keep_ties also keeps every later candidate whose key
 * equals the last kept one's (typical-p's `s <= s[last]`). */
static int mass_prefix(cand *c, int n, double target, bool keep_ties) {
    int lo = 0, hi = n, cut = -1, budget = round_budget(n);
    double acc = 0.0; /* weight of c[0, lo), all kept */
    uint64_t h = (uint64_t)n;
    while (cut < 0 && hi - lo > 16 && budget-- > 0) {
        double wb;
        int p = partition_pivot(c, lo, hi, &h, &wb);
        if (acc + wb >= target) hi = p;
        else if (acc + wb + c[p].w >= target) cut = p + 1;
        else acc += wb + c[p].w, lo = p + 1;
    }
    if (cut < 0) {
        sort_range(c, lo, hi);
        for (int i = lo; i < hi && cut < 0; i++)
            if ((acc += c[i].w) >= target) cut = i + 1;
        if (cut < 0) cut = hi;
    }
    if (keep_ties && cut < n) {
        float edge = -INFINITY;
        for (int i = 0; i < cut; i++)
            if (c[i].key > edge) edge = c[i].key;
        int m = cut;
        for (int i = cut; i < n; i++)
            if (c[i].key <= edge) swap_cand(&c[i], &c[m++]);
        cut = m;
    }
    return cut;
}

static double total_weight(const cand *c, int n) {
    double z = 0.0;
    for (int i = 0; i < n; i++) z += c[i].w;
    return z;
}

/* Move candidates with key <= t to the front; return how many, and their
 * weight in *w. */
static int partition_le(cand *c, int n, float t, double *w) {
    int m = 0;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (c[i].key <= t) {
            sum += c[i].w;
            swap_cand(&c[i], &c[m++]);
        }
    }
    *w = sum;
    return m;
}

/* The nucleus: shortest logit-descending prefix holding top_p of the mass.
 * Nearly all the mass of a language model's distribution normally lies
 * within a few nats of the best logit, so first try the window of
 * candidates at most 8 nats below it (e^-8 ~ 3e-4 of the top token's
 * probability): it is a prefix of the order, so if it holds the target
 * mass the nucleus lies inside it and the rest is never touched. */
static int top_p_cut(cand *c, int n, float top_p) {
    double z = 0.0;
    float kmin = INFINITY;
    for (int i = 0; i < n; i++) {
        z += c[i].w;
        if (c[i].key < kmin) kmin = c[i].key;
    }
    double target = top_p * z, w_window;
    int m = partition_le(c, n, kmin + 8.0f, &w_window);
    return mass_prefix(c, w_window >= target ? m : n, target, false);
}

/* HF TypicalLogitsWarper over the survivors renormalised:
 * log p_i = (l_i - mx) - log z, H = -sum p_i log p_i,
 * key s_i = |-log p_i - H|; keep the shortest s-ascending prefix reaching
 * `mass`, plus every token whose s equals the last kept one's. */
static int typical_cut(cand *c, int n, const float *logits, float mx, float mass) {
    double z = total_weight(c, n), logz = log(z), h = 0.0;
    for (int i = 0; i < n; i++) {
        double lp = (double)(logits[c[i].id] - mx) - logz;
        h -= (c[i].w / z) * lp;
    }
    for (int i = 0; i < n; i++) {
        double lp = (double)(logits[c[i].id] - mx) - logz;
        c[i].key = (float)fabs(-lp - h);
    }
    return mass_prefix(c, n, mass * z, true);
}

/* Keep p_i >= min_p * max_j p_j (order preserved). */
static int min_p_cut(cand *c, int n, float min_p) {
    float wmax = 0.0f;
    for (int i = 0; i < n; i++)
        if (c[i].w > wmax) wmax = c[i].w;
    float bar = min_p * wmax;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (c[i].w >= bar) c[m++] = c[i];
    return m;
}

/* Inverse-CDF draw from the survivors renormalised, u in [0, 1).  The walk
 * order is whatever the warpers left, which is a pure function of the
 * logits, so the draw is deterministic for a given seed. */
static int32_t draw(const cand *c, int n, double u) {
    double target = u * total_weight(c, n), cum = 0.0;
    for (int i = 0; i < n; i++)
        if ((cum += c[i].w) > target) return c[i].id;
    return c[n - 1].id; /* rounding pushed target to the very end */
}

/* Fill the candidate list (tokens with a non-zero weight relative to the
 * max mx; the rest have p < 1e-38 and can never be drawn) and return the
 * weight sum over the whole vocabulary, in id order. */
static double build_candidates(sampler *s, const float *logits, float mx, int *n_out) {
    cand *c = s->scratch;
    double z = 0.0;
    int n = 0;
    for (int i = 0; i < s->n_vocab; i++) {
        float w = expf(logits[i] - mx);
        z += w;
        if (w > 0.0f) c[n++] = (cand){.key = -logits[i], .w = w, .id = i};
    }
    *n_out = n;
    return z;
}

static int32_t sample_warped(sampler *s, const float *logits, float mx, double *z_all) {
    const sampler_params *p = &s->p;
    cand *c = s->scratch;
    int n;
    *z_all = build_candidates(s, logits, mx, &n);
    if (p->top_k > 0 && p->top_k < n) {
        select_first_k(c, n, p->top_k);
        n = p->top_k;
    }
    if (p->top_p < 1.0f) n = top_p_cut(c, n, p->top_p);
    if (p->typical_p < 1.0f) n = typical_cut(c, n, logits, mx, p->typical_p);
    if (p->min_p > 0.0f) n = min_p_cut(c, n, p->min_p);
    return draw(c, n, rng_uniform(s->rng));
}

/* ---- results ----------------------------------------------------------- */

/* log(sum exp(l)) accumulated in double around the max mx (the same sum,
 * in the same order, as build_candidates). */
static double log_sum_exp(const float *l, int n, float mx) {
    double z = 0.0;
    for (int i = 0; i < n; i++) z += expf(l[i] - mx);
    return (double)mx + log(z);
}

int sampler_top_logprobs(const float *logits, int n_vocab, double lse, int k, sampler_token *top) {
    int n = 0; /* top[].logprob holds the raw logit until the end */
    if (k > SAMPLER_MAX_TOP_N) k = SAMPLER_MAX_TOP_N;
    for (int i = 0; i < n_vocab && k > 0; i++) {
        float l = logits[i];
        if (!(l > -INFINITY) || (n == k && !(l > top[k - 1].logprob))) continue;
        int j = n < k ? n++ : k - 1;
        while (j > 0 && l > top[j - 1].logprob) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = (sampler_token){.id = i, .logprob = l};
    }
    for (int j = 0; j < n; j++) top[j].logprob = (float)((double)top[j].logprob - lse);
    return n;
}

/* Chosen token's logprob and the top_n alternatives. */
static void fill_result(const sampler *s, const float *logits, int32_t id, double lse,
                        sample_result *out) {
    out->n_top = sampler_top_logprobs(logits, s->n_vocab, lse, s->p.top_n, out->top);
    out->id = id;
    out->logprob = (float)((double)logits[id] - lse);
}

int32_t sampler_sample(sampler *s, float *logits, sample_result *out) {
    bool greedy = is_greedy(&s->p);
    apply_penalties(s, logits);
    apply_bias(s, logits);
    int32_t best = prepare(logits, s->n_vocab, greedy ? 1.0f : s->p.temperature);
    if (best < 0) {
        if (out) *out = (sample_result){.id = -1, .logprob = -INFINITY, .n_top = 0};
        return -1;
    }
    float mx = logits[best];
    int32_t id = best;
    double lse = 0.0;
    if (!greedy) {
        double z;
        id = sample_warped(s, logits, mx, &z);
        lse = (double)mx + log(z);
    } else if (out) {
        lse = log_sum_exp(logits, s->n_vocab, mx);
    }
    if (out) fill_result(s, logits, id, lse, out);
    return id;
}
