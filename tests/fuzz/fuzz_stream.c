/*
 * fuzz_stream.c — libFuzzer target: the streaming path from token ids to
 * SSE events: the incremental UTF-8 decoder (tok_stream, which holds back
 * the bytes of a character split across tokens), the stop-string matcher's
 * hold-back (engine/sampling/stop.h), and the SSE event encoders.
 *
 * Input: byte 0 picks the tokenizer (fuzz_tok.h) and skip_special; byte 1
 * the number of stop strings (0-3), each then given as a length byte
 * (0-15) and its bytes; the rest is token ids, 16-bit little-endian, taken
 * modulo the vocabulary size plus 4 (so a few are out of range).
 *
 * Checked, not just run: every streamed piece is valid UTF-8; the pieces
 * plus the flush equal tok_decode of the whole sequence; the stop
 * matcher's released prefix (total - hold) never shrinks; and its match is
 * the one a naive scan of the whole text finds (the first stop string to
 * complete, the longest of those completing at the same byte).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tok.h"
#include "sampling/stop.h"
#include "tgi.h"

/* The reference: scan end positions, the first with a match wins, longest there. */
static void naive_match(const char *text, size_t n, char stops[3][16], const size_t *lens, int k,
                        int *idx, size_t *start, size_t *end) {
    *idx = -1;
    for (size_t e = 1; e <= n && *idx < 0; e++)
        for (int i = 0; i < k; i++) {
            if (lens[i] > e || memcmp(text + e - lens[i], stops[i], lens[i]) != 0) continue;
            if (*idx < 0 || lens[i] > *end - *start) *idx = i, *start = e - lens[i], *end = e;
        }
}

static void emit_event(uint32_t index, const char *piece, size_t len) {
    tgi_stream_event ev = {0};
    ev.index = index;
    ev.token.token = (tgi_token){(int32_t)index, {piece, len}, NAN, false};
    size_t n;
    free(tgi_encode_stream_event(&ev, &n));
}

static void check_stops(const char *text, size_t n, const size_t *cuts, size_t n_cuts, char stops[3][16],
                        const size_t *lens, int k) {
    const char *ptrs[3];
    for (int i = 0; i < k; i++) ptrs[i] = stops[i];
    stop_matcher *m = stop_create(ptrs, k);
    if (!m) return; /* an empty or repeated-NUL stop string: refused, fine */
    stop_result r = {0};
    size_t released = 0, prev = 0;
    for (size_t c = 0; c <= n_cuts; c++) {
        size_t to = c < n_cuts ? cuts[c] : n;
        stop_feed(m, text + prev, to - prev, &r);
        prev = to;
        if (r.total != to) abort();
        if (!r.matched && r.total - r.hold < released) abort();
        if (!r.matched) released = r.total - r.hold;
    }
    int idx;
    size_t s = 0, e = 0;
    naive_match(text, n, stops, lens, k, &idx, &s, &e);
    if (r.matched != (idx >= 0)) abort();
    if (idx >= 0 && (r.match_start != s || r.match_end != e)) abort();
    if (idx >= 0 && (lens[r.stop_index] != lens[idx] || memcmp(stops[r.stop_index], stops[idx], lens[idx]))) abort();
    stop_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const fuzz_toks *ft = fuzz_toks_get();
    const tokenizer *t = ft->tok[(data[0] & 15) % ft->n];
    bool skip = data[0] & 16;
    int k = data[1] % 4;
    size_t pos = 2, lens[3];
    char stops[3][16];
    for (int i = 0; i < k; i++) {
        lens[i] = pos < size ? data[pos++] % 16 : 0;
        if (pos + lens[i] > size) lens[i] = size - pos;
        memcpy(stops[i], data + pos, lens[i]);
        stops[i][lens[i]] = '\0';
        lens[i] = strlen(stops[i]); /* the matcher takes C strings */
        pos += lens[i];
    }
    size_t n_ids = (size - pos) / 2;
    int32_t *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    size_t *cuts = malloc((n_ids ? n_ids : 1) * sizeof *cuts);
    if (!ids || !cuts) abort();
    uint32_t mod = (uint32_t)tok_n_vocab(t) + 4;
    for (size_t i = 0; i < n_ids; i++) ids[i] = (int32_t)((data[pos + 2 * i] | data[pos + 2 * i + 1] << 8) % mod);

    tok_stream st;
    tok_stream_init(&st, t, skip);
    char *out = calloc(1, 1);
    size_t out_len = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t before = out_len;
        size_t got = tok_stream_push(&st, ids[i], &out, &out_len);
        if (out_len != before + got || !fuzz_utf8_valid(out + before, got)) abort();
        if (got) emit_event((uint32_t)i + 1, out + before, got);
        cuts[i] = out_len;
    }
    size_t before = out_len;
    size_t got = tok_stream_flush(&st, &out, &out_len);
    if (out_len != before + got || !fuzz_utf8_valid(out + before, got)) abort();
    char *whole = tok_decode(t, ids, n_ids, skip);
    if (!whole) abort();
    if (!memchr(out, '\0', out_len) && (strlen(whole) != out_len || memcmp(whole, out, out_len) != 0)) abort();
    if (out_len) check_stops(out, out_len, cuts, n_ids, stops, lens, k);
    free(whole);
    free(out);
    free(ids);
    free(cuts);
    return 0;
}
