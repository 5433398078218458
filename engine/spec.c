/*
 * spec.c — prompt lookup drafts and the adaptive draft length (spec.h).
 */
#include "spec.h"

#include <string.h>

int spec_lookup(const int32_t *t, int n_t, int k, int32_t *out) {
    if (k <= 0) return 0;
    for (int g = SPEC_NGRAM_MAX; g >= SPEC_NGRAM_MIN; g--) {
        if (n_t < g + 1) continue;
        const int32_t *pat = t + n_t - g;
        /* an occurrence starting at i is followed by t[i + g] (< n_t): the
         * latest such i first, so a loop proposes its latest turn */
        for (int i = n_t - g - 1; i >= 0; i--) {
            if (t[i] != pat[0] || memcmp(t + i, pat, (size_t)g * sizeof *t) != 0) continue;
            int c = n_t - (i + g);
            if (c > k) c = k;
            memcpy(out, t + i + g, (size_t)c * sizeof *t);
            return c;
        }
    }
    return 0;
}

int spec_want(spec_state *st, int k_max) {
    if (k_max <= 0) return 0;
    if (st->k == 0) { /* first use */
        st->k = 1;
        st->backoff = 1;
    }
    if (st->wait > 0) {
        st->wait--;
        return 0;
    }
    return st->k < k_max ? st->k : k_max;
}

void spec_update(spec_state *st, int k_max, int drafted, int accepted) {
    if (drafted <= 0) return;
    /* acceptance rate: each draft up to the first refused one was judged */
    st->hits = 0.8 * st->hits + accepted;
    st->tries = 0.8 * st->tries + accepted + (accepted < drafted ? 1 : 0);
    st->cold = accepted == 0;
    /* a hit halves the next pause rather than ending pauses: a stream
     * whose single drafts hit one time in four keeps pausing long (a
     * drafted row costs a step's share of compute; on a small model that
     * is about what an accepted one saves) */
    if (accepted > 0 && st->backoff > 1) st->backoff /= 2;
    if (accepted == drafted) {
        st->k = 2 * drafted < k_max ? 2 * drafted : k_max;
    } else if (accepted > 0) {
        st->k = accepted + 1;
    } else if (drafted > 1) {
        st->k = 1;
    } else {
        st->wait = st->backoff;
        st->backoff = 2 * st->backoff < SPEC_MAX_BACKOFF ? 2 * st->backoff : SPEC_MAX_BACKOFF;
    }
    if (st->k > k_max) st->k = k_max;
    if (st->k < 1) st->k = 1;
}

/* ---- cost ------------------------------------------------------------------------- */

void spec_cost_add(spec_cost *c, int rows, double seconds) {
    double f = SPEC_COST_FADE, x = rows;
    c->w = f * c->w + 1;
    c->x = f * c->x + x;
    c->y = f * c->y + seconds;
    c->xx = f * c->xx + x * x;
    c->xy = f * c->xy + x * seconds;
}

double spec_cost_bar(const spec_cost *c, int rows) {
    double var = c->w * c->xx - c->x * c->x;  /* w^2 times the rows' variance */
    if (c->w < 4 || var < 0.02 * c->w * c->w) return 0; /* rows barely spread: nothing known */
    double b = (c->w * c->xy - c->x * c->y) / var;
    double a = (c->y - b * c->x) / c->w;
    if (b <= 0) return 0;  /* rows look free */
    if (a < 0) a = 0;      /* all of a step is its rows: a row costs its share */
    return rows * b / (a + b * rows);
}

int spec_gate(spec_state *st, int k, double bar) {
    if (k <= 0 || bar <= 0) return k;
    double p = (st->hits + 1) / (st->tries + 2), sum = 0, pi = 1;
    int best = 0;
    for (int i = 1; i <= k; i++) {
        pi *= p;
        sum += pi;
        if (sum / i >= bar) best = i; /* sum / i falls with i: the last that pays */
        else break;
    }
    if (best > 0) return best;
    if (st->probe > 0) {
        st->probe--;
        return 0;
    }
    st->probe = SPEC_MAX_BACKOFF;
    return 1;
}
