/*
 * sampler_select.c — candidate sets: which tokens a sampling request may
 * draw (top-k, top-p, typical-p, min-p; rules in sampler.h) and the draw.
 *
 * The vocabulary is never sorted, nor even copied whole when a truncation
 * warper is on:
 *   - top_k scans the row once with a k-entry heap of the best seen; the
 *     scan (smp_next_above) skips every logit not above the worst kept one,
 *     8 at a time, so only ~k log(V/k) tokens are looked at one by one;
 *   - top_p without top_k first gathers the tokens within 8 nats of the
 *     best (e^-8 ~ 3e-4 of the top token's probability; weights from the
 *     vectorized exp pass): they are a prefix of the descending order, so
 *     when they hold the target mass — nearly always for a language model
 *     — the nucleus lies among them, and the rest of the row is never
 *     gathered;
 *   - the nucleus (and typical-p's set) is the shortest prefix of an order
 *     holding a given mass.  A large set is first cut down by buckets of
 *     key (one pass sums each bucket's mass; the bucket where the running
 *     total crosses the target is the only one that matters), then a
 *     quickselect on mass: partition around a pivot, sum the weight of the
 *     side before it, and continue only in the side where the running
 *     total crosses the target (expected O(n), normally only a <= 16-entry
 *     tail is ever sorted).
 * The survivors are left in an order that is a pure function of the
 * logits, and the draw walks them in that order, so a seed fully
 * determines the token.
 */
#include "sampler_internal.h"

#include <math.h>
#include <stdlib.h>


static inline void swap_cand(smp_cand *a, smp_cand *b) {
    smp_cand t = *a;
    *a = *b;
    *b = t;
}

/* ---- gathering candidates from the row ----------------------------------- */

/* Restore the heap property below i in c[0, k), a heap whose root is the
 * LAST of its entries in candidate order (the worst one kept so far). */
static void sift_down(smp_cand *c, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, worst = i;
        if (l < k && smp_before(&c[worst], &c[l])) worst = l;
        if (r < k && smp_before(&c[worst], &c[r])) worst = r;
        if (worst == i) return;
        swap_cand(&c[i], &c[worst]);
        i = worst;
    }
}

/* Tokens arrive in id order, so one whose logit only equals the worst kept
 * one's comes after it in candidate order and cannot displace it: only a
 * strictly larger logit can, which is what the scan looks for.  Until k are
 * kept, the scan skips the logits too far below mx to have a weight (a
 * margin covers the rounding of l - mx, the exact test is w > 0): on a
 * row spanning hundreds of nats most tokens weigh 0, and looking at each
 * of them one by one cost more than the rest of the call. */
int smp_gather_top_k(const float *l, int n, float mx, int k, smp_cand *c) {
    int m = 0;
    float t = mx + SMP_EXP_FLOOR - 1.0f - fabsf(mx) * 0x1.0p-20f;
    for (int i = smp_next_above(l, 0, n, t); i < n; i = smp_next_above(l, i + 1, n, t)) {
        float w = smp_expf(l[i] - mx);
        if (!(w > 0.0f)) continue; /* below SMP_EXP_FLOOR: never drawn */
        smp_cand x = {-l[i], w, i};
        if (m < k) {
            c[m++] = x;
            if (m < k) continue;
            for (int j = k / 2 - 1; j >= 0; j--) sift_down(c, k, j);
        } else {
            c[0] = x;
            sift_down(c, k, 0);
        }
        t = -c[0].key;
    }
    return m;
}

/* Candidates i with x[i] > t and w[i] > 0, in id order, 8 values per
 * compare (a window may hold most of the row); their weight goes to 4
 * partial sums (one would make every candidate wait for the last add). */
static int gather_above(const float *x, float t, const float *l, const float *w, int n, smp_cand *c,
                        double *mass) {
    double s[4] = {0};
    int m = 0, i = 0;
    for (; i < n; i += 8) {
        unsigned bits = 0;
        if (i + 8 <= n)
            bits = smp_above8(x + i, t);
        else
            for (int j = 0; i + j < n; j++) bits |= (unsigned)(x[i + j] > t) << j;
        for (; bits; bits &= bits - 1) {
            int k = i + __builtin_ctz(bits);
            if (!(w[k] > 0.0f)) continue;
            c[m] = (smp_cand){-l[k], w[k], k};
            s[m++ & 3] += w[k];
        }
    }
    *mass = (s[0] + s[1]) + (s[2] + s[3]);
    return m;
}

int smp_gather_from(const float *l, const float *w, int n, float lo, smp_cand *c, double *mass) {
    return gather_above(l, nextafterf(lo, -INFINITY), l, w, n, c, mass); /* x > t <=> x >= lo */
}

int smp_gather_weights(const float *l, const float *w, int n, smp_cand *c) {
    double mass;
    return gather_above(w, 0.0f, l, w, n, c, &mass);
}

