/*
 * stop.h — stop-string matching over streamed generated text.
 *
 * Owns: one request's set of stop strings and the matching state across
 * the decoded text pieces it is fed (pieces split stop strings anywhere,
 * including inside a UTF-8 character).  Matching is on bytes, through an
 * Aho–Corasick automaton, so any number of stop strings costs O(1)
 * amortised per fed byte.
 *
 * Which match wins: the text is conceptually scanned byte by byte and the
 * first stop string to COMPLETE wins — generation must halt as soon as a
 * stop string is present, so it can't wait for a longer candidate that began
 * earlier.  If several complete at the same byte, the longest (the one
 * starting earliest) wins.  The outcome therefore never depends on how the
 * text was split into pieces.  Example: stops {"world", "hello"} on
 * "hello world" match "hello"; stops {"abcd", "bc"} on "abcd" match "bc".
 *
 * Hold-back: after each piece, `hold` is the length of the longest suffix of
 * the text seen so far that is a proper prefix of some stop string.  A
 * streamer may release text[0, total - hold) now; the held bytes can still
 * turn out to start a stop string.  total - hold never decreases.
 */
#ifndef CTGI_STOP_H
#define CTGI_STOP_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

typedef struct stop_matcher stop_matcher;

typedef struct {
    bool matched;       /* a stop string has matched (now or before) */
    int stop_index;     /* index into the create() array (first of equal strings), -1 */
    size_t match_start; /* byte offset in the whole generated text of its first byte */
    size_t match_end;   /* one past its last byte */
    size_t hold;        /* trailing bytes to withhold; 0 once matched */
    size_t total;       /* bytes fed so far */
} stop_result;

/* Check a stop list: stops[0..n) must be non-NULL, non-empty strings (n may
 * be 0).  Writes a message into err and returns false otherwise. */
bool stop_validate(const char *const *stops, int n, char *err);

/* A matcher over copies of stops[0..n) (n may be 0: never matches).
 * NULL if stop_validate fails or memory runs out. */
stop_matcher *stop_create(const char *const *stops, int n);
void stop_free(stop_matcher *m);

/* Feed the next len bytes of generated text.  Fills *out (may be NULL) and
 * returns out->matched.  Once a match is found it is final: later feeds
 * only count bytes and report the same match.  The caller emits
 * text[0, match_start) to exclude the stop string, or [0, match_end) to
 * include it. */
bool stop_feed(stop_matcher *m, const char *piece, size_t len, stop_result *out);

#endif