/* ---- shortest prefix by mass ---------------------------------------------- */

/* Quickselect step on c[lo, hi) (hi - lo >= 3): take the median of three
 * pseudo-randomly placed candidates as pivot, move every candidate before
 * it to the front, place the pivot right after them and return its index;
 * *w_before gets their weight.  The positions come from a splitmix64
 * stream private to this call chain (*h), not the request's generator, so
 * results stay a pure function of the logits; random positions keep
 * structured inputs (sorted runs, long ties broken by id) out of the
 * quadratic case that fixed positions fall into. */
static int partition_pivot(smp_cand *c, int lo, int hi, uint64_t *h, double *w_before) {
    uint64_t span = (uint64_t)(hi - lo);
    int a = lo + (int)(smp_splitmix64(h) % span), b = lo + (int)(smp_splitmix64(h) % span);
    int m = lo + (int)(smp_splitmix64(h) % span), last = hi - 1;
    if (smp_before(&c[b], &c[a])) {
        int t = a;
        a = b;
        b = t;
    }
    /* c[a] <= c[b]: the median is m clamped into [a, b] */
    int med = smp_before(&c[m], &c[b]) ? (smp_before(&c[m], &c[a]) ? a : m) : b;
    swap_cand(&c[med], &c[last]);
    double w = 0.0;
    int store = lo;
    for (int i = lo; i < last; i++) {
        if (smp_before(&c[i], &c[last])) {
            w += c[i].w;
            swap_cand(&c[i], &c[store++]);
        }
    }
    swap_cand(&c[store], &c[last]);
    *w_before = w;
    return store;
}

static int cmp_cand(const void *pa, const void *pb) {
    const smp_cand *a = pa, *b = pb;
    return smp_before(a, b) ? -1 : smp_before(b, a) ? 1 : 0;
}

static void sort_range(smp_cand *c, int lo, int hi) {
    if (hi - lo > 16) {
        qsort(c + lo, (size_t)(hi - lo), sizeof *c, cmp_cand);
        return;
    }
    for (int i = lo + 1; i < hi; i++) {
        smp_cand x = c[i];
        int j = i;
        for (; j > lo && smp_before(&x, &c[j - 1]); j--) c[j] = c[j - 1];
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

/* keep_ties: also keep every later candidate whose key equals the last
 * kept one's (typical-p's `s <= s[last]`). */
static int keep_key_ties(smp_cand *c, int n, int cut) {
    float edge = -INFINITY;
    for (int i = 0; i < cut; i++)
        if (c[i].key > edge) edge = c[i].key;
    int m = cut;
    for (int i = cut; i < n; i++)
        if (c[i].key <= edge) swap_cand(&c[i], &c[m++]);
    return m;
}

/* Sets larger than this are first narrowed by buckets (a flat row at high
 * temperature leaves tens of thousands of candidates in the nucleus, where
 * quickselect rounds over 12-byte records cost ~10 ns per candidate). */
#define BUCKET_MIN_N 2048
#define N_BUCKETS 1024

static inline int bucket_of(float key, float kmin, float scale) {
    int b = (int)((key - kmin) * scale); /* monotone in key: buckets keep the candidate order */
    return b < N_BUCKETS ? b : N_BUCKETS - 1;
}

/* One pass drops the candidates into buckets of equal key width, the
 * bucket masses are summed in order up to the bucket where the total
 * crosses target, and c is partitioned into the buckets before it (all
 * kept), that bucket, and the rest: [*lo, *hi) is that bucket's range
 * and *acc the weight before it.  Nothing crosses: the whole set. */
static void bucket_narrow(smp_cand *c, int n, double target, int *lo, int *hi, double *acc) {
    float kmin = c[0].key, kmax = c[0].key;
    for (int i = 1; i < n; i++) {
        kmin = c[i].key < kmin ? c[i].key : kmin;
        kmax = c[i].key > kmax ? c[i].key : kmax;
    }
    *lo = 0, *hi = n, *acc = 0.0;
    if (!(kmax > kmin)) return;
    float scale = (float)N_BUCKETS / (kmax - kmin);
    double mass[N_BUCKETS] = {0};
    for (int i = 0; i < n; i++) mass[bucket_of(c[i].key, kmin, scale)] += c[i].w;
    int b = 0;
    double cum = 0.0;
    while (b < N_BUCKETS && cum + mass[b] < target) cum += mass[b++];
    if (b == N_BUCKETS) return;
    /* [< b) [== b) (> b]: two branchless partitions (which side a
     * candidate falls on is random, so a branch would mispredict half the
     * time); the order inside each part does not matter */
    int lt = 0, eq;
    for (int i = 0; i < n; i++) {
        smp_cand x = c[i];
        c[i] = c[lt];
        c[lt] = x;
        lt += bucket_of(x.key, kmin, scale) < b;
    }
    eq = lt;
    for (int i = lt; i < n; i++) {
        smp_cand x = c[i];
        c[i] = c[eq];
        c[eq] = x;
        eq += bucket_of(x.key, kmin, scale) == b;
    }
    *lo = lt, *hi = eq, *acc = cum;
}

/* The shortest prefix of c in candidate order whose weight reaches target:
 * rearranges c so that prefix comes first and returns its length.  If
 * rounding leaves the total just short of target, everything up to the
 * last boundary is kept. */
int smp_mass_prefix(smp_cand *c, int n, double target, bool keep_ties) {
    int lo = 0, hi = n, cut = -1;
    double acc = 0.0; /* weight of c[0, lo), all kept */
    if (n > BUCKET_MIN_N) bucket_narrow(c, n, target, &lo, &hi, &acc);
    int budget = round_budget(hi - lo);
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
    return keep_ties && cut < n ? keep_key_ties(c, n, cut) : cut;
}

/* ---- the warpers ------------------------------------------------------------ */

static double total_weight(const smp_cand *c, int n) {
    double z = 0.0;
    for (int i = 0; i < n; i++) z += c[i].w;
    return z;
}

/* Move candidates with key <= t to the front; return how many, and their
 * weight in *w. */
static int partition_le(smp_cand *c, int n, float t, double *w) {
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

/* The nucleus of candidates already gathered (behind top_k): the 8-nat
 * window of the file comment, within c. */
int smp_top_p_cut(smp_cand *c, int n, float top_p) {
    double z = 0.0;
    float kmin = INFINITY;
    for (int i = 0; i < n; i++) {
        z += c[i].w;
        if (c[i].key < kmin) kmin = c[i].key;
    }
    double target = top_p * z, w_window;
    int m = partition_le(c, n, kmin + 8.0f, &w_window);
    return smp_mass_prefix(c, w_window >= target ? m : n, target, false);
}

int smp_rank_cut(const float *l, const float *w, int n, float mx, double z, int top_k, float top_p, smp_cand *c) {
    if (top_k > 0) {
        int m = smp_gather_top_k(l, n, mx, top_k, c);
        return top_p < 1.0f ? smp_top_p_cut(c, m, top_p) : m;
    }
    if (top_p >= 1.0f) return -1;
    double target = top_p * z, mass;
    int m = smp_gather_from(l, w, n, mx - 8.0f, c, &mass);
    if (mass < target) m = smp_gather_weights(l, w, n, c); /* a flat row: the nucleus reaches further down */
    return smp_mass_prefix(c, m, target, false);
}

/* HF TypicalLogitsWarper over the survivors renormalised:
 * log p_i = (l_i - mx) - log z, H = -sum p_i log p_i,
 * key s_i = |-log p_i - H|; keep the shortest s-ascending prefix reaching
 * `mass`, plus every token whose s equals the last kept one's. */
int smp_typical_cut(smp_cand *c, int n, const float *logits, float mx, float mass) {
    double z = total_weight(c, n), logz = log(z), h = 0.0;
    for (int i = 0; i < n; i++) {
        double lp = (double)(logits[c[i].id] - mx) - logz;
        h -= (c[i].w / z) * lp;
    }
    for (int i = 0; i < n; i++) {
        double lp = (double)(logits[c[i].id] - mx) - logz;
        c[i].key = (float)fabs(-lp - h);
    }
    return smp_mass_prefix(c, n, mass * z, true);
}

/* Keep p_i >= min_p * max_j p_j (order preserved). */
int smp_min_p_cut(smp_cand *c, int n, float min_p) {
    float wmax = 0.0f;
    for (int i = 0; i < n; i++)
        if (c[i].w > wmax) wmax = c[i].w;
    float bar = min_p * wmax;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (c[i].w >= bar) c[m++] = c[i];
    return m;
}

/* ---- the draw --------------------------------------------------------------- */

int32_t smp_draw(const smp_cand *c, int n, double u) {
    double target = u * total_weight(c, n), cum = 0.0;
    for (int i = 0; i < n; i++)
        if ((cum += c[i].w) > target) return c[i].id;
    return c[n - 1].id; /* rounding pushed target to the very end */
}

/* No warper: every token may come, so walk the weights themselves rather
 * than gather V candidates first.  A zero weight never moves cum past the
 * target, so only tokens with a chance are returned. */
int32_t smp_draw_weights(const float *w, int n, double z, double u) {
    double target = u * z, cum = 0.0;
    for (int i = 0; i < n; i++)
        if ((cum += w[i]) > target) return i;
    for (int i = n - 1; i > 0; i--) /* rounding: the last token with a weight */
        if (w[i] > 0.0f) return i;
    return 0;
}
